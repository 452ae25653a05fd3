// ---- Labels ----------------------------------------------------------------------------------
// Agents make labels by using them; admins give them colours (shown on the conversation list)
// and delete them (taken off every conversation).

import { api, clear, h, toast } from '../core.js';
import { fetchAll } from '../shared.js';
import { alertBox, alive, busy, clearError, foldable, formRow, showError, table, yes } from './ui.js';
import { adminPage } from './frame.js';

// /admin/labels
export function labelsPage(main) {
  var p = adminPage(main, 'Labels', 'Labels sort conversations; their colours show on the conversation list. ' +
    'Agents create a label by putting it on a conversation.');
  var t = table(null, ['Colour', 'Name', 'Conversations', 'Actions']);
  var empty = h('p', { class: 'empty', hidden: true }, 'No labels yet. Create one below, or put one on a conversation.');
  p.body.appendChild(h('section', { 'aria-label': 'Label list' }, t.table, empty));

  function row(label) {
    var tr = h('tr', { 'data-testid': 'label-row', 'data-name': label.name });
    var colour = h('input', {
      type: 'color', value: label.color, 'data-testid': 'label-color', 'aria-label': 'Colour of ' + label.name
    });
    var save = h('button', { type: 'button', 'data-testid': 'label-save', disabled: true }, 'Save colour');
    colour.addEventListener('input', function () { save.disabled = colour.value === label.color; });
    save.addEventListener('click', function () {
      clearError(p.alert);
      busy(save, function () { return api('PATCH', '/api/v1/labels/' + encodeURIComponent(label.id), { color: colour.value }); })
        .then(function (saved) {
          label.color = saved.color;
          save.disabled = true;
          toast('Colour of "' + label.name + '" saved.');
        }, function (err) { showError(p.alert, err); });
    });
    var del = h('button', { type: 'button', class: 'danger', 'data-testid': 'label-delete', 'aria-label': 'Delete ' + label.name }, 'Delete');
    del.addEventListener('click', function () {
      var n = label.conversations || 0;
      var question = 'Delete the label "' + label.name + '"?' +
        (n ? ' It is taken off ' + n + (n === 1 ? ' conversation.' : ' conversations.') : '');
      if (!yes(question)) return;
      clearError(p.alert);
      busy(del, function () { return api('DELETE', '/api/v1/labels/' + encodeURIComponent(label.id)); })
        .then(function () { toast('Label deleted.'); load(); }, function (err) { showError(p.alert, err); });
    });
    tr.appendChild(h('td', {}, colour));
    tr.appendChild(h('td', {}, label.name));
    tr.appendChild(h('td', { class: 'num' }, String(label.conversations || 0)));
    tr.appendChild(h('td', { class: 'row-actions' }, save, ' ', del));
    return tr;
  }

  function load() {
    return fetchAll('/api/v1/labels').then(function (list) {
      if (!alive(main)) return;
      clear(t.tbody);
      list.sort(function (a, b) { return a.name.localeCompare(b.name); })
        .forEach(function (label) { t.tbody.appendChild(row(label)); });
      t.table.hidden = list.length === 0;
      empty.hidden = list.length !== 0;
    }, function (err) { showError(p.alert, err); });
  }

  var name = h('input', {
    type: 'text', id: 'label-name', required: true, maxlength: '50', autocomplete: 'off',
    'data-testid': 'label-name', 'data-field': 'name'
  });
  var colour = h('input', { type: 'color', id: 'label-new-color', value: '#0969da', 'data-testid': 'label-new-color', 'data-field': 'color' });
  var create = h('button', { type: 'submit', class: 'primary', 'data-testid': 'label-create' }, 'Create label');
  var error = alertBox('label-error');
  var form = h('form', { novalidate: true, 'aria-labelledby': 'label-new-title' },
    formRow('Name', name, 'Letters, digits, spaces, "-", "_" or "."; stored in lower case.'),
    formRow('Colour', colour), error, h('div', { class: 'form-row' }, create));
  form.addEventListener('submit', function (e) {
    e.preventDefault();
    clearError(error, form);
    if (!name.value.trim()) { showError(error, { status: 422, message: 'name: give the label a name' }, form); return; }
    busy(create, function () { return api('POST', '/api/v1/labels', { name: name.value.trim(), color: colour.value }); })
      .then(function (label) {
        name.value = '';
        folding.fold();
        toast('Label "' + label.name + '" created.');
        load();
      }, function (err) { showError(error, err, form); });
  });
  var folding = foldable(form, 'Create another label', 'label-another');
  p.body.appendChild(h('section', { class: 'card', id: 'new-label' }, h('h2', { id: 'label-new-title' }, 'New label'), form, folding.button));

  load();
}
