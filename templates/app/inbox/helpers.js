// ---- Small helpers ---------------------------------------------------------------------------

import { fmtTime, h } from '../core.js';
import { CHANNELS, PRIORITIES, S, STATUS_LABELS, V } from './state.js';

export function idEq(a, b) { return a !== null && a !== undefined && b !== null && b !== undefined && String(a) === String(b); }
export function ts(iso) { var t = Date.parse(iso); return isNaN(t) ? 0 : t; }
export function newestFirst(a, b) {
  var d = ts(b.last_activity_at) - ts(a.last_activity_at);
  return d || Number(b.id) - Number(a.id);
}
export function debounce(fn, ms) {
  var t = null;
  var wrapped = function () {
    var args = arguments;
    clearTimeout(t);
    t = setTimeout(function () { t = null; fn.apply(null, args); }, ms);
  };
  wrapped.cancel = function () { clearTimeout(t); t = null; };
  return wrapped;
}
export function statusLabel(s) { return STATUS_LABELS[s] || s || ''; }
export function priorityLabel(p) {
  for (var i = 0; i < PRIORITIES.length; i++) if (PRIORITIES[i][0] === p) return PRIORITIES[i][1];
  return p;
}
export function fmtSize(n) {
  if (!n && n !== 0) return '';
  if (n < 1024) return n + ' B';
  if (n < 1048576) return Math.round(n / 102.4) / 10 + ' KB';
  return Math.round(n / 104857.6) / 10 + ' MB';
}
export function channelOf(inboxId) {
  var inbox = S.inboxes[inboxId];
  return inbox ? inbox.channel_type : null;
}
export function inboxName(inboxId) {
  var inbox = S.inboxes[inboxId];
  return inbox ? inbox.name : (inboxId ? 'Inbox ' + inboxId : 'No inbox');
}
export function chanIcon(type) {
  var c = CHANNELS[type] || { icon: '•', label: type ? type : 'Channel' };
  return h('span', { class: 'chan chan-' + (type || 'unknown'), role: 'img', 'aria-label': c.label, title: c.label }, c.icon);
}
export function chanLabel(type) { return (CHANNELS[type] || { label: type || 'Channel' }).label; }
export function timeEl(iso, cls) {
  if (!iso) return null;
  return h('time', { class: cls || null, datetime: iso, title: new Date(iso).toLocaleString() }, fmtTime(iso));
}
export function receiptsOf(inboxId) {
  var inbox = S.inboxes[inboxId];
  if (inbox && inbox.capabilities && typeof inbox.capabilities.receipts === 'boolean') return inbox.capabilities.receipts;
  return channelOf(inboxId) !== 'telegram';
}
export function isField(el) {
  if (!el || !el.tagName) return false;
  var tag = el.tagName;
  if (tag === 'TEXTAREA' || tag === 'SELECT' || el.isContentEditable) return true;
  if (tag !== 'INPUT') return false;
  return ['button', 'checkbox', 'radio', 'submit', 'reset', 'file', 'range', 'color'].indexOf(el.type) < 0;
}
export function mounted() { return !!(V && V.root && document.body.contains(V.root)); }
export function current(C) { return !!(V && V.conv === C); }
export function phone() { return !!(window.matchMedia && window.matchMedia('(max-width: 700px)').matches); }

// Rebuilds a container while keeping the focused control (by id) and what was typed in it.
export function keepFocus(container, build) {
  var active = document.activeElement;
  var keep = active && container.contains(active) && active.id ? active.id : null;
  var value = keep && 'value' in active && active.tagName === 'INPUT' ? active.value : null;
  build();
  if (!keep) return;
  var again = document.getElementById(keep);
  if (!again) return;
  if (value !== null) again.value = value;
  again.focus();
}
