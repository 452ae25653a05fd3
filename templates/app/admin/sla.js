// ---- Service levels: business hours, which inbox keeps which, and SLA policies ------------------

import { api, clear, h, toast } from '../core.js';
import { fetchAll } from '../shared.js';
import {
  alertBox, alive, busy, checkboxRow, clearError, detailToggle, enc, formRow, select, showError,
  table, yes
} from './ui.js';
import { adminPage } from './frame.js';

var DAYS = [['mon', 'Monday'], ['tue', 'Tuesday'], ['wed', 'Wednesday'], ['thu', 'Thursday'],
  ['fri', 'Friday'], ['sat', 'Saturday'], ['sun', 'Sunday']];
var PRIORITIES = [['low', 'Low'], ['medium', 'Medium'], ['high', 'High'], ['urgent', 'Urgent']];

// "09:00-12:00, 13:00-17:00" ⇄ [["09:00","12:00"],["13:00","17:00"]]; the server checks them.
function intervalsText(list) {
  return (list || []).map(function (i) { return i[0] + '-' + i[1]; }).join(', ');
}
function parseIntervals(text) {
  return text.split(',').map(function (s) { return s.trim(); }).filter(Boolean).map(function (piece) {
    var parts = piece.split('-');
    return [(parts[0] || '').trim(), (parts[1] || '').trim()];
  });
}
function minutes(secs) { return secs ? String(Math.round(secs / 60)) : ''; }
function secsOf(input) {
  var v = input.value.trim();
  if (!v) return null;
  var n = Number(v);
  return isFinite(n) ? Math.round(n * 60) : v; // the server names a bad value
}
function span(secs) {
  if (!secs) return '—';
  var m = Math.round(secs / 60);
  return m < 120 ? m + ' min' : Math.round(m / 6) / 10 + ' h';
}

