// ---- The composer -------------------------------------------------------------------------------

import { api, clear, fail, h, toast } from '../core.js';
import { nextId } from '../shared.js';
import { S, V } from './state.js';
import { current, fmtSize } from './helpers.js';
import { messagePreview } from './list.js';
import { scrollToBottom, upsertMessage } from './messages.js';
import { renderMailTo } from './mail.js';
import { capabilitiesOf, closeWindow, renderWindow, windowClosed } from './window.js';
import { closePicker, openPicker } from './templates.js';
import { membersOf } from './directories.js';
import { fillVariables, unfilled } from './variables.js';

// The emoji the picker offers: the ones support answers use, with names for screen readers.
var EMOJI = [
  ['😊', 'smiling face'], ['😀', 'grinning face'], ['😂', 'tears of joy'], ['🙂', 'slightly smiling face'],
  ['😉', 'winking face'], ['😍', 'heart eyes'], ['🤔', 'thinking face'], ['😅', 'sweat smile'],
  ['😢', 'crying face'], ['😮', 'surprised face'], ['🙏', 'folded hands'], ['👍', 'thumbs up'],
  ['👎', 'thumbs down'], ['👋', 'waving hand'], ['👏', 'clapping hands'], ['🙌', 'raised hands'],
  ['💪', 'flexed biceps'], ['🤝', 'handshake'], ['✅', 'check mark'], ['❌', 'cross mark'],
  ['⚠️', 'warning'], ['❗', 'exclamation mark'], ['❓', 'question mark'], ['💡', 'light bulb'],
  ['🎉', 'party popper'], ['🚀', 'rocket'], ['⭐', 'star'], ['🔥', 'fire'],
  ['❤️', 'red heart'], ['💙', 'blue heart'], ['📦', 'package'], ['🚚', 'delivery truck'],
  ['📧', 'email'], ['📞', 'telephone'], ['🔗', 'link'], ['📎', 'paperclip'],
  ['⏰', 'alarm clock'], ['📅', 'calendar'], ['💳', 'credit card'], ['🔒', 'lock']
];

