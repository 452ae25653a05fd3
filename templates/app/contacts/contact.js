// ---- Contacts: one contact -----------------------------------------------------------------------
// Who the customer is (fields and the custom attributes admins defined), their identities on
// every channel, agents' notes, and all their conversations with status and last message.
// Edit and merge go through the API (PATCH /contacts/{id}, POST /contacts/{id}/merge); every
// value is drawn as text.

import { api, clear, h, navigate, session, toast } from '../core.js';
import { fetchAll, isAdmin, skeleton } from '../shared.js';
import { alertBox, alive, busy, clearError, formRow, link, showError, timeEl, yes } from '../admin/ui.js';
import { avatar, chanIcon, chanLabel, debounce, statusLabel } from '../inbox/helpers.js';
import { displayName, loadInboxes } from '../inbox/directories.js';
import { messagePreview } from '../inbox/list.js';
import { S } from '../inbox/state.js';

var VERIFICATION = { unverified: 'Unverified', provider: 'Verified by the channel', hmac: 'Verified by the website' };
var KIND_WORDS = { text: 'Text', number: 'Number', date: 'Date', checkbox: 'Yes / no', list: 'List', link: 'Link' };
var CONVERSATIONS_PAGE = 25;

// The attribute definitions, fetched once per page view (admins change them rarely).
export function loadDefinitions() {
  return api('GET', '/api/v1/contact-attributes').then(function (res) { return res.data || []; });
}

// A value as text for reading ("Yes", "12.5", a date in the agent's words).
function valueText(definition, value) {
  if (value === null || value === undefined || value === '') return null;
  if (definition && definition.kind === 'checkbox') return value ? 'Yes' : 'No';
  if (definition && definition.kind === 'date' && typeof value === 'string') {
    var day = new Date(value + 'T00:00:00');
    return isNaN(day.getTime()) ? value : day.toLocaleDateString();
  }
  return typeof value === 'string' ? value : JSON.stringify(value);
}

function valueEl(definition, value) {
  var text = valueText(definition, value);
  if (text === null) return h('span', { class: 'muted' }, '—');
  if (definition && definition.kind === 'link' && /^https?:\/\//i.test(text)) {
    return h('a', { href: text, target: '_blank', rel: 'noopener noreferrer nofollow' }, text);
  }
  return h('span', null, text);
}

// The form control of a defined attribute, with `read()` giving its JSON value (null: unset).
function attributeControl(definition, value) {
  var attrs = { id: 'attr-' + definition.key, 'data-field': 'attributes.' + definition.key, 'data-testid': 'attr-' + definition.key };
  var el;
  var read;
  switch (definition.kind) {
    case 'number':
      el = h('input', Object.assign({ type: 'number', step: 'any', value: typeof value === 'number' ? String(value) : '' }, attrs));
      read = function () { return el.value.trim() === '' ? null : Number(el.value); };
      break;
    case 'date':
      el = h('input', Object.assign({ type: 'date', value: typeof value === 'string' ? value : '' }, attrs));
      read = function () { return el.value || null; };
      break;
    case 'checkbox':
      el = h('select', attrs, h('option', { value: '' }, '—'), h('option', { value: 'true' }, 'Yes'), h('option', { value: 'false' }, 'No'));
      el.value = value === true ? 'true' : value === false ? 'false' : '';
      read = function () { return el.value === '' ? null : el.value === 'true'; };
      break;
    case 'list':
      el = h('select', attrs, h('option', { value: '' }, '—'),
        (definition.options || []).map(function (o) { return h('option', { value: o }, o); }));
      el.value = typeof value === 'string' ? value : '';
      read = function () { return el.value || null; };
      break;
    case 'link':
      el = h('input', Object.assign({ type: 'url', value: typeof value === 'string' ? value : '', placeholder: 'https://' }, attrs));
      read = function () { return el.value.trim() || null; };
      break;
    default:
      el = h('input', Object.assign({ type: 'text', maxlength: '500', value: typeof value === 'string' ? value : '' }, attrs));
      read = function () { return el.value.trim() || null; };
  }
  return { el: el, read: read };
}