// /admin/sla
export function slaPage(main) {
  var p = adminPage(main, 'Service levels',
    'Business hours, and the response and resolution targets conversations are held to. ' +
    'Targets count business time only and pause while a conversation is pending or snoozed.');
  var state = { schedules: [], inboxes: [], teams: [], policies: [] };

  // -- Business hours ------------------------------------------------------------------------
  var hoursTable = table(null, ['Name', 'Time zone', 'Open', 'Actions']);
  var hoursEmpty = h('p', { class: 'empty', hidden: true }, 'No business hours yet: every inbox is always open.');
  var inboxTable = table(null, ['Inbox', 'Business hours']);
  var policyTable = table(null, ['Order', 'Name', 'Applies to', 'Targets', 'Actions']);
  var policyEmpty = h('p', { class: 'empty', hidden: true }, 'No SLA policies yet.');

  function scheduleForm(existing, done) {
    var name = h('input', { type: 'text', required: true, maxlength: '100', autocomplete: 'off', 'data-field': 'name', 'data-testid': 'hours-name' });
    var zone = h('input', { type: 'text', required: true, autocomplete: 'off', 'data-field': 'time_zone', 'data-testid': 'hours-time-zone', placeholder: 'Europe/Berlin' });
    var closed = h('textarea', { rows: '3', 'data-field': 'closed_dates', 'data-testid': 'hours-closed', placeholder: '2026-12-25' });
    var days = {};
    DAYS.forEach(function (d) {
      days[d[0]] = h('input', { type: 'text', autocomplete: 'off', 'data-field': 'hours.' + d[0], 'data-testid': 'hours-' + d[0], placeholder: 'closed' });
    });
    if (existing) {
      name.value = existing.name;
      zone.value = existing.time_zone;
      DAYS.forEach(function (d) { days[d[0]].value = intervalsText(existing.hours && existing.hours[d[0]]); });
      closed.value = (existing.closed_dates || []).join('\n');
    } else {
      try { zone.value = Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC'; } catch (e) { zone.value = 'UTC'; }
      ['mon', 'tue', 'wed', 'thu', 'fri'].forEach(function (d) { days[d].value = '09:00-17:00'; });
    }
    var save = h('button', { type: 'submit', class: 'primary', 'data-testid': 'hours-save' }, existing ? 'Save' : 'Create business hours');
    var error = alertBox('hours-error');
    var form = h('form', { novalidate: true, 'aria-label': existing ? 'Edit ' + existing.name : 'New business hours' },
      formRow('Name', name), formRow('Time zone', zone, 'An IANA name, like Europe/Berlin or America/New_York.'),
      h('fieldset', {}, h('legend', {}, 'Opening hours (local time; several intervals separated by commas)'),
        DAYS.map(function (d) { return formRow(d[1], days[d[0]]); })),
      formRow('Closed on (one date per line)', closed, 'Holidays and closures, as YYYY-MM-DD.'),
      error, h('div', { class: 'form-row' }, save));
    form.addEventListener('submit', function (e) {
      e.preventDefault();
      clearError(error, form);
      var hours = {};
      DAYS.forEach(function (d) { hours[d[0]] = parseIntervals(days[d[0]].value); });
      var body = {
        name: name.value.trim(), time_zone: zone.value.trim(), hours: hours,
        closed_dates: closed.value.split(/\s+/).map(function (s) { return s.trim(); }).filter(Boolean)
      };
      busy(save, function () {
        return existing ? api('PATCH', '/api/v1/business-hours/' + enc(existing.id), body)
          : api('POST', '/api/v1/business-hours', body);
      }).then(function () {
        toast(existing ? 'Business hours saved.' : 'Business hours created.');
        if (!existing) { name.value = ''; closed.value = ''; }
        if (done) done();
        load();
      }, function (err) { showError(error, err, form); });
    });
    return form;
  }

  function scheduleRow(s) {
    var tr = h('tr', { 'data-testid': 'hours-row', 'data-id': s.id });
    var edit = detailToggle(tr, 4, 'Edit', function (cell, close) { cell.appendChild(scheduleForm(s, close)); });
    var del = h('button', { type: 'button', class: 'danger', 'aria-label': 'Delete ' + s.name }, 'Delete');
    del.addEventListener('click', function () {
      if (!yes('Delete the business hours "' + s.name + '"? Their inboxes are then always open.')) return;
      busy(del, function () { return api('DELETE', '/api/v1/business-hours/' + enc(s.id)); })
        .then(function () { toast('Business hours deleted.'); load(); }, function (err) { showError(p.alert, err); });
    });
    var open = DAYS.filter(function (d) { return s.hours && s.hours[d[0]] && s.hours[d[0]].length; })
      .map(function (d) { return d[1].slice(0, 3) + ' ' + intervalsText(s.hours[d[0]]); }).join('; ');
    tr.appendChild(h('td', {}, s.name));
    tr.appendChild(h('td', {}, s.time_zone));
    tr.appendChild(h('td', {}, open, s.closed_dates && s.closed_dates.length
      ? h('span', { class: 'muted' }, ' · closed on ' + s.closed_dates.length + ' date(s)') : null));
    tr.appendChild(h('td', { class: 'row-actions' }, edit, ' ', del));
    return tr;
  }

  function inboxRow(inbox) {
    var tr = h('tr', { 'data-testid': 'inbox-hours-row', 'data-id': inbox.id });
    var choice = select({ 'data-testid': 'inbox-hours', 'aria-label': 'Business hours of ' + inbox.name },
      [['', 'Always open']].concat(state.schedules.map(function (s) { return [s.id, s.name]; })), '');
    api('GET', '/api/v1/inboxes/' + enc(inbox.id) + '/business-hours').then(function (r) {
      choice.value = r.business_hours_id || '';
      choice.title = r.open_now ? 'Open now' : 'Closed now';
    }, function () {});
    choice.addEventListener('change', function () {
      api('PUT', '/api/v1/inboxes/' + enc(inbox.id) + '/business-hours', { business_hours_id: choice.value || null })
        .then(function () { toast('Business hours of ' + inbox.name + ' saved.'); }, function (err) { showError(p.alert, err); });
    });
    tr.appendChild(h('td', {}, inbox.name));
    tr.appendChild(h('td', {}, choice));
    return tr;
  }

  // -- Policies ------------------------------------------------------------------------------
  function policyForm(existing, done) {
    var e = existing || {};
    var actionOf = function (stage, kind) {
      return (e.actions || []).filter(function (a) { return a.on === stage && a.do === kind; })[0] || null;
    };
    var name = h('input', { type: 'text', required: true, maxlength: '100', autocomplete: 'off', 'data-field': 'name', 'data-testid': 'policy-name', value: e.name || '' });
    var position = h('input', { type: 'number', min: '0', step: '1', 'data-field': 'position', 'data-testid': 'policy-position', value: String(e.position || 0) });
    var inbox = select({ 'data-field': 'inbox_id', 'data-testid': 'policy-inbox' },
      [['', 'Any inbox']].concat(state.inboxes.map(function (i) { return [i.id, i.name]; })), e.inbox_id || '');
    var priority = select({ 'data-field': 'priority', 'data-testid': 'policy-priority' },
      [['', 'Any priority'], ['none', 'No priority']].concat(PRIORITIES), e.priority || '');
    var team = select({ 'data-field': 'team_id', 'data-testid': 'policy-team' },
      [['', 'Any team']].concat(state.teams.map(function (t) { return [t.id, t.name]; })), e.team_id || '');
    var label = h('input', { type: 'text', maxlength: '50', autocomplete: 'off', 'data-field': 'label', 'data-testid': 'policy-label', value: e.label || '' });
    var first = h('input', { type: 'number', min: '1', step: 'any', 'data-field': 'first_response_secs', 'data-testid': 'policy-first', value: minutes(e.first_response_secs) });
    var next = h('input', { type: 'number', min: '1', step: 'any', 'data-field': 'next_response_secs', 'data-testid': 'policy-next', value: minutes(e.next_response_secs) });
    var resolution = h('input', { type: 'number', min: '1', step: 'any', 'data-field': 'resolution_secs', 'data-testid': 'policy-resolution', value: minutes(e.resolution_secs) });
    var warn = h('input', { type: 'number', min: '1', max: '99', step: '1', 'data-field': 'warn_percent', 'data-testid': 'policy-warn', value: String(e.warn_percent || 80) });
    var warnLabel = h('input', { type: 'text', maxlength: '50', autocomplete: 'off', 'data-testid': 'policy-warn-label', value: (actionOf('warning', 'add_label') || {}).label || '' });
    var raise = select({ 'data-testid': 'policy-breach-priority' }, [['', 'Leave the priority']].concat(PRIORITIES),
      (actionOf('breach', 'raise_priority') || {}).priority || '');
    var toTeam = select({ 'data-testid': 'policy-breach-team' },
      [['', 'Keep the team']].concat(state.teams.map(function (t) { return [t.id, t.name]; })),
      (actionOf('breach', 'set_team') || {}).team_id || '');
    var unassign = h('input', { type: 'checkbox', 'data-testid': 'policy-breach-unassign' });
    unassign.checked = !!actionOf('breach', 'unassign');
    var breachLabel = h('input', { type: 'text', maxlength: '50', autocomplete: 'off', 'data-testid': 'policy-breach-label', value: (actionOf('breach', 'add_label') || {}).label || '' });
    // Who hears a warning / breach: checkboxes per stage; all unticked = the default
    // (the assignee, or the admins when nobody has it).
    function notifyBoxes(stage) {
      // Every notify action of the stage together (the API allows several).
      var chosen = [];
      (e.actions || []).forEach(function (a) {
        if (a.on === stage && a.do === 'notify') chosen = chosen.concat(a.to || []);
      });
      if (!chosen.length) chosen = ['assignee'];
      return [['assignee', 'The assignee'], ['team', 'The team'], ['admins', 'Admins']].map(function (t) {
        var box = h('input', { type: 'checkbox', value: t[0], 'data-testid': 'policy-' + stage + '-notify-' + t[0] });
        box.checked = chosen.indexOf(t[0]) >= 0;
        return checkboxRow(t[1], box);
      });
    }
    function notifyAction(stage, rows) {
      var to = rows.map(function (r) { return r.querySelector('input'); })
        .filter(function (b) { return b.checked; }).map(function (b) { return b.value; });
      if (!to.length || (to.length === 1 && to[0] === 'assignee')) return null;
      return { on: stage, do: 'notify', to: to };
    }
    var warnNotify = notifyBoxes('warning');
    var breachNotify = notifyBoxes('breach');
    var enabled = h('input', { type: 'checkbox', 'data-field': 'enabled', 'data-testid': 'policy-enabled' });
    enabled.checked = existing ? !!e.enabled : true;
    var save = h('button', { type: 'submit', class: 'primary', 'data-testid': 'policy-save' }, existing ? 'Save' : 'Create policy');
    var error = alertBox('policy-error');
    var form = h('form', { novalidate: true, 'aria-label': existing ? 'Edit ' + e.name : 'New SLA policy' },
      formRow('Name', name),
      formRow('Order', position, 'Lower first: the first enabled policy whose conditions all hold applies.'),
      h('fieldset', {}, h('legend', {}, 'Applies to'), formRow('Inbox', inbox), formRow('Priority', priority),
        formRow('Team', team), formRow('Label', label)),
      h('fieldset', {}, h('legend', {}, 'Targets in business minutes (empty: none)'),
        formRow('First response', first), formRow('Next response', next), formRow('Resolution', resolution),
        formRow('Warn at (% of the target)', warn)),
      h('fieldset', {}, h('legend', {}, 'When warned'), formRow('Add the label', warnLabel),
        h('p', { class: 'muted' }, 'Notify (nobody assigned: the admins):'), warnNotify),
      h('fieldset', {}, h('legend', {}, 'When breached'), formRow('Raise the priority to', raise),
        formRow('Hand to the team', toTeam), checkboxRow('Unassign, so it is offered again', unassign),
        formRow('Add the label', breachLabel),
        h('p', { class: 'muted' }, 'Notify (nobody assigned: the admins):'), breachNotify),
      checkboxRow('Enabled', enabled),
      error, h('div', { class: 'form-row' }, save));
    form.addEventListener('submit', function (ev) {
      ev.preventDefault();
      clearError(error, form);
      var actions = [];
      if (warnLabel.value.trim()) actions.push({ on: 'warning', do: 'add_label', label: warnLabel.value.trim() });
      if (raise.value) actions.push({ on: 'breach', do: 'raise_priority', priority: raise.value });
      if (toTeam.value) actions.push({ on: 'breach', do: 'set_team', team_id: toTeam.value });
      if (unassign.checked) actions.push({ on: 'breach', do: 'unassign' });
      if (breachLabel.value.trim()) actions.push({ on: 'breach', do: 'add_label', label: breachLabel.value.trim() });
      [notifyAction('warning', warnNotify), notifyAction('breach', breachNotify)].forEach(function (a) {
        if (a) actions.push(a);
      });
      var body = {
        name: name.value.trim(), position: Number(position.value || 0), enabled: enabled.checked,
        inbox_id: inbox.value || null, priority: priority.value || null, team_id: team.value || null,
        label: label.value.trim() || null,
        first_response_secs: secsOf(first), next_response_secs: secsOf(next), resolution_secs: secsOf(resolution),
        warn_percent: Number(warn.value || 80), actions: actions
      };
      busy(save, function () {
        return existing ? api('PATCH', '/api/v1/sla-policies/' + enc(e.id), body) : api('POST', '/api/v1/sla-policies', body);
      }).then(function () {
        toast(existing ? 'Policy saved.' : 'Policy created.');
        if (done) done();
        load();
      }, function (err) { showError(error, err, form); });
    });
    return form;
  }

  function policyRow(pol) {
    var tr = h('tr', { 'data-testid': 'policy-row', 'data-id': pol.id });
    var edit = detailToggle(tr, 5, 'Edit', function (cell, close) { cell.appendChild(policyForm(pol, close)); });
    var del = h('button', { type: 'button', class: 'danger', 'aria-label': 'Delete ' + pol.name }, 'Delete');
    del.addEventListener('click', function () {
      if (!yes('Delete the SLA policy "' + pol.name + '"? Its running clocks stop.')) return;
      busy(del, function () { return api('DELETE', '/api/v1/sla-policies/' + enc(pol.id)); })
        .then(function () { toast('Policy deleted.'); load(); }, function (err) { showError(p.alert, err); });
    });
    var nameOf = function (list, id) {
      var found = list.filter(function (x) { return String(x.id) === String(id); })[0];
      return found ? found.name : id;
    };
    var scope = [];
    if (pol.inbox_id) scope.push('inbox ' + nameOf(state.inboxes, pol.inbox_id));
    if (pol.priority) scope.push('priority ' + pol.priority);
    if (pol.team_id) scope.push('team ' + nameOf(state.teams, pol.team_id));
    if (pol.label) scope.push('label ' + pol.label);
    tr.appendChild(h('td', {}, String(pol.position)));
    tr.appendChild(h('td', {}, pol.name, pol.enabled ? null : h('span', { class: 'muted' }, ' (disabled)')));
    tr.appendChild(h('td', {}, scope.length ? scope.join(', ') : 'Every conversation'));
    tr.appendChild(h('td', {}, 'First ' + span(pol.first_response_secs) + ' · next ' + span(pol.next_response_secs) +
      ' · resolution ' + span(pol.resolution_secs)));
    tr.appendChild(h('td', { class: 'row-actions' }, edit, ' ', del));
    return tr;
  }

  var newPolicy = h('div');
  var newHours = h('div');
  function load() {
    return Promise.all([
      api('GET', '/api/v1/business-hours'), fetchAll('/api/v1/inboxes'), fetchAll('/api/v1/teams'),
      api('GET', '/api/v1/sla-policies')
    ]).then(function (r) {
      if (!alive(main)) return;
      state.schedules = r[0].data || [];
      state.inboxes = r[1];
      state.teams = r[2];
      state.policies = r[3].data || [];
      clear(hoursTable.tbody);
      state.schedules.forEach(function (s) { hoursTable.tbody.appendChild(scheduleRow(s)); });
      hoursTable.table.hidden = !state.schedules.length;
      hoursEmpty.hidden = !!state.schedules.length;
      clear(inboxTable.tbody);
      state.inboxes.forEach(function (i) { inboxTable.tbody.appendChild(inboxRow(i)); });
      clear(policyTable.tbody);
      state.policies.forEach(function (pol) { policyTable.tbody.appendChild(policyRow(pol)); });
      policyTable.table.hidden = !state.policies.length;
      policyEmpty.hidden = !!state.policies.length;
      if (!newPolicy.firstChild) newPolicy.appendChild(policyForm(null));
      if (!newHours.firstChild) newHours.appendChild(scheduleForm(null));
    }, function (err) { showError(p.alert, err); });
  }

  p.body.appendChild(h('section', { 'aria-labelledby': 'hours-title' },
    h('h2', { id: 'hours-title' }, 'Business hours'), hoursTable.table, hoursEmpty,
    h('details', { class: 'card' }, h('summary', { 'data-testid': 'hours-new' }, 'New business hours'), newHours)));
  p.body.appendChild(h('section', { 'aria-labelledby': 'inbox-hours-title' },
    h('h2', { id: 'inbox-hours-title' }, 'Inboxes'),
    h('p', { class: 'muted' }, 'Outside its hours an inbox counts no SLA time and its web chat shows the away message.'),
    inboxTable.table));
  p.body.appendChild(h('section', { 'aria-labelledby': 'policies-title' },
    h('h2', { id: 'policies-title' }, 'SLA policies'), policyTable.table, policyEmpty,
    h('details', { class: 'card' }, h('summary', { 'data-testid': 'policy-new' }, 'New SLA policy'), newPolicy)));
  load();
}
