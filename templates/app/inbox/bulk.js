// ---- Bulk actions: select rows, then change them all at once ----------------------------
//
// A checkbox before each row (click; shift-click selects the range from the last one picked;
// `x` toggles the focused row). While rows are selected a bar above the list assigns, hands
// to a team, sets the status or priority, or adds a label to all of them in one call
// (POST /api/v1/conversations/bulk: one transaction, each change audited).

import { api, clear, fail, h, toast } from '../core.js';
import { PRIORITIES, S, STATUS_LABELS, V } from './state.js';
import { idEq } from './helpers.js';
import { agentName, loadAllAgents, loadTeams } from './directories.js';
import { applyConversation, renderList } from './list.js';

S.selected = S.selected || {};

export function selectedIds() {
  return S.rows.filter(function (c) { return S.selected[c.id]; }).map(function (c) { return String(c.id); });
}

export function clearSelection() {
  S.selected = {};
  S.lastPicked = null;
  if (V && V.bulkBar) clear(V.bulkBar);
}

// Toggles one row; with `range`, every row between the last one picked and this one takes
// this row's new state.
export function toggleSelected(id, range) {
  var on = !S.selected[id];
  var ids = [id];
  if (range && S.lastPicked !== null && S.lastPicked !== undefined) {
    var a = rowAt(S.lastPicked), b = rowAt(id);
    if (a >= 0 && b >= 0) {
      ids = S.rows.slice(Math.min(a, b), Math.max(a, b) + 1).map(function (c) { return c.id; });
    }
  }
  ids.forEach(function (x) { if (on) S.selected[x] = true; else delete S.selected[x]; });
  S.lastPicked = id;
  renderList();
}

function rowAt(id) {
  for (var i = 0; i < S.rows.length; i++) if (idEq(S.rows[i].id, id)) return i;
  return -1;
}

// The checkbox before a row.
export function selectBox(c, label) {
  var box = h('input', {
    type: 'checkbox', class: 'row-select', 'data-testid': 'row-select', 'data-id': c.id,
    'aria-label': 'Select ' + label
  });
  box.checked = !!S.selected[c.id];
  box.addEventListener('click', function (e) {
    e.preventDefault();
    toggleSelected(c.id, e.shiftKey);
    var again = V && V.listEl.querySelector('[data-testid=row-select][data-id="' + String(c.id).replace(/[^0-9A-Za-z_-]/g, '') + '"]');
    if (again) again.focus();
  });
  return box;
}

function option(value, label) { return h('option', { value: value }, label); }

// The bar above the list while rows are selected. Built when it appears; list renders (live
// events) only update its count, so a half-typed label or an open menu survives them.
export function renderBulkBar() {
  if (!V || !V.bulkBar) return;
  var bar = V.bulkBar;
  // Rows that left the list (filters, a refresh) are no longer selected.
  Object.keys(S.selected).forEach(function (id) { if (rowAt(id) < 0) delete S.selected[id]; });
  var ids = selectedIds();
  bar.hidden = !ids.length;
  if (!ids.length) { clear(bar); return; }
  var count = bar.querySelector('[data-testid=bulk-count]');
  if (count) { count.textContent = ids.length + ' selected'; return; }
  buildBulkBar(bar, ids);
}

function buildBulkBar(bar, ids) {
  var assign = h('select', { 'data-testid': 'bulk-assign', 'aria-label': 'Assign the selected conversations' },
    option('', 'Assign…'), option('me', 'To me'), option('none', 'Unassign'));
  loadAllAgents().then(function (agents) {
    agents.filter(function (a) { return a.active !== false; }).forEach(function (a) {
      assign.appendChild(option(String(a.id), agentName(a.id)));
    });
  });
  var team = h('select', { 'data-testid': 'bulk-team', 'aria-label': 'Hand the selected conversations to a team' },
    option('', 'Team…'), option('none', 'No team'));
  loadTeams().then(function (teams) {
    teams.forEach(function (t) { team.appendChild(option(String(t.id), t.name)); });
  });
  var status = h('select', { 'data-testid': 'bulk-status', 'aria-label': 'Set the status of the selected conversations' },
    option('', 'Status…'), ['open', 'pending', 'resolved', 'closed'].map(function (s) { return option(s, STATUS_LABELS[s]); }));
  var priority = h('select', { 'data-testid': 'bulk-priority', 'aria-label': 'Set the priority of the selected conversations' },
    option('', 'Priority…'), PRIORITIES.map(function (p) { return option(p[0], p[1]); }));
  var label = h('input', { type: 'text', maxlength: '50', placeholder: 'Label', 'data-testid': 'bulk-label', 'aria-label': 'Label to add' });
  var addLabel = h('button', { type: 'button', 'data-testid': 'bulk-label-add' }, 'Add label');

  assign.addEventListener('change', function () {
    if (!assign.value) return;
    apply({ assignee_id: assign.value === 'none' ? null : assign.value },
      assign.value === 'none' ? 'Unassigned' : 'Assigned to ' + assign.options[assign.selectedIndex].textContent);
  });
  team.addEventListener('change', function () {
    if (!team.value) return;
    apply({ team_id: team.value === 'none' ? null : team.value }, 'Team: ' + team.options[team.selectedIndex].textContent);
  });
  status.addEventListener('change', function () {
    if (status.value) apply({ status: status.value }, STATUS_LABELS[status.value]);
  });
  priority.addEventListener('change', function () {
    if (priority.value) apply({ priority: priority.value }, 'Priority: ' + priority.options[priority.selectedIndex].textContent);
  });
  function addIt() {
    var name = label.value.trim();
    if (name) apply({ add_labels: [name] }, 'Labelled ' + name);
  }
  addLabel.addEventListener('click', addIt);
  label.addEventListener('keydown', function (e) { if (e.key === 'Enter') { e.preventDefault(); addIt(); } });

  bar.appendChild(h('span', { class: 'bulk-count', 'data-testid': 'bulk-count', 'aria-live': 'polite' },
    ids.length + ' selected'));
  bar.appendChild(h('div', { class: 'bulk-controls' }, assign, team, status, priority,
    h('span', { class: 'inline' }, label, addLabel),
    h('button', { type: 'button', class: 'link', 'data-testid': 'bulk-clear', onclick: function () { clearSelection(); renderList(); } }, 'Clear')));
}

function apply(change, what) {
  var ids = selectedIds();
  if (!ids.length || S.bulkBusy) return;
  change.conversation_ids = ids;
  S.bulkBusy = true;
  Array.prototype.forEach.call(V.bulkBar.querySelectorAll('select, input, button'), function (el) { el.disabled = true; });
  api('POST', '/api/v1/conversations/bulk', change).then(function (answer) {
    S.bulkBusy = false;
    clearSelection();
    clear(V.bulkBar);
    ((answer && answer.data) || []).forEach(applyConversation);
    renderList();
    toast(what + ' · ' + ids.length + (ids.length === 1 ? ' conversation' : ' conversations'));
  }, function (err) {
    S.bulkBusy = false;
    fail(err);
    if (V && V.bulkBar) { clear(V.bulkBar); renderBulkBar(); }
  });
}
