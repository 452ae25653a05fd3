// ---- Messages -----------------------------------------------------------------------------------

import { api, clear, fail, fmtTime, h, session } from '../core.js';
import { skeleton } from '../shared.js';
import { PAGE, RANK, TICKS, V } from './state.js';
import { chanIcon, channelOf, current, fmtSize, idEq, receiptsOf, timeEl } from './helpers.js';
import { agentName, convName } from './directories.js';
import { setRowUnread } from './list.js';
import { automaticBadge, mailAddressees, mailExtras, mailName, renderMailTo } from './mail.js';
import { startQuote } from './composer.js';

// Keeps a message, never moving its delivery status backwards (events and REST answers
// may arrive in any order); a retry moves a failed reply back to queued.
// `sinceEvents`: for the answer to our own send or retry, how many events of the message
// had arrived when the request left. An event that came after it is newer than the answer
// (a reply can fail before its POST is answered), so the answer must not undo it.
export function storeMessage(C, m, sinceEvents) {
  var old = C.msgs[m.id];
  var newerEvent = sinceEvents !== undefined && (C.events[m.id] || 0) > sinceEvents;
  if (old && newerEvent) {
    m = Object.assign({}, m, { status: old.status, error: old.error });
  } else if (old && old.status && m.status && RANK[m.status] < RANK[old.status] && old.status !== 'failed') {
    m = Object.assign({}, m, { status: old.status, error: old.error });
  }
  if (old && old.attachments && m.attachments) {
    // Thumbnails only appear; a stale copy must not hide them again.
    var thumbs = {};
    old.attachments.forEach(function (a) { if (a.thumbnail_url) thumbs[a.id] = a; });
    m = Object.assign({}, m, {
      attachments: m.attachments.map(function (a) {
        return !a.thumbnail_url && thumbs[a.id] ? Object.assign({}, a, {
          thumbnail_url: thumbs[a.id].thumbnail_url, thumbnail_large_url: thumbs[a.id].thumbnail_large_url
        }) : a;
      })
    });
  }
  C.msgs[m.id] = m;
  if (!old) {
    C.order.push(m.id);
    C.order.sort(function (a, b) { return C.msgs[a].seq - C.msgs[b].seq; });
  }
  return m;
}

function nearBottom() {
  var s = V.stream;
  return s.scrollHeight - s.scrollTop - s.clientHeight < 80;
}
export function scrollToBottom() { if (V && V.stream) V.stream.scrollTop = V.stream.scrollHeight; }

export function renderMessages(C, keepScroll) {
  if (!current(C) || !V.messageList) return;
  var stick = keepScroll ? nearBottom() : true;
  var top = V.stream.scrollTop;
  clear(V.messageList);
  C.els = {};
  if (C.loaded && !C.order.length) {
    V.messageList.appendChild(h('p', { class: 'empty' }, 'No messages yet.'));
  }
  // Activity lines (who assigned, resolved, labelled…) between the messages by time; with
  // earlier history not loaded, only those since the first message shown.
  var lines = (C.activity || []).slice();
  var first = C.order.length ? C.msgs[C.order[0]] : null;
  if (C.hasEarlier && first) lines = lines.filter(function (a) { return a.created_at >= first.created_at; });
  var next = 0;
  function linesUntil(at) {
    while (next < lines.length && (at === null || lines[next].created_at <= at)) {
      V.messageList.appendChild(activityEl(lines[next]));
      next += 1;
    }
  }
  C.order.forEach(function (id) {
    linesUntil(C.msgs[id].created_at);
    var el = messageEl(C, C.msgs[id]);
    C.els[id] = el;
    V.messageList.appendChild(el);
  });
  linesUntil(null);
  V.earlierBtn.hidden = !C.hasEarlier;
  renderMailTo(C);
  if (stick) scrollToBottom(); else V.stream.scrollTop = top;
}

function activityEl(a) {
  return h('p', { class: 'activity-line', 'data-testid': 'activity-line', 'data-action': a.action },
    a.text, ' · ', h('time', { datetime: a.created_at, title: fmtTime(a.created_at) }, fmtTime(a.created_at)));
}

// Loads the conversation's activity lines and redraws the thread (on open, and after a
// change to it: the audit trail is the source, so nothing is stored twice).
export function loadActivity(C) {
  if (!current(C)) return;
  clearTimeout(C.activityTimer);
  C.activityTimer = setTimeout(function () {
    api('GET', '/api/v1/conversations/' + encodeURIComponent(C.id) + '/activity').then(function (page) {
      if (!current(C)) return;
      var list = (page && page.data) || [];
      var before = C.activity || [];
      var same = before.length === list.length &&
        (!list.length || before[before.length - 1].id === list[list.length - 1].id);
      C.activity = list;
      // Redrawn only when a line came (a redraw closes open edit histories).
      if (C.loaded && !same) renderMessages(C, true);
    }, function () { /* the thread works without them */ });
  }, C.activity ? 300 : 0);
}

