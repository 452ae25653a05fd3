// ---- Agents ----------------------------------------------------------------------------------

import { api, clear, h, on, session, toast } from '../core.js';
import { fetchAll } from '../shared.js';
import {
  alertBox, alive, badge, busy, clearError, detailToggle, enc, foldable, formRow, secretBox, select, showOnce,
  showError, table, yes
} from './ui.js';
import { adminPage } from './frame.js';

var ROLES = [['agent', 'Agent'], ['admin', 'Admin']];
var AVAILABILITY = [['online', 'Online'], ['busy', 'Busy'], ['away', 'Away']];
var STATUS_TEXT = { online: 'Online', busy: 'Busy', away: 'Away', offline: 'Offline' };

// What the agent shows now (connected: their choice; else offline), and what they chose.
function statusBadge(a) {
  var status = a.status || 'offline';
  var b = badge(STATUS_TEXT[status] || status, 'availability-' + status);
  b.setAttribute('data-testid', 'agent-status');
  b.title = status === 'offline'
    ? 'Not connected. Chose: ' + (STATUS_TEXT[a.availability] || a.availability)
    : 'Connected';
  return b;
}

function capacityText(c) { return c === null || c === undefined ? 'No limit' : String(c); }

function parseCapacity(text) {
  var t = String(text).trim();
  if (t === '') return { value: null };
  if (!/^\d+$/.test(t) || Number(t) > 10000) return { error: 'capacity: must be a whole number from 0 to 10000, or empty for no limit' };
  return { value: Number(t) };
}

