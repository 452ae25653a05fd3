// ---- Viewing (collision detection) -------------------------------------------------------------

import { afterNavigate, send } from '../core.js';
import { V } from './state.js';
import { mounted } from './helpers.js';
import { teardown } from './page.js';

export var viewingId = null; // the conversation the socket was told we view

export function setViewing(id, force) {
  id = id ? String(id) : null;
  if (!force && viewingId === id) return;
  viewingId = id;
  send({ type: 'viewing', conversation_id: id });
}
// Leaving the inbox for another page (admin, profile): say we view nothing.
function afterRoute() {
  if (V && !mounted()) {
    teardown();
    setViewing(null);
  }
}
afterNavigate(afterRoute);
window.addEventListener('popstate', function () { setTimeout(afterRoute, 0); });

export function updateNavCurrent() {
  var link = document.querySelector('nav.topnav a[href="/"]');
  if (!link) return;
  // The Inbox tab stays active while a conversation is open in it.
  if (location.pathname === '/' || location.pathname.indexOf('/conversations/') === 0) link.setAttribute('aria-current', 'page');
  else link.removeAttribute('aria-current');
}