// Redraws messages whose look changed (names, channel, receipts became known) in place.
export function refreshMessages(C) {
  if (!current(C) || !C.loaded) return;
  C.order.forEach(function (id) {
    var old = C.els[id];
    if (!old || !old.parentNode) return;
    var el = messageEl(C, C.msgs[id]);
    if (!old.isEqualNode(el)) {
      old.parentNode.replaceChild(el, old);
      C.els[id] = el;
    }
  });
  renderMailTo(C);
}

// `sinceEvents`: see storeMessage (answers to our own requests only).
export function upsertMessage(C, m, sinceEvents) {
  if (!current(C)) return;
  var stick = nearBottom() || (m.sender_type === 'agent' && idEq(m.sender_id, session.me && session.me.id));
  m = storeMessage(C, m, sinceEvents);
  if (!C.loaded) return;
  var el = messageEl(C, m);
  var old = C.els[m.id];
  C.els[m.id] = el;
  var empty = V.messageList.querySelector('.empty');
  if (empty) empty.parentNode.removeChild(empty);
  if (old && old.parentNode) {
    old.parentNode.replaceChild(el, old);
  } else {
    var at = C.order.indexOf(m.id);
    var next = null;
    for (var i = at + 1; i < C.order.length && !next; i++) next = C.els[C.order[i]] || null;
    V.messageList.insertBefore(el, next && next.parentNode === V.messageList ? next : null);
  }
  if (m.mail) renderMailTo(C);
  if (stick) scrollToBottom();
}

export function loadEarlier(C) {
  if (!C.order.length) return;
  var lowest = C.msgs[C.order[0]].seq;
  V.earlierBtn.disabled = true;
  api('GET', '/api/v1/conversations/' + encodeURIComponent(C.id) + '/messages?limit=' + PAGE + '&before=' + lowest)
    .then(function (page) {
      if (!current(C)) return;
      var data = ((page && page.data) || []).filter(function (m) { return !C.msgs[m.id]; });
      var before = V.stream.scrollHeight;
      var top = V.stream.scrollTop;
      var first = V.messageList.firstChild;
      data.forEach(function (m) {
        m = storeMessage(C, m);
        var el = messageEl(C, m);
        C.els[m.id] = el;
        V.messageList.insertBefore(el, first);
      });
      C.hasEarlier = ((page && page.data) || []).length === PAGE && data.length > 0 && data[0].seq > 1;
      renderMailTo(C);
      V.earlierBtn.hidden = !C.hasEarlier;
      V.stream.scrollTop = top + (V.stream.scrollHeight - before);
    }, fail).then(function () { if (current(C)) V.earlierBtn.disabled = false; });
}

function senderName(C, m) {
  if (m.direction === 'inbound') {
    // A mail names its writer: on a thread with several people it may not be the contact.
    var from = !m.author && m.mail && m.mail.from ? mailName(m.mail.from) : null;
    return m.author || from || (C.data ? convName(C.data) : 'Customer');
  }
  if (m.sender_type === 'agent') {
    if (!m.sender_id) return 'Agent';
    return idEq(m.sender_id, session.me && session.me.id) ? session.me.name + ' (you)' : agentName(m.sender_id);
  }
  if (m.sender_type === 'bot') return 'Bot';
  if (m.sender_type === 'system') return 'System';
  return 'Customer';
}