// /admin/agents
export function agentsPage(main) {
  var p = adminPage(main, 'Agents', 'People who answer conversations. Admins also configure the hub.');
  var t = table(null, ['Name', 'Email', 'Role', 'Status', 'Capacity', 'Active', 'Actions']);
  var newButton = h('button', { type: 'button', class: 'primary', 'data-testid': 'agent-new' }, 'New agent');
  p.body.appendChild(h('p', { class: 'row-actions' }, newButton));
  p.body.appendChild(h('section', { 'aria-label': 'Agent list' }, t.table));

  function row(a) {
    var self = session.me && String(session.me.id) === String(a.id);
    var tr = h('tr', { 'data-testid': 'agent-row', 'data-id': a.id, 'data-availability': a.availability, class: a.active ? null : 'inactive' });
    var edit = detailToggle(tr, 7, 'Edit', function (cell, close) { cell.appendChild(editForm(a, close)); });
    edit.setAttribute('data-testid', 'agent-edit');
    edit.setAttribute('aria-label', 'Edit ' + a.name);
    var toggle;
    if (a.active) {
      toggle = h('button', { type: 'button', class: 'danger', 'data-testid': 'agent-deactivate', 'aria-label': 'Deactivate ' + a.name }, 'Deactivate');
      toggle.addEventListener('click', function () {
        var msg = self
          ? 'Deactivate your own account? You will be signed out and cannot sign in again until another admin reactivates you.'
          : 'Deactivate ' + a.name + '? They are signed out, cannot sign in and get no new conversations. Their history stays.';
        if (!yes(msg)) return;
        clearError(p.alert);
        busy(toggle, function () { return api('DELETE', '/api/v1/agents/' + enc(a.id)); })
          .then(function () { toast(a.name + ' deactivated.'); load(); }, function (err) { showError(p.alert, err); });
      });
    } else {
      toggle = h('button', { type: 'button', 'data-testid': 'agent-reactivate', 'aria-label': 'Reactivate ' + a.name }, 'Reactivate');
      toggle.addEventListener('click', function () {
        clearError(p.alert);
        busy(toggle, function () { return api('PATCH', '/api/v1/agents/' + enc(a.id), { active: true }); })
          .then(function () { toast(a.name + ' reactivated.'); load(); }, function (err) { showError(p.alert, err); });
      });
    }
    tr.appendChild(h('td', {}, a.name, self ? [' ', badge('You')] : null));
    tr.appendChild(h('td', {}, a.email));
    tr.appendChild(h('td', {}, a.role === 'admin' ? 'Admin' : 'Agent'));
    tr.appendChild(h('td', { class: 'agent-status-cell' }, statusBadge(a)));
    tr.appendChild(h('td', {}, capacityText(a.capacity)));
    tr.appendChild(h('td', {}, a.active ? badge('Active', 'ok') : badge('Deactivated', 'off')));
    tr.appendChild(h('td', { class: 'row-actions' }, edit, ' ', toggle));
    return tr;
  }

  function editForm(a, close) {
    var name = h('input', { type: 'text', required: true, maxlength: '100', 'data-field': 'name', 'data-testid': 'agent-edit-name' });
    name.value = a.name;
    var email = h('input', { type: 'email', required: true, 'data-field': 'email', 'data-testid': 'agent-edit-email', autocomplete: 'off' });
    email.value = a.email;
    var role = select({ 'data-field': 'role', 'data-testid': 'agent-edit-role' }, ROLES, a.role);
    var availability = select({ 'data-field': 'availability', 'data-testid': 'agent-edit-availability' }, AVAILABILITY,
      a.availability === 'busy' || a.availability === 'away' ? a.availability : 'online');
    var capacity = h('input', { type: 'number', min: '0', max: '10000', step: '1', inputmode: 'numeric', 'data-field': 'capacity', 'data-testid': 'agent-edit-capacity' });
    capacity.value = a.capacity === null || a.capacity === undefined ? '' : String(a.capacity);
    var save = h('button', { type: 'submit', class: 'primary', 'data-testid': 'agent-save' }, 'Save');
    var cancel = h('button', { type: 'button', onclick: function () { close(); } }, 'Cancel');
    var error = alertBox('agent-edit-error');
    var form = h('form', { novalidate: true, 'aria-label': 'Edit ' + a.name },
      formRow('Name', name), formRow('Email', email), formRow('Role', role),
      formRow('Availability', availability, 'Online agents get new conversations; busy and away ones do not.'),
      formRow('Capacity', capacity, 'Most open conversations assigned at once. Empty: no limit.'),
      error, h('div', { class: 'form-row row-actions' }, save, ' ', cancel));
    form.addEventListener('submit', function (e) {
      e.preventDefault();
      clearError(error, form);
      var body = {};
      if (name.value.trim() !== a.name) body.name = name.value.trim();
      if (email.value.trim() !== a.email) body.email = email.value.trim();
      if (role.value !== a.role) body.role = role.value;
      if (availability.value !== a.availability) body.availability = availability.value;
      var cap = parseCapacity(capacity.value);
      if (cap.error) { showError(error, { status: 422, message: cap.error }, form); return; }
      var was = a.capacity === undefined ? null : a.capacity;
      if (cap.value !== was) body.capacity = cap.value;
      if (!Object.keys(body).length) { close(); return; }
      if (body.role === 'agent' && session.me && String(session.me.id) === String(a.id) &&
          !yes('Make yourself an agent? You lose access to the admin pages.')) return;
      busy(save, function () { return api('PATCH', '/api/v1/agents/' + enc(a.id), body); }).then(function () {
        toast('Saved.');
        load();
      }, function (err) { showError(error, err, form); });
    });
    return form;
  }

  // Who is connected, live.
  on('presence', function (d) {
    if (!d || !alive(main)) return;
    var tr = t.tbody.querySelector('tr[data-testid=agent-row][data-id="' + String(d.agent_id) + '"]');
    var cell = tr && tr.querySelector('.agent-status-cell');
    if (!cell) return;
    var chose = d.status === 'offline' ? (tr.getAttribute('data-availability') || 'online') : d.status;
    clear(cell).appendChild(statusBadge({ status: d.status, availability: chose }));
    if (d.status !== 'offline') tr.setAttribute('data-availability', d.status);
  });

  function load() {
    return fetchAll('/api/v1/agents').then(function (list) {
      if (!alive(main)) return;
      clear(t.tbody);
      list.forEach(function (a) { t.tbody.appendChild(row(a)); });
    }, function (err) { showError(p.alert, err); });
  }

  // Create.
  var name = h('input', { type: 'text', id: 'agent-name', required: true, maxlength: '100', autocomplete: 'off', 'data-testid': 'agent-name', 'data-field': 'name' });
  var email = h('input', { type: 'email', id: 'agent-email', required: true, autocomplete: 'off', 'data-testid': 'agent-email', 'data-field': 'email' });
  var role = select({ id: 'agent-role', 'data-testid': 'agent-role', 'data-field': 'role' }, ROLES, 'agent');
  var capacity = h('input', { type: 'number', id: 'agent-capacity', min: '0', max: '10000', step: '1', inputmode: 'numeric', 'data-testid': 'agent-capacity', 'data-field': 'capacity' });
  var create = h('button', { type: 'submit', class: 'primary', 'data-testid': 'agent-create' }, 'Create agent');
  var error = alertBox('agent-error');
  var form = h('form', { novalidate: true, 'aria-labelledby': 'agent-new-title' },
    formRow('Name', name), formRow('Email', email), formRow('Role', role),
    formRow('Capacity', capacity, 'Most open conversations assigned at once. Empty: no limit.'),
    error, h('div', { class: 'form-row' }, create));
  form.addEventListener('submit', function (e) {
    e.preventDefault();
    clearError(error, form);
    if (!name.value.trim()) { showError(error, { status: 422, message: 'name: must not be empty' }, form); return; }
    if (!email.value.trim()) { showError(error, { status: 422, message: 'email: must not be empty' }, form); return; }
    var cap = parseCapacity(capacity.value);
    if (cap.error) { showError(error, { status: 422, message: cap.error }, form); return; }
    var body = { name: name.value.trim(), email: email.value.trim(), role: role.value };
    if (cap.value !== null) body.capacity = cap.value;
    busy(create, function () { return api('POST', '/api/v1/agents', body); }).then(function (agent) {
      name.value = ''; email.value = ''; capacity.value = ''; role.value = 'agent';
      folding.fold();
      showOnce(p, h('div', { class: 'card created', 'data-testid': 'agent-created', 'aria-live': 'polite' },
        h('h2', {}, agent.name + ' (' + agent.email + ') can now sign in'),
        agent.password
          ? secretBox('Their password', agent.password, 'agent-password',
            'Shown only once: give it to them securely. They can change it on their profile page.')
          : null,
        h('p', { class: 'muted' }, 'Add them to inboxes so they see conversations.')));
      load();
    }, function (err) { showError(error, err, form); });
  });
  var folding = foldable(form, 'Create another agent', 'agent-another');
  var section = h('section', { class: 'card', id: 'new-agent' },
    h('h2', { id: 'agent-new-title' }, 'New agent'),
    h('p', { class: 'muted' }, 'A password is generated and shown once.'),
    form, folding.button);
  p.body.appendChild(section);
  newButton.addEventListener('click', function () {
    if (section.scrollIntoView) section.scrollIntoView({ block: 'start' });
    folding.open();
    name.focus();
  });

  load();
}