export function buildComposer(C, draftText) {
  var listId = nextId('canned');
  var fileId = nextId('file');
  var hintId = nextId('hint');
  V.composer = h('textarea', {
    class: 'composer-input', 'data-testid': 'composer', rows: '3', 'aria-describedby': hintId,
    // A textbox with suggestions (ARIA 1.2 allows no aria-expanded on a textbox): the list's
    // own visibility says whether it is open.
    'aria-autocomplete': 'list', 'aria-controls': listId,
    'aria-keyshortcuts': 'r n'
  });
  V.composer.value = draftText;
  V.cannedList = h('ul', {
    id: listId, class: 'canned', role: 'listbox', 'data-testid': 'canned-suggestions',
    'aria-label': 'Canned responses', hidden: true
  });
  V.modeReply = h('button', {
    type: 'button', class: 'mode', 'data-testid': 'mode-reply', 'aria-keyshortcuts': 'r',
    onclick: function () { setMode(C, 'reply', true); }
  }, 'Reply');
  V.modeNote = h('button', {
    type: 'button', class: 'mode', 'data-testid': 'mode-note', 'aria-keyshortcuts': 'n',
    onclick: function () { setMode(C, 'note', true); }
  }, 'Private note');
  V.fileInput = h('input', {
    type: 'file', id: fileId, multiple: true, class: 'visually-hidden', 'data-testid': 'attach',
    'aria-label': 'Attach files',
    onchange: function () { upload(C, V.fileInput); }
  });
  V.uploadsEl = h('ul', { class: 'uploads', 'aria-label': 'Files to send' });
  // The message a reply quotes (set from a message's "Quote" button).
  V.quoteEl = h('div', { class: 'composer-quote', 'data-testid': 'composer-quote', hidden: true });
  var emojiId = nextId('emoji');
  V.emojiBtn = h('button', {
    type: 'button', class: 'emoji-btn', 'data-testid': 'emoji-open', 'aria-label': 'Insert an emoji',
    'aria-expanded': 'false', 'aria-controls': emojiId,
    onclick: function () { toggleEmoji(!V.emojiEl.hidden ? false : true); }
  }, h('span', { 'aria-hidden': 'true' }, '😊'));
  V.emojiEl = h('div', {
    id: emojiId, class: 'emoji-picker', role: 'group', 'aria-label': 'Emoji', 'data-testid': 'emoji-picker', hidden: true,
    onkeydown: function (e) {
      var buttons = Array.prototype.slice.call(V.emojiEl.querySelectorAll('button'));
      var at = buttons.indexOf(document.activeElement);
      var step = { ArrowRight: 1, ArrowLeft: -1, ArrowDown: 8, ArrowUp: -8 }[e.key];
      if (e.key === 'Escape') { e.preventDefault(); e.stopPropagation(); toggleEmoji(false); V.emojiBtn.focus(); }
      else if (step && at >= 0) {
        e.preventDefault();
        buttons[Math.max(0, Math.min(buttons.length - 1, at + step))].focus();
      }
    }
  }, EMOJI.map(function (e) {
    return h('button', {
      type: 'button', class: 'emoji', 'aria-label': e[1], title: e[1], 'data-emoji': e[0],
      onclick: function () { insertText(C, e[0]); toggleEmoji(false); }
    }, e[0]);
  }));
  // Channels with a reply window and templates (WhatsApp): the time left, the picker, and
  // what replaces the text box once the window closed.
  V.windowEl = h('span', { class: 'reply-window', 'data-testid': 'reply-window', hidden: true });
  V.pickerEl = h('section', {
    id: nextId('picker'), class: 'template-picker', 'data-testid': 'template-picker', hidden: true,
    onkeydown: function (e) {
      if (e.key !== 'Escape') return;
      e.preventDefault();
      e.stopPropagation();
      closePicker(C, true);
    }
  });
  V.templateBtn = h('button', {
    type: 'button', class: 'mode template-btn', 'data-testid': 'template-open', hidden: true,
    'aria-expanded': 'false', 'aria-controls': V.pickerEl.id,
    onclick: function () { if (C.picking) closePicker(C, true); else openPicker(C); }
  }, 'Template');
  V.closedText = h('span', {});
  V.closedBtn = h('button', {
    type: 'button', class: 'primary', 'data-testid': 'window-template',
    onclick: function () { openPicker(C); }
  }, 'Send template');
  V.closedNote = h('div', { class: 'window-closed', 'data-testid': 'window-closed', role: 'status', hidden: true },
    h('p', {}, V.closedText), V.closedBtn);
  V.mailTo = h('p', { class: 'mail-to muted small', 'data-testid': 'mail-to', hidden: true });
  V.sendBtn = h('button', { type: 'submit', class: 'primary send', 'data-testid': 'send' }, 'Send');
  V.form = h('form', {
    class: 'composer', 'aria-label': 'Write a message',
    onsubmit: function (e) { e.preventDefault(); send(C); }
  },
  h('div', { class: 'composer-top' },
    h('div', { class: 'composer-modes', role: 'group', 'aria-label': 'Message type' }, V.modeReply, V.modeNote),
    V.templateBtn,
    V.windowEl),
  V.mailTo,
  V.cannedList,
  V.pickerEl,
  V.closedNote,
  V.quoteEl,
  V.composer,
  V.emojiEl,
  V.uploadsEl,
  h('div', { class: 'composer-actions' },
    h('label', { class: 'button attach-label', for: fileId },
      h('span', { 'aria-hidden': 'true' }, '📎'), ' Attach', V.fileInput),
    V.emojiBtn,
    h('span', { id: hintId, class: 'hint muted' }, 'Enter sends · Shift+Enter new line · / for canned responses · @ mentions (notes)'),
    V.sendBtn));

  V.composer.addEventListener('keydown', function (e) { composerKey(C, e); });
  V.composer.addEventListener('input', function () {
    saveDraft(C);
    typingPing(C);
    cannedLookup(C);
  });
  V.composer.addEventListener('click', function () { cannedLookup(C); });
  V.composer.addEventListener('blur', function () {
    setTimeout(function () { if (current(C) && document.activeElement !== V.composer) closeCanned(C); }, 150);
  });
  setMode(C, C.mode, false);
  renderUploads(C);
  renderQuote(C);
  renderWindow(C);
  return V.form;
}

