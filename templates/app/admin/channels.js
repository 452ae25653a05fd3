// ---- Inboxes: each channel type's settings form and connection facts ---------------------

import { h } from '../core.js';
import { fetchAll } from '../shared.js';
import { checkboxRow, copyButton, formRow, secretBox, select, snippetBox } from './ui.js';
import { mtaSnippets, serverFieldset } from './email.js';
import { whatsappSteps } from './whatsapp.js';

var ASK = [['off', 'Off'], ['optional', 'Optional'], ['required', 'Required']];

// The settings of each channel type an admin can create (see src/telegram.rs, src/widget/mod.rs).
export var CHANNELS = {
  api: {
    label: 'API (HMAC-signed webhooks)',
    short: 'API',
    fields: [
      { key: 'callback_url', label: 'Callback URL', kind: 'url', nullable: true, placeholder: 'https://shop.example/hook',
        hint: 'Where the hub POSTs agents\' replies, signed like inbound requests. Empty: replies are not sent anywhere.' }
    ],
    steps: [
      'Give your integration the webhook URL and the secret below.',
      'Sign every request body with HMAC-SHA256 using the secret and send the hex digest as "X-Switchboard-Signature: sha256=<digest>".',
      'POST message events to the webhook URL, delivery statuses to the webhook URL followed by /status.',
      'Set a callback URL to receive agents\' replies; verify their signature with the same secret.',
      'Add agents as members so they see the inbox\'s conversations.'
    ]
  },
  email: {
    label: 'Email (IMAP and SMTP)',
    short: 'Email',
    fields: [
      { key: 'address', label: 'Support address', kind: 'text', required: true, placeholder: 'support@example.com',
        hint: 'The address customers write to; replies go out from it.' },
      { key: 'display_name', label: 'Name replies are sent under', kind: 'text', maxlength: 200, placeholder: 'Example Support' },
      { key: 'smtp', label: 'Outgoing mail (SMTP)', kind: 'server', required: true,
        hint: 'Replies go out through this server. The hub connects and logs in before saving.' },
      { key: 'imap', label: 'Incoming mail (IMAP)', kind: 'server', toggleLabel: 'Read mail from an IMAP mailbox',
        hint: 'Optional: the hub reads new mail from this mailbox (IDLE, else polling). Without it, mail arrives from your MTA by webhook (the inbox page shows a Postfix example).' },
      { key: 'reply_domain', label: 'Reply domain', kind: 'text', nullable: true, advanced: true, placeholder: 'reply.example.com',
        hint: 'Optional: replies carry Reply-To: reply+<token>@this domain, so answers thread even when a mail client drops the headers. Route the domain\'s mail to this inbox.' }
    ],
    steps: [
      'Enter the support address and the SMTP server replies go out by (host, port, encryption, login).',
      'Either give the IMAP mailbox the hub reads, or have your MTA post each mail to the webhook URL (the inbox page shows a Postfix example).',
      'The hub logs in to both servers before saving; a refusal shows the server\'s own words.',
      'Replies thread in customers\' mail clients (signed Message-IDs, References, [#number] in the subject); auto-replies and bounces never start conversations.',
      'Add agents as members so they see the inbox\'s conversations.'
    ]
  },
  telegram: {
    label: 'Telegram bot',
    short: 'Telegram',
    fields: [
      { key: 'bot_token', label: 'Bot token', kind: 'secret', required: true, placeholder: '123456789:AAE…',
        hint: 'From @BotFather. The hub checks it with Telegram before saving.' },
      { key: 'mode', label: 'How updates arrive', kind: 'select', options: [
        ['', 'Automatic (webhook when this hub\'s public URL is https, else polling)'],
        ['webhook', 'Webhook (needs a public https URL Telegram can reach)'],
        ['polling', 'Polling (works behind a firewall or on a laptop)']] },
      { key: 'groups', label: 'Group chats', kind: 'select', options: [
        ['ignore', 'Ignore messages in groups'], ['conversation', 'One conversation per group']], fallback: 'ignore' },
      { key: 'api_url', label: 'Bot API URL', kind: 'url', nullable: true, placeholder: 'https://api.telegram.org',
        hint: 'Leave empty for Telegram\'s own Bot API; set it for a local Bot API server.' }
    ],
    steps: [
      'In Telegram, talk to @BotFather, send /newbot and copy the token it gives you.',
      'Paste the token here. The hub checks it with Telegram (getMe) and connects the bot.',
      'Webhook mode needs this hub at a public https URL that Telegram can reach; otherwise choose polling.',
      'Choose whether group chats become conversations or are ignored.',
      'Add agents as members so they see the inbox\'s conversations.'
    ]
  },
  whatsapp: {
    label: 'WhatsApp (Cloud API)',
    short: 'WhatsApp',
    fields: [
      { key: 'phone_number_id', label: 'Phone number id', kind: 'text', required: true, placeholder: '106540352242922',
        hint: 'The number\'s id in Meta\'s App Dashboard → WhatsApp → API Setup (not the phone number itself).' },
      { key: 'waba_id', label: 'WhatsApp Business Account id', kind: 'text', placeholder: '102290129340398',
        hint: 'Shown beside the phone number id. Needed to list the message templates agents send after 24 hours.' },
      { key: 'access_token', label: 'Access token', kind: 'secret', required: true, placeholder: 'EAAG…',
        hint: 'A system user\'s token with whatsapp_business_messaging and whatsapp_business_management. The hub checks it with Meta before saving.',
        editHint: 'Leave empty to keep it. After pasting a new one, save and check the connection.' },
      { key: 'app_secret', label: 'App secret', kind: 'secret', required: true,
        hint: 'App Dashboard → App settings → Basic. Meta signs its webhooks with it.',
        editHint: 'Leave empty to keep it.' },
      { key: 'verify_token', label: 'Verify token', kind: 'text', maxlength: 200,
        hint: 'What you type into Meta\'s webhook form. Empty: the hub makes one.' },
      { key: 'api_url', label: 'Graph API URL', kind: 'url', nullable: true, advanced: true, placeholder: 'https://graph.facebook.com/',
        hint: 'Leave empty for Meta\'s Graph API; set it for a proxy or a test double.' },
      { key: 'api_version', label: 'Graph API version', kind: 'text', advanced: true, placeholder: 'v23.0',
        hint: 'Empty: the version this hub was tested with.' }
    ],
    steps: [
      'In Meta\'s App Dashboard, add the WhatsApp product and note the phone number id and the WhatsApp Business Account id.',
      'Create a system user token with whatsapp_business_messaging and whatsapp_business_management, and copy the app secret.',
      'Paste them here. The hub checks the token with Meta before it saves the inbox.',
      'Then the inbox page shows the Callback URL and Verify token to enter in WhatsApp → Configuration.'
    ]
  },
  widget: {
    label: 'Web chat widget',
    short: 'Widget',
    fields: [
      { key: 'allowed_origins', label: 'Allowed origins (one per line)', kind: 'origins', required: true,
        placeholder: 'https://shop.example', hint: 'The sites whose pages may show the widget, like https://shop.example; * allows any site.' },
      { key: 'title', label: 'Title', kind: 'text', maxlength: 80, hint: 'Shown at the top of the chat panel. Empty: the inbox name.' },
      { key: 'greeting', label: 'Greeting', kind: 'textarea', maxlength: 500, placeholder: 'Hi! How can we help you today?' },
      { key: 'colour', label: 'Colour', kind: 'colour', placeholder: '#1f6feb', hint: 'A colour like #1f6feb.' },
      { key: 'position', label: 'Position', kind: 'select', options: [['right', 'Bottom right'], ['left', 'Bottom left']], fallback: 'right' },
      { key: 'avatar_url', label: 'Avatar URL', kind: 'url', nullable: true, hint: 'Optional picture shown in the chat header.' },
      { key: 'prechat_name', label: 'Ask for the visitor\'s name before the chat', kind: 'select', options: ASK, fallback: 'off' },
      { key: 'prechat_email', label: 'Ask for the visitor\'s email before the chat', kind: 'select', options: ASK, fallback: 'off' },
      { key: 'away_message', label: 'Away message', kind: 'textarea', maxlength: 500,
        placeholder: 'We\'re away right now. Leave a message and we\'ll answer as soon as we can.',
        hint: 'Shown while no agent of this inbox is online.' },
      { key: 'verification', label: 'Identity verification', kind: 'select', options: [
        ['off', 'Off'], ['optional', 'Optional: verify when the site sends a hash'], ['required', 'Required: refuse identify without a valid hash']],
        fallback: 'optional', hint: 'identifier_hash = hex HMAC-SHA256(inbox secret, identifier), computed on your server.' },
      { key: 'transcript_inbox_id', label: 'Email transcripts', kind: 'email-inbox',
        hint: 'Visitors may have their conversation mailed to them, sent from this email inbox (3 an hour each). Off: not offered.' }
    ],
    steps: [
      'Add your website\'s origin (like https://shop.example) to the allowed origins; pages of other origins get no widget.',
      'Paste the embed snippet into every page that should show the chat, just before </body>.',
      'Optional: to recognise signed-in users, call Switchboard(\'identify\', {identifier, email, name, identifier_hash}) with identifier_hash computed on your server from the secret.',
      'Add agents as members so they see the inbox\'s conversations and visitors see them online.'
    ]
  }
};
var COMMON_FIELDS = [
  { key: 'reopen_resolved', label: 'A new message reopens a resolved conversation', kind: 'checkbox', fallback: true,
    hint: 'Unchecked: a customer writing after a conversation was resolved starts a new one.' },
  { key: 'csat_enabled', label: 'Ask for a satisfaction rating when a conversation is resolved', kind: 'checkbox', fallback: false,
    hint: 'The customer is asked on their channel (chat buttons in the widget, Telegram and WhatsApp; links to a rating page by email; a csat_request callback for the API channel). The answer shows in the conversation; they may change it within a week.' },
  { key: 'csat_question', label: 'Survey question', kind: 'text', maxlength: 200, placeholder: 'How satisfied are you with the help you got?' },
  { key: 'csat_scale', label: 'Survey answers', kind: 'select', options: [['five', '1 to 5'], ['thumbs', 'Thumbs up or down']], fallback: 'five' },
  { key: 'csat_delay_secs', label: 'Ask after (seconds)', kind: 'number', placeholder: '0',
    hint: 'How long after resolving the survey is asked, up to a day (86400). WhatsApp delivers it only within 24 hours of the customer\'s last message.' }
];

