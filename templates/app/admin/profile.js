// ---- Profile ---------------------------------------------------------------------------------

import { api, clear, h, session, toast } from '../core.js';
import { isAdmin, skeleton } from '../shared.js';
import { fetchAll } from '../shared.js';
import {
  alertBox, alive, busy, checkboxRow, clearError, enc, formRow, link, secretBox, showError, showOnce, table, timeEl, yes
} from './ui.js';

// /profile: the signed-in agent's account, password and API tokens.
export function profilePage(main) {
  var me = session.me || {};
  document.title = 'Profile · Switchboard';
  var page = h('div', { class: 'page profile' });
  main.appendChild(page);
  page.appendChild(h('h1', {}, 'Your profile'));

  page.appendChild(h('section', { class: 'card', 'aria-labelledby': 'profile-account' },
    h('h2', { id: 'profile-account' }, 'Account'),
    h('dl', { class: 'facts' },
      h('dt', {}, 'Name'), h('dd', { 'data-testid': 'profile-name' }, me.name || ''),
      h('dt', {}, 'Email'), h('dd', { 'data-testid': 'profile-email' }, me.email || ''),
      h('dt', {}, 'Role'), h('dd', { 'data-testid': 'profile-role' }, me.role === 'admin' ? 'Admin' : 'Agent'),
      h('dt', {}, 'Capacity'), h('dd', {}, me.capacity === null || me.capacity === undefined
        ? 'No limit' : String(me.capacity) + ' open conversations')),
    h('p', {}, link('/admin/canned', 'Manage canned responses'),
      isAdmin() ? [' · ', link('/admin/inboxes', 'Admin settings')] : null)));

  page.appendChild(notificationsSection(main));
  page.appendChild(passwordSection());
  page.appendChild(tokensSection(main));
}

function passwordSection() {
  var current = h('input', {
    type: 'password', id: 'profile-password-current', autocomplete: 'current-password', required: true,
    'data-testid': 'profile-password-current', 'data-field': 'current_password'
  });
  var fresh = h('input', {
    type: 'password', id: 'profile-password-new', autocomplete: 'new-password', required: true,
    minlength: '10', maxlength: '1024', 'data-testid': 'profile-password-new', 'data-field': 'new_password'
  });
  var submit = h('button', { type: 'submit', class: 'primary', 'data-testid': 'profile-password-submit' }, 'Change password');
  var error = alertBox('profile-password-error');
  var done = h('p', { class: 'success', role: 'status', 'data-testid': 'profile-password-done' });
  var form = h('form', { novalidate: true, 'aria-labelledby': 'profile-password' },
    formRow('Current password', current),
    formRow('New password', fresh, 'At least 10 characters.'),
    error,
    h('div', { class: 'form-row' }, submit),
    done);
  form.addEventListener('submit', function (e) {
    e.preventDefault();
    clearError(error, form);
    done.textContent = '';
    if (!current.value) { showError(error, { message: 'Enter your current password.' }); current.focus(); return; }
    if (fresh.value.length < 10) { showError(error, { message: 'The new password needs at least 10 characters.' }); fresh.focus(); return; }
    busy(submit, function () {
      return api('PUT', '/api/v1/me/password', { current_password: current.value, new_password: fresh.value });
    }).then(function () {
      current.value = '';
      fresh.value = '';
      done.textContent = 'Password changed. Your other sessions were signed out and all your personal API tokens were revoked.';
      var tokens = document.querySelector('[data-testid=token-list]');
      if (tokens && tokens.reload) tokens.reload();
    }, function (err) { showError(error, err, form); });
  });
  return h('section', { class: 'card', 'aria-labelledby': 'profile-password' },
    h('h2', { id: 'profile-password' }, 'Change password'),
    h('p', { class: 'muted' }, 'Changing your password signs you out everywhere else and revokes all your API tokens.'),
    form);
}

