// ---- Canned responses (any agent) ------------------------------------------------------------

import { api, clear, h, toast } from '../core.js';
import {
  alertBox, alive, busy, clearError, enc, formRow, showError, table, timeEl, yes
} from './ui.js';
import { adminPage } from './frame.js';

// /admin/canned
export function cannedPage(main) {
  var p = adminPage(main, 'Canned responses', 'Saved replies every agent can insert in the composer by typing / and the short code.');

  // One form creates, or edits the response chosen with Edit.
  var editing = null;
  var code = h('input', { type: 'text', id: 'canned-code', required: true, maxlength: '50', autocomplete: 'off', spellcheck: 'false', autocapitalize: 'none', pattern: '[A-Za-z0-9_-]+', 'data-testid': 'canned-code', 'data-field': 'short_code' });
  var content = h('textarea', { id: 'canned-content', required: true, rows: '4', maxlength: '5000', 'data-testid': 'canned-content', 'data-field': 'content' });
  var create = h('button', { type: 'submit', class: 'primary', 'data-testid': 'canned-create' }, 'Add response');
  var save = h('button', { type: 'submit', class: 'primary', 'data-testid': 'canned-save', hidden: true }, 'Save changes');
  var cancel = h('button', { type: 'button', hidden: true, 'data-testid': 'canned-cancel' }, 'Cancel');
  var error = alertBox('canned-error');
  var formTitle = h('h2', { id: 'canned-form-title', tabindex: '-1' }, 'New canned response');
  var form = h('form', { novalidate: true, 'aria-labelledby': 'canned-form-title' },
    formRow('Short code', code, 'Letters, digits, - and _; agents type /code to insert it.'),
    formRow('Text', content),
    error,
    h('div', { class: 'form-row row-actions' }, create, save, ' ', cancel));

  function setMode(item) {
    editing = item;
    clearError(error, form);
    create.hidden = !!item;
    save.hidden = !item;
    cancel.hidden = !item;
    formTitle.textContent = item ? 'Edit /' + item.short_code : 'New canned response';
    code.value = item ? item.short_code : '';
    content.value = item ? item.content : '';
  }
  cancel.addEventListener('click', function () { setMode(null); code.focus(); });

  form.addEventListener('submit', function (e) {
    e.preventDefault();
    clearError(error, form);
    var body = { short_code: code.value.trim().replace(/^\//, ''), content: content.value.trim() };
    if (!body.short_code) { showError(error, { status: 422, message: 'short_code: must not be empty' }, form); return; }
    if (!body.content) { showError(error, { status: 422, message: 'content: must not be empty' }, form); return; }
    var item = editing;
    var button = item ? save : create;
    busy(button, function () {
      return item
        ? api('PATCH', '/api/v1/canned-responses/' + enc(item.id), body)
        : api('POST', '/api/v1/canned-responses', body);
    }).then(function (saved) {
      toast(item ? 'Saved /' + saved.short_code + '.' : 'Added /' + saved.short_code + '.');
      setMode(null);
      load(true);
    }, function (err) { showError(error, err, form); });
  });

  // Search and list.
  var search = h('input', { type: 'search', id: 'canned-search', autocomplete: 'off', 'data-testid': 'canned-search', placeholder: 'Short code or text' });
  var t = table(null, ['Short code', 'Text', 'Updated', 'Actions']);
  var empty = h('p', { class: 'empty', hidden: true }, 'No canned responses.');
  var more = h('button', { type: 'button', hidden: true, 'data-testid': 'canned-more' }, 'Load more');
  var cursor = null;
  var generation = 0;

  function row(item) {
    var edit = h('button', { type: 'button', 'data-testid': 'canned-edit', 'aria-label': 'Edit /' + item.short_code }, 'Edit');
    edit.addEventListener('click', function () {
      setMode(item);
      if (formSection.scrollIntoView) formSection.scrollIntoView({ block: 'start' });
      content.focus();
    });
    var del = h('button', { type: 'button', class: 'danger', 'data-testid': 'canned-delete', 'aria-label': 'Delete /' + item.short_code }, 'Delete');
    del.addEventListener('click', function () {
      if (!yes('Delete the canned response /' + item.short_code + '? Every agent loses it.')) return;
      clearError(p.alert);
      busy(del, function () { return api('DELETE', '/api/v1/canned-responses/' + enc(item.id)); }).then(function () {
        toast('Deleted /' + item.short_code + '.');
        if (editing && editing.id === item.id) setMode(null);
        load(true);
      }, function (err) { showError(p.alert, err); });
    });
    return h('tr', { 'data-testid': 'canned-row', 'data-id': item.id },
      h('td', {}, h('code', {}, '/' + item.short_code)),
      h('td', { class: 'canned-text' }, item.content),
      h('td', {}, timeEl(item.updated_at)),
      h('td', { class: 'row-actions' }, edit, ' ', del));
  }

  function load(reset) {
    var mine = reset ? ++generation : generation;
    var q = search.value.trim();
    var url = '/api/v1/canned-responses?limit=50' + (q ? '&q=' + enc(q) : '') +
      (!reset && cursor ? '&cursor=' + enc(cursor) : '');
    return api('GET', url).then(function (res) {
      if (!alive(main) || mine !== generation) return;
      if (reset) clear(t.tbody);
      (res.data || []).forEach(function (item) { t.tbody.appendChild(row(item)); });
      cursor = res.next_cursor || null;
      more.hidden = !cursor;
      var count = t.tbody.childNodes.length;
      t.table.hidden = count === 0;
      empty.textContent = q ? 'No canned response matches "' + q + '".' : 'No canned responses yet.';
      empty.hidden = count !== 0;
    }, function (err) { if (mine === generation) showError(p.alert, err); });
  }
  var timer = null;
  search.addEventListener('input', function () {
    clearTimeout(timer);
    timer = setTimeout(function () { load(true); }, 250);
  });
  var searchForm = h('form', { role: 'search', 'aria-label': 'Canned responses', novalidate: true,
    onsubmit: function (e) { e.preventDefault(); clearTimeout(timer); load(true); } },
    formRow('Search', search));
  more.addEventListener('click', function () { busy(more, function () { return load(false); }); });

  p.body.appendChild(h('section', { 'aria-label': 'Canned response list' }, searchForm, t.table, empty, more));
  var formSection = h('section', { class: 'card', id: 'canned-form' }, formTitle, form);
  p.body.appendChild(formSection);

  load(true);
}