export function channelLabel(type) { return CHANNELS[type] ? CHANNELS[type].short : type; }

// The setup steps of a channel type; with the `inbox` made, WhatsApp's name the values to
// paste into Meta's dashboard.
export function stepsBox(type, inbox) {
  var spec = CHANNELS[type];
  if (!spec) return null;
  if (type === 'whatsapp' && inbox) return whatsappSteps(inbox);
  return h('div', { class: 'setup-steps', 'data-testid': 'inbox-steps' },
    h('h3', {}, 'Setup'),
    h('ol', {}, spec.steps.map(function (s) { return h('li', {}, s); })));
}

// The settings controls of one channel type. `current` is the inbox's settings (edit) or null
// (create). `collect()` gives the settings to POST (create) or only the changes to PATCH (edit).
export function settingsFieldset(type, current) {
  var editing = !!current;
  var cur = current || {};
  var spec = CHANNELS[type];
  var fields = (spec ? spec.fields : []).concat(COMMON_FIELDS);
  var controls = [];
  var advanced = [];
  var rows = fields.map(function (f) {
    var id = 'setting-' + f.key;
    var attrs = { id: id, name: f.key, 'data-field': 'settings.' + f.key, 'data-testid': id };
    var el;
    var hint = f.hint || null;
    if (f.kind === 'server') {
      var server = serverFieldset(f, cur[f.key], editing);
      controls.push({ field: f, el: server.el, server: server });
      if (f.advanced) { advanced.push(server.el); return null; }
      return server.el;
    }
    if (f.kind === 'email-inbox') {
      // The email inboxes, listed once they load; the current choice stays until then.
      var chosen = cur[f.key] === undefined || cur[f.key] === null ? '' : String(cur[f.key]);
      el = select(attrs, [['', 'Off']].concat(chosen ? [[chosen, 'Inbox ' + chosen]] : []), chosen);
      var box = el;
      fetchAll('/api/v1/inboxes', 5).then(function (list) {
        var keep = box.value;
        while (box.options.length > 1) box.remove(1);
        list.filter(function (i) { return i.channel_type === 'email'; }).forEach(function (i) {
          box.appendChild(h('option', { value: String(i.id) }, i.name + (i.enabled === false ? ' (switched off)' : '')));
        });
        box.value = keep;
        if (box.value !== keep) box.value = '';
      }, function () { /* the choice made stays; saving still works */ });
    } else if (f.kind === 'select') {
      var opts = f.options;
      var value = cur[f.key] !== undefined && cur[f.key] !== null ? String(cur[f.key]) : (f.fallback || '');
      if (editing) opts = opts.filter(function (o) { return o[0] !== '' || !cur[f.key]; });
      el = select(attrs, opts, value);
    } else if (f.kind === 'checkbox') {
      attrs.type = 'checkbox';
      el = h('input', attrs);
      el.checked = cur[f.key] === undefined || cur[f.key] === null ? !!f.fallback : cur[f.key] === true;
    } else if (f.kind === 'textarea' || f.kind === 'origins') {
      attrs.rows = f.kind === 'origins' ? '3' : '2';
      if (f.maxlength) attrs.maxlength = String(f.maxlength);
      if (f.placeholder) attrs.placeholder = f.placeholder;
      if (f.required && !editing) attrs.required = true;
      if (f.kind === 'origins') { attrs.spellcheck = 'false'; attrs.autocapitalize = 'none'; }
      el = h('textarea', attrs);
      var v = cur[f.key];
      el.value = Array.isArray(v) ? v.join('\n') : (v === undefined || v === null ? '' : String(v));
    } else {
      attrs.type = f.kind === 'url' ? 'url' : (f.kind === 'number' ? 'number' : 'text');
      if (f.kind === 'number') { attrs.min = '0'; attrs.step = '1'; attrs.inputmode = 'numeric'; }
      attrs.autocomplete = 'off';
      attrs.spellcheck = 'false';
      if (f.maxlength) attrs.maxlength = String(f.maxlength);
      if (f.kind === 'secret') {
        attrs.placeholder = editing && cur[f.key] ? String(cur[f.key]) : (f.placeholder || null);
        if (!editing && f.required) attrs.required = true;
        if (editing) hint = 'Now ' + (cur[f.key] ? String(cur[f.key]) : 'not set') + '. ' +
          (f.editHint || 'Leave empty to keep it; a new token connects that bot instead (and rotates the secret if it is another bot).');
      } else {
        if (f.placeholder) attrs.placeholder = f.placeholder;
        if (f.required && !editing) attrs.required = true;
      }
      el = h('input', attrs);
      if (f.kind !== 'secret') el.value = cur[f.key] === undefined || cur[f.key] === null ? '' : String(cur[f.key]);
      if (f.kind === 'colour' && editing) hint = 'A colour like #1f6feb. It cannot be emptied; type another colour to change it.';
    }
    controls.push({ field: f, el: el });
    var label = f.label + (f.required && !editing ? ' (required)' : '');
    var row = f.kind === 'checkbox' ? checkboxRow(label, el, hint) : formRow(label, el, hint);
    if (f.advanced) { advanced.push(row); return null; }
    return row;
  });
  // Settings few admins need sit in a fold, open when one of them is set.
  var fold = null;
  if (advanced.length) {
    fold = h('details', { class: 'advanced', 'data-testid': 'settings-advanced' },
      h('summary', {}, 'Advanced'), advanced);
    fold.open = fields.some(function (f) { return f.advanced && cur[f.key] !== undefined && cur[f.key] !== null && cur[f.key] !== ''; });
  }

  function read(c) {
    var f = c.field;
    if (c.server) return c.server.read();
    if (f.kind === 'checkbox') return c.el.checked;
    if (f.kind === 'origins') {
      return c.el.value.split(/\r?\n|,/).map(function (s) { return s.trim(); }).filter(Boolean);
    }
    return c.el.value.trim();
  }

  function collect() {
    var out = {};
    controls.forEach(function (c) {
      var f = c.field;
      var value = read(c);
      var before = cur[f.key];
      if (c.server) {
        if (!editing) { if (value) out[f.key] = value; return; }
        if (c.server.changed(value)) out[f.key] = value;
        return;
      }
      if (f.kind === 'number') {
        var wasNumber = before === undefined || before === null ? '' : String(before);
        // Emptied: back to 0 (the placeholder says so).
        if (value === '' && wasNumber !== '' && wasNumber !== '0') out[f.key] = 0;
        else if (value !== '' && value !== wasNumber) out[f.key] = Number(value);
        return;
      }
      if (f.kind === 'email-inbox') {
        var had = before === undefined || before === null ? '' : String(before);
        if (value !== had) out[f.key] = value === '' ? null : value;
        return;
      }
      if (!editing) {
        if (f.kind === 'checkbox') { if (value !== !!f.fallback) out[f.key] = value; return; }
        if (f.kind === 'origins') { if (value.length) out[f.key] = value; return; }
        if (value !== '') out[f.key] = value;
        return;
      }
      if (f.kind === 'secret') { if (value !== '') out[f.key] = value; return; }
      if (f.kind === 'checkbox') {
        var was = before === undefined || before === null ? !!f.fallback : before === true;
        if (value !== was) out[f.key] = value;
        return;
      }
      if (f.kind === 'origins') {
        var old = Array.isArray(before) ? before.join('\n') : '';
        if (value.join('\n') !== old) out[f.key] = value;
        return;
      }
      var previous = before === undefined || before === null ? '' : String(before);
      if (f.kind === 'select') {
        if (value !== '' && value !== previous && !(previous === '' && value === (f.fallback || ''))) out[f.key] = value;
        return;
      }
      if (value === previous) return;
      if (value === '') {
        if (f.nullable) out[f.key] = null;
        else if (f.kind !== 'colour') out[f.key] = '';
        return;
      }
      out[f.key] = value;
    });
    return out;
  }

  var fieldset = h('fieldset', { class: 'settings', 'data-channel': type },
    h('legend', {}, (spec ? spec.short : type) + ' settings'), rows, fold);
  return { el: fieldset, collect: collect };
}

