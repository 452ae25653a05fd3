// ---- Notifications: the bell, the count in the tab title and favicon, sound and desktop ----------
// The list lives on the hub (GET /api/v1/notifications); new ones arrive over the agent
// websocket as `notification.created`. Nothing rings while the agent has that conversation
// open in a focused tab.

import { afterNavigate, api, clear, fail, fmtTime, h, navExtras, navigate, onGlobal, toast } from './core.js';

var state = { unread: 0, items: [], panel: null };
var SOUND_KEY = 'sb.notify.sound';

function soundOn() {
  try { return localStorage.getItem(SOUND_KEY) !== 'off'; } catch (e) { return true; }
}
function setSound(on) {
  try { localStorage.setItem(SOUND_KEY, on ? 'on' : 'off'); } catch (e) { /* private mode */ }
}

var audio = null;
function ring() {
  if (!soundOn()) return;
  try {
    audio = audio || new (window.AudioContext || window.webkitAudioContext)();
    var osc = audio.createOscillator();
    var gain = audio.createGain();
    osc.frequency.value = 880;
    gain.gain.setValueAtTime(0.08, audio.currentTime);
    gain.gain.exponentialRampToValueAtTime(0.0001, audio.currentTime + 0.25);
    osc.connect(gain).connect(audio.destination);
    osc.start();
    osc.stop(audio.currentTime + 0.25);
  } catch (e) { /* no audio here */ }
}

function desktop(n) {
  if (!('Notification' in window) || Notification.permission !== 'granted') return;
  try {
    var shown = new Notification('Switchboard', { body: n.body, tag: 'sb-' + n.id });
    shown.onclick = function () { window.focus(); open(n); shown.close(); };
  } catch (e) { /* some browsers allow it from a service worker only */ }
}

// The tab title and favicon carry the unread count.
var baseIcon = null;
function paintCount() {
  var title = document.title.replace(/^\(\d+\+?\) /, '');
  document.title = state.unread ? '(' + (state.unread > 99 ? '99+' : state.unread) + ') ' + title : title;
  var link = document.querySelector('link[rel=icon]');
  if (link) {
    if (baseIcon === null) baseIcon = link.getAttribute('href');
    link.setAttribute('href', state.unread ? badgeIcon(state.unread) : baseIcon);
  }
  Array.prototype.forEach.call(document.querySelectorAll('[data-testid=bell-count]'), function (el) {
    el.textContent = state.unread > 99 ? '99+' : String(state.unread);
    el.hidden = !state.unread;
  });
  Array.prototype.forEach.call(document.querySelectorAll('[data-testid=bell]'), function (el) {
    el.setAttribute('aria-label', 'Notifications' + (state.unread ? ', ' + state.unread + ' unread' : ''));
  });
}
function badgeIcon(n) {
  var text = n > 9 ? '9+' : String(n);
  var svg = '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 32 32">' +
    '<rect width="32" height="32" rx="7" fill="#1f6feb"/><circle cx="22" cy="10" r="10" fill="#d1242f"/>' +
    '<text x="22" y="14.5" font-family="sans-serif" font-size="13" font-weight="700" fill="#fff" text-anchor="middle">' +
    text + '</text></svg>';
  return 'data:image/svg+xml,' + encodeURIComponent(svg);
}

function viewing(conversationId) {
  return document.hasFocus() && conversationId &&
    location.pathname.replace(/\/$/, '') === '/conversations/' + conversationId;
}

function load() {
  return api('GET', '/api/v1/notifications?limit=30').then(function (page) {
    state.items = (page && page.data) || [];
    state.unread = (page && page.unread_count) || 0;
    paintCount();
    renderPanel();
  }, function () { /* the bell stays as it was; the next hello retries */ });
}

function markRead(n) {
  if (n.read_at) return Promise.resolve();
  n.read_at = new Date().toISOString();
  return api('POST', '/api/v1/notifications/' + encodeURIComponent(n.id) + '/read').then(function (r) {
    state.unread = r && typeof r.unread_count === 'number' ? r.unread_count : Math.max(0, state.unread - 1);
    paintCount();
    renderPanel();
  }, fail);
}

function open(n) {
  closePanel();
  markRead(n);
  if (n.conversation_id) navigate('/conversations/' + encodeURIComponent(n.conversation_id));
}

var LABELS = {
  assigned: 'Assigned', mention: 'Mention', message: 'Message', sla_warning: 'SLA warning', sla_breach: 'SLA breach',
  inbox_conversation: 'New conversation'
};

