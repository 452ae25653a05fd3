// ---- Small helpers of the admin pages ------------------------------------------------------

import { fail, fmtTime, h, navigate, toast } from '../core.js';
import { nextId, skeleton } from '../shared.js';

export function enc(id) { return encodeURIComponent(String(id)); }
export function alive(main) { return document.body.contains(main); }
function each(list, fn) { Array.prototype.forEach.call(list, fn); }

export function link(href, label, attrs) {
  var a = attrs || {};
  a.href = href;
  a.onclick = function (e) {
    if (e.ctrlKey || e.metaKey || e.shiftKey || e.altKey || e.button) return;
    e.preventDefault();
    navigate(href);
  };
  return h('a', a, label);
}

// Runs `work()` (a promise) with the button disabled, so a double click sends once.
export function busy(button, work) {
  if (button) { button.disabled = true; button.setAttribute('aria-busy', 'true'); }
  var done = function () {
    if (button) { button.disabled = false; button.removeAttribute('aria-busy'); }
  };
  var p;
  try { p = Promise.resolve(work()); } catch (e) { p = Promise.reject(e); }
  return p.then(function (v) { done(); return v; }, function (e) { done(); throw e; });
}

// An error line next to a form (role=alert: read out when it changes).
export function alertBox(testid) {
  return h('p', { class: 'error', role: 'alert', 'data-testid': testid || null });
}