// Inserts `text` at the caret (replacing a selection), as typing would.
function insertText(C, text) {
  var ta = V.composer;
  var start = ta.selectionStart, end = ta.selectionEnd;
  ta.value = ta.value.slice(0, start) + text + ta.value.slice(end);
  ta.setSelectionRange(start + text.length, start + text.length);
  ta.focus();
  saveDraft(C);
}

function toggleEmoji(open) {
  V.emojiEl.hidden = !open;
  V.emojiBtn.setAttribute('aria-expanded', String(open));
  if (open) {
    var first = V.emojiEl.querySelector('button');
    if (first) first.focus();
  }
}

// Quote-reply: the reply will answer `m` (reply_to_id), shown above the text until sent or
// cancelled.
export function startQuote(C, m) {
  if (!current(C) || !m) return;
  C.replyTo = m;
  renderQuote(C);
  V.composer.focus();
}

function renderQuote(C) {
  var box = V.quoteEl;
  clear(box);
  var m = C.replyTo;
  box.hidden = !m;
  if (!m) return;
  var text = (m.content || (m.attachments && m.attachments.length ? '[File]' : '')).replace(/\s+/g, ' ');
  box.appendChild(h('span', { class: 'quote-label' }, 'Replying to'));
  box.appendChild(h('span', { class: 'quote-text' }, text.length > 120 ? text.slice(0, 120) + '…' : text));
  box.appendChild(h('button', {
    type: 'button', class: 'link chip-x', 'data-testid': 'quote-cancel', 'aria-label': 'Do not quote this message',
    onclick: function () { C.replyTo = null; renderQuote(C); V.composer.focus(); }
  }, '✕'));
}

// Shows what the composer can send now: text, or (window closed) templates only; the
// picker, when open, takes the text box's place.
export function applyComposerState(C) {
  if (!current(C) || !V.form) return;
  var caps = capabilitiesOf(C);
  var only = C.mode !== 'note' && windowClosed(C);
  V.templateBtn.hidden = !caps.templates;
  V.templateBtn.setAttribute('aria-expanded', String(!!C.picking));
  V.form.classList.toggle('templates-only', only);
  V.form.classList.toggle('picking', !!C.picking);
  V.pickerEl.hidden = !C.picking;
  V.closedNote.hidden = !only || !!C.picking;
  V.closedBtn.hidden = !caps.templates;
  renderMailTo(C);
  var w = (C.data && C.data.reply_window) || {};
  var hours = Math.round((w.limit_secs || 0) / 3600);
  V.closedText.textContent = w.closes_at
    ? 'The ' + hours + '-hour reply window is closed: the customer can only be sent an approved template until they write again. Private notes still work.'
    : 'The customer has not written on this channel yet: only an approved template can reach them. Private notes still work.';
}

export function setMode(C, mode, focus) {
  if (!current(C)) return;
  C.mode = mode;
  var note = mode === 'note';
  V.modeReply.setAttribute('aria-pressed', String(!note));
  V.modeNote.setAttribute('aria-pressed', String(note));
  V.form.classList.toggle('note-mode', note);
  V.composer.setAttribute('aria-label', note ? 'Private note (only agents see it)' : 'Reply to the customer');
  V.composer.placeholder = note ? 'Write a private note for your team…' : 'Write a reply…';
  V.sendBtn.textContent = note ? 'Add note' : 'Send';
  // A template is always a reply to the customer.
  if (note && C.picking) closePicker(C, false);
  saveDraft(C);
  applyComposerState(C);
  if (!focus) return;
  var target = C.picking ? V.pickerEl.querySelector('select, input, button')
    : V.closedNote.hidden ? V.composer : V.closedBtn;
  if (target) target.focus();
}