function tokensSection(main) {
  var listError = alertBox('token-list-error');
  var t = table(null, ['Name', 'Starts with', 'Created', 'Last used', 'Actions']);
  var empty = h('p', { class: 'empty', hidden: true }, 'You have no API tokens.');
  var holder = h('div', { 'data-testid': 'token-list' }, t.table, empty);

  function row(token) {
    var revoke = h('button', { type: 'button', class: 'danger', 'data-testid': 'token-revoke' }, 'Revoke');
    var tr = h('tr', { 'data-testid': 'token-row', 'data-id': token.id },
      h('td', {}, token.name),
      h('td', {}, h('code', {}, (token.prefix || '') + '…')),
      h('td', {}, timeEl(token.created_at)),
      h('td', {}, token.last_used_at ? timeEl(token.last_used_at) : h('span', { class: 'muted' }, 'Never')),
      h('td', { class: 'row-actions' }, revoke));
    revoke.setAttribute('aria-label', 'Revoke token ' + token.name);
    revoke.addEventListener('click', function () {
      if (!yes('Revoke the token "' + token.name + '"? Scripts using it stop working at once.')) return;
      clearError(listError);
      busy(revoke, function () { return api('DELETE', '/api/v1/me/tokens/' + enc(token.id)); })
        .then(function () { toast('Token revoked.'); load(); }, function (err) { showError(listError, err); });
    });
    return tr;
  }

  function load() {
    return api('GET', '/api/v1/me/tokens').then(function (res) {
      if (!alive(main)) return;
      var tokens = (res && res.data) || [];
      clear(t.tbody);
      tokens.forEach(function (tok) { t.tbody.appendChild(row(tok)); });
      t.table.hidden = tokens.length === 0;
      empty.hidden = tokens.length !== 0;
    }, function (err) { showError(listError, err); });
  }
  holder.reload = load;

  var name = h('input', { type: 'text', id: 'token-name', maxlength: '100', required: true, 'data-testid': 'token-name', 'data-field': 'name', autocomplete: 'off' });
  var create = h('button', { type: 'submit', class: 'primary', 'data-testid': 'token-create' }, 'Create token');
  var error = alertBox('token-error');
  // A new token shows at the top of the section, before the list.
  var result = h('div', { class: 'token-result', 'aria-live': 'polite' });
  var form = h('form', { novalidate: true, 'aria-label': 'New API token' },
    formRow('Token name', name, 'What the token is for, e.g. "Reporting script".'),
    error,
    h('div', { class: 'form-row' }, create));
  form.addEventListener('submit', function (e) {
    e.preventDefault();
    clearError(error, form);
    if (!name.value.trim()) { showError(error, { message: 'Give the token a name.' }); name.focus(); return; }
    busy(create, function () { return api('POST', '/api/v1/me/tokens', { name: name.value.trim() }); })
      .then(function (tok) {
        name.value = '';
        showOnce({ body: result }, h('div', { class: 'card created' }, secretBox('Your new token "' + tok.name + '"', tok.token, 'token-value',
          'Copy it now: it is shown only once. Send it as "Authorization: Bearer <token>". ' +
          'If you lose it, revoke it and create another.')));
        load();
      }, function (err) { showError(error, err, form); });
  });

  load();
  return h('section', { class: 'card', 'aria-labelledby': 'profile-tokens' },
    h('h2', { id: 'profile-tokens' }, 'Personal API tokens'),
    h('p', { class: 'muted' }, 'Scripts use tokens instead of your password. A token acts as you, with your role. At most 50 per agent.'),
    result, listError, holder,
    h('h3', {}, 'New token'), form);
}

var KIND_LABELS = [
  ['assigned', 'A conversation is assigned to me'],
  ['mention', 'Someone @mentions me in a note'],
  ['message', 'A customer writes in my conversation'],
  ['sla_warning', 'An SLA is about to be breached'],
  ['sla_breach', 'An SLA was breached'],
  ['inbox_conversation', 'A new conversation starts in an inbox I watch']
];

