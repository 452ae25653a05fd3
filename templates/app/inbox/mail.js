// ---- Email messages: who else got the mail, the full text, the sanitized HTML on demand --------
//
// The hub keeps a mail's text with the quoted history stripped (the message's content), the
// whole text and a sanitized HTML version (no scripts, no remote loads). The HTML is shown
// only when asked, in a sandboxed frame without scripts; `cid:` images point at the stored
// files; remote images stay out until an agent asks for them.

import { h } from '../core.js';
import { V } from './state.js';

// The addressees line of a mail ("To … · Cc …"), or null.
export function mailAddressees(m) {
  var mail = m.mail;
  if (!mail) return null;
  var parts = [];
  if (mail.to && mail.to.length) parts.push('To ' + mail.to.join(', '));
  if (mail.cc && mail.cc.length) parts.push('Cc ' + mail.cc.join(', '));
  if (!parts.length) return null;
  return h('div', { class: 'mail-addressees muted small', 'data-testid': 'mail-addressees' }, parts.join(' · '));
}

// The badge of a mail a machine wrote (an out-of-office reply), with the reason as tooltip.
export function automaticBadge(m) {
  if (!m.automatic) return null;
  return h('span', { class: 'badge automatic-badge', 'data-testid': 'automatic-badge', title: String(m.automatic) },
    'Automatic reply');
}

// The controls under a mail's text: the full text, and the original HTML.
export function mailExtras(m, contentEl) {
  var mail = m.mail;
  if (!mail || (!mail.full_text && !mail.html)) return null;
  var bar = h('div', { class: 'mail-extras' });
  if (mail.full_text && contentEl) {
    var full = false;
    var toggle = h('button', {
      type: 'button', class: 'small link', 'data-testid': 'mail-full-toggle', 'aria-pressed': 'false',
      onclick: function () {
        full = !full;
        contentEl.textContent = full ? mail.full_text : m.content;
        toggle.textContent = full ? 'Hide quoted text' : 'Show full message';
        toggle.setAttribute('aria-pressed', String(full));
      }
    }, 'Show full message');
    bar.appendChild(toggle);
  }
  if (mail.html) {
    var holder = h('div', { class: 'mail-html-holder' });
    var shown = false;
    var html = h('button', {
      type: 'button', class: 'small link', 'data-testid': 'mail-html-toggle', 'aria-expanded': 'false',
      onclick: function () {
        shown = !shown;
        html.setAttribute('aria-expanded', String(shown));
        html.textContent = shown ? 'Hide original' : 'Show original (HTML)';
        holder.replaceChildren();
        if (shown) holder.appendChild(htmlView(m));
      }
    }, 'Show original (HTML)');
    bar.appendChild(html);
    return h('div', {}, bar, holder);
  }
  return bar;
}

// The sanitized HTML in a frame without scripts or forms; `cid:` images are the message's
// stored files. Same-origin is allowed so the page's `img-src 'self'` admits them (an opaque
// origin matches no 'self'); without scripts that grants the mail nothing. Links open in a
// new tab outside the sandbox.
function htmlView(m) {
  var mail = m.mail;
  var ids = mail.content_ids || [];
  var byCid = {};
  (m.attachments || []).forEach(function (a, i) { if (ids[i]) byCid[String(ids[i]).toLowerCase()] = a.url; });
  var doc = new DOMParser().parseFromString(String(mail.html), 'text/html');
  Array.prototype.forEach.call(doc.querySelectorAll('img'), function (img) {
    var src = img.getAttribute('src') || '';
    if (/^cid:/i.test(src)) {
      var url = byCid[src.slice(4).replace(/^<|>$/g, '').toLowerCase()];
      if (url) img.setAttribute('src', url); else img.removeAttribute('src');
    } else if (!/^data:image\//i.test(src)) {
      // The sanitizer already took remote images out; anything else left is not loaded.
      img.removeAttribute('src');
    }
  });
  var frame = h('iframe', {
    class: 'mail-html', 'data-testid': 'mail-html', title: 'The mail as the customer sent it',
    sandbox: 'allow-same-origin allow-popups allow-popups-to-escape-sandbox',
    referrerpolicy: 'no-referrer', loading: 'lazy'
  });
  frame.srcdoc = '<!DOCTYPE html><html><head><meta charset="utf-8">' +
    '<base target="_blank"><meta name="referrer" content="no-referrer"><style>body{font:14px/1.45 system-ui,sans-serif;margin:8px;color:#1f2328}' +
    'img{max-width:100%;height:auto}</style></head><body>' + doc.body.innerHTML + '</body></html>';
  var parts = [frame];
  var remote = (mail.remote_images || []).filter(function (u) { return /^https?:\/\//i.test(String(u)); });
  if (remote.length) {
    var box = h('div', { class: 'remote-images', 'data-testid': 'remote-images' });
    var load = h('button', {
      type: 'button', class: 'small', 'data-testid': 'remote-images-load',
      onclick: function () {
        box.replaceChildren.apply(box, remote.map(function (u) {
          return h('img', { src: String(u), alt: '', referrerpolicy: 'no-referrer', loading: 'lazy', class: 'remote-image' });
        }));
      }
    }, 'Load ' + remote.length + ' remote image' + (remote.length === 1 ? '' : 's'));
    box.appendChild(h('p', { class: 'muted small' },
      'Remote images were not loaded (they can tell the sender you read the mail). ', load));
    parts.push(box);
  }
  return h('div', { class: 'mail-html-view' }, parts);
}

// Who an email reply goes to: the customer, and everyone else the thread's mails named (the
// hub copies them), so the agent knows before sending. Null for other channels.
function mailRecipients(C) {
  var mails = (C.order || []).map(function (id) { return C.msgs[id]; })
    .filter(function (m) { return m && m.direction === 'inbound' && m.mail; });
  if (!mails.length) return null;
  var first = mails[0].mail.from || '';
  var customer = first.replace(/^.*<([^>]+)>$/, '$1').toLowerCase();
  var seen = {};
  var cc = [];
  mails.forEach(function (m) {
    [m.mail.from].concat(m.mail.to || [], m.mail.cc || []).forEach(function (who) {
      if (!who) return;
      var address = String(who).replace(/^.*<([^>]+)>$/, '$1').toLowerCase();
      if (address === customer || seen[address]) return;
      seen[address] = true;
      cc.push(String(who));
    });
  });
  return 'Email to ' + (first || 'the customer') + (cc.length ? ' · Cc ' + cc.join(', ') : '');
}

// Shows above the composer who an email reply goes to (hidden for other channels and notes).
export function renderMailTo(C) {
  if (!V.mailTo) return;
  var to = mailRecipients(C);
  V.mailTo.hidden = !to || C.mode === 'note';
  V.mailTo.textContent = to || '';
}