function saveDraft(C) {
  if (!current(C)) return;
  S.drafts[C.id] = { text: V.composer.value, mode: C.mode, uploads: C.uploads.slice() };
}

function composerKey(C, e) {
  if (C.canned && !V.cannedList.hidden) {
    var n = C.canned.items.length;
    if (e.key === 'ArrowDown' || e.key === 'ArrowUp') {
      e.preventDefault();
      C.canned.active = (C.canned.active + (e.key === 'ArrowDown' ? 1 : n - 1)) % n;
      renderCanned(C);
      return;
    }
    if ((e.key === 'Enter' && !e.shiftKey) || e.key === 'Tab') {
      e.preventDefault();
      pickCanned(C, C.canned.items[C.canned.active]);
      return;
    }
    if (e.key === 'Escape') {
      e.preventDefault();
      e.stopPropagation();
      closeCanned(C);
      return;
    }
  }
  if (e.key === 'Enter' && !e.shiftKey && !e.ctrlKey && !e.altKey && !e.metaKey && !e.isComposing && e.keyCode !== 229) {
    e.preventDefault();
    send(C);
  }
}

function typingPing(C) {
  if (C.mode !== 'reply' || !V.composer.value.trim()) return; // notes stay among agents
  var now = Date.now();
  if (now - C.sentTypingAt < 3000) return;
  C.sentTypingAt = now;
  sendTyping(C, true);
}
export function sendTyping(C, on) {
  api('POST', '/api/v1/conversations/' + encodeURIComponent(C.id) + '/typing', { on: on })
    .catch(function () { /* typing is best effort */ });
  if (!on) C.sentTypingAt = 0;
}

function send(C) {
  if (!current(C) || C.sending) return;
  var content = V.composer.value;
  if (C.mode !== 'note' && windowClosed(C)) { openPicker(C); return; }
  if (!content.trim() && !C.uploads.length) { V.composer.focus(); return; }
  if (C.uploading) { toast('Wait for the files to finish uploading.', 'info'); return; }
  closeCanned(C);
  var body = { content: content, private: C.mode === 'note' };
  if (C.uploads.length) body.attachment_ids = C.uploads.map(function (a) { return a.id; });
  if (C.replyTo) body.reply_to_id = C.replyTo.id;
  C.sending = true;
  V.sendBtn.disabled = true;
  var wasTyping = C.sentTypingAt && Date.now() - C.sentTypingAt < 10000;
  api('POST', '/api/v1/conversations/' + encodeURIComponent(C.id) + '/messages', body).then(function (m) {
    if (wasTyping) sendTyping(C, false);
    if (!current(C)) { delete S.drafts[C.id]; return; }
    V.composer.value = '';
    C.uploads = [];
    C.replyTo = null;
    renderQuote(C);
    renderUploads(C);
    delete S.drafts[C.id];
    if (m && m.id) {
      // Events of this new message that came before this answer are newer than it.
      upsertMessage(C, m, 0);
      S.snippets[C.id] = { text: messagePreview(m) };
    }
    scrollToBottom();
    V.composer.focus();
  }, function (e) {
    // The window closed while the agent typed: the text stays, the picker opens.
    if (e && e.code === 'reply_window_closed' && current(C)) {
      closeWindow(C, e.message);
      openPicker(C);
      return;
    }
    fail(e);
  }).then(function () {
    C.sending = false;
    if (current(C)) V.sendBtn.disabled = false;
  });
}

