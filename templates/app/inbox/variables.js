// ---- Variables in canned responses: {{contact.name}}, {{agent.name}}, {{conversation.id}}… ----
// Filled in the browser when a canned response is previewed and inserted, so the agent sees and
// can still edit the exact text before sending. `{{contact.first_name | there}}` falls back to
// "there" when the value is missing; an unknown variable stays as typed, so a typo shows.

import { session } from '../core.js';
import { S } from './state.js';
import { displayName } from './directories.js';
import { inboxName } from './helpers.js';

var VARIABLE = /\{\{\s*([A-Za-z_][\w.-]*)\s*(?:\|\s*([^}]*?)\s*)?\}\}/g;

// The values a conversation offers; `null` for known but missing, `undefined` for unknown.
function valueOf(name, C) {
  var conv = (C && C.data) || {};
  var entry = conv.contact_id ? S.contacts[conv.contact_id] : null;
  var contact = (entry && entry.data && entry.data.contact) || null;
  var me = session.me || {};
  var shown = contact ? displayName(contact) : null;
  var named = contact && contact.name ? contact.name : null;
  switch (name) {
    case 'contact.name': return named || (contact && (contact.email || contact.phone)) || null;
    case 'contact.first_name': return named ? named.trim().split(/\s+/)[0] : null;
    case 'contact.email': return contact && contact.email || null;
    case 'contact.phone': return contact && contact.phone || null;
    case 'contact.display_name': return shown;
    case 'agent.name': return me.name || null;
    case 'agent.first_name': return me.name ? me.name.trim().split(/\s+/)[0] : null;
    case 'agent.email': return me.email || null;
    case 'conversation.id': return conv.id ? String(conv.id) : null;
    case 'conversation.subject': return conv.subject || null;
    case 'inbox.name': return conv.inbox_id ? inboxName(conv.inbox_id) : null;
  }
  var attr = /^contact\.attributes\.(.+)$/.exec(name) || /^contact\.(.+)$/.exec(name);
  if (attr && contact && contact.attributes && typeof contact.attributes === 'object') {
    var v = contact.attributes[attr[1]];
    if (v === null || v === undefined || v === '') return attr[0].indexOf('.attributes.') > 0 ? null : undefined;
    return typeof v === 'object' ? JSON.stringify(v) : String(v);
  }
  return /^contact\.attributes\./.test(name) ? null : undefined;
}

// `text` with every known variable filled (or its fallback, or nothing).
export function fillVariables(text, C) {
  return String(text || '').replace(VARIABLE, function (whole, name, fallback) {
    var value = valueOf(name, C);
    if (value === undefined) return whole;
    if (value === null || value === '') return fallback || '';
    return value;
  });
}

// The variables a text uses that this conversation cannot fill (for a hint in the preview).
export function unfilled(text, C) {
  var out = [];
  String(text || '').replace(VARIABLE, function (whole, name, fallback) {
    var value = valueOf(name, C);
    if ((value === null || value === '' || value === undefined) && !fallback) out.push(name);
    return whole;
  });
  return out;
}
