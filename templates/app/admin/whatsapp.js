// ---- Inboxes: a WhatsApp number (setup steps, connection check, token warning, templates) ----

import { api, clear, h, toast } from '../core.js';
import { skeleton } from '../shared.js';
import { alertBox, badge, busy, clearError, copyButton, enc, showError, table, timeEl } from './ui.js';

// Meta's quality rating of the number, as a badge kind.
var QUALITY = { GREEN: 'ok', YELLOW: 'warn', RED: 'danger' };
// A template's review state, as a badge kind (only approved ones can be sent).
var REVIEW = { APPROVED: 'ok', PENDING: 'warn', IN_APPEAL: 'warn', REJECTED: 'danger', DISABLED: 'danger', PAUSED: 'danger' };

function text(v) { return typeof v === 'string' || typeof v === 'number' ? String(v) : ''; }

// A value to paste into Meta's dashboard: code and its copy button.
function pasteValue(label, value, testid) {
  var code = h('code', { class: 'secret', 'data-testid': testid }, value);
  return h('p', { class: 'paste-value' }, h('span', { class: 'label' }, label + ': '), code, ' ',
    copyButton(code, label.toLowerCase()));
}

// The numbered steps that connect Meta's webhook to this inbox, with the values to paste.
export function whatsappSteps(inbox) {
  var settings = inbox.settings || {};
  return h('div', { class: 'setup-steps', 'data-testid': 'inbox-steps' },
    h('h3', {}, 'Setup in Meta'),
    h('ol', {},
      h('li', {}, 'In Meta\'s App Dashboard, open WhatsApp → Configuration and edit the webhook. Meta checks both values at once: the hub answers its request.',
        pasteValue('Callback URL', inbox.webhook_url || '', 'wa-callback-url'),
        pasteValue('Verify token', text(settings.verify_token), 'wa-verify-token')),
      h('li', {}, 'Under "Webhook fields", subscribe to ', h('code', {}, 'messages'),
        '. Without it Meta sends nothing: no customer messages, no delivery ticks.'),
      h('li', {}, 'In Business Settings → System users, generate a token for a system user with the ',
        h('code', {}, 'whatsapp_business_messaging'), ' and ', h('code', {}, 'whatsapp_business_management'),
        ' permissions (a personal token expires within a day), and paste it as the access token.'),
      h('li', {}, 'Add agents as members so they see the inbox\'s conversations.')));
}

// "Meta refused the access token on …": replies fail until an admin pastes a new token.
// Empty (hidden) while the token is good.
function tokenWarning(box, settings) {
  clear(box);
  box.hidden = !settings.token_refused_at;
  if (box.hidden) return;
  var paste = h('button', {
    type: 'button', class: 'small', 'data-testid': 'wa-token-paste',
    onclick: function () {
      var field = document.getElementById('setting-access_token');
      if (!field) return;
      if (field.scrollIntoView) field.scrollIntoView({ block: 'center' });
      field.focus();
    }
  }, 'Paste a new token');
  var at = new Date(settings.token_refused_at);
  var when = isNaN(at) ? String(settings.token_refused_at)
    : at.toLocaleString([], { dateStyle: 'medium', timeStyle: 'short' });
  box.appendChild(h('p', { class: 'callout-title' }, 'Meta refused the access token on ',
    h('time', { datetime: String(settings.token_refused_at) }, when), ': paste a new token.'));
  box.appendChild(h('p', {}, 'Replies to WhatsApp customers fail until then. Generate a new system-user token, ' +
    'paste it under Settings (Access token), save, then check the connection.'));
  box.appendChild(h('p', { class: 'row-actions' }, paste));
}

function facts(dl, settings) {
  clear(dl);
  var row = function (label, value) {
    if (value) { dl.appendChild(h('dt', {}, label)); dl.appendChild(h('dd', {}, value)); }
  };
  row('Phone number', text(settings.display_phone_number) ? h('span', { 'data-testid': 'wa-phone' }, text(settings.display_phone_number)) : null);
  row('Business name', text(settings.verified_name) ? h('span', { 'data-testid': 'wa-verified-name' }, text(settings.verified_name)) : null);
  var quality = text(settings.quality_rating);
  row('Quality', quality ? badge(quality, QUALITY[quality.toUpperCase()] || null) : null);
  row('Phone number id', text(settings.phone_number_id) ? h('code', {}, text(settings.phone_number_id)) : null);
  row('WhatsApp Business Account id', text(settings.waba_id) ? h('code', {}, text(settings.waba_id))
    : h('span', { class: 'muted' }, 'Not set: templates cannot be listed without it.'));
  if (!dl.firstChild) dl.appendChild(h('dd', { class: 'muted' }, 'Check the connection to see the number.'));
}