function upload(C, input) {
  var files = Array.prototype.slice.call(input.files || []);
  input.value = '';
  if (!files.length) return;
  if (files.length + C.uploads.length > 10) { toast('At most 10 files per message.', 'error'); return; }
  var form = new FormData();
  files.forEach(function (f) { form.append('file', f, f.name); });
  C.uploading += 1;
  renderUploads(C, files.map(function (f) { return f.name; }));
  api('POST', '/api/v1/conversations/' + encodeURIComponent(C.id) + '/attachments', form).then(function (r) {
    C.uploads = C.uploads.concat((r && r.data) || []);
    saveDraft(C);
  }, fail).then(function () {
    C.uploading -= 1;
    renderUploads(C);
  });
}

function renderUploads(C, pendingNames) {
  if (!current(C)) return;
  clear(V.uploadsEl);
  C.uploads.forEach(function (a) {
    V.uploadsEl.appendChild(h('li', { class: 'chip' },
      h('span', { 'aria-hidden': 'true' }, '📎 '), a.file_name,
      h('span', { class: 'muted' }, ' ' + fmtSize(a.byte_size)),
      h('button', {
        type: 'button', class: 'link chip-x', 'aria-label': 'Remove ' + a.file_name,
        onclick: function () {
          C.uploads = C.uploads.filter(function (u) { return u.id !== a.id; });
          saveDraft(C);
          renderUploads(C);
          V.composer.focus();
        }
      }, '✕')));
  });
  (pendingNames || []).forEach(function (name) {
    V.uploadsEl.appendChild(h('li', { class: 'chip pending' }, 'Uploading ' + name + '…'));
  });
  if (C.uploading && !pendingNames) V.uploadsEl.appendChild(h('li', { class: 'chip pending' }, 'Uploading…'));
  V.uploadsEl.hidden = !V.uploadsEl.firstChild;
}

