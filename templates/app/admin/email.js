// ---- Email inboxes: the IMAP/SMTP server forms and the raw-MIME webhook for MTAs -------------

import { h } from '../core.js';
import { checkboxRow, formRow, select, snippetBox } from './ui.js';

var TLS = [['implicit', 'TLS from the start'], ['starttls', 'STARTTLS'], ['none', 'None (local relay or test server only)']];
var PORTS = {
  imap: { implicit: 993, starttls: 143, none: 143 },
  smtp: { implicit: 465, starttls: 587, none: 25 }
};
var NAMES = { imap: 'IMAP', smtp: 'SMTP' };

// One server object (`imap` or `smtp`) of the settings form, in its own fieldset:
// `el` to show, `read()` the object to send (null: not configured), `changed(read)` whether
// an edit must send it. The stored password is never shown (the API masks it, `…xy`): an
// empty field keeps it. An optional server (IMAP) sits behind a checkbox; the fieldset's
// error line shows the server's refusal next to it (see showError in ui.js).
export function serverFieldset(field, current, editing) {
  var kind = field.key;
  var cur = current || {};
  var stored = !!current;
  var prefix = 'setting-' + kind + '-';
  var dataField = 'settings.' + kind;
  function input(key, attrs) {
    var el = h('input', Object.assign({
      id: prefix + key, name: kind + '.' + key, 'data-field': dataField + '.' + key,
      'data-testid': prefix + key, autocomplete: 'off', spellcheck: 'false'
    }, attrs || {}));
    if (key !== 'password' && cur[key] !== undefined && cur[key] !== null) el.value = String(cur[key]);
    return el;
  }
  var tlsValue = cur.tls || (kind === 'imap' ? 'implicit' : 'starttls');
  var tls = select({ id: prefix + 'tls', 'data-testid': prefix + 'tls', 'data-field': dataField + '.tls' }, TLS, tlsValue);
  var host = input('host', { type: 'text', placeholder: kind === 'imap' ? 'imap.example.com' : 'smtp.example.com' });
  var port = input('port', { type: 'number', min: '1', max: '65535', inputmode: 'numeric' });
  if (!port.value) port.value = String(PORTS[kind][tlsValue]);
  // A port the admin did not type follows the encryption's usual one (IMAP 993/143, SMTP
  // 465/587/25).
  var portTouched = !!cur.port;
  port.addEventListener('input', function () { portTouched = true; });
  tls.addEventListener('change', function () {
    if (!portTouched) port.value = String(PORTS[kind][tls.value]);
  });
  var username = input('username', { type: 'text', placeholder: 'support@example.com' });
  var password = input('password', {
    type: 'password', autocomplete: 'new-password',
    placeholder: editing && cur.password ? 'Stored (' + cur.password + ')' : ''
  });
  var rows = [
    formRow('Host', host),
    formRow('Port', port, 'Follows the encryption until you type one.'),
    formRow('Encryption', tls),
    formRow('Username', username, kind === 'smtp' ? 'Empty: the server takes mail without logging in.' : null),
    formRow('Password', password, editing && cur.password
      ? 'Stored, ending ' + cur.password + '. Leave empty to keep it.'
      : null)
  ];
  var folder = null, poll = null;
  if (kind === 'imap') {
    folder = input('folder', { type: 'text', placeholder: 'INBOX' });
    poll = input('poll_secs', { type: 'number', min: '5', max: '1740', placeholder: '60' });
    rows.push(formRow('Folder', folder, 'Where customers\' mail arrives. Read mail is left alone; new mail is marked read once stored.'));
    rows.push(formRow('Wait for new mail (seconds)', poll,
      'How long one IMAP IDLE lasts (servers without IDLE are asked this often). 5–1740; empty: 60.'));
  }
  var fields = h('div', { class: 'server-settings', 'data-testid': 'settings-' + kind }, rows);
  var error = h('p', {
    class: 'error server-error', id: prefix + 'error', 'data-testid': prefix + 'error',
    'data-error-for': dataField, 'data-error-match': '^the ' + NAMES[kind] + ' server',
    'data-field-name': NAMES[kind] + ' server'
  });

  // IMAP is optional: without it mail arrives from an MTA by webhook.
  var toggle = null;
  if (!field.required) {
    toggle = h('input', { type: 'checkbox', id: prefix + 'enabled', 'data-testid': prefix + 'enabled' });
    toggle.checked = stored;
    fields.hidden = !toggle.checked;
    toggle.addEventListener('change', function () {
      fields.hidden = !toggle.checked;
      if (!toggle.checked) error.textContent = '';
      if (toggle.checked) host.focus();
    });
  }
  var el = h('fieldset', {
    class: 'server', 'data-testid': 'server-' + kind, 'aria-describedby': error.id
  },
  h('legend', {}, field.label + (field.required && !editing ? ' (required)' : '')),
  field.hint ? h('p', { class: 'muted' }, field.hint) : null,
  toggle ? checkboxRow(field.toggleLabel || 'Use this server', toggle,
    editing && stored ? 'Unchecked and saved, the inbox stops reading the mailbox; mail then arrives by the webhook only.' : null) : null,
  fields,
  error);

  function read() {
    if (toggle && !toggle.checked) return null;
    // A required server left blank on create: the form says it is required.
    if (!editing && !host.value.trim() && !toggle) return null;
    var out = { host: host.value.trim(), port: Number(port.value) || PORTS[kind][tls.value], tls: tls.value };
    if (username.value.trim()) out.username = username.value.trim();
    if (password.value) out.password = password.value;
    if (folder && folder.value.trim()) out.folder = folder.value.trim();
    if (poll && poll.value.trim()) out.poll_secs = Number(poll.value);
    return out;
  }
  function changed(value) {
    if (!value) return !!stored; // `null` stops reading the mailbox
    if (value.password) return true;
    if (!stored) return true;
    var before = Object.assign({}, cur);
    delete before.password;
    return JSON.stringify(sorted(before)) !== JSON.stringify(sorted(value));
  }
  return { el: el, read: read, changed: changed, host: host };
}

