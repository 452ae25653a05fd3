// ---- Teams -----------------------------------------------------------------------------------

import { api, clear, h, toast } from '../core.js';
import { fetchAll, skeleton } from '../shared.js';
import {
  alertBox, alive, busy, clearError, detailToggle, enc, foldable, formRow, showError, table, yes
} from './ui.js';
import { adminPage } from './frame.js';
import { membersSection } from './members.js';

// /admin/teams
export function teamsPage(main) {
  var p = adminPage(main, 'Teams', 'Groups of agents that conversations can be assigned to.');
  var t = table(null, ['Name', 'Description', 'Actions']);
  var empty = h('p', { class: 'empty', hidden: true }, 'No teams yet.');
  p.body.appendChild(h('section', { 'aria-label': 'Team list' }, t.table, empty));
  var agentsPromise = null;
  function agents() {
    if (!agentsPromise) agentsPromise = fetchAll('/api/v1/agents').catch(function (e) { agentsPromise = null; throw e; });
    return agentsPromise;
  }

  function row(team) {
    var tr = h('tr', { 'data-testid': 'team-row', 'data-id': team.id });
    var manage = detailToggle(tr, 3, 'Edit and members', function (cell) {
      cell.appendChild(renameForm(team));
      var holder = h('div', {}, skeleton('Loading members…', [60, 80]));
      cell.appendChild(holder);
      Promise.all([api('GET', '/api/v1/teams/' + enc(team.id) + '/members'), agents()]).then(function (r) {
        clear(holder).appendChild(membersSection({
          title: 'Members of ' + team.name,
          members: (r[0] && r[0].data) || [],
          agents: r[1],
          prefix: 'team-member',
          add: function (agentId) { return api('POST', '/api/v1/teams/' + enc(team.id) + '/members', { agent_id: agentId }); },
          remove: function (agentId) { return api('DELETE', '/api/v1/teams/' + enc(team.id) + '/members/' + enc(agentId)); },
          reload: function () { return api('GET', '/api/v1/teams/' + enc(team.id) + '/members').then(function (x) { return x.data || []; }); },
          what: 'the team'
        }));
      }, function (err) { clear(holder); showError(p.alert, err); });
    });
    manage.setAttribute('data-testid', 'team-edit');
    manage.setAttribute('aria-label', 'Edit ' + team.name + ' and its members');
    var del = h('button', { type: 'button', class: 'danger', 'data-testid': 'team-delete', 'aria-label': 'Delete ' + team.name }, 'Delete');
    del.addEventListener('click', function () {
      if (!yes('Delete the team "' + team.name + '"? Its conversations stay, without a team.')) return;
      clearError(p.alert);
      busy(del, function () { return api('DELETE', '/api/v1/teams/' + enc(team.id)); })
        .then(function () { toast('Team deleted.'); load(); }, function (err) { showError(p.alert, err); });
    });
    tr.appendChild(h('td', {}, team.name));
    tr.appendChild(h('td', {}, team.description ? team.description : h('span', { class: 'muted' }, '—')));
    tr.appendChild(h('td', { class: 'row-actions' }, manage, ' ', del));
    return tr;
  }

  function renameForm(team) {
    var name = h('input', { type: 'text', required: true, maxlength: '100', 'data-field': 'name', 'data-testid': 'team-edit-name', autocomplete: 'off' });
    name.value = team.name;
    var description = h('textarea', { rows: '2', maxlength: '1000', 'data-field': 'description', 'data-testid': 'team-edit-description' });
    description.value = team.description || '';
    var save = h('button', { type: 'submit', class: 'primary', 'data-testid': 'team-save' }, 'Save');
    var error = alertBox('team-edit-error');
    var form = h('form', { novalidate: true, 'aria-label': 'Rename ' + team.name },
      formRow('Name', name), formRow('Description', description), error, h('div', { class: 'form-row' }, save));
    form.addEventListener('submit', function (e) {
      e.preventDefault();
      clearError(error, form);
      var body = {};
      if (name.value.trim() !== team.name) body.name = name.value.trim();
      if (description.value.trim() !== (team.description || '')) body.description = description.value.trim();
      if (!Object.keys(body).length) { toast('Nothing changed.'); return; }
      busy(save, function () { return api('PATCH', '/api/v1/teams/' + enc(team.id), body); })
        .then(function () { toast('Team saved.'); load(); }, function (err) { showError(error, err, form); });
    });
    return form;
  }

  function load() {
    return fetchAll('/api/v1/teams').then(function (list) {
      if (!alive(main)) return;
      clear(t.tbody);
      list.forEach(function (team) { t.tbody.appendChild(row(team)); });
      t.table.hidden = list.length === 0;
      empty.hidden = list.length !== 0;
    }, function (err) { showError(p.alert, err); });
  }

  var name = h('input', { type: 'text', id: 'team-name', required: true, maxlength: '100', autocomplete: 'off', 'data-testid': 'team-name', 'data-field': 'name' });
  var description = h('textarea', { id: 'team-description', rows: '2', maxlength: '1000', 'data-testid': 'team-description', 'data-field': 'description' });
  var create = h('button', { type: 'submit', class: 'primary', 'data-testid': 'team-create' }, 'Create team');
  var error = alertBox('team-error');
  var form = h('form', { novalidate: true, 'aria-labelledby': 'team-new-title' },
    formRow('Name', name), formRow('Description (optional)', description), error, h('div', { class: 'form-row' }, create));
  form.addEventListener('submit', function (e) {
    e.preventDefault();
    clearError(error, form);
    if (!name.value.trim()) { showError(error, { status: 422, message: 'name: must not be empty' }, form); return; }
    var body = { name: name.value.trim() };
    if (description.value.trim()) body.description = description.value.trim();
    busy(create, function () { return api('POST', '/api/v1/teams', body); }).then(function (team) {
      name.value = ''; description.value = '';
      folding.fold();
      toast('Team "' + team.name + '" created.');
      load();
    }, function (err) { showError(error, err, form); });
  });
  var folding = foldable(form, 'Create another team', 'team-another');
  p.body.appendChild(h('section', { class: 'card', id: 'new-team' },
    h('h2', { id: 'team-new-title' }, 'New team'), form, folding.button));

  load();
}