// @mentions in a private note: `@na` before the caret suggests the inbox's members; the
// hub notifies whoever a note mentions (first name, or the name without spaces when two
// members share a first name).
var MENTION = /(^|[\s([{,;:])@([\p{L}\p{N}._-]*)$/u;
function mentionHandle(agent, members) {
  var name = String(agent.name || '').toLowerCase();
  var first = name.split(/\s+/)[0] || '';
  var shared = members.filter(function (a) {
    return String(a.name || '').toLowerCase().split(/\s+/)[0] === first;
  }).length > 1;
  return shared ? name.replace(/\s+/g, '') : first;
}
function mentionLookup(C, before) {
  var m = MENTION.exec(before);
  if (!m) return false;
  var query = m[2].toLowerCase();
  var start = before.length - m[2].length - 1;
  var inboxId = C.data && C.data.inbox_id;
  var token = (C.cannedToken || 0) + 1;
  C.cannedToken = token;
  if (!inboxId) {
    // Typed before the conversation loaded: look again once it has (a slow network).
    setTimeout(function () { if (current(C) && C.cannedToken === token) cannedLookup(C); }, 200);
    return true;
  }
  membersOf(inboxId).then(function (members) {
    if (!current(C) || C.cannedToken !== token) return;
    var items = members.filter(function (a) {
      var name = String(a.name || '').toLowerCase();
      return a.active !== false && (name.indexOf(query) === 0 || name.split(/\s+/).some(function (w) { return w.indexOf(query) === 0; }) ||
        String(a.email || '').toLowerCase().indexOf(query) === 0);
    }).slice(0, 8).map(function (a) {
      return { mention: true, handle: mentionHandle(a, members), name: a.name };
    });
    if (!items.length) { closeCanned(C); return; }
    C.canned = { items: items, active: 0, start: start, end: start + query.length + 1 };
    renderCanned(C);
  });
  return true;
}

// Canned responses: `/code` before the caret opens suggestions.
function cannedLookup(C) {
  if (!current(C)) return;
  var ta = V.composer;
  var before = ta.value.slice(0, ta.selectionStart);
  if (C.mode === 'note' && mentionLookup(C, before)) return;
  var m = /(^|\s)\/([A-Za-z0-9_-]+)$/.exec(before);
  if (!m) { closeCanned(C); return; }
  var query = m[2];
  var start = before.length - query.length - 1;
  clearTimeout(C.cannedTimer);
  C.cannedTimer = setTimeout(function () {
    var token = (C.cannedToken || 0) + 1;
    C.cannedToken = token;
    api('GET', '/api/v1/canned-responses?limit=8&q=' + encodeURIComponent(query)).then(function (page) {
      if (!current(C) || C.cannedToken !== token) return;
      var items = (page && page.data) || [];
      if (!items.length) { closeCanned(C); return; }
      C.canned = { items: items, active: 0, start: start, end: start + query.length + 1 };
      renderCanned(C);
    }, function () { closeCanned(C); });
  }, 150);
}

function renderCanned(C) {
  var list = V.cannedList;
  clear(list);
  list.setAttribute('aria-label', C.canned.items[0] && C.canned.items[0].mention ? 'Mentions' : 'Canned responses');
  C.canned.items.forEach(function (item, i) {
    var id = list.id + '-' + i;
    var active = i === C.canned.active;
    list.appendChild(item.mention ? h('li', {
      id: id, role: 'option', class: 'canned-option' + (active ? ' active' : ''),
      'data-testid': 'mention-option', 'data-handle': item.handle, 'aria-selected': String(active),
      onmousedown: function (e) { e.preventDefault(); },
      onclick: function () { pickCanned(C, item); }
    }, h('strong', null, '@' + item.handle), ' ', h('span', { class: 'canned-text' }, item.name)) : h('li', {
      id: id, role: 'option', class: 'canned-option' + (active ? ' active' : ''),
      'data-testid': 'canned-option', 'data-code': item.short_code, 'aria-selected': String(active),
      onmousedown: function (e) { e.preventDefault(); },
      onclick: function () { pickCanned(C, item); }
    }, h('strong', null, '/' + item.short_code), ' ', cannedPreview(C, item.content)));
    if (active) V.composer.setAttribute('aria-activedescendant', id);
  });
  list.hidden = false;
  var activeEl = list.querySelector('.active');
  if (activeEl && activeEl.scrollIntoView) activeEl.scrollIntoView({ block: 'nearest' });
}

// A canned response as it will be inserted (variables filled), and what it cannot fill.
function cannedPreview(C, content) {
  var text = fillVariables(content, C);
  var missing = unfilled(content, C);
  return h('span', { class: 'canned-text', 'data-testid': 'canned-preview' },
    text.length > 120 ? text.slice(0, 120) + '…' : text,
    missing.length ? h('span', { class: 'canned-missing muted' }, ' (empty here: ' + missing.join(', ') + ')') : null);
}

function closeCanned(C) {
  if (C) {
    clearTimeout(C.cannedTimer);
    C.cannedToken = (C.cannedToken || 0) + 1;
    C.canned = null;
  }
  if (!V || !V.cannedList) return;
  V.cannedList.hidden = true;
  clear(V.cannedList);
  V.composer.removeAttribute('aria-activedescendant');
}

function pickCanned(C, item) {
  if (!C.canned || !item) return;
  var ta = V.composer;
  var start = C.canned.start;
  var end = Math.max(C.canned.end, ta.selectionStart);
  // The text may have moved since the lookup: find the /code or @name again right before
  // the caret.
  var before = ta.value.slice(0, ta.selectionStart);
  var m = item.mention ? MENTION.exec(before) : /(^|\s)\/([A-Za-z0-9_-]+)$/.exec(before);
  if (m) { start = before.length - m[2].length - 1; end = ta.selectionStart; }
  var text = item.mention ? '@' + item.handle + ' ' : fillVariables(item.content, C);
  ta.value = ta.value.slice(0, start) + text + ta.value.slice(end);
  var caret = start + text.length;
  ta.setSelectionRange(caret, caret);
  closeCanned(C);
  ta.focus();
  saveDraft(C);
}