// A note's @mentions set apart (text nodes and spans only, never HTML).
function withMentions(text) {
  var parts = [];
  var re = /(^|[\s([{,;:])(@[\p{L}\p{N}._-]*[\p{L}\p{N}])/gu;
  var last = 0;
  var m;
  while ((m = re.exec(text)) !== null) {
    var at = m.index + m[1].length;
    if (at > last) parts.push(text.slice(last, at));
    parts.push(h('span', { class: 'mention', 'data-testid': 'mention' }, m[2]));
    last = at + m[2].length;
  }
  if (last < text.length) parts.push(text.slice(last));
  return parts;
}

function messageEl(C, m) {
  var inbound = m.direction === 'inbound';
  var note = !!m.private;
  var direction = inbound ? 'inbound' : 'outbound';
  var inboxId = m.inbox_id || (C.data && C.data.inbox_id);
  var chan = channelOf(inboxId);
  // The hub's own lines (an SLA warning or breach, kept as private notes) show as activity.
  var system = !inbound && m.sender_type === 'system';
  var cls = 'message ' + direction + (note && !system ? ' note' : '') + (system ? ' system' : '') +
    (m.automatic ? ' automatic' : '') +
    (m.status === 'failed' ? ' failed' : '');
  var el = h('article', {
    class: cls, 'data-testid': 'message', 'data-id': m.id, 'data-direction': direction,
    'data-private': String(note), 'data-status': m.status || '', 'data-seq': m.seq,
    'data-automatic': m.automatic ? 'true' : null
  });
  el.appendChild(h('header', { class: 'msg-meta' },
    h('span', { class: 'sender' }, senderName(C, m)),
    note && !system ? h('span', { class: 'badge note-badge' }, 'Private note') : null,
    chanIcon(chan),
    timeEl(m.provider_at || m.created_at, 'msg-time'),
    m.template && m.template.name ? h('span', {
      class: 'badge template-badge', 'data-testid': 'template-badge', title: 'Template ' + String(m.template.name)
    }, 'Template') : null,
    automaticBadge(m),
    m.survey ? h('span', {
      class: 'badge survey-badge', 'data-testid': 'survey-badge',
      title: m.survey.scale === 'thumbs' ? 'Answers: thumbs up or down' : 'Answers: 1 to 5'
    }, 'Satisfaction survey') : null,
    m.edited_at ? editsEl(C, m) : null));
  var addressees = mailAddressees(m);
  if (addressees) el.appendChild(addressees);
  var referral = referralEl(m.extra && m.extra.referral);
  if (referral) el.appendChild(referral);
  if (m.forwarded) {
    el.appendChild(h('div', { class: 'forwarded muted small', 'data-testid': 'forwarded' },
      'Forwarded from ' + m.forwarded.from,
      m.forwarded.date ? ', ' : null,
      m.forwarded.date ? timeEl(m.forwarded.date, 'muted') : null));
  }
  var quoted = quoteOf(C, m);
  if (quoted) {
    el.appendChild(h('blockquote', { class: 'quote', 'data-testid': 'quote' },
      quoted.author ? h('span', { class: 'quote-author' }, quoted.author) : null,
      h('span', { class: 'quote-text' }, quoted.text)));
  }
  // A mail that only quotes earlier ones has no text of its own, but its full text.
  var contentEl = m.content || (m.mail && m.mail.full_text)
    ? h('div', { class: 'content' }, note ? withMentions(m.content || '') : m.content || '') : null;
  if (contentEl) el.appendChild(contentEl);
  var extras = mailExtras(C, m, contentEl);
  if (extras) el.appendChild(extras);
  if (m.attachments && m.attachments.length) {
    el.appendChild(h('div', { class: 'attachments' }, m.attachments.map(attachmentEl)));
  }
  if (Array.isArray(m.reactions) && m.reactions.length) el.appendChild(reactionsEl(m.reactions));
  var foot = h('footer', { class: 'msg-foot' });
  if (direction === 'outbound' && !note && m.status) foot.appendChild(tickEl(m, receiptsOf(inboxId)));
  if (!note && !m.survey) {
    foot.appendChild(h('button', {
      type: 'button', class: 'link small quote-btn', 'data-testid': 'quote-reply',
      'aria-label': 'Quote this message in a reply', onclick: function () { startQuote(C, m); }
    }, 'Quote'));
  }
  if (m.status === 'failed') {
    foot.appendChild(h('span', { class: 'failure' },
      'Not delivered' + (m.error && m.error.reason ? ': ' + m.error.reason : '')));
    var retry = h('button', {
      type: 'button', class: 'small', 'data-testid': 'retry', 'aria-label': 'Retry sending this message',
      onclick: function () {
        retry.disabled = true;
        var since = C.events[m.id] || 0;
        api('POST', '/api/v1/conversations/' + encodeURIComponent(C.id) + '/messages/' +
          encodeURIComponent(m.id) + '/retry').then(function (msg) {
          if (msg && msg.id) upsertMessage(C, msg, since);
        }, function (e) { retry.disabled = false; fail(e); });
      }
    }, 'Retry');
    foot.appendChild(retry);
  } else if (m.status === 'queued' && m.error && m.error.reason) {
    foot.appendChild(h('span', { class: 'muted' }, 'Retrying: ' + m.error.reason));
  }
  if (foot.firstChild) el.appendChild(foot);
  return el;
}

function str(v) { return typeof v === 'string' || typeof v === 'number' ? String(v) : ''; }

// The ad or post a customer tapped to start the chat (WhatsApp click-to-chat ads).
function referralEl(ref) {
  if (!ref || typeof ref !== 'object') return null;
  var what = str(ref.headline) || str(ref.body) || '';
  var url = str(ref.source_url);
  // Only web addresses become links: the customer's provider data never runs as a script.
  var link = /^https?:\/\//i.test(url)
    ? h('a', { href: url, target: '_blank', rel: 'noopener noreferrer' }, url)
    : url;
  var kind = str(ref.source_type) === 'post' ? 'post' : 'ad';
  return h('div', { class: 'referral muted small', 'data-testid': 'referral' },
    h('span', { 'aria-hidden': 'true' }, '📣 '),
    'Came from ' + kind + (what ? ': ' : ''), what ? h('strong', null, what) : null,
    url ? [' (', link, ')'] : null);
}

// Customer reactions, one chip per emoji (with how many when several reacted alike).
function reactionsEl(list) {
  var groups = [];
  var at = {};
  list.forEach(function (r) {
    var emoji = r && str(r.emoji);
    if (!emoji) return;
    if (!(emoji in at)) { at[emoji] = groups.length; groups.push({ emoji: emoji, by: [] }); }
    if (str(r.by)) groups[at[emoji]].by.push(str(r.by));
  });
  if (!groups.length) return null;
  return h('ul', { class: 'reactions', 'data-testid': 'reactions', 'aria-label': 'Reactions' },
    groups.map(function (g) {
      var n = Math.max(1, g.by.length);
      return h('li', {
        class: 'reaction', 'data-testid': 'reaction', 'data-emoji': g.emoji,
        title: g.by.length ? 'Reacted: ' + g.by.join(', ') : null,
        'aria-label': g.emoji + (n > 1 ? ' × ' + n : '') + ' reaction'
      }, g.emoji, n > 1 ? h('span', { class: 'count' }, String(n)) : null);
    }));
}

/// What a reply answers: the stored message when it is here, else the words the channel
/// quoted (the original may never have reached the hub).
function quoteOf(C, m) {
  var original = m.reply_to_id && C.msgs[m.reply_to_id];
  if (original) {
    var files = original.attachments && original.attachments.length;
    return { author: senderName(C, original), text: original.content || (files ? '[File]' : '') };
  }
  if (m.quote && (m.quote.text || m.quote.author)) return m.quote;
  return null;
}

function tickEl(m, receipts) {
  var shown = m.status;
  if (!receipts && (shown === 'delivered' || shown === 'read')) shown = 'sent';
  var t = TICKS[shown] || ['', shown];
  return h('span', {
    class: 'tick tick-' + shown, 'data-testid': 'tick', 'data-status': shown,
    role: 'img', 'aria-label': t[1], title: t[1]
  }, t[0]);
}

function attachmentEl(a) {
  if (a.thumbnail_url) {
    var w = a.width || 0;
    var hh = a.height || 0;
    var scale = w && hh ? Math.min(1, 200 / Math.max(w, hh)) : 0;
    return h('a', { class: 'att thumb', href: a.url, target: '_blank', rel: 'noopener', title: a.file_name },
      h('img', {
        src: a.thumbnail_url, alt: a.file_name, loading: 'lazy',
        width: scale ? Math.round(w * scale) : null, height: scale ? Math.round(hh * scale) : null
      }));
  }
  var pending = a.content_type && a.content_type.indexOf('image/') === 0;
  return h('a', { class: 'att file', href: a.url, target: '_blank', rel: 'noopener' },
    h('span', { 'aria-hidden': 'true' }, '📎 '), a.file_name,
    h('span', { class: 'muted' }, ' · ' + fmtSize(a.byte_size) + (pending ? ' · preview pending' : '')));
}

function editsEl(C, m) {
  var list = h('ol', { class: 'edit-history' });
  var loaded = false;
  var details = h('details', {
    class: 'edits',
    ontoggle: function () {
      if (!details.open || loaded) return;
      loaded = true;
      list.appendChild(h('li', {}, skeleton('Loading earlier texts…', [80, 60])));
      api('GET', '/api/v1/conversations/' + encodeURIComponent(C.id) + '/messages/' + encodeURIComponent(m.id) + '/edits')
        .then(function (r) {
          clear(list);
          var data = (r && r.data) || [];
          if (!data.length) list.appendChild(h('li', { class: 'muted' }, 'No earlier text.'));
          data.forEach(function (e) {
            list.appendChild(h('li', null, h('span', { class: 'content' }, e.content), ' ',
              h('span', { class: 'muted' }, '(replaced ' + fmtTime(e.replaced_at) + ')')));
          });
        }, function (e) { loaded = false; clear(list); fail(e); });
    }
  }, h('summary', null, 'edited'), list);
  return details;
}

export function markRead(C) {
  if (!current(C) || !C.loaded) return;
  if (document.hidden) { C.readPending = true; return; }
  C.readPending = false;
  clearTimeout(C.readTimer);
  C.readTimer = setTimeout(function () {
    if (!current(C)) return;
    api('POST', '/api/v1/conversations/' + encodeURIComponent(C.id) + '/read').then(function (r) {
      setRowUnread(C.id, (r && r.unread_count) || 0);
    }, function () { /* a read mark is best effort */ });
  }, 300);
}
document.addEventListener('visibilitychange', function () {
  if (!document.hidden && V && V.conv && V.conv.readPending) markRead(V.conv);
});
