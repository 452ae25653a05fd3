// ---- Keyboard shortcuts and help ----------------------------------------------------------------

import { h } from '../core.js';
import { S, SHORTCUTS, V } from './state.js';
import { isField, mounted, phone } from './helpers.js';
import { rowIndex } from './list.js';
import { backToList, select } from './select.js';
import { toggleDetails } from './pane.js';
import { setMode } from './composer.js';
import { assignMe, resolve } from './details.js';
import { toggleSelected } from './bulk.js';

var help = null; // {overlay, returnTo}

export function toggleHelp() { if (help) closeHelp(true); else openHelp(); }
function openHelp() {
  if (!V || help) return;
  var returnTo = document.activeElement;
  var close = h('button', { type: 'button', class: 'primary', onclick: function () { closeHelp(true); } }, 'Close');
  var dialog = h('div', {
    class: 'dialog', role: 'dialog', 'aria-modal': 'true', 'aria-labelledby': 'help-title',
    'data-testid': 'help-overlay', tabindex: '-1'
  },
  h('h2', { id: 'help-title' }, 'Keyboard shortcuts'),
  h('p', { class: 'muted' }, 'Shortcuts work when the focus is not in a text field.'),
  h('dl', { class: 'shortcuts' }, SHORTCUTS.map(function (s) {
    return [h('dt', null, h('kbd', null, s[0])), h('dd', null, s[1])];
  })),
  h('div', { class: 'row-actions' }, close));
  var overlay = h('div', {
    class: 'overlay',
    onclick: function (e) { if (e.target === overlay) closeHelp(true); }
  }, dialog);
  document.body.appendChild(overlay);
  help = { overlay: overlay, dialog: dialog, returnTo: returnTo };
  close.focus();
}
export function closeHelp(restore) {
  if (!help) return;
  var h0 = help;
  help = null;
  if (h0.overlay.parentNode) h0.overlay.parentNode.removeChild(h0.overlay);
  if (restore && h0.returnTo && document.body.contains(h0.returnTo) && h0.returnTo.focus) h0.returnTo.focus();
}

function step(delta) {
  if (!S.rows.length) return;
  var i = V.conv ? rowIndex(V.conv.id) : -1;
  var next = i < 0 ? (delta > 0 ? 0 : S.rows.length - 1) : i + delta;
  if (next < 0 || next >= S.rows.length) return;
  select(S.rows[next].id, true);
}

document.addEventListener('keydown', function (e) {
  if (!mounted()) { if (help) closeHelp(false); return; }
  if (help) {
    if (e.key === 'Escape' || (e.key === '?' && !isField(e.target))) { e.preventDefault(); closeHelp(true); return; }
    if (e.key === 'Tab') {
      var focusable = help.dialog.querySelectorAll('button, [href], input, select, textarea');
      if (focusable.length) {
        var first = focusable[0];
        var last = focusable[focusable.length - 1];
        if (e.shiftKey && document.activeElement === first) { e.preventDefault(); last.focus(); }
        else if (!e.shiftKey && document.activeElement === last) { e.preventDefault(); first.focus(); }
        else if (!help.dialog.contains(document.activeElement)) { e.preventDefault(); first.focus(); }
      }
    }
    return;
  }
  var inField = isField(e.target);
  if (e.key === 'Escape') {
    if (inField) {
      e.target.blur();
      if (V.conv && V.stream && V.convPane.contains(e.target)) V.stream.focus();
      else if (V.listPane.contains(e.target)) {
        var row = V.listEl.querySelector('[data-testid=conversation-row].selected') || V.listEl.querySelector('[data-testid=conversation-row]');
        if (row) row.focus();
      }
    } else if (phone() && V.root.classList.contains('show-details')) {
      toggleDetails(false);
    }
    return;
  }
  if (inField || e.ctrlKey || e.metaKey || e.altKey || e.defaultPrevented) return;
  var C = V.conv;
  switch (e.key) {
    case 'j': e.preventDefault(); step(1); break;
    case 'k': e.preventDefault(); step(-1); break;
    case 'r':
    case 'n':
      if (!C) return;
      e.preventDefault();
      setMode(C, e.key === 'n' ? 'note' : 'reply', true);
      break;
    case 'e': {
      if (!C || !C.data) return;
      e.preventDefault();
      if (C.data.status === 'resolved') return;
      // Resolve, then open the next conversation of the list (or the one before the last).
      var at = rowIndex(C.id);
      var after = at >= 0 ? (S.rows[at + 1] || S.rows[at - 1]) : null;
      var nextId = after ? after.id : null;
      Promise.resolve(resolve(C)).then(function (done) {
        if (!done || !nextId || !mounted() || V.conv !== C) return;
        select(nextId, true);
      });
      break;
    }
    case 'x':
    case 'X': {
      // Selects the focused row (or the open conversation) for bulk actions.
      var el = document.activeElement;
      var id = el && el.dataset && el.dataset.id && V.listEl.contains(el) ? el.dataset.id : (C && C.id);
      if (!id) return;
      e.preventDefault();
      toggleSelected(id, e.shiftKey);
      var row = V.listEl.querySelector('[data-testid=conversation-row][data-id="' + String(id).replace(/[^0-9A-Za-z_-]/g, '') + '"]');
      if (row) row.focus();
      break;
    }
    case 'a':
      if (!C || !C.data) return;
      e.preventDefault();
      assignMe(C);
      break;
    case '/':
      e.preventDefault();
      if (phone() && C) backToList();
      V.search.focus();
      V.search.select();
      break;
    case '?':
      e.preventDefault();
      toggleHelp();
      break;
    default:
  }
});