// Shows an API error in `box`; a 422 names its field ("settings.callback_url: ..."), which
// is then marked invalid, focused and given the reason right under it when the form has a
// control with that data-field (or, for "settings.smtp", the first control under it). The
// box says it in plain words: the field's label, not its API path ("Callback URL: must be
// https"). A section of the form with an error line of its own (`data-error-for`: the field;
// `data-field-name`: what to call it; `data-error-match`: a pattern for answers that name no
// field, like a 503 "the SMTP server cannot be reached") repeats the message next to it.
export function showError(box, error, form) {
  var message = error && error.message ? error.message : String(error);
  // Said at once, before anything below can go wrong.
  if (box) box.textContent = message;
  var m = /^([A-Za-z_][\w.[\]]*): /.exec(message);
  var field = (error && error.field) || (m ? m[1] : null);
  var text = m ? message.slice(m[0].length) : message;
  var sentence = text.charAt(0).toUpperCase() + text.slice(1);
  if (form) clearMarks(form);
  var section = null;
  var target = null;
  if (form) {
    each(form.querySelectorAll('[data-error-for]'), function (line) {
      var mine = line.getAttribute('data-error-for');
      var match = line.getAttribute('data-error-match');
      var hit = false;
      try {
        hit = field ? field === mine || field.indexOf(mine + '.') === 0
          : !!match && new RegExp(match, 'i').test(text);
      } catch (e) { hit = false; }
      if (hit) { line.textContent = sentence; section = section || line; }
    });
    if (field) {
      var quoted = window.CSS && CSS.escape ? CSS.escape(field) : field.replace(/["\\]/g, '');
      target = form.querySelector('[data-field="' + quoted + '"]') ||
        form.querySelector('[data-field^="' + quoted + '."]');
    }
  }
  var name = field ? plainName(field, section, target) : null;
  if (box) box.textContent = name ? name + ': ' + text : message; else fail(error);
  if (!target || !error || error.status !== 422) return;
  target.setAttribute('aria-invalid', 'true');
  if (!section) {
    // The reason right under the field, read with it (aria-describedby).
    var line = h('p', { class: 'error field-error', id: nextId('fe'), 'data-testid': 'field-error' }, sentence);
    var row = target.closest('.form-row') || target.parentNode;
    row.appendChild(line);
    var described = target.getAttribute('aria-describedby');
    target.setAttribute('data-described', described || '');
    target.setAttribute('aria-describedby', (described ? described + ' ' : '') + line.id);
  }
  target.focus();
}

// What a person calls a field: its section's name, its label, or its last path word.
function plainName(field, section, target) {
  if (section && section.getAttribute('data-field-name')) return section.getAttribute('data-field-name');
  var label = target && target.id ? document.querySelector('label[for="' + target.id + '"]') : null;
  if (label && target.getAttribute('data-field') === field) return label.textContent.trim();
  if (target && target.getAttribute('aria-label') && target.getAttribute('data-field') === field) {
    return target.getAttribute('aria-label');
  }
  var last = field.replace(/\[\d+\]$/, '').split('.').pop().replace(/_/g, ' ');
  return last.charAt(0).toUpperCase() + last.slice(1);
}

function clearMarks(form) {
  each(form.querySelectorAll('[aria-invalid]'), function (el) { el.removeAttribute('aria-invalid'); });
  each(form.querySelectorAll('[data-error-for]'), function (line) { line.textContent = ''; });
  each(form.querySelectorAll('.field-error'), function (line) { line.parentNode.removeChild(line); });
  each(form.querySelectorAll('[data-described]'), function (el) {
    var before = el.getAttribute('data-described');
    if (before) el.setAttribute('aria-describedby', before); else el.removeAttribute('aria-describedby');
    el.removeAttribute('data-described');
  });
}

export function clearError(box, form) {
  if (box) box.textContent = '';
  if (form) clearMarks(form);
}

// A labelled form row: <div class=form-row><label for=id>…</label>control<p hint></div>.
export function formRow(labelText, control, hint) {
  if (!control.id) control.id = nextId('f');
  var hintEl = null;
  if (hint) {
    hintEl = h('p', { class: 'muted hint', id: control.id + '-hint' }, hint);
    var described = control.getAttribute('aria-describedby');
    control.setAttribute('aria-describedby', (described ? described + ' ' : '') + hintEl.id);
  }
  return h('div', { class: 'form-row' }, h('label', { for: control.id }, labelText), control, hintEl);
}

// <select> with options [[value, label]]; the value is set after the options exist.
export function select(attrs, options, value) {
  var el = h('select', attrs, options.map(function (o) { return h('option', { value: o[0] }, o[1]); }));
  if (value !== undefined && value !== null) el.value = value;
  return el;
}

export function checkboxRow(labelText, input, hint) {
  if (!input.id) input.id = nextId('c');
  var hintEl = hint ? h('p', { class: 'muted hint', id: input.id + '-hint' }, hint) : null;
  if (hintEl) input.setAttribute('aria-describedby', hintEl.id);
  return h('div', { class: 'form-row checkbox' }, input, ' ', h('label', { for: input.id }, labelText), hintEl);
}

// Copies the text of `source` (clipboard API when available, else a selection + execCommand).
export function copyButton(source, what) {
  var button = h('button', {
    type: 'button', class: 'copy', 'aria-label': 'Copy ' + (what || 'to the clipboard'),
    onclick: function () {
      var text = source.textContent;
      var ok = function () {
        button.textContent = 'Copied';
        toast('Copied to the clipboard.');
        setTimeout(function () { button.textContent = 'Copy'; }, 2000);
      };
      var fallback = function () {
        try {
          var range = document.createRange();
          range.selectNodeContents(source);
          var sel = window.getSelection();
          sel.removeAllRanges();
          sel.addRange(range);
          if (document.execCommand && document.execCommand('copy')) ok();
          else toast('Selected: press Ctrl+C (⌘C) to copy.');
        } catch (e) { toast('Select the text and copy it.'); }
      };
      if (navigator.clipboard && navigator.clipboard.writeText) {
        navigator.clipboard.writeText(text).then(ok, fallback);
      } else {
        fallback();
      }
    }
  }, 'Copy');
  return button;
}

// A value shown once (secret, token, password): code in a .secret box, a copy button, a note.
export function secretBox(labelText, value, testid, note) {
  var code = h('code', { class: 'secret', 'data-testid': testid }, value);
  var labelId = nextId('s');
  return h('div', { class: 'secret-box', role: 'group', 'aria-labelledby': labelId },
    h('p', { class: 'label', id: labelId }, labelText),
    h('p', { class: 'secret-value' }, code, ' ', copyButton(code, labelText.toLowerCase())),
    note ? h('p', { class: 'muted note' }, note) : null);
}

// What a create answers once (an inbox's secret, a password, a token) goes to the top of the
// page, scrolled to and focused, so it is read and copied before anything else; the previous
// one, if any, makes way.
export function showOnce(page, card) {
  var before = page.body.querySelector('.shown-once');
  if (before) before.parentNode.removeChild(before);
  card.classList.add('shown-once');
  page.body.insertBefore(card, page.body.firstChild);
  var heading = card.querySelector('h2, h3, .label');
  var target = heading || card;
  target.setAttribute('tabindex', '-1');
  if (card.scrollIntoView) card.scrollIntoView({ block: 'start' });
  target.focus();
}

// A create form that folds away after a create behind a "Create another …" button (which
// opens it again, focused); `fold()` after the create, `open()` from a "New …" button.
export function foldable(form, label, testid) {
  var again = h('button', { type: 'button', 'data-testid': testid, hidden: true }, label);
  function open() {
    form.hidden = false;
    again.hidden = true;
    var first = form.querySelector('input:not([type=hidden]), select, textarea');
    if (first) first.focus();
  }
  again.addEventListener('click', open);
  return {
    button: again, open: open,
    fold: function () {
      // Focus stays on the page: on the button that opens the form again.
      var hadFocus = form.contains(document.activeElement);
      form.hidden = true;
      again.hidden = false;
      if (hadFocus) again.focus();
    }
  };
}

// A <pre> block to copy (the widget's embed snippet).
export function snippetBox(labelText, text, testid, note) {
  var pre = h('pre', { class: 'secret snippet', 'data-testid': testid, tabindex: '0' });
  pre.textContent = text;
  var labelId = nextId('p');
  pre.setAttribute('aria-labelledby', labelId);
  return h('div', { class: 'snippet-box' },
    h('p', { class: 'label', id: labelId }, labelText),
    pre,
    h('p', {}, copyButton(pre, 'the snippet')),
    note ? h('p', { class: 'muted note' }, note) : null);
}

// A table whose body shows placeholder rows until the page fills it (pages clear the body
// before adding their rows).
export function table(caption, headers) {
  var tbody = h('tbody', {}, [0, 1, 2].map(function (n) {
    return h('tr', { class: 'skeleton-row', 'aria-hidden': n ? 'true' : null },
      headers.map(function (_, i) {
        return h('td', {}, n === 0 && i === 0 ? skeleton('Loading…', [80]) : skeleton('', [i ? 60 : 80]));
      }));
  }));
  var t = h('table', { class: 'grid' },
    caption ? h('caption', { class: 'muted' }, caption) : null,
    h('thead', {}, h('tr', {}, headers.map(function (label) { return h('th', { scope: 'col' }, label); }))),
    tbody);
  // The table scrolls inside its card when it is wider (long URLs, many columns), instead of
  // pushing the card and the page sideways.
  return { table: h('div', { class: 'table-wrap' }, t), tbody: tbody };
}

export function timeEl(iso) {
  if (!iso) return h('span', { class: 'muted' }, '—');
  var full = iso;
  try { full = new Date(iso).toLocaleString(); } catch (e) { /* keep the ISO text */ }
  return h('time', { datetime: iso, title: full }, fmtTime(iso));
}

export function badge(text, kind) { return h('span', { class: 'badge' + (kind ? ' ' + kind : '') }, text); }

export function yes(message) { return window.confirm(message); }

// An expandable detail row under `tr` (edit forms, members); toggled by its button.
export function detailToggle(tr, colspan, label, build) {
  var detail = null;
  var button = h('button', { type: 'button', 'aria-expanded': 'false' }, label);
  button.addEventListener('click', function () {
    if (detail) {
      detail.parentNode.removeChild(detail);
      detail = null;
      button.setAttribute('aria-expanded', 'false');
      return;
    }
    var cell = h('td', { colspan: String(colspan) });
    detail = h('tr', { class: 'detail' }, cell);
    if (!cell.id) cell.id = nextId('d');
    button.setAttribute('aria-controls', cell.id);
    tr.parentNode.insertBefore(detail, tr.nextSibling);
    button.setAttribute('aria-expanded', 'true');
    build(cell, function close() {
      if (detail && detail.parentNode) detail.parentNode.removeChild(detail);
      detail = null;
      button.setAttribute('aria-expanded', 'false');
      button.focus();
    });
    var first = cell.querySelector('input, select, textarea, button');
    if (first) first.focus();
  });
  return button;
}