// The connection facts of an inbox: webhook URL, secret (full right after create/rotate),
// embed snippet for widgets.
export function connectionBox(inbox, fresh) {
  var urlCode = h('code', { 'data-testid': 'inbox-webhook-url' }, inbox.webhook_url || '');
  var parts = [
    h('div', { class: 'form-row' },
      h('p', { class: 'label' }, 'Webhook URL'),
      h('p', {}, urlCode, ' ', copyButton(urlCode, 'the webhook URL')),
      inbox.channel_type === 'widget'
        ? h('p', { class: 'muted' }, 'Widget visitors connect through the embed snippet; this URL is not needed for it.')
        : inbox.channel_type === 'telegram'
          ? h('p', { class: 'muted' }, 'In webhook mode the hub registers this URL with Telegram itself.')
          : inbox.channel_type === 'whatsapp'
            ? h('p', { class: 'muted' }, 'Meta posts the number\'s messages here: enter it as the Callback URL (see the setup steps).')
            : inbox.channel_type === 'email'
              ? h('p', { class: 'muted' }, 'An MTA may POST raw mails here (bearer token or basic-auth password: the secret); not needed with IMAP.')
              : h('p', { class: 'muted' }, 'Your integration POSTs signed events here.'))
  ];
  // WhatsApp's webhooks are signed with the app secret: the hub's own secret means nothing there.
  if (inbox.secret && inbox.channel_type !== 'whatsapp') {
    parts.push(fresh
      ? secretBox('Secret', inbox.secret, 'inbox-secret',
        'Copy it now: it is shown only once. Later views show it masked; rotate it to get a new one.')
      : h('div', { class: 'form-row' },
        h('p', { class: 'label' }, 'Secret'),
        h('p', {}, h('code', { class: 'secret', 'data-testid': 'inbox-secret' }, inbox.secret)),
        h('p', { class: 'muted' }, 'Shown masked. Rotate it to see a new one (the old one stops working).')));
  }
  if (inbox.embed) {
    parts.push(snippetBox('Embed snippet', inbox.embed, 'inbox-embed',
      'Paste this into your site\'s pages, just before </body>. It is also shown on this inbox\'s page.'));
  }
  if (inbox.channel_type === 'api' && inbox.webhook_url) parts.push(testCommandBox(inbox, fresh));
  if (inbox.channel_type === 'email' && inbox.webhook_url) parts.push(mtaSnippets(inbox, fresh));
  return h('div', { class: 'connection' }, parts);
}

