import { clear, h, toast } from '../core.js';
import { nextId } from '../shared.js';
import { alertBox, badge, busy, clearError, formRow, showError, table, yes } from './ui.js';

// Members of an inbox or a team: a table with Remove, and an agent picker with Add.
export function membersSection(o) {
  var section = h('section', { class: 'card members' });
  var headingId = nextId('m');
  section.setAttribute('aria-labelledby', headingId);
  var error = alertBox(o.prefix + '-error');
  var t = table(null, ['Name', 'Email', 'Role', 'Actions']);
  var empty = h('p', { class: 'empty' }, 'No members yet.');
  var picker = h('select', { 'data-testid': o.prefix + '-select', 'data-field': 'agent_id' });
  var add = h('button', { type: 'submit', 'data-testid': o.prefix + '-add' }, 'Add member');
  var form = h('form', { novalidate: true, class: 'inline' }, formRow('Add an agent', picker), h('div', { class: 'form-row' }, add));

  function draw(members) {
    clear(t.tbody);
    var ids = {};
    members.forEach(function (m) {
      ids[m.id] = true;
      var remove = h('button', { type: 'button', class: 'danger', 'data-testid': o.prefix + '-remove', 'aria-label': 'Remove ' + m.name }, 'Remove');
      remove.addEventListener('click', function () {
        if (!yes('Remove ' + m.name + ' from ' + o.what + '?')) return;
        clearError(error);
        busy(remove, function () { return o.remove(m.id); }).then(refresh, function (err) { showError(error, err); });
      });
      t.tbody.appendChild(h('tr', { 'data-testid': o.prefix + '-row', 'data-id': m.id },
        h('td', {}, m.name, m.active === false ? [' ', badge('Deactivated', 'off')] : null),
        h('td', {}, m.email),
        h('td', {}, m.role),
        h('td', { class: 'row-actions' }, remove)));
    });
    t.table.hidden = members.length === 0;
    empty.hidden = members.length !== 0;
    clear(picker);
    var candidates = (o.agents || []).filter(function (a) { return !ids[a.id] && a.active !== false; });
    picker.appendChild(h('option', { value: '' }, candidates.length ? 'Choose an agent…' : 'Every active agent is a member'));
    candidates.forEach(function (a) { picker.appendChild(h('option', { value: a.id }, a.name + ' <' + a.email + '>')); });
    picker.disabled = candidates.length === 0;
    add.disabled = candidates.length === 0;
  }
  function refresh() {
    return o.reload().then(draw, function (err) { showError(error, err); });
  }
  form.addEventListener('submit', function (e) {
    e.preventDefault();
    clearError(error, form);
    if (!picker.value) { showError(error, { message: 'Choose an agent to add.' }); picker.focus(); return; }
    var agentId = picker.value;
    busy(add, function () { return o.add(agentId); }).then(function () {
      toast('Member added.');
      return refresh().then(function () { picker.focus(); });
    }, function (err) { showError(error, err, form); });
  });

  section.appendChild(h('h2', { id: headingId }, o.title));
  if (o.intro) section.appendChild(h('p', { class: 'muted' }, o.intro));
  section.appendChild(t.table);
  section.appendChild(empty);
  section.appendChild(form);
  section.appendChild(error);
  draw(o.members || []);
  return section;
}
