// ---- Email inboxes: the IMAP/SMTP server forms and the raw-MIME webhook for MTAs -------------

import { h } from '../core.js';
import { formRow, select, snippetBox } from './ui.js';

var TLS = [['implicit', 'TLS from the start'], ['starttls', 'STARTTLS'], ['none', 'None (local relay or test server only)']];
var PORTS = {
  imap: { implicit: 993, starttls: 143, none: 143 },
  smtp: { implicit: 465, starttls: 587, none: 25 }
};

// The controls of one server object (`imap` or `smtp`) as the settings form uses them:
// `el` to show, `read()` the object to send (null: not configured), `changed(read)` whether
// an edit must send it (the stored password is never shown: empty keeps it).
export function serverControl(kind, current, editing) {
  var cur = current || {};
  var prefix = 'setting-' + kind + '-';
  function input(key, attrs) {
    var el = h('input', Object.assign({
      id: prefix + key, name: kind + '.' + key, 'data-field': 'settings.' + kind,
      'data-testid': prefix + key, autocomplete: 'off', spellcheck: 'false'
    }, attrs || {}));
    if (key !== 'password' && cur[key] !== undefined && cur[key] !== null) el.value = String(cur[key]);
    return el;
  }
  var tlsValue = cur.tls || (kind === 'imap' ? 'implicit' : 'starttls');
  var tls = select({ id: prefix + 'tls', 'data-testid': prefix + 'tls', 'data-field': 'settings.' + kind }, TLS, tlsValue);
  var host = input('host', { type: 'text', placeholder: kind === 'imap' ? 'imap.example.com' : 'smtp.example.com' });
  var port = input('port', { type: 'number', min: '1', max: '65535', inputmode: 'numeric' });
  if (!port.value) port.value = String(PORTS[kind][tlsValue]);
  // A port the admin did not type follows the TLS mode's usual one.
  var portTouched = !!cur.port;
  port.addEventListener('input', function () { portTouched = true; });
  tls.addEventListener('change', function () {
    if (!portTouched) port.value = String(PORTS[kind][tls.value]);
  });
  var username = input('username', { type: 'text', placeholder: 'support@example.com' });
  var password = input('password', {
    type: 'password', autocomplete: 'new-password',
    placeholder: editing && cur.password ? 'Now ' + cur.password + ' — leave empty to keep it' : ''
  });
  var rows = [
    formRow('Host', host),
    formRow('Port', port),
    formRow('Encryption', tls),
    formRow('Username', username, kind === 'smtp' ? 'Empty: the server takes mail without logging in.' : null),
    formRow('Password', password, editing ? 'Leave empty to keep the stored password.' : null)
  ];
  var folder = null, poll = null;
  if (kind === 'imap') {
    folder = input('folder', { type: 'text', placeholder: 'INBOX' });
    poll = input('poll_secs', { type: 'number', min: '5', max: '1740', placeholder: '60' });
    rows.push(formRow('Folder', folder, 'Where customers\' mail arrives. Read mail is left alone; new mail is marked read once stored.'));
    rows.push(formRow('Wait for new mail (seconds)', poll,
      'How long one IMAP IDLE lasts (servers without IDLE are asked this often). 5–1740; empty: 60.'));
  }
  var el = h('div', { class: 'server-settings', 'data-testid': 'settings-' + kind }, rows);

  function read() {
    if (!host.value.trim()) return null;
    var out = { host: host.value.trim(), port: Number(port.value) || PORTS[kind][tls.value], tls: tls.value };
    if (username.value.trim()) out.username = username.value.trim();
    if (password.value) out.password = password.value;
    if (folder && folder.value.trim()) out.folder = folder.value.trim();
    if (poll && poll.value.trim()) out.poll_secs = Number(poll.value);
    return out;
  }
  function changed(value) {
    if (!value) return !!current;
    if (value.password) return true;
    var before = Object.assign({}, cur);
    delete before.password;
    return JSON.stringify(sorted(before)) !== JSON.stringify(sorted(value));
  }
  return { el: el, read: read, changed: changed };
}

function sorted(object) {
  var out = {};
  Object.keys(object).sort().forEach(function (k) { out[k] = object[k]; });
  return out;
}

// How an MTA hands mail to the hub: a Postfix pipe transport posting each mail as raw MIME,
// and a curl line to try it with a saved .eml file.
export function mtaSnippets(inbox, fresh) {
  var secret = fresh && inbox.secret ? inbox.secret : 'paste-the-inbox-secret';
  var url = inbox.webhook_url || '';
  var postfix =
    '# /etc/postfix/master.cf\n' +
    'switchboard unix - n n - - pipe\n' +
    "  flags=F user=nobody argv=/usr/bin/curl --silent --show-error --fail --data-binary @- " +
    "-H Content-Type:message/rfc822 -H Authorization:Bearer\\ " + secret + ' ' + url + '\n\n' +
    '# /etc/postfix/transport (then: postmap /etc/postfix/transport; postfix reload)\n' +
    (inbox.settings && inbox.settings.address ? inbox.settings.address : 'support@example.com') + ' switchboard:';
  var test = "curl --fail --data-binary @mail.eml -H 'Content-Type: message/rfc822' \\\n" +
    "  -H 'Authorization: Bearer " + secret + "' " + url;
  return h('div', { class: 'mta-snippets', 'data-testid': 'email-mta' },
    snippetBox('Deliver by pipe (Postfix)', postfix, 'email-postfix',
      'Mail can also arrive without IMAP: an MTA posts each message as raw MIME. A 401 means a wrong secret; ' +
      'anything but 200 makes Postfix keep the mail and retry, and a mail posted twice is stored once.'),
    snippetBox('Try it with a saved mail', test, 'email-test-command',
      'Save any mail as mail.eml (“Show original” / “View source” in your mail client) and post it.'));
}
