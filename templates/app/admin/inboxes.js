// ---- Inboxes: the list and the create form ----------------------------------------------------

import { api, clear, h } from '../core.js';
import {
  alertBox, alive, badge, busy, clearError, enc, foldable, formRow, link, select, showError, showOnce, table
} from './ui.js';
import { adminPage } from './frame.js';
import { CHANNELS, channelLabel, connectionBox, settingsFieldset, stepsBox } from './channels.js';

// /admin/inboxes (and /admin/inboxes/new, which focuses the form).
export function inboxesPage(main, focusForm) {
  var p = adminPage(main, 'Inboxes', 'Each inbox is one channel: an integration, a Telegram bot, a WhatsApp number, a support email address or a chat widget on your site.');
  var newButton = h('button', { type: 'button', class: 'primary', 'data-testid': 'inbox-new' }, 'New inbox');
  var t = table(null, ['Name', 'Channel', 'Status', 'Webhook URL']);
  var empty = h('p', { class: 'empty', hidden: true }, 'No inboxes yet. Create the first one below.');
  var more = h('button', { type: 'button', hidden: true, 'data-testid': 'inbox-more' }, 'Load more');
  var cursor = null;
  p.body.appendChild(h('p', { class: 'row-actions' }, newButton));
  p.body.appendChild(h('section', { 'aria-label': 'Inbox list' }, t.table, empty, more));

  function addRows(list) {
    list.forEach(function (inbox) {
      var href = '/admin/inboxes/' + enc(inbox.id);
      t.tbody.appendChild(h('tr', { 'data-testid': 'inbox-row', 'data-id': inbox.id },
        h('td', {}, link(href, inbox.name)),
        h('td', {}, channelLabel(inbox.channel_type)),
        h('td', {}, inbox.enabled ? badge('Enabled', 'ok') : badge('Disabled', 'off')),
        h('td', {}, h('code', { class: 'url' }, inbox.webhook_url || ''))));
    });
  }
  function load(reset) {
    var url = '/api/v1/inboxes?limit=100' + (!reset && cursor ? '&cursor=' + enc(cursor) : '');
    return api('GET', url).then(function (res) {
      if (!alive(main)) return;
      if (reset) clear(t.tbody);
      addRows(res.data || []);
      cursor = res.next_cursor || null;
      more.hidden = !cursor;
      var count = t.tbody.childNodes.length;
      t.table.hidden = count === 0;
      empty.hidden = count !== 0;
    }, function (err) { showError(p.alert, err); });
  }
  more.addEventListener('click', function () { busy(more, function () { return load(false); }); });

  // The create form.
  var name = h('input', { type: 'text', id: 'inbox-name', required: true, maxlength: '100', 'data-testid': 'inbox-name', 'data-field': 'name', autocomplete: 'off' });
  var type = select({ id: 'inbox-type', 'data-testid': 'inbox-type', 'data-field': 'channel_type' },
    Object.keys(CHANNELS).map(function (k) { return [k, CHANNELS[k].label]; }), 'api');
  var settingsHolder = h('div', { class: 'settings-holder' });
  var stepsHolder = h('div', {});
  var fieldset = null;
  function showType() {
    fieldset = settingsFieldset(type.value, null);
    clear(settingsHolder).appendChild(fieldset.el);
    clear(stepsHolder);
    var steps = stepsBox(type.value);
    if (steps) stepsHolder.appendChild(steps);
  }
  // The first-run guide links here with the channel picked (/admin/inboxes/new?channel=widget).
  var asked = focusForm ? new URLSearchParams(location.search).get('channel') : null;
  if (asked && CHANNELS[asked]) type.value = asked;
  type.addEventListener('change', showType);
  showType();
  var create = h('button', { type: 'submit', class: 'primary', 'data-testid': 'inbox-create' }, 'Create inbox');
  var error = alertBox('inbox-error');
  var form = h('form', { novalidate: true, 'aria-labelledby': 'inbox-new-title' },
    stepsHolder,
    formRow('Name', name, 'What agents see, e.g. "Shop support".'),
    formRow('Channel type', type),
    settingsHolder,
    error,
    h('div', { class: 'form-row' }, create));
  var folding = foldable(form, 'Create another inbox', 'inbox-another');
  var section = h('section', { class: 'card', id: 'new-inbox' },
    h('h2', { id: 'inbox-new-title' }, 'New inbox'), form, folding.button);
  p.body.appendChild(section);

  newButton.addEventListener('click', function () {
    if (section.scrollIntoView) section.scrollIntoView({ block: 'start' });
    folding.open();
    name.focus();
  });

  form.addEventListener('submit', function (e) {
    e.preventDefault();
    clearError(error, form);
    if (!name.value.trim()) { showError(error, { message: 'Give the inbox a name.' }); name.focus(); return; }
    var settings = fieldset.collect();
    if (type.value === 'telegram' && !settings.bot_token) {
      showError(error, { status: 422, message: 'settings.bot_token: is required (ask @BotFather for one)' }, form);
      return;
    }
    if (type.value === 'whatsapp') {
      var missing = ['phone_number_id', 'access_token', 'app_secret'].filter(function (k) { return !settings[k]; })[0];
      if (missing) {
        showError(error, { status: 422, message: 'settings.' + missing + ': is required (see Meta\'s App Dashboard)' }, form);
        return;
      }
    }
    if (type.value === 'email') {
      var absent = !settings.address ? ['address', 'is required']
        : !settings.smtp ? ['smtp', 'is required (the server replies go out by)']
          : settings.imap && !settings.imap.host ? ['imap.host', 'is required (or untick "Read mail from an IMAP mailbox")']
            : null;
      if (absent) {
        showError(error, { status: 422, message: 'settings.' + absent[0] + ': ' + absent[1] }, form);
        return;
      }
    }
    if (type.value === 'widget' && !(settings.allowed_origins && settings.allowed_origins.length)) {
      showError(error, { status: 422, message: 'settings.allowed_origins: add at least one origin, like https://shop.example' }, form);
      return;
    }
    var body = { name: name.value.trim(), channel_type: type.value, settings: settings };
    busy(create, function () { return api('POST', '/api/v1/inboxes', body); }).then(function (inbox) {
      if (!alive(main)) return;
      name.value = '';
      showType();
      folding.fold();
      showOnce(p, h('div', { class: 'card created', 'data-testid': 'inbox-created', 'data-id': inbox.id, 'aria-live': 'polite' },
        h('h2', {}, 'Inbox "' + inbox.name + '" created'),
        connectionBox(inbox, true),
        stepsBox(inbox.channel_type, inbox),
        h('p', {}, link('/admin/inboxes/' + enc(inbox.id), 'Open the inbox to add members and change settings'))));
      load(true);
    }, function (err) { showError(error, err, form); });
  });

  load(true);
  // After navigate() has moved focus to the page (it does so once the page is drawn).
  if (focusForm) setTimeout(function () { if (alive(main)) name.focus(); }, 0);
}
