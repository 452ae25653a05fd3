// ---- Email messages: who else got the mail, the full text, the sanitized HTML on demand --------
//
// The hub keeps a mail's text with the quoted history stripped (the message's content), the
// whole text and a sanitized HTML version (no scripts, no remote loads). The HTML is shown
// only when asked, in a sandboxed frame without scripts and with a Content-Security-Policy of
// its own; `cid:` images point at the stored files; remote images stay out until an agent
// asks for them. What an agent opened survives the message being drawn again (an edit, a
// status, the contact's name arriving): it is kept per message in `C.mailView`.

import { h } from '../core.js';
import { S, V } from './state.js';
import { channelOf, current } from './helpers.js';

function viewOf(C, m) {
  var all = C.mailView || (C.mailView = {});
  return all[m.id] || (all[m.id] = { full: false, html: false, remote: false });
}

// The addressees line of a mail ("To … · Cc …"), or null. The hub leaves out the customer
// and the inbox's own addresses, so the line names only the others who got the mail.
export function mailAddressees(m) {
  var mail = m.mail;
  if (!mail) return null;
  var parts = [];
  if (mail.to && mail.to.length) parts.push('To: ' + mail.to.join(', '));
  if (mail.cc && mail.cc.length) parts.push('Cc: ' + mail.cc.join(', '));
  if (!parts.length) return null;
  return h('div', { class: 'mail-addressees muted small', 'data-testid': 'mail-addressees' }, parts.join(' · '));
}

// The badge of a mail a machine wrote (an out-of-office reply), with the reason as tooltip.
export function automaticBadge(m) {
  if (!m.automatic) return null;
  var reason = String(m.automatic);
  return h('span', {
    class: 'badge automatic-badge', 'data-testid': 'automatic-badge', title: reason,
    'aria-label': 'Automatic reply: ' + reason
  }, 'Automatic reply');
}

// The controls under a mail's text: the full text, and the original HTML.
export function mailExtras(C, m, contentEl) {
  var mail = m.mail;
  if (!mail || (!mail.full_text && !mail.html)) return null;
  var view = viewOf(C, m);
  var bar = h('div', { class: 'mail-extras' });
  var out = h('div', { class: 'mail-more' }, bar);
  if (mail.full_text && contentEl) {
    var toggle = h('button', {
      type: 'button', class: 'small link', 'data-testid': 'mail-full-toggle',
      onclick: function () { view.full = !view.full; showFull(); }
    });
    var showFull = function () {
      contentEl.textContent = view.full ? String(mail.full_text) : (m.content || '');
      contentEl.classList.toggle('mail-full', view.full);
      toggle.textContent = view.full ? 'Hide quoted text' : 'Show full message';
      toggle.setAttribute('aria-pressed', String(view.full));
    };
    showFull();
    bar.appendChild(toggle);
  }
  if (mail.html) {
    var holder = h('div', { class: 'mail-html-holder' });
    var html = h('button', {
      type: 'button', class: 'small link', 'data-testid': 'mail-html-toggle',
      onclick: function () { view.html = !view.html; showHtml(); }
    });
    var showHtml = function () {
      html.setAttribute('aria-expanded', String(view.html));
      html.textContent = view.html ? 'Hide original' : 'Show original (HTML)';
      holder.replaceChildren();
      if (view.html) holder.appendChild(htmlView(m, view));
    };
    showHtml();
    bar.appendChild(html);
    out.appendChild(holder);
  }
  return out;
}

// The stored files a mail's `cid:` images name: Content-ID (lower case, no <>) → file URL.
// `content_ids[i]` belongs to `attachments[i]`.
function filesByCid(m) {
  var ids = (m.mail && m.mail.content_ids) || [];
  var out = {};
  (m.attachments || []).forEach(function (a, i) {
    if (ids[i] && a && a.url) out[String(ids[i]).replace(/^<|>$/g, '').toLowerCase()] = String(a.url);
  });
  return out;
}

// A same-origin file URL as a CSP source (origin and path; the query is not part of a
// source, and a redirect to the signed path is checked by origin only). Null for anything
// else, so a stray character can never widen the policy.
function cspSource(url) {
  var u;
  try { u = new URL(url, location.href); } catch (e) { return null; }
  if (u.origin !== location.origin || !/^\/[A-Za-z0-9/._~%-]*$/.test(u.pathname)) return null;
  return u.origin + u.pathname;
}

