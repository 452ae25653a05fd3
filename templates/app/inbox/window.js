// ---- The reply window -------------------------------------------------------------------------
// Some channels (WhatsApp) deliver free-form replies only within a while (24 h) of the
// customer's last message; after that only approved templates reach them. The conversation
// carries `reply_window` {limit_secs, last_inbound_at, closes_at, open}; the composer shows
// the time left and switches to templates once it closed.

import { api, toast } from '../core.js';
import { S, V } from './state.js';
import { current, ts } from './helpers.js';
import { applyComposerState } from './composer.js';

// Graph's "more than 24 hours since the customer's last message" refusal of a send.
var WINDOW_CLOSED_CODE = '131047';

export function capabilitiesOf(C) {
  var inbox = C && C.data ? S.inboxes[C.data.inbox_id] : null;
  return (inbox && inbox.capabilities) || {};
}

// Milliseconds until the window closes (≤ 0: closed); null when the channel has none.
export function windowLeft(C) {
  var w = C && C.data && C.data.reply_window;
  if (!w || !w.limit_secs) return null;
  if (!w.closes_at) return 0; // the customer never wrote
  return ts(w.closes_at) - Date.now();
}

export function windowClosed(C) {
  var left = windowLeft(C);
  return left !== null && left <= 0;
}

function fmtLeft(ms) {
  var minutes = Math.floor(ms / 60000);
  if (minutes < 1) return 'less than a minute';
  var hours = Math.floor(minutes / 60);
  return hours ? hours + ' h ' + (minutes % 60) + ' min' : minutes + ' min';
}

// Redraws the countdown (and the composer with it), then comes back in 30 s, or right when
// the window closes if that is sooner.
export function renderWindow(C) {
  if (!current(C) || !V.windowEl) return;
  clearTimeout(C.windowTimer);
  var el = V.windowEl;
  var left = windowLeft(C);
  el.hidden = left === null;
  el.classList.remove('warn', 'closed');
  if (left !== null) {
    var w = C.data.reply_window;
    if (left <= 0) {
      el.textContent = w.closes_at ? 'Reply window closed' : 'No reply window yet';
      el.classList.add('closed');
      el.title = w.closes_at
        ? 'Closed ' + new Date(w.closes_at).toLocaleString() + ': only approved templates reach the customer.'
        : 'The customer has not written on this channel: only approved templates reach them.';
    } else {
      el.textContent = 'Reply window: ' + fmtLeft(left) + ' left';
      if (left < 3600e3) el.classList.add('warn');
      el.title = 'Free-form replies reach the customer until ' + new Date(w.closes_at).toLocaleString() +
        '; after that only approved templates do.';
      C.windowTimer = setTimeout(function () { renderWindow(C); }, Math.min(30000, left + 250));
    }
  }
  applyComposerState(C);
}

// Closes the window at once (a send was refused for it), then asks the hub how it stands.
export function closeWindow(C, reason) {
  if (!current(C) || !C.data) return;
  var w = C.data.reply_window || { limit_secs: capabilitiesOf(C).reply_window_secs || 0 };
  C.data.reply_window = Object.assign({}, w, { open: false, closes_at: w.closes_at ? new Date().toISOString() : null });
  if (reason) toast(reason, 'error');
  renderWindow(C);
  api('GET', '/api/v1/conversations/' + encodeURIComponent(C.id)).then(function (conv) {
    if (!current(C) || !conv || !conv.reply_window) return;
    C.data.reply_window = conv.reply_window;
    renderWindow(C);
  }, function () { /* the local guess stands */ });
}

// What a live message means for the window: a customer's message opens it again for
// limit_secs; a reply the provider refused for the window closes it. `before` is the copy
// of the message the page had (a refusal counts once, when it happens).
export function noteMessage(C, m, before, created) {
  var w = C.data && C.data.reply_window;
  if (!w || !w.limit_secs) return;
  if (created && m.direction === 'inbound' && !m.private) {
    var at = m.created_at || new Date().toISOString();
    C.data.reply_window = Object.assign({}, w, {
      last_inbound_at: at, open: true,
      closes_at: new Date(ts(at) + w.limit_secs * 1000).toISOString()
    });
    renderWindow(C);
    return;
  }
  var refused = m.status === 'failed' && m.error && String(m.error.code) === WINDOW_CLOSED_CODE;
  if (refused && !(before && before.status === 'failed')) closeWindow(C, null);
}
