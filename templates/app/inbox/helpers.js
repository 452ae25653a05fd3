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
// The SLA badge of a conversation ("SLA 12m", "SLA overdue 5m", "SLA paused 40m"): the
// target due soonest. Time left counts down to its due instant while it runs.
export function slaLeft(sla) {
  if (!sla) return null;
  if (!sla.paused && sla.due_at) return Math.round((ts(sla.due_at) - Date.now()) / 1000);
  return sla.remaining_secs;
}
export function slaBadge(sla) {
  if (!sla) return null;
  var left = slaLeft(sla);
  // The hub's word wins over this browser's clock.
  if (sla.state === 'breached') left = Math.min(left, sla.remaining_secs);
  var state = left < 0 ? 'breached' : sla.state;
  var span = function (secs) {
    var m = Math.max(0, Math.round(Math.abs(secs) / 60));
    if (m < 60) return m + 'm';
    if (m < 48 * 60) return Math.floor(m / 60) + 'h' + (m % 60 ? ' ' + (m % 60) + 'm' : '');
    return Math.floor(m / 1440) + 'd';
  };
  var names = { first_response: 'First response', next_response: 'Next response', resolution: 'Resolution' };
  var text = left < 0 ? 'SLA overdue ' + span(left) : (sla.paused ? 'SLA paused ' : 'SLA ') + span(left);
  return h('span', {
    class: 'badge sla-' + state + (sla.paused ? ' sla-paused' : ''), 'data-testid': 'sla-badge', 'data-state': state,
    title: (names[sla.target] || 'SLA') + (sla.due_at ? ' due ' + new Date(sla.due_at).toLocaleString() : ' (paused)')
  }, text);
}
// Initials on a colour picked from the name, the same for a name everywhere; every colour
// keeps white text at AA contrast.
var AVATAR_COLORS = ['#0969da', '#8250df', '#bf3989', '#1a7f37', '#9a6700', '#bc4c00', '#57606a', '#0a7482'];
export function initials(name) {
  var words = String(name || '').replace(/[^\p{L}\p{N}\s]/gu, ' ').trim().split(/\s+/).filter(Boolean);
  if (!words.length) return '?';
  var first = Array.from(words[0])[0] || '';
  var last = words.length > 1 ? Array.from(words[words.length - 1])[0] || '' : '';
  return (first + last).toUpperCase();
}
export function avatar(name, extraClass) {
  var hash = 0;
  var text = String(name || '');
  for (var i = 0; i < text.length; i++) hash = (hash * 31 + text.charCodeAt(i)) >>> 0;
  var el = h('span', { class: 'initials' + (extraClass ? ' ' + extraClass : ''), 'aria-hidden': 'true' }, initials(name));
  el.style.backgroundColor = AVATAR_COLORS[hash % AVATAR_COLORS.length];
  return el;
}
// A label with its admin-chosen colour as a dot (the text keeps the page's contrast).
export function labelChip(name) {
  var dot = h('span', { class: 'label-dot', 'aria-hidden': 'true' });
  dot.style.backgroundColor = S.labelColors[name] || '#888888';
  return h('span', { class: 'label-chip', 'data-testid': 'row-label', 'data-label': name }, dot, name);
}
// "Waiting 2h": how long the customer has waited for an answer.
export function waitingFor(iso) {
  var m = Math.max(0, Math.floor((Date.now() - ts(iso)) / 60000));
  if (m < 1) return '<1m';
  if (m < 60) return m + 'm';
  if (m < 48 * 60) return Math.floor(m / 60) + 'h';
  return Math.floor(m / 1440) + 'd';
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