function attr(text) {
  return String(text).replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

// The frame's document: the sanitized HTML with `cid:` images pointing at the stored files
// and nothing else loadable, under its own policy: no scripts, no fetches, images only from
// those files (and data:), inline styles only.
export function mailDocument(m) {
  var byCid = filesByCid(m);
  var doc = new DOMParser().parseFromString(String(m.mail.html), 'text/html');
  // The sanitizer already took these out; a parsed document runs and loads nothing, and
  // the frame could not run them either, but they have no business in a mail view.
  Array.prototype.forEach.call(
    doc.querySelectorAll('script, iframe, frame, object, embed, link, meta, base, form, style'),
    function (el) { el.parentNode.removeChild(el); });
  Array.prototype.forEach.call(doc.body.querySelectorAll('*'), function (el) {
    Array.prototype.slice.call(el.attributes).forEach(function (a) {
      if (/^on/i.test(a.name) || a.name === 'srcset') el.removeAttribute(a.name);
    });
  });
  var sources = {};
  Array.prototype.forEach.call(doc.querySelectorAll('img'), function (img) {
    var src = (img.getAttribute('src') || '').trim();
    if (/^cid:/i.test(src)) {
      var url = byCid[src.slice(4).replace(/^<|>$/g, '').toLowerCase()];
      var source = url ? cspSource(url) : null;
      if (source) {
        img.setAttribute('src', url);
        sources[source] = true;
      } else {
        img.removeAttribute('src');
      }
    } else if (!/^data:image\//i.test(src)) {
      // Remote images were listed apart (see remoteImages); anything else is not loaded.
      img.removeAttribute('src');
    }
  });
  // Links open in a new tab, outside the sandbox, without a way back into this page.
  Array.prototype.forEach.call(doc.querySelectorAll('a[href]'), function (a) {
    if (/^(https?:|mailto:)/i.test(a.getAttribute('href').trim())) {
      a.setAttribute('target', '_blank');
      a.setAttribute('rel', 'noopener noreferrer');
    } else {
      a.removeAttribute('href');
    }
  });
  var csp = "default-src 'none'; img-src " + Object.keys(sources).concat(['data:']).join(' ') +
    "; style-src 'unsafe-inline'";
  // The serialized mail goes only into the sandboxed frame's srcdoc, never into this page.
  return '<!DOCTYPE html><html><head><meta charset="utf-8">' +
    '<meta http-equiv="Content-Security-Policy" content="' + attr(csp) + '">' +
    '<meta name="referrer" content="no-referrer"></head><body>' +
    doc.body.innerHTML + '</body></html>';
}

// A srcdoc frame also lives under the page's own policy (`style-src 'self'`), which keeps
// the mail's inline styles from applying. Styles set through the CSSOM are not inline
// markup: once the frame loaded, its `style` attributes (the sanitizer kept only harmless
// properties) are applied that way, with a readable default look; the frame grows to fit.
function restyle(frame) {
  var doc = null;
  try { doc = frame.contentDocument; } catch (e) { return; }
  if (!doc || !doc.body) return;
  var body = doc.body;
  body.style.cssText = 'font: 14px/1.45 system-ui, sans-serif; margin: 8px; color: #1f2328; overflow-wrap: anywhere; ' +
    (body.getAttribute('style') || '');
  Array.prototype.forEach.call(body.querySelectorAll('[style]'), function (el) {
    el.style.cssText = el.getAttribute('style');
  });
  Array.prototype.forEach.call(body.querySelectorAll('img, table'), function (el) {
    if (!el.style.maxWidth) el.style.maxWidth = '100%';
    if (el.tagName === 'IMG' && !el.style.height) el.style.height = 'auto';
  });
  var fit = function () {
    // The root's own box (its scrollHeight would be at least the frame's height).
    var height = doc.documentElement ? Math.ceil(doc.documentElement.getBoundingClientRect().height) : 0;
    if (height) frame.style.height = Math.min(Math.max(height + 4, 120), 1600) + 'px';
  };
  fit();
  Array.prototype.forEach.call(body.querySelectorAll('img'), function (img) {
    if (!img.complete) img.addEventListener('load', fit);
  });
}

// The remote images the sanitizer left out, as given (web addresses only).
function remoteImages(m) {
  return ((m.mail && m.mail.remote_images) || []).map(String).filter(function (u) { return /^https?:\/\//i.test(u); });
}

// The sanitized HTML in a frame without scripts or forms. Same-origin is allowed so the
// stored files load (an opaque origin would lose the session cookie the file links need);
// without scripts that grants the mail nothing. Remote images load only on request, below
// the frame, without a referrer.
function htmlView(m, view) {
  var frame = h('iframe', {
    class: 'mail-html', 'data-testid': 'mail-html', title: 'The mail as the customer sent it',
    sandbox: 'allow-same-origin allow-popups allow-popups-to-escape-sandbox',
    referrerpolicy: 'no-referrer'
  });
  frame.addEventListener('load', function () { restyle(frame); });
  frame.srcdoc = mailDocument(m);
  var parts = [frame];
  var remote = remoteImages(m);
  if (remote.length) {
    var box = h('div', { class: 'remote-images', 'data-testid': 'remote-images' });
    var showRemote = function () {
      box.replaceChildren.apply(box, remote.map(function (u) {
        // The page's policy admits https images only: a plain-http one is offered as a link.
        return /^https:/i.test(u)
          ? h('img', { src: u, alt: '', referrerpolicy: 'no-referrer', class: 'remote-image', 'data-testid': 'remote-image' })
          : h('a', { href: u, target: '_blank', rel: 'noopener noreferrer', class: 'remote-link' }, u);
      }));
    };
    if (view.remote) {
      showRemote();
    } else {
      var load = h('button', {
        type: 'button', class: 'small', 'data-testid': 'remote-images-load',
        onclick: function () { view.remote = true; showRemote(); }
      }, 'Load ' + remote.length + ' remote image' + (remote.length === 1 ? '' : 's'));
      box.appendChild(h('p', { class: 'muted small' },
        'Remote images were not loaded: they can tell the sender when and where the mail was read. ', load));
    }
    parts.push(box);
  }
  return h('div', { class: 'mail-html-view' }, parts);
}

// ---- Who a reply goes to ----------------------------------------------------------------------

function addressOf(who) {
  var text = String(who || '').trim();
  var m = /<([^>]+)>\s*$/.exec(text);
  return (m ? m[1] : text).trim().toLowerCase();
}

// The name part of `Name <address>` (the address when there is none).
export function mailName(who) {
  var text = String(who || '').trim();
  var m = /^"?([^"<]*?)"?\s*<([^>]+)>\s*$/.exec(text);
  if (!m) return text || null;
  return m[1].trim() || m[2].trim();
}

// To: the conversation's contact; Cc: everyone else the thread's mails named (whoever wrote,
// and their To and Cc), as the hub copies them on a reply. Null when not an email
// conversation.
export function mailRecipients(C) {
  var c = C.data;
  if (!c || channelOf(c.inbox_id) !== 'email') return null;
  var mails = (C.order || []).map(function (id) { return C.msgs[id]; })
    .filter(function (m) { return m && m.direction === 'inbound' && !m.private && m.mail; });
  var entry = S.contacts[c.contact_id];
  var contact = entry && entry.data && entry.data.contact;
  var to = null;
  if (contact && contact.email) to = contact.name ? contact.name + ' <' + contact.email + '>' : contact.email;
  if (!to && mails.length) to = mails[0].mail.from || null;
  var customer = addressOf(to);
  var inbox = S.inboxes[c.inbox_id];
  var own = inbox && inbox.settings && inbox.settings.address ? addressOf(inbox.settings.address) : null;
  var seen = {};
  var cc = [];
  mails.forEach(function (m) {
    [m.mail.from].concat(m.mail.to || [], m.mail.cc || []).forEach(function (who) {
      var address = addressOf(who);
      if (!address || address === customer || address === own || seen[address]) return;
      seen[address] = true;
      cc.push(String(who));
    });
  });
  return { to: to, cc: cc.slice(0, 50) };
}

// Shows above the composer who an email reply goes to (hidden for other channels and notes).
export function renderMailTo(C) {
  if (!current(C) || !V.mailTo) return;
  var r = mailRecipients(C);
  V.mailTo.hidden = !r || C.mode === 'note';
  if (!r) { V.mailTo.textContent = ''; return; }
  var parts = [h('span', { class: 'mail-to-label' }, 'To: '),
    h('span', { 'data-testid': 'mail-to-to' }, r.to || 'the contact')];
  if (r.cc.length) {
    parts.push(h('span', { class: 'mail-to-label' }, ' · Cc: '),
      h('span', { 'data-testid': 'mail-to-cc' }, r.cc.join(', ')));
  }
  V.mailTo.replaceChildren.apply(V.mailTo, parts);
}