function sorted(object) {
  var out = {};
  Object.keys(object).sort().forEach(function (k) { out[k] = object[k]; });
  return out;
}

// What the inbox page's facts list says of an email inbox: the address and both servers
// (passwords as the API masks them).
export function emailFacts(settings) {
  var s = settings || {};
  function server(o) {
    if (!o || !o.host) return null;
    var text = o.host + ':' + o.port + ' · ' + ({ implicit: 'TLS', starttls: 'STARTTLS', none: 'no encryption' }[o.tls] || o.tls);
    if (o.username) text += ' · ' + o.username + (o.password ? ' (password ' + o.password + ')' : '');
    if (o.folder) text += ' · folder ' + o.folder;
    return text;
  }
  var facts = [h('dt', {}, 'Address'), h('dd', { 'data-testid': 'email-address' },
    s.display_name ? s.display_name + ' <' + (s.address || '') + '>' : (s.address || '—'))];
  facts.push(h('dt', {}, 'Outgoing (SMTP)'), h('dd', { 'data-testid': 'email-smtp' }, server(s.smtp) || '—'));
  facts.push(h('dt', {}, 'Incoming'), h('dd', { 'data-testid': 'email-imap' },
    server(s.imap) ? 'IMAP ' + server(s.imap) : 'From your MTA by webhook (no IMAP mailbox)'));
  if (s.reply_domain) facts.push(h('dt', {}, 'Reply domain'), h('dd', {}, s.reply_domain));
  return facts;
}

// How an MTA hands mail to the hub: a Postfix pipe transport posting each mail as raw MIME,
// and a curl line to try it with a saved .eml file. Postfix bounces a mail whose command
// exits with a code outside sysexits.h (curl's 22 on an HTTP error), so the command runs in
// a shell that turns any failure into 75 (EX_TEMPFAIL): the mail stays queued and is tried
// again. `{ … }` keeps the shell command one argument (Postfix 3.0 and later).
export function mtaSnippets(inbox, fresh) {
  var secret = fresh && inbox.secret ? inbox.secret : 'PASTE-THE-INBOX-SECRET';
  var url = inbox.webhook_url || '';
  var address = inbox.settings && inbox.settings.address ? inbox.settings.address : 'support@example.com';
  var curl = "curl --silent --show-error --fail --max-time 120 --data-binary @- " +
    "-H 'Content-Type: message/rfc822' -H 'Authorization: Bearer " + secret + "' '" + url + "'";
  var postfix =
    '# /etc/postfix/master.cf (Postfix 3.0 or later)\n' +
    'switchboard unix - n n - - pipe\n' +
    '  user=nobody argv=/bin/sh -c { ' + curl + ' || exit 75 }\n\n' +
    '# /etc/postfix/main.cf\n' +
    'transport_maps = hash:/etc/postfix/transport\n\n' +
    '# /etc/postfix/transport (then: postmap /etc/postfix/transport && postfix reload)\n' +
    address + ' switchboard:';
  var test = "curl --fail --data-binary @mail.eml -H 'Content-Type: message/rfc822' \\\n" +
    "  -H 'Authorization: Bearer " + secret + "' '" + url + "'";
  var whose = fresh && inbox.secret
    ? 'It carries this inbox\'s secret: keep master.cf readable by root only if that matters on your server.'
    : 'Replace PASTE-THE-INBOX-SECRET with the secret (shown once when the inbox was created or its secret rotated).';
  return h('div', { class: 'mta-snippets', 'data-testid': 'email-mta' },
    snippetBox('Deliver by pipe (Postfix)', postfix, 'email-postfix',
      'Mail can also arrive without IMAP: your MTA posts each message as raw MIME to the webhook URL. ' +
      'Any failure (a wrong secret: 401; the hub down) exits 75, so Postfix keeps the mail and tries again; ' +
      'a mail posted twice is stored once. ' + whose),
    snippetBox('Try it with a saved mail', test, 'email-test-command',
      'Save any mail as mail.eml ("Show original" / "View source" in your mail client) and post it. ' +
      'Basic auth works too: the secret as the password (curl -u switchboard:SECRET).'));
}
