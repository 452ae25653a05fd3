// ---- Contact attributes ---------------------------------------------------------------------------
// The fields a team keeps on every contact (plan, account id, renewal date): a label, a key
// (the name in the contact's attributes and in canned responses, {{contact.attributes.KEY}})
// and a kind, which decides the control on the contact page and the values the API accepts.

import { api, clear, h, toast } from '../core.js';
import { alertBox, alive, busy, clearError, foldable, formRow, select, showError, table, yes } from './ui.js';
import { adminPage } from './frame.js';

var KINDS = [['text', 'Text'], ['number', 'Number'], ['date', 'Date'], ['checkbox', 'Yes / no'], ['list', 'List of choices'], ['link', 'Link']];
function kindWord(kind) {
  var k = KINDS.filter(function (x) { return x[0] === kind; })[0];
  return k ? k[1] : kind;
}

// "Renewal date" → "renewal_date": the key a label suggests.
function keyOf(label) {
  var key = label.toLowerCase().normalize('NFD').replace(/[\u0300-\u036f]/g, '')
    .replace(/[^a-z0-9]+/g, '_').replace(/^_+|_+$/g, '');
  if (!/^[a-z]/.test(key)) key = key ? 'a_' + key : '';
  return key.slice(0, 40);
}

function choicesOf(text) {
  return text.split('\n').map(function (s) { return s.trim(); }).filter(Boolean);
}

// /admin/attributes
export function attributesPage(main) {
  var p = adminPage(main, 'Contact attributes', 'Fields your team keeps on every contact. Agents fill them in on the ' +
    'contact page; canned responses use them as {{contact.attributes.KEY}}.');
  var t = table(null, ['Label', 'Key', 'Kind', 'Choices', 'Actions']);
  var empty = h('p', { class: 'empty', hidden: true }, 'No attributes yet. Create the first one below.');
  p.body.appendChild(h('section', { 'aria-label': 'Attribute list' }, t.table, empty));

  function row(d) {
    var tr = h('tr', { 'data-testid': 'attribute-row', 'data-key': d.key });
    var label = h('input', { type: 'text', value: d.label, maxlength: '60', 'aria-label': 'Label of ' + d.key, 'data-testid': 'attribute-label' });
    var choices = d.kind === 'list'
      ? h('textarea', { rows: '3', 'aria-label': 'Choices of ' + d.key + ', one per line', 'data-testid': 'attribute-choices' }, (d.options || []).join('\n'))
      : null;
    var save = h('button', { type: 'button', 'data-testid': 'attribute-save', disabled: true }, 'Save');
    var dirty = function () {
      save.disabled = label.value.trim() === d.label && (!choices || choices.value.trim() === (d.options || []).join('\n'));
    };
    label.addEventListener('input', dirty);
    if (choices) choices.addEventListener('input', dirty);
    save.addEventListener('click', function () {
      clearError(p.alert);
      var body = { label: label.value };
      if (choices) body.options = choicesOf(choices.value);
      busy(save, function () { return api('PATCH', '/api/v1/contact-attributes/' + encodeURIComponent(d.id), body); })
        .then(function (saved) {
          d.label = saved.label;
          d.options = saved.options;
          save.disabled = true;
          toast('"' + saved.label + '" saved.');
        }, function (err) { showError(p.alert, err); });
    });
    var del = h('button', { type: 'button', class: 'danger', 'data-testid': 'attribute-delete', 'aria-label': 'Delete ' + d.label }, 'Delete');
    del.addEventListener('click', function () {
      if (!yes('Delete the attribute "' + d.label + '"? Contacts keep their values under "' + d.key +
        '"; the contact page lists them as other attributes.')) return;
      clearError(p.alert);
      busy(del, function () { return api('DELETE', '/api/v1/contact-attributes/' + encodeURIComponent(d.id)); })
        .then(function () { toast('Attribute deleted.'); load(); }, function (err) { showError(p.alert, err); });
    });
    tr.appendChild(h('td', {}, label));
    tr.appendChild(h('td', {}, h('code', null, d.key)));
    tr.appendChild(h('td', {}, kindWord(d.kind)));
    tr.appendChild(h('td', {}, choices || h('span', { class: 'muted' }, '—')));
    tr.appendChild(h('td', { class: 'row-actions' }, save, ' ', del));
    return tr;
  }

  function load() {
    return api('GET', '/api/v1/contact-attributes').then(function (res) {
      if (!alive(main)) return;
      var list = res.data || [];
      clear(t.tbody);
      list.forEach(function (d) { t.tbody.appendChild(row(d)); });
      t.table.hidden = list.length === 0;
      empty.hidden = list.length !== 0;
    }, function (err) { showError(p.alert, err); });
  }

  var label = h('input', { type: 'text', id: 'attribute-label', required: true, maxlength: '60', autocomplete: 'off', 'data-testid': 'attribute-new-label', 'data-field': 'label' });
  var key = h('input', { type: 'text', id: 'attribute-key', required: true, maxlength: '40', autocomplete: 'off', 'data-testid': 'attribute-new-key', 'data-field': 'key' });
  var kind = select({ id: 'attribute-kind', 'data-testid': 'attribute-new-kind', 'data-field': 'kind' }, KINDS, 'text');
  var choices = h('textarea', { id: 'attribute-choices', rows: '4', 'data-testid': 'attribute-new-choices', 'data-field': 'options' });
  var choicesRow = formRow('Choices', choices, 'One per line.');
  var keyEdited = false;
  label.addEventListener('input', function () { if (!keyEdited) key.value = keyOf(label.value); });
  key.addEventListener('input', function () { keyEdited = key.value !== ''; });
  var showChoices = function () { choicesRow.hidden = kind.value !== 'list'; };
  kind.addEventListener('change', showChoices);
  showChoices();
  var create = h('button', { type: 'submit', class: 'primary', 'data-testid': 'attribute-create' }, 'Create attribute');
  var error = alertBox('attribute-error');
  var form = h('form', { novalidate: true, 'aria-labelledby': 'attribute-new-title' },
    formRow('Label', label, 'What agents see, like "Plan" or "Renewal date".'),
    formRow('Key', key, 'Lower-case letters, digits and _; it cannot change later.'),
    formRow('Kind', kind), choicesRow, error, h('div', { class: 'form-row' }, create));
  form.addEventListener('submit', function (e) {
    e.preventDefault();
    clearError(error, form);
    if (!label.value.trim()) { showError(error, { status: 422, message: 'label: give the attribute a label' }, form); return; }
    var body = { label: label.value, key: key.value.trim(), kind: kind.value };
    if (kind.value === 'list') body.options = choicesOf(choices.value);
    busy(create, function () { return api('POST', '/api/v1/contact-attributes', body); })
      .then(function (d) {
        label.value = ''; key.value = ''; choices.value = ''; keyEdited = false;
        folding.fold();
        toast('Attribute "' + d.label + '" created.');
        load();
      }, function (err) { showError(error, err, form); });
  });
  var folding = foldable(form, 'Create another attribute', 'attribute-another');
  p.body.appendChild(h('section', { class: 'card', id: 'new-attribute' }, h('h2', { id: 'attribute-new-title' }, 'New attribute'), form, folding.button));

  load();
}