// A command that sends one signed test message, to see the inbox work without writing an
// integration. With the secret at hand (just created or rotated) the signature is computed
// here and the command runs as is; later the secret is masked, so the command computes the
// signature itself with openssl from a SECRET you paste in.
function testCommandBox(inbox, fresh) {
  var body = JSON.stringify({
    type: 'message',
    external_id: 'test-' + Date.now(),
    contact: { identifier: 'test-customer', name: 'Test Customer' },
    content: 'Hello! This is a test message.'
  });
  var url = inbox.webhook_url;
  var withOpenssl = "SECRET='" + (fresh ? inbox.secret : 'paste the inbox secret here') + "'\n" +
    "BODY='" + body + "'\n" +
    "SIG=$(printf '%s' \"$BODY\" | openssl dgst -sha256 -hmac \"$SECRET\" | cut -d' ' -f2)\n" +
    "curl -H 'Content-Type: application/json' -H \"X-Switchboard-Signature: sha256=$SIG\" \\\n" +
    "  -d \"$BODY\" " + url;
  var note = 'Paste it into a terminal: the message appears in the inbox at once, and the answer ' +
    'names the stored message. Sent twice, it is answered as a duplicate and stored once.';
  var box = h('div', { class: 'test-command' },
    snippetBox('Send a test message', withOpenssl, 'inbox-test-command', note));
  var subtle = window.crypto && window.crypto.subtle;
  if (fresh && inbox.secret && subtle) {
    var enc = new TextEncoder();
    subtle.importKey('raw', enc.encode(inbox.secret), { name: 'HMAC', hash: 'SHA-256' }, false, ['sign'])
      .then(function (key) { return subtle.sign('HMAC', key, enc.encode(body)); })
      .then(function (mac) {
        var hex = Array.prototype.map.call(new Uint8Array(mac), function (b) {
          return ('0' + b.toString(16)).slice(-2);
        }).join('');
        var signed = "curl -H 'Content-Type: application/json' -H 'X-Switchboard-Signature: sha256=" + hex +
          "' \\\n  -d '" + body + "' " + url;
        box.replaceChildren(snippetBox('Send a test message', signed, 'inbox-test-command', note));
      }, function () { /* keep the openssl form */ });
  }
  return box;
}