function renderPanel() {
  var panel = state.panel;
  if (!panel) return;
  clear(panel);
  var all = h('button', {
    type: 'button', class: 'link', 'data-testid': 'bell-read-all', disabled: !state.unread,
    onclick: function () {
      api('POST', '/api/v1/notifications/read-all').then(function () {
        state.items.forEach(function (n) { n.read_at = n.read_at || new Date().toISOString(); });
        state.unread = 0;
        paintCount();
        renderPanel();
      }, fail);
    }
  }, 'Mark all read');
  var sound = h('input', { type: 'checkbox', id: 'bell-sound', 'data-testid': 'bell-sound' });
  sound.checked = soundOn();
  sound.addEventListener('change', function () { setSound(sound.checked); });
  var ask = null;
  if ('Notification' in window && Notification.permission === 'default') {
    ask = h('button', {
      type: 'button', class: 'link', 'data-testid': 'bell-desktop',
      onclick: function () {
        Notification.requestPermission().then(function () { renderPanel(); }, function () {});
      }
    }, 'Desktop notifications');
  }
  panel.appendChild(h('div', { class: 'bell-head' },
    h('h2', {}, 'Notifications'), all));
  var list = h('ul', { class: 'bell-list', 'data-testid': 'bell-list' });
  if (!state.items.length) list.appendChild(h('li', { class: 'empty' }, 'Nothing yet.'));
  state.items.forEach(function (n) {
    list.appendChild(h('li', {},
      h('button', {
        type: 'button', class: 'bell-item' + (n.read_at ? '' : ' unread'), 'data-testid': 'bell-item',
        'data-kind': n.kind, 'data-id': n.id, onclick: function () { open(n); }
      },
      h('span', { class: 'bell-kind badge' + (n.kind === 'sla_breach' ? ' danger' : n.kind === 'sla_warning' ? ' warn' : '') },
        LABELS[n.kind] || n.kind),
      h('span', { class: 'bell-body' }, n.body),
      h('time', { class: 'muted', datetime: n.created_at }, fmtTime(n.created_at)))));
  });
  panel.appendChild(list);
  panel.appendChild(h('div', { class: 'bell-foot' },
    h('label', { for: 'bell-sound' }, sound, ' Sound'), ask));
}

function closePanel() {
  if (!state.panel) return;
  state.panel.parentNode.removeChild(state.panel);
  state.panel = null;
  Array.prototype.forEach.call(document.querySelectorAll('[data-testid=bell]'), function (b) {
    b.setAttribute('aria-expanded', 'false');
  });
}

function toggle(e) {
  if (state.panel) { closePanel(); return; }
  state.panel = h('div', { class: 'bell-panel', role: 'dialog', 'aria-label': 'Notifications', 'data-testid': 'bell-panel' });
  document.body.appendChild(state.panel);
  e.currentTarget.setAttribute('aria-expanded', 'true');
  renderPanel();
  load();
}

document.addEventListener('keydown', function (e) { if (e.key === 'Escape') closePanel(); });
document.addEventListener('click', function (e) {
  if (!state.panel) return;
  var t = e.target;
  if (state.panel.contains(t) || (t.closest && t.closest('[data-testid=bell]'))) return;
  closePanel();
});

// The bell in the top bar (drawn again with the bar on every navigation).
navExtras.push(function () {
  return h('button', {
    type: 'button', class: 'link bell', 'data-testid': 'bell', 'aria-haspopup': 'dialog',
    'aria-expanded': state.panel ? 'true' : 'false', 'aria-label': 'Notifications', onclick: toggle
  }, '🔔', h('span', { class: 'bell-count', 'data-testid': 'bell-count', hidden: !state.unread },
    String(state.unread)));
});
afterNavigate(paintCount);

onGlobal('hello', function () { load(); });
onGlobal('notification.created', function (d) {
  var n = d && d.notification;
  if (!n) return;
  if (state.items.some(function (x) { return x.id === n.id; })) return;
  state.items.unshift(n);
  state.items = state.items.slice(0, 50);
  state.unread += 1;
  paintCount();
  renderPanel();
  // The router gave this agent a conversation: say so where they are looking.
  if (n.kind === 'assigned' && !n.actor_id) toast(n.body + '.');
  if (viewing(n.conversation_id)) return;
  ring();
  if (!document.hasFocus()) desktop(n);
});
