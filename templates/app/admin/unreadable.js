// ---- Inboxes: provider updates the hub could not read, with Replay -------------------------

import { api, clear, h, toast } from '../core.js';
import { alertBox, busy, clearError, enc, showError, table, timeEl } from './ui.js';

// Updates that yielded no chat or message id are kept instead of being lost; an admin sees
// them here and replays them once the hub reads them (after an upgrade).
export function unreadableSection(inboxId) {
  var section = h('section', { class: 'card', 'aria-labelledby': 'inbox-unreadable', 'data-testid': 'inbox-unreadable' });
  var error = alertBox('inbox-unreadable-error');
  var t = table(null, ['Received', 'Why', 'Update', 'Actions']);
  var empty = h('p', { class: 'empty muted' }, 'None: every update of this inbox could be read.');
  var body = h('div');

  function draw(rows) {
    clear(t.tbody);
    rows.forEach(function (row) {
      var replay = h('button', { type: 'button', 'data-testid': 'inbox-unreadable-replay', 'aria-label': 'Replay update ' + row.id }, 'Replay');
      replay.addEventListener('click', function () {
        clearError(error);
        busy(replay, function () {
          return api('POST', '/api/v1/inboxes/' + enc(inboxId) + '/unreadable/' + enc(row.id) + '/replay');
        }).then(function () { toast('Update replayed.'); refresh(); }, function (err) { showError(error, err); });
      });
      t.tbody.appendChild(h('tr', { 'data-testid': 'inbox-unreadable-row', 'data-id': row.id },
        h('td', {}, timeEl(row.received_at)),
        h('td', {}, row.reason),
        h('td', {}, h('details', {}, h('summary', {}, 'Show'),
          h('pre', { class: 'raw' }, JSON.stringify(row.payload, null, 2)))),
        h('td', {}, row.replayed_at ? ['Replayed ', timeEl(row.replayed_at)] : replay)));
    });
    clear(body).appendChild(rows.length ? t.table : empty);
  }

  function refresh() {
    return api('GET', '/api/v1/inboxes/' + enc(inboxId) + '/unreadable?limit=50').then(function (page) {
      draw((page && page.data) || []);
    }, function (err) { showError(error, err); });
  }

  section.appendChild(h('h2', { id: 'inbox-unreadable' }, 'Unreadable updates'));
  section.appendChild(h('p', { class: 'muted' },
    'Updates from the provider that could not be read at all. They are kept, never lost: replay one once the hub reads it.'));
  section.appendChild(body);
  section.appendChild(error);
  refresh();
  return section;
}