// The number as Meta knows it, and "Check connection". Returns the card and the warning
// (placed at the top of the page); a check updates both in place.
export function whatsappSections(inbox) {
  var settings = inbox.settings || {};
  var warning = h('div', { class: 'callout danger', role: 'alert', 'data-testid': 'wa-token-refused' });
  tokenWarning(warning, settings);
  var dl = h('dl', { class: 'facts', 'data-testid': 'wa-facts' });
  facts(dl, settings);
  var result = h('p', { class: 'ok-line', role: 'status', 'data-testid': 'wa-check-result' });
  var error = alertBox('wa-check-error');
  var check = h('button', { type: 'button', 'data-testid': 'wa-check' }, 'Check connection');
  check.addEventListener('click', function () {
    clearError(error);
    result.textContent = '';
    busy(check, function () { return api('POST', '/api/v1/inboxes/' + enc(inbox.id) + '/check'); })
      .then(function (updated) {
        var s = (updated && updated.settings) || {};
        facts(dl, s);
        tokenWarning(warning, s);
        var number = [text(s.display_phone_number), text(s.verified_name) ? '(' + text(s.verified_name) + ')' : ''].join(' ').trim();
        result.textContent = 'Connected: Meta accepted the access token' + (number ? ' for ' + number : '') + '.';
      }, function (err) { showError(error, err); });
  });
  var card = h('section', { class: 'card', 'aria-labelledby': 'wa-number', 'data-testid': 'wa-number' },
    h('h2', { id: 'wa-number' }, 'WhatsApp number'),
    dl,
    h('div', { class: 'row-actions' }, check),
    result,
    error);
  return { card: card, warning: warning };
}

// The inbox's message templates (what agents may send once the 24-hour window closed),
// with "Refresh from Meta" after an admin created or edited one in WhatsApp Manager.
export function templatesSection(inboxId) {
  var section = h('section', { class: 'card', 'aria-labelledby': 'wa-templates', 'data-testid': 'wa-templates' });
  var error = alertBox('wa-templates-error');
  var fetched = h('p', { class: 'muted small', 'data-testid': 'wa-templates-fetched' });
  var body = h('div', { 'aria-live': 'polite' }, skeleton('Loading templates…', [70, 90, 60]));
  var refresh = h('button', { type: 'button', 'data-testid': 'wa-templates-refresh' }, 'Refresh from Meta');

  function draw(res) {
    var list = (res && res.data) || [];
    clear(fetched);
    if (res && res.fetched_at) fetched.appendChild(h('span', {}, 'Fetched from Meta ', timeEl(res.fetched_at), '.'));
    if (!list.length) {
      clear(body).appendChild(h('p', { class: 'empty muted' }, 'No templates. Create them in WhatsApp Manager, then refresh.'));
      return;
    }
    var t = table(null, ['Name', 'Language', 'Status', 'Category', 'Text']);
    clear(t.tbody); // the rows are here already: no placeholders
    list.forEach(function (tpl) {
      var status = text(tpl.status);
      t.tbody.appendChild(h('tr', { 'data-testid': 'wa-template-row', 'data-name': text(tpl.name) },
        h('td', {}, h('code', {}, text(tpl.name))),
        h('td', {}, text(tpl.language)),
        h('td', {}, badge(status || '?', REVIEW[status.toUpperCase()] || null)),
        h('td', {}, text(tpl.category) || h('span', { class: 'muted' }, '—')),
        h('td', { class: 'template-text' }, templateText(tpl))));
    });
    clear(body).appendChild(t.table);
  }

  function load(fresh) {
    clearError(error);
    var request = fresh
      ? api('POST', '/api/v1/inboxes/' + enc(inboxId) + '/templates/refresh')
      : api('GET', '/api/v1/inboxes/' + enc(inboxId) + '/templates');
    return request.then(function (res) {
      draw(res);
      if (fresh) toast('Templates refreshed from Meta.');
    }, function (err) {
      if (!fresh) clear(body);
      showError(error, err);
    });
  }
  refresh.addEventListener('click', function () { busy(refresh, function () { return load(true); }); });

  section.appendChild(h('h2', { id: 'wa-templates' }, 'Message templates'));
  section.appendChild(h('p', { class: 'muted' },
    'More than 24 hours after a customer\'s last message, WhatsApp delivers only templates Meta approved. ' +
    'Create them in WhatsApp Manager; refresh here once Meta approved one.'));
  section.appendChild(h('div', { class: 'row-actions' }, refresh));
  section.appendChild(fetched);
  section.appendChild(body);
  section.appendChild(error);
  load(false);
  return section;
}

// Header, body, footer and buttons of a template as plain text nodes.
function templateText(tpl) {
  var buttons = Array.isArray(tpl.buttons) ? tpl.buttons : [];
  return [
    text(tpl.header) ? h('strong', { class: 'tpl-header' }, text(tpl.header))
      : text(tpl.header_format) ? h('span', { class: 'muted tpl-header' }, '[' + text(tpl.header_format).toLowerCase() + ' header]') : null,
    h('span', { class: 'tpl-body' }, text(tpl.body)),
    text(tpl.footer) ? h('span', { class: 'muted tpl-footer' }, text(tpl.footer)) : null,
    buttons.length ? h('span', { class: 'tpl-buttons' }, buttons.map(function (b) {
      return h('span', { class: 'chip', title: text(b.url) || null }, text(b.text) || text(b.kind));
    })) : null
  ];
}