// Email for unread notifications (kinds, quiet hours, time zone) and the watched inboxes.
function notificationsSection(main) {
  var error = alertBox('notify-settings-error');
  var body = h('div', {}, skeleton('Loading your notification settings…', [60, 80, 70]));
  var section = h('section', { class: 'card', 'aria-labelledby': 'profile-notifications', 'data-testid': 'notify-settings' },
    h('h2', { id: 'profile-notifications' }, 'Notifications'), error, body);

  Promise.all([api('GET', '/api/v1/me/notification-settings'), fetchAll('/api/v1/inboxes')]).then(function (r) {
    if (!alive(main)) return;
    clear(body).className = '';
    body.appendChild(form(r[0], r[1]));
  }, function (err) { clear(body); showError(error, err); });

  function form(settings, inboxes) {
    var email = settings.email;
    var enabled = h('input', { type: 'checkbox', 'data-testid': 'notify-email-enabled', 'data-field': 'email.enabled' });
    enabled.checked = !!email.enabled;
    var kinds = KIND_LABELS.map(function (k) {
      var box = h('input', { type: 'checkbox', value: k[0], 'data-testid': 'notify-kind-' + k[0] });
      box.checked = email.kinds.indexOf(k[0]) >= 0;
      return checkboxRow(k[1], box);
    });
    var quietOn = h('input', { type: 'checkbox', 'data-testid': 'notify-quiet-enabled' });
    quietOn.checked = !!email.quiet_hours;
    var start = h('input', { type: 'time', 'data-testid': 'notify-quiet-start', 'data-field': 'email.quiet_hours.start' });
    var end = h('input', { type: 'time', 'data-testid': 'notify-quiet-end', 'data-field': 'email.quiet_hours.end' });
    start.value = email.quiet_hours ? email.quiet_hours.start : '22:00';
    end.value = email.quiet_hours ? email.quiet_hours.end : '07:00';
    var browserZone = '';
    try { browserZone = Intl.DateTimeFormat().resolvedOptions().timeZone || ''; } catch (e) { browserZone = ''; }
    var zone = h('input', { type: 'text', 'data-testid': 'notify-time-zone', 'data-field': 'email.time_zone', autocomplete: 'off' });
    zone.value = email.time_zone === 'UTC' && !email.quiet_hours && browserZone ? browserZone : email.time_zone;
    var watched = inboxes.map(function (inbox) {
      var box = h('input', { type: 'checkbox', value: inbox.id, 'data-testid': 'notify-watch-' + inbox.id });
      box.checked = settings.watched_inbox_ids.indexOf(String(inbox.id)) >= 0;
      return checkboxRow(inbox.name, box);
    });
    var save = h('button', { type: 'submit', class: 'primary', 'data-testid': 'notify-save' }, 'Save notification settings');
    var f = h('form', { novalidate: true, 'aria-label': 'Notification settings' },
      h('h3', {}, 'Email'),
      settings.email_configured ? null : h('p', { class: 'muted', 'data-testid': 'notify-email-off' },
        'This hub has no mail server configured (notifications.smtp_host): settings are kept for when it has.'),
      checkboxRow('Email me notifications I have not read', enabled,
        'Sent when you are away or offline, or after they stay unread for a while; gathered into one digest.'),
      h('fieldset', {}, h('legend', {}, 'Mail me when'), kinds),
      checkboxRow('Quiet hours: no email between', quietOn),
      h('div', { class: 'form-row inline' }, formRow('From', start), formRow('Until', end)),
      formRow('Time zone', zone, 'An IANA zone such as Europe/Berlin; quiet hours are in this zone.'),
      h('h3', {}, 'Watched inboxes'),
      h('p', { class: 'muted' }, 'A new conversation in a watched inbox notifies you.'),
      watched.length ? watched : h('p', { class: 'empty' }, 'You are not a member of any inbox yet.'),
      h('div', { class: 'form-row' }, save));
    f.addEventListener('submit', function (e) {
      e.preventDefault();
      clearError(error, f);
      var chosen = [];
      kinds.forEach(function (row) { var b = row.querySelector('input'); if (b.checked) chosen.push(b.value); });
      var ids = [];
      watched.forEach(function (row) { var b = row.querySelector('input'); if (b.checked) ids.push(b.value); });
      var payload = {
        email: {
          enabled: enabled.checked,
          kinds: chosen,
          quiet_hours: quietOn.checked ? { start: start.value, end: end.value } : null,
          time_zone: zone.value.trim()
        },
        watched_inbox_ids: ids
      };
      busy(save, function () { return api('PUT', '/api/v1/me/notification-settings', payload); })
        .then(function () { toast('Notification settings saved.'); }, function (err) { showError(error, err, f); });
    });
    return f;
  }
  return section;
}
