// ---- Saved views: an agent's named filter sets (GET/POST/PATCH/DELETE /api/v1/me/views) ------
// A view stores the list API's own query parameters, so it means the same list in the browser
// and through the API; this module translates between them and the inbox's filters.

import { api, fail, h, toast } from '../core.js';
import { ALL_STATUSES, S, V, saveFilters } from './state.js';
import { loadViews } from './directories.js';

// The inbox's filters → a view's filters (empty ones left out).
function toApi(f) {
  var out = {};
  if (f.assignee === 'mine') out.assignee = 'me';
  else if (f.assignee === 'unassigned') out.assignee = 'unassigned';
  if (f.inbox) out.inbox_id = f.inbox;
  if (f.team) out.team_id = f.team;
  if (f.status) out.status = f.status === 'all' ? ALL_STATUSES : f.status;
  if (f.priority) out.priority = f.priority;
  if (f.label.trim()) out.label = f.label.trim().toLowerCase();
  if (f.q.trim()) out.q = f.q.trim();
  if (f.sla) out.sla = f.sla;
  if (f.sort && f.sort !== 'newest') out.sort = f.sort;
  return out;
}

// A view's filters → the inbox's (what the view leaves out is reset).
function fromApi(v) {
  // A set of statuses the status picker has no entry for (an API-made view) stays as it is.
  var all = ALL_STATUSES.split(',').every(function (s) { return (v.status || '').split(',').indexOf(s) >= 0; });
  return {
    assignee: v.assignee === 'me' ? 'mine' : v.assignee === 'unassigned' ? 'unassigned' : 'all',
    inbox: v.inbox_id || '', team: v.team_id || '',
    status: all ? 'all' : v.status || 'open',
    priority: v.priority || '', label: v.label || '', q: v.q || '', sla: v.sla || '',
    sort: v.sort || 'newest'
  };
}

function same(a, b) { return JSON.stringify(a) === JSON.stringify(b); }

// The view whose filters the list shows now, if any.
export function currentView(list) {
  var now = toApi(S.filters);
  for (var i = 0; i < list.length; i++) if (same(toApi(fromApi(list[i].filters)), now)) return list[i];
  return null;
}

// The views picker, "Save view" (an inline name form) and "Delete view"; `apply(filters)` sets
// the inbox's filters and reloads the list.
export function viewsControl(apply) {
  var select = h('select', {
    id: 'filter-view', 'data-testid': 'saved-views', 'aria-label': 'Saved view', class: 'view-select'
  }, h('option', { value: '' }, 'Saved views…'));
  var saveBtn = h('button', { type: 'button', class: 'link', 'data-testid': 'save-view', 'aria-expanded': 'false' }, 'Save view');
  var deleteBtn = h('button', { type: 'button', class: 'link danger-link', 'data-testid': 'delete-view', hidden: true }, 'Delete view');
  var nameInput = h('input', {
    type: 'text', maxlength: '100', 'data-testid': 'view-name', 'aria-label': 'Name of the view',
    placeholder: 'Name of the view', autocomplete: 'off', required: true
  });
  var form = h('form', { class: 'view-save', hidden: true, 'aria-label': 'Save the filters as a view' },
    nameInput,
    h('button', { type: 'submit', class: 'primary', 'data-testid': 'view-save-submit' }, 'Save'),
    h('button', { type: 'button', onclick: function () { closeForm(); saveBtn.focus(); } }, 'Cancel'));
  var list = [];

  function fill() {
    while (select.options.length > 1) select.remove(1);
    list.forEach(function (v) { select.appendChild(h('option', { value: v.id }, v.name)); });
    sync();
  }
  // The picker names the view the filters match; "Delete" only then.
  function sync() {
    var v = currentView(list);
    select.value = v ? v.id : '';
    deleteBtn.hidden = !v;
    if (v) deleteBtn.setAttribute('aria-label', 'Delete the view ' + v.name);
  }
  function reload(force) {
    return loadViews(force).then(function (views) { list = views; fill(); });
  }
  function closeForm() {
    form.hidden = true;
    saveBtn.setAttribute('aria-expanded', 'false');
  }

  select.addEventListener('change', function () {
    var v = list.filter(function (x) { return String(x.id) === select.value; })[0];
    if (v) apply(fromApi(v.filters));
    sync();
  });
  saveBtn.addEventListener('click', function () {
    form.hidden = !form.hidden;
    saveBtn.setAttribute('aria-expanded', String(!form.hidden));
    if (!form.hidden) nameInput.focus();
  });
  form.addEventListener('submit', function (e) {
    e.preventDefault();
    var name = nameInput.value.trim();
    if (!name) { nameInput.focus(); toast('Give the view a name.', 'error'); return; }
    api('POST', '/api/v1/me/views', { name: name, filters: toApi(S.filters) }).then(function () {
      nameInput.value = '';
      closeForm();
      toast('View "' + name + '" saved.');
      return reload(true);
    }, fail);
  });
  deleteBtn.addEventListener('click', function () {
    var v = currentView(list);
    if (!v || !window.confirm('Delete the view "' + v.name + '"? The conversations stay as they are.')) return;
    api('DELETE', '/api/v1/me/views/' + encodeURIComponent(v.id)).then(function () {
      toast('View deleted.');
      return reload(true);
    }, fail);
  });
  reload(false);
  return {
    el: h('div', { class: 'views-bar' }, select, saveBtn, deleteBtn),
    form: form,
    sync: sync
  };
}

// Sets every filter at once (a view was picked) and keeps them for this tab.
export function setAllFilters(filters) {
  Object.keys(filters).forEach(function (k) { if (k in S.filters) S.filters[k] = filters[k]; });
  saveFilters();
  if (V && V.syncFilters) V.syncFilters();
}
