// ---- The template picker ------------------------------------------------------------------------
// Sends one of the inbox's approved message templates (WhatsApp), the only thing the channel
// delivers once the reply window closed: pick a template, fill its placeholders ({{1}} or
// {{name}}, and URL buttons' {{1}}), see the text as the customer will read it, send.

import { api, clear, h, toast } from '../core.js';
import { nextId, skeleton } from '../shared.js';
import { S, V } from './state.js';
import { current } from './helpers.js';
import { messagePreview } from './list.js';
import { scrollToBottom, upsertMessage } from './messages.js';
import { applyComposerState, setMode } from './composer.js';

// Meta's placeholders: {{1}} or {{first_name}} (the hub renders with the same rule).
var PLACEHOLDER = /\{\{([A-Za-z0-9_]+)\}\}/g;

function str(v) { return typeof v === 'string' ? v : ''; }

// The placeholders of a text, in order of first appearance, each once.
export function placeholders(text) {
  var found = [];
  str(text).replace(PLACEHOLDER, function (_, name) {
    if (found.indexOf(name) < 0) found.push(name);
    return _;
  });
  return found;
}

// Every value a template asks for: header and body placeholders, then URL buttons whose
// link ends in a placeholder.
function slotsOf(tpl) {
  var slots = [];
  placeholders(tpl.header).forEach(function (n) {
    slots.push({ key: 'header:' + n, part: 'header', name: n, label: 'Header {{' + n + '}}' });
  });
  placeholders(tpl.body).forEach(function (n) {
    slots.push({ key: 'body:' + n, part: 'body', name: n, label: 'Body {{' + n + '}}' });
  });
  (Array.isArray(tpl.buttons) ? tpl.buttons : []).forEach(function (b, i) {
    var names = placeholders(b && b.url);
    if (!names.length) return;
    slots.push({
      key: 'button:' + i, part: 'button', index: i, name: names[0],
      label: 'Link "' + str(b.text) + '"', url: str(b.url)
    });
  });
  return slots;
}

function named(tpl, slots) {
  if (tpl.parameter_format) return String(tpl.parameter_format).toUpperCase() === 'NAMED';
  return slots.some(function (s) { return s.part !== 'button' && !/^\d+$/.test(s.name); });
}

// The filled values of one part, as the API takes them: by name, or by position.
function parameters(tpl, part, values, byName) {
  var names = placeholders(tpl[part]);
  if (byName) return names.map(function (n) { return { name: n, text: values[part + ':' + n] || '' }; });
  var out = [];
  names.forEach(function (n) { out[Number(n) - 1] = { text: values[part + ':' + n] || '' }; });
  for (var i = 0; i < out.length; i++) if (!out[i]) out[i] = { text: '' };
  return out;
}

// `text` with its placeholders filled, as nodes: a value left empty shows as a marked {{n}}.
function filled(text, fill) {
  var nodes = [];
  var last = 0;
  var s = str(text);
  s.replace(PLACEHOLDER, function (match, name, at) {
    if (at > last) nodes.push(s.slice(last, at));
    var v = fill(name);
    nodes.push(v ? v : h('mark', { class: 'tpl-missing' }, match));
    last = at + match.length;
    return match;
  });
  if (last < s.length) nodes.push(s.slice(last));
  return nodes;
}

function previewOf(tpl, values) {
  var part = function (p) { return function (n) { return (values[p + ':' + n] || '').trim(); }; };
  var buttons = (Array.isArray(tpl.buttons) ? tpl.buttons : []).map(function (b, i) {
    var url = str(b && b.url);
    return h('li', { class: 'tpl-button' }, str(b && b.text) || str(b && b.kind),
      url ? h('span', { class: 'tpl-url muted' }, filled(url, function () { return (values['button:' + i] || '').trim(); })) : null);
  });
  return [
    str(tpl.header) ? h('strong', { class: 'tpl-header' }, filled(tpl.header, part('header'))) : null,
    h('span', { class: 'tpl-body' }, filled(tpl.body, part('body'))),
    str(tpl.footer) ? h('span', { class: 'muted tpl-footer' }, tpl.footer) : null,
    buttons.length ? h('ul', { class: 'tpl-buttons', 'aria-label': 'Buttons' }, buttons) : null
  ];
}

function approved(list) {
  return (list || []).filter(function (t) {
    return t && typeof t.name === 'string' && typeof t.body === 'string' && String(t.status).toUpperCase() === 'APPROVED';
  });
}

export function openPicker(C) {
  if (!current(C) || !C.data) return;
  if (C.mode !== 'reply') setMode(C, 'reply', false);
  C.picker = C.picker || { list: null, error: null, index: 0, values: {} };
  C.picking = true;
  applyComposerState(C);
  drawPicker(C);
  var inboxId = C.data.inbox_id;
  api('GET', '/api/v1/inboxes/' + encodeURIComponent(inboxId) + '/templates').then(function (res) {
    if (!current(C) || !C.picker) return;
    var list = approved(res && res.data);
    var before = C.picker.list && C.picker.list[C.picker.index];
    C.picker.list = list;
    C.picker.error = null;
    // Keep the template picked before, if it is still there.
    var again = before ? list.findIndex(function (t) { return t.name === before.name && t.language === before.language; }) : -1;
    C.picker.index = again >= 0 ? again : 0;
    if (C.picking) drawPicker(C, true);
  }, function (e) {
    if (!current(C) || !C.picker) return;
    C.picker.error = e && e.message ? e.message : String(e);
    if (C.picking) drawPicker(C, true);
  });
}

