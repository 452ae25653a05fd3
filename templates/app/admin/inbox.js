// ---- Inboxes: one inbox (status, connection, settings, members, delete) ----------------------

import { api, clear, h, navigate, toast } from '../core.js';
import { fetchAll } from '../shared.js';
import {
  alertBox, alive, badge, busy, checkboxRow, clearError, enc, formRow, link, showError, timeEl,
  yes
} from './ui.js';
import { adminPage, loading } from './frame.js';
import { CHANNELS, connectionBox, settingsFieldset, stepsBox } from './channels.js';
import { emailFacts } from './email.js';
import { membersSection } from './members.js';
import { unreadableSection } from './unreadable.js';
import { templatesSection, whatsappSections } from './whatsapp.js';

// /admin/inboxes/:id
export function inboxPage(main, params) {
  var id = params.id;
  var p = adminPage(main, 'Inbox');
  loading(p.body);

  function load() {
    return Promise.all([
      api('GET', '/api/v1/inboxes/' + enc(id)),
      api('GET', '/api/v1/inboxes/' + enc(id) + '/members'),
      fetchAll('/api/v1/agents')
    ]).then(function (r) {
      if (!alive(main)) return;
      render(r[0], (r[1] && r[1].data) || [], r[2]);
    }, function (err) {
      if (!alive(main)) return;
      clear(p.body);
      showError(p.alert, err);
      p.body.appendChild(h('p', {}, link('/admin/inboxes', 'Back to the inboxes')));
    });
  }

  function render(inbox, members, agents) {
    clear(p.body);
    p.alert.textContent = '';
    p.heading.textContent = inbox.name;
    document.title = inbox.name + ' · Inboxes · Switchboard';
    var settings = inbox.settings || {};

    // Summary and status.
    var enabled = h('input', { type: 'checkbox', id: 'inbox-enabled', 'data-testid': 'inbox-enabled' });
    enabled.checked = !!inbox.enabled;
    var statusBadge = inbox.enabled ? badge('Enabled', 'ok') : badge('Disabled', 'off');
    var enabledError = alertBox('inbox-enabled-error');
    enabled.addEventListener('change', function () {
      var want = enabled.checked;
      if (!want && !yes('Disable "' + inbox.name + '"? It stops receiving and sending messages until you enable it again.')) {
        enabled.checked = true;
        return;
      }
      clearError(enabledError);
      enabled.disabled = true;
      api('PATCH', '/api/v1/inboxes/' + enc(id), { enabled: want }).then(function (updated) {
        enabled.disabled = false;
        inbox.enabled = updated.enabled;
        enabled.checked = !!updated.enabled;
        var fresh = updated.enabled ? badge('Enabled', 'ok') : badge('Disabled', 'off');
        statusBadge.parentNode.replaceChild(fresh, statusBadge);
        statusBadge = fresh;
        toast(updated.enabled ? 'Inbox enabled.' : 'Inbox disabled.');
      }, function (err) {
        enabled.disabled = false;
        enabled.checked = !want;
        showError(enabledError, err);
      });
    });
    var assignOnReply = h('input', { type: 'checkbox', 'data-testid': 'inbox-assign-on-reply' });
    assignOnReply.checked = inbox.assign_on_reply !== false;
    var assignError = alertBox('inbox-assign-error');
    assignOnReply.addEventListener('change', function () {
      var want = assignOnReply.checked;
      clearError(assignError);
      assignOnReply.disabled = true;
      api('PATCH', '/api/v1/inboxes/' + enc(id), { assign_on_reply: want }).then(function (updated) {
        assignOnReply.disabled = false;
        inbox.assign_on_reply = updated.assign_on_reply;
        assignOnReply.checked = !!updated.assign_on_reply;
        toast(updated.assign_on_reply ? 'Replies now assign unassigned conversations.' : 'Replies no longer assign.');
      }, function (err) {
        assignOnReply.disabled = false;
        assignOnReply.checked = !want;
        showError(assignError, err);
      });
    });
    var facts = [h('dt', {}, 'Channel'), h('dd', {}, CHANNELS[inbox.channel_type] ? CHANNELS[inbox.channel_type].label : inbox.channel_type),
      h('dt', {}, 'Status'), h('dd', {}, statusBadge),
      h('dt', {}, 'Created'), h('dd', {}, timeEl(inbox.created_at))];
    if (settings.bot_username) facts.push(h('dt', {}, 'Bot'), h('dd', {}, '@' + settings.bot_username));
    if (inbox.channel_type === 'telegram' && settings.mode) facts.push(h('dt', {}, 'Mode'), h('dd', {}, settings.mode));
    if (inbox.channel_type === 'email') facts = facts.concat(emailFacts(settings));
    var whatsapp = inbox.channel_type === 'whatsapp' ? whatsappSections(inbox) : null;
    // A refused token stops every reply: it goes first.
    if (whatsapp) p.body.appendChild(whatsapp.warning);
    p.body.appendChild(h('section', { class: 'card', 'aria-labelledby': 'inbox-status' },
      h('h2', { id: 'inbox-status' }, 'Status'),
      h('dl', { class: 'facts' }, facts),
      checkboxRow('Enabled', enabled, 'A disabled inbox keeps its history but receives and sends nothing.'),
      enabledError,
      checkboxRow('Assign on reply', assignOnReply, 'An agent who replies to an unassigned conversation takes it.'),
      assignError));
    if (whatsapp) p.body.appendChild(whatsapp.card);

    // Connection: webhook URL, secret, snippet, rotate.
    var connection = h('div', {}, connectionBox(inbox, false));
    var rotate = h('button', { type: 'button', class: 'danger', 'data-testid': 'inbox-rotate' }, 'Rotate secret');
    var rotateError = alertBox('inbox-rotate-error');
    rotate.addEventListener('click', function () {
      var warn = inbox.channel_type === 'widget'
        ? 'Rotate the secret? Identity hashes your site computes with the old secret stop being accepted.'
        : inbox.channel_type === 'telegram'
          ? 'Rotate the secret? The hub tells Telegram the new one first.'
          : inbox.channel_type === 'email'
            ? 'Rotate the secret? Your MTA\'s pipe must use the new one: mail it posts with the old one is refused (Postfix keeps it queued and retries).'
            : 'Rotate the secret? Requests signed with the old secret are refused from now on, and callbacks are signed with the new one.';
      if (!yes(warn)) return;
      clearError(rotateError);
      busy(rotate, function () { return api('POST', '/api/v1/inboxes/' + enc(id) + '/rotate-secret'); })
        .then(function (updated) {
          clear(connection).appendChild(connectionBox(updated, true));
          var code = connection.querySelector('[data-testid=inbox-secret]');
          if (code) code.parentNode.querySelector('button').focus();
          toast('New secret made. Copy it now: it is shown only once.');
        }, function (err) { showError(rotateError, err); });
    });
    // WhatsApp signs with the app secret: the hub's own secret has nothing to rotate for.
    var rotatable = inbox.channel_type !== 'whatsapp';
    p.body.appendChild(h('section', { class: 'card', 'aria-labelledby': 'inbox-connection' },
      h('h2', { id: 'inbox-connection' }, 'Connection'),
      connection,
      rotatable ? h('div', { class: 'row-actions' }, rotate) : null,
      rotatable ? rotateError : null,
      stepsBox(inbox.channel_type, inbox)));
    if (inbox.capabilities && inbox.capabilities.templates) p.body.appendChild(templatesSection(id));

    // Settings form.
    var name = h('input', { type: 'text', id: 'inbox-name', required: true, maxlength: '100', 'data-testid': 'inbox-name', 'data-field': 'name', autocomplete: 'off' });
    name.value = inbox.name;
    var fs = settingsFieldset(inbox.channel_type, settings);
    var save = h('button', { type: 'submit', class: 'primary', 'data-testid': 'inbox-save' }, 'Save changes');
    var error = alertBox('inbox-error');
    var form = h('form', { novalidate: true, 'aria-labelledby': 'inbox-settings' },
      formRow('Name', name), fs.el, error, h('div', { class: 'form-row' }, save));
    form.addEventListener('submit', function (e) {
      e.preventDefault();
      clearError(error, form);
      var body = {};
      var newName = name.value.trim();
      if (!newName) { showError(error, { status: 422, message: 'name: must not be empty' }, form); return; }
      if (newName !== inbox.name) body.name = newName;
      var changes = fs.collect();
      if (Object.keys(changes).length) body.settings = changes;
      if (!Object.keys(body).length) { toast('Nothing changed.'); return; }
      busy(save, function () { return api('PATCH', '/api/v1/inboxes/' + enc(id), body); }).then(function () {
        toast('Inbox saved.');
        return load();
      }, function (err) { showError(error, err, form); });
    });
    p.body.appendChild(h('section', { class: 'card', 'aria-labelledby': 'inbox-settings' },
      h('h2', { id: 'inbox-settings' }, 'Settings'), form));

    p.body.appendChild(membersSection({
      title: 'Members',
      intro: 'Members see this inbox\'s conversations and are assigned its new ones.',
      members: members,
      agents: agents,
      prefix: 'inbox-member',
      add: function (agentId) { return api('POST', '/api/v1/inboxes/' + enc(id) + '/members', { agent_id: agentId }); },
      remove: function (agentId) { return api('DELETE', '/api/v1/inboxes/' + enc(id) + '/members/' + enc(agentId)); },
      reload: function () { return api('GET', '/api/v1/inboxes/' + enc(id) + '/members').then(function (r) { return r.data || []; }); },
      what: 'this inbox'
    }));

    p.body.appendChild(unreadableSection(id));

    // Delete (only an inbox without history can go; others are disabled instead).
    var del = h('button', { type: 'button', class: 'danger', 'data-testid': 'inbox-delete' }, 'Delete inbox');
    var delError = alertBox('inbox-delete-error');
    del.addEventListener('click', function () {
      if (!yes('Delete "' + inbox.name + '"? This cannot be undone. An inbox with conversations cannot be deleted: disable it instead.')) return;
      clearError(delError);
      busy(del, function () { return api('DELETE', '/api/v1/inboxes/' + enc(id)); }).then(function () {
        toast('Inbox deleted.');
        navigate('/admin/inboxes');
      }, function (err) { showError(delError, err); });
    });
    p.body.appendChild(h('section', { class: 'card danger-zone', 'aria-labelledby': 'inbox-delete' },
      h('h2', { id: 'inbox-delete' }, 'Delete'),
      h('p', { class: 'muted' }, 'Only an inbox that never had a conversation can be deleted. Disable the others.'),
      h('div', { class: 'row-actions' }, del), delError));
    p.body.appendChild(h('p', {}, link('/admin/inboxes', 'Back to the inboxes')));
  }

  load();
}