// /contacts/:id
export function contactPage(main, params) {
  var id = params.id;
  document.title = 'Contact · Switchboard';
  var page = h('div', { class: 'page contact-page' });
  main.appendChild(page);
  page.appendChild(skeleton('Loading the contact…', [40, 70, 55, 80]));
  var definitions = [];
  var data = null;

  function reload() {
    return Promise.all([
      api('GET', '/api/v1/contacts/' + encodeURIComponent(id)),
      loadDefinitions().catch(function () { return []; }),
      loadInboxes().catch(function () { return []; })
    ]).then(function (got) {
      if (!alive(main)) return;
      data = got[0];
      definitions = got[1];
      draw();
    }, function (err) {
      if (!alive(main)) return;
      clear(page);
      page.appendChild(link('/contacts', '← Contacts', { class: 'back-link' }));
      page.appendChild(h('h1', null, 'Contact'));
      var box = alertBox('page-error');
      page.appendChild(box);
      showError(box, err);
    });
  }

  function draw() {
    var contact = data.contact || {};
    var name = displayName(contact);
    document.title = name + ' · Contacts · Switchboard';
    clear(page);
    var alert = alertBox('page-error');
    var editButton = h('button', { type: 'button', 'data-testid': 'contact-edit', 'aria-expanded': 'false' }, 'Edit');
    var mergeButton = h('button', { type: 'button', 'data-testid': 'contact-merge', 'aria-expanded': 'false' }, 'Merge…');
    var panel = h('div', { class: 'contact-panel' });
    page.appendChild(link('/contacts', '← Contacts', { class: 'back-link' }));
    page.appendChild(h('div', { class: 'contact-head' },
      avatar(name, 'contact-avatar'),
      h('div', { class: 'contact-title' },
        h('h1', { tabindex: '-1', 'data-testid': 'contact-title' }, name),
        h('p', { class: 'muted' }, [contact.email, contact.phone, contact.language ? 'Language: ' + contact.language : null]
          .filter(Boolean).join(' · ') || 'No email or phone yet'),
        h('p', { class: 'muted small' }, 'Contact since ', timeEl(contact.created_at))),
      h('div', { class: 'row-actions' }, editButton, ' ', mergeButton)));
    page.appendChild(alert);
    page.appendChild(panel);

    function toggle(button, other, build) {
      button.addEventListener('click', function () {
        var open = button.getAttribute('aria-expanded') === 'true';
        clear(panel);
        other.setAttribute('aria-expanded', 'false');
        button.setAttribute('aria-expanded', open ? 'false' : 'true');
        if (!open) build(panel, function () { clear(panel); button.setAttribute('aria-expanded', 'false'); button.focus(); });
      });
    }
    toggle(editButton, mergeButton, function (into, close) { editForm(into, contact, close); });
    toggle(mergeButton, editButton, function (into, close) { mergeForm(into, contact, close); });

    var grid = h('div', { class: 'contact-grid' });
    page.appendChild(grid);
    var side = h('div', { class: 'contact-side' });
    var wide = h('div', { class: 'contact-wide' });
    grid.appendChild(side);
    grid.appendChild(wide);
    side.appendChild(attributesCard(contact));
    side.appendChild(identitiesCard(contact));
    wide.appendChild(notesCard(data.notes || []));
    wide.appendChild(conversationsCard());
  }

  function attributesCard(contact) {
    var values = contact.attributes && typeof contact.attributes === 'object' ? contact.attributes : {};
    var rows = [];
    definitions.forEach(function (d) {
      rows.push(h('dt', null, d.label), h('dd', { 'data-testid': 'attr-value', 'data-key': d.key }, valueEl(d, values[d.key])));
    });
    var defined = definitions.map(function (d) { return d.key; });
    var others = Object.keys(values).filter(function (k) { return defined.indexOf(k) < 0; }).sort();
    others.forEach(function (k) {
      rows.push(h('dt', null, k), h('dd', { 'data-testid': 'attr-value', 'data-key': k }, valueEl(null, values[k])));
    });
    return h('section', { class: 'card', 'aria-labelledby': 'contact-attrs-title' },
      h('h2', { id: 'contact-attrs-title' }, 'Attributes'),
      rows.length ? h('dl', { class: 'facts', 'data-testid': 'contact-attributes' }, rows)
        : h('p', { class: 'muted' }, isAdmin() ? 'No attributes yet. Define the ones your team keeps in Admin → Contact attributes.'
          : 'No attributes yet.'));
  }

  function identitiesCard(contact) {
    var list = h('ul', { class: 'identities', 'data-testid': 'identities', 'aria-label': 'Identities' });
    (contact.identities || []).forEach(function (i) {
      var inbox = S.inboxes[i.inbox_id];
      var profile = i.profile && typeof i.profile === 'object' ? i.profile : {};
      var details = Object.keys(profile).filter(function (k) {
        return typeof profile[k] === 'string' || typeof profile[k] === 'number';
      }).map(function (k) { return k.replace(/_/g, ' ') + ': ' + profile[k]; });
      list.appendChild(h('li', { class: 'identity', 'data-channel': i.channel_type },
        h('div', null, chanIcon(i.channel_type), ' ', h('span', { class: 'identifier' }, i.identifier)),
        h('div', { class: 'muted small' }, chanLabel(i.channel_type) + ' · ' + (inbox ? inbox.name : 'Inbox ' + i.inbox_id) + ' · ',
          h('span', { class: 'badge verif-' + i.verification }, VERIFICATION[i.verification] || i.verification)),
        details.length ? h('div', { class: 'muted small' }, details.join(' · ')) : null,
        i.blocked_at ? h('div', { class: 'blocked small' }, h('span', { class: 'badge blocked-badge' }, 'Blocked this channel')) : null));
    });
    if (!list.firstChild) list.appendChild(h('li', { class: 'muted' }, 'None in your inboxes.'));
    return h('section', { class: 'card', 'aria-labelledby': 'contact-ids-title' },
      h('h2', { id: 'contact-ids-title' }, 'On every channel'), list);
  }

  function notesCard(notes) {
    var list = h('ol', { class: 'contact-notes', 'data-testid': 'contact-notes', 'aria-label': 'Notes' });
    var error = alertBox('note-error');
    var text = h('textarea', { id: 'contact-note', rows: '3', maxlength: '5000', 'data-testid': 'note-text', 'data-field': 'body' });
    var add = h('button', { type: 'submit', class: 'primary', 'data-testid': 'note-add' }, 'Add note');
    var form = h('form', { novalidate: true }, formRow('New note', text, 'Only agents see notes.'), error, h('div', { class: 'form-row' }, add));

    function noteEl(n) {
      var mine = session.me && String(n.author_id) === String(session.me.id);
      var del = (mine || isAdmin()) ? h('button', { type: 'button', class: 'link small', 'data-testid': 'note-delete', 'aria-label': 'Delete note' }, 'Delete') : null;
      var li = h('li', { class: 'contact-note', 'data-testid': 'contact-note', 'data-id': n.id },
        h('p', { class: 'note-body' }, n.body),
        h('p', { class: 'muted small' }, (n.author_name || 'A deleted agent') + ' · ', timeEl(n.created_at), del ? [' · ', del] : null));
      if (del) {
        del.addEventListener('click', function () {
          if (!yes('Delete this note?')) return;
          busy(del, function () {
            return api('DELETE', '/api/v1/contacts/' + encodeURIComponent(id) + '/notes/' + encodeURIComponent(n.id));
          }).then(function () {
            li.parentNode.removeChild(li);
            if (!list.firstChild) list.appendChild(noneEl());
            toast('Note deleted.');
          }, function (err) { showError(error, err); });
        });
      }
      return li;
    }
    function noneEl() { return h('li', { class: 'muted', 'data-testid': 'notes-none' }, 'No notes yet.'); }
    notes.forEach(function (n) { list.appendChild(noteEl(n)); });
    if (!list.firstChild) list.appendChild(noneEl());

    form.addEventListener('submit', function (e) {
      e.preventDefault();
      clearError(error, form);
      if (!text.value.trim()) { showError(error, { status: 422, message: 'body: write something in the note' }, form); return; }
      busy(add, function () {
        return api('POST', '/api/v1/contacts/' + encodeURIComponent(id) + '/notes', { body: text.value });
      }).then(function (note) {
        text.value = '';
        var none = list.querySelector('[data-testid=notes-none]');
        if (none) list.removeChild(none);
        list.insertBefore(noteEl(note), list.firstChild);
        toast('Note added.');
      }, function (err) { showError(error, err, form); });
    });
    return h('section', { class: 'card', 'aria-labelledby': 'contact-notes-title' },
      h('h2', { id: 'contact-notes-title' }, 'Notes'), form, list);
  }

  function conversationsCard() {
    var list = h('ol', { class: 'contact-conversations', 'data-testid': 'contact-conversations', 'aria-label': 'Conversations' });
    var more = h('button', { type: 'button', class: 'load-more', hidden: true, 'data-testid': 'conversations-more' }, 'Show more conversations');
    var error = alertBox('conversations-error');
    var cursor = null;
    list.appendChild(h('li', null, skeleton('Loading conversations…', [80, 60])));
    function item(c) {
      var inbox = S.inboxes[c.inbox_id];
      var chan = inbox ? inbox.channel_type : null;
      var preview = c.last_message ? messagePreview(c.last_message) : '';
      return h('li', { class: 'contact-conversation', 'data-testid': 'contact-conversation', 'data-id': c.id, 'data-status': c.status },
        h('a', {
          href: '/conversations/' + encodeURIComponent(c.id),
          onclick: function (e) {
            if (e.ctrlKey || e.metaKey || e.shiftKey || e.altKey || e.button) return;
            e.preventDefault();
            navigate('/conversations/' + encodeURIComponent(c.id));
          }
        },
        h('span', { class: 'conv-line' }, chanIcon(chan), ' ',
          h('strong', null, c.subject || ('Conversation #' + c.id)), ' ',
          h('span', { class: 'badge status-' + c.status }, statusLabel(c.status)), ' ',
          h('span', { class: 'muted small' }, inbox ? inbox.name : ''),
          c.csat ? [' ', h('span', { class: 'badge', 'data-testid': 'csat-badge', title: c.csat.comment || null },
            c.csat.scale === 'thumbs' ? (c.csat.rating >= 5 ? '👍 Happy' : '👎 Unhappy') : '★ ' + c.csat.rating + '/5')] : null),
        preview ? h('span', { class: 'muted small conv-preview' }, preview) : null),
        h('span', { class: 'muted small' }, timeEl(c.last_activity_at)));
    }
    function load() {
      var url = '/api/v1/conversations?contact_id=' + encodeURIComponent(id) + '&limit=' + CONVERSATIONS_PAGE +
        (cursor ? '&cursor=' + encodeURIComponent(cursor) : '');
      return api('GET', url).then(function (res) {
        if (!alive(main)) return;
        if (!cursor) clear(list);
        (res.data || []).forEach(function (c) { list.appendChild(item(c)); });
        if (!list.firstChild) list.appendChild(h('li', { class: 'muted' }, 'No conversations in your inboxes.'));
        cursor = res.next_cursor || null;
        more.hidden = !cursor;
      }, function (err) {
        if (!alive(main)) return;
        if (!cursor) clear(list); // a failed "Show more" keeps what is shown
        showError(error, err);
      });
    }
    more.addEventListener('click', function () { busy(more, load); });
    load();
    return h('section', { class: 'card', 'aria-labelledby': 'contact-convs-title' },
      h('h2', { id: 'contact-convs-title' }, 'Conversations'), error, list, more);
  }

  function editForm(into, contact, close) {
    var field = function (key, label, type, max) {
      return h('input', { type: type, id: 'contact-' + key, value: contact[key] || '', maxlength: String(max), autocomplete: 'off', 'data-field': key, 'data-testid': 'contact-' + key });
    };
    var nameEl = field('name', 'Name', 'text', 200);
    var emailEl = field('email', 'Email', 'email', 254);
    var phoneEl = field('phone', 'Phone', 'tel', 50);
    var langEl = field('language', 'Language', 'text', 35);
    var values = contact.attributes && typeof contact.attributes === 'object' ? contact.attributes : {};
    // Each control's first reading: a key whose control was not touched keeps its stored
    // value, even one the control cannot show (a choice since removed, a number as text).
    var controls = definitions.map(function (d) {
      var c = attributeControl(d, values[d.key]);
      return { d: d, c: c, first: JSON.stringify(c.read()) };
    });
    var error = alertBox('contact-error');
    var save = h('button', { type: 'submit', class: 'primary', 'data-testid': 'contact-save' }, 'Save');
    var cancel = h('button', { type: 'button', onclick: close }, 'Cancel');
    var form = h('form', { novalidate: true, class: 'card', 'aria-label': 'Edit contact' },
      h('h2', null, 'Edit contact'),
      formRow('Name', nameEl), formRow('Email', emailEl), formRow('Phone', phoneEl),
      formRow('Language', langEl, 'A language tag, like de or pt-BR.'),
      controls.length ? h('h3', null, 'Attributes') : null,
      controls.map(function (x) {
        return formRow(x.d.label, x.c.el, x.d.kind === 'list' || x.d.kind === 'checkbox' ? null : KIND_WORDS[x.d.kind]);
      }),
      error, h('div', { class: 'form-row' }, save, ' ', cancel));
    form.addEventListener('submit', function (e) {
      e.preventDefault();
      clearError(error, form);
      var attributes = Object.assign({}, values);
      var changed = false;
      controls.forEach(function (x) {
        var now = x.c.read();
        if (JSON.stringify(now) === x.first) return;
        attributes[x.d.key] = now;
        changed = true;
      });
      var body = {
        name: nameEl.value.trim() || null, email: emailEl.value.trim() || null,
        phone: phoneEl.value.trim() || null, language: langEl.value.trim() || null
      };
      // Attributes only when one changed (what others wrote meanwhile is not sent back).
      if (changed) body.attributes = attributes;
      busy(save, function () { return api('PATCH', '/api/v1/contacts/' + encodeURIComponent(id), body); })
        .then(function () { toast('Contact saved.'); reload(); }, function (err) { showError(error, err, form); });
    });
    into.appendChild(form);
    nameEl.focus();
  }

  function mergeForm(into, contact, close) {
    var search = h('input', { type: 'search', id: 'merge-search', autocomplete: 'off', maxlength: '200', 'data-testid': 'merge-search', placeholder: 'Name, email, phone or handle' });
    var results = h('ul', { class: 'merge-results', 'data-testid': 'merge-results', 'aria-label': 'Contacts to merge' });
    var error = alertBox('merge-error');
    var token = 0;
    var find = debounce(function () {
      var q = search.value.trim();
      var mine = ++token;
      clear(results);
      if (!q) return;
      api('GET', '/api/v1/contacts?limit=10&q=' + encodeURIComponent(q)).then(function (res) {
        if (mine !== token) return;
        var found = (res.data || []).filter(function (c) { return String(c.id) !== String(contact.id); });
        if (!found.length) results.appendChild(h('li', { class: 'muted' }, 'No other contact matches.'));
        found.forEach(function (c) {
          var other = displayName(c);
          var pick = h('button', { type: 'button', 'data-testid': 'merge-pick', 'data-id': c.id }, 'Merge into this contact');
          pick.addEventListener('click', function () {
            if (!yes('Merge "' + other + '" into "' + displayName(contact) + '"? Their identities, conversations and notes ' +
              'move here, empty fields are filled from them, and "' + other + '" is deleted. This cannot be undone.')) return;
            clearError(error);
            busy(pick, function () {
              return api('POST', '/api/v1/contacts/' + encodeURIComponent(id) + '/merge', { contact_id: String(c.id) });
            }).then(function () { toast('"' + other + '" merged into this contact.'); reload(); },
              function (err) { showError(error, err); });
          });
          results.appendChild(h('li', { class: 'merge-result' },
            h('span', null, h('strong', null, other), ' ',
              h('span', { class: 'muted small' }, [c.email, c.phone].filter(Boolean).join(' · '))),
            pick));
        });
      }, function (err) { if (mine === token) showError(error, err); });
    }, 250);
    search.addEventListener('input', find);
    into.appendChild(h('section', { class: 'card', 'aria-label': 'Merge a duplicate' },
      h('h2', null, 'Merge a duplicate into ' + displayName(contact)),
      h('p', { class: 'muted' }, 'Find the other record of this person. It is merged into this one.'),
      formRow('Find the duplicate', search), error, results,
      h('div', { class: 'form-row' }, h('button', { type: 'button', onclick: close }, 'Cancel'))));
    search.focus();
  }

  reload();
}