export function closePicker(C, focus) {
  if (!current(C)) return;
  C.picking = false;
  applyComposerState(C);
  if (V.pickerEl) clear(V.pickerEl);
  if (focus && V.templateBtn && !V.templateBtn.hidden) V.templateBtn.focus();
}

function drawPicker(C, focus) {
  var box = V.pickerEl;
  if (!box) return;
  clear(box);
  var titleId = nextId('tpl-title');
  box.setAttribute('aria-labelledby', titleId);
  box.appendChild(h('div', { class: 'picker-head' },
    h('h3', { id: titleId }, 'Send a template'),
    h('button', {
      type: 'button', class: 'link close-picker', 'aria-label': 'Close the template picker',
      'data-testid': 'template-close', onclick: function () { closePicker(C, true); }
    }, '✕')));
  var P = C.picker;
  if (P.error && !P.list) {
    box.appendChild(h('p', { class: 'error', role: 'alert' }, P.error));
    return;
  }
  if (!P.list) { box.appendChild(skeleton('Loading templates…', [70, 90, 60])); return; }
  if (!P.list.length) {
    box.appendChild(h('p', { class: 'muted', 'data-testid': 'template-none' },
      'This inbox has no approved templates. An admin can refresh them from Meta on the inbox\'s page.'));
    return;
  }
  var selectId = nextId('tpl-select');
  var form = h('div', { class: 'picker-form' });
  var choose = h('select', {
    id: selectId, 'data-testid': 'template-select',
    onchange: function () { P.index = Number(choose.value) || 0; drawPicker(C, true); }
  }, P.list.map(function (t, i) {
    return h('option', { value: String(i) }, t.name + ' (' + str(t.language) + ')' + (t.category ? ' · ' + String(t.category).toLowerCase() : ''));
  }));
  choose.value = String(P.index);
  box.appendChild(h('div', { class: 'tpl-choose' }, h('label', { for: selectId }, 'Template'), choose));

  var tpl = P.list[P.index] || P.list[0];
  var slots = slotsOf(tpl);
  if (tpl.header_format) {
    form.appendChild(h('p', { class: 'muted small', 'data-testid': 'template-unsendable' }, 'Its ' +
      String(tpl.header_format).toLowerCase() + ' header cannot be sent from the hub yet.'));
  }
  var preview = h('div', { class: 'template-preview', 'data-testid': 'template-preview', 'aria-live': 'polite' });
  var redraw = function () { clear(preview).appendChild(h('div', { class: 'bubble' }, previewOf(tpl, P.values))); };
  slots.forEach(function (s) {
    var input = h('input', {
      type: 'text', id: nextId('tpl-param'), 'data-testid': 'template-param', 'data-part': s.part,
      'data-name': s.name, autocomplete: 'off', maxlength: '1024', value: P.values[s.key] || '',
      oninput: function () { P.values[s.key] = input.value; redraw(); }
    });
    // A URL button's value is the end of its link: the fixed start shows before the box.
    var start = s.url ? s.url.slice(0, s.url.indexOf('{{')) : '';
    form.appendChild(h('div', { class: 'tpl-field' }, h('label', { for: input.id }, s.label),
      start ? h('span', { class: 'url-input' }, h('span', { class: 'url-start muted', title: s.url }, start + '…'), input) : input));
  });
  redraw();
  var error = h('p', { class: 'error', role: 'alert', 'data-testid': 'template-error' });
  var send = h('button', { type: 'button', class: 'primary', 'data-testid': 'template-send' }, 'Send template');
  send.addEventListener('click', function () { sendTemplate(C, tpl, slots, send, error); });
  // The hub refuses media headers (it cannot fill them yet); say so before a send fails.
  send.disabled = !!tpl.header_format;
  // The fields scroll; the head and Send stay in sight.
  box.appendChild(h('div', { class: 'picker-body' }, form,
    h('div', { class: 'picker-preview' }, h('p', { class: 'label muted small' }, 'Preview'), preview)));
  box.appendChild(h('div', { class: 'picker-actions' }, error,
    h('button', { type: 'button', onclick: function () { closePicker(C, true); } }, 'Cancel'), send));

  function focusSelect() { var s = box.querySelector('[data-testid=template-select]'); if (s) s.focus(); }
  if (focus) focusSelect();
}

function sendTemplate(C, tpl, slots, button, error) {
  if (!current(C) || C.sending) return;
  var values = C.picker.values;
  error.textContent = '';
  var empty = slots.filter(function (s) { return !(values[s.key] || '').trim(); })[0];
  if (empty) {
    error.textContent = 'Fill in ' + empty.label + '.';
    var input = V.pickerEl.querySelectorAll('[data-testid=template-param]')[slots.indexOf(empty)];
    if (input) input.focus();
    return;
  }
  var byName = named(tpl, slots);
  var template = {
    name: tpl.name, language: tpl.language,
    header: parameters(tpl, 'header', values, byName),
    body: parameters(tpl, 'body', values, byName),
    buttons: slots.filter(function (s) { return s.part === 'button'; }).map(function (s) {
      return { index: s.index, text: values[s.key].trim() };
    })
  };
  C.sending = true;
  button.disabled = true;
  api('POST', '/api/v1/conversations/' + encodeURIComponent(C.id) + '/messages', { template: template }).then(function (m) {
    if (!current(C)) return;
    C.picker.values = {};
    if (m && m.id) {
      upsertMessage(C, m, 0);
      S.snippets[C.id] = { text: messagePreview(m) };
    }
    closePicker(C, false);
    scrollToBottom();
    toast('Template sent.');
  }, function (e) {
    if (current(C)) error.textContent = e && e.message ? e.message : String(e);
  }).then(function () {
    C.sending = false;
    button.disabled = false;
  });
}
