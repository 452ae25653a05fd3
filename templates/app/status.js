// The agent's own availability in the top bar: online (routing gives them conversations),
// busy (working, nothing new) or away (not at the desk: notifications go by email). Stored
// on the server, so it outlives the tab; other tabs follow through `presence` events.

import { api, fail, h, navExtras, onGlobal, session, toast } from './core.js';

var CHOICES = [['online', 'Online'], ['busy', 'Busy'], ['away', 'Away']];
var HINTS = {
  online: 'Online: new conversations are assigned to you',
  busy: 'Busy: you keep your conversations, no new ones are assigned',
  away: 'Away: nothing new is assigned; notifications reach you by email'
};

function chosen() {
  var a = session.me && session.me.availability;
  return a === 'busy' || a === 'away' ? a : 'online';
}

function paint(select) {
  var value = chosen();
  select.value = value;
  select.className = 'status-select status-' + value;
  select.title = HINTS[value];
}

navExtras.push(function () {
  var select = h('select', {
    'data-testid': 'my-availability', 'aria-label': 'Your availability'
  }, CHOICES.map(function (c) { return h('option', { value: c[0] }, '● ' + c[1]); }));
  paint(select);
  select.addEventListener('change', function () {
    var wanted = select.value;
    select.disabled = true;
    api('PUT', '/api/v1/me/availability', { availability: wanted }).then(function (agent) {
      session.me.availability = agent.availability;
      paint(select);
      toast(HINTS[agent.availability] + '.');
    }, function (err) { paint(select); fail(err); }).then(function () { select.disabled = false; });
  });
  return select;
});

// Another tab (or an admin) changed it.
onGlobal('presence', function (d) {
  if (!d || !session.me || String(d.agent_id) !== String(session.me.id)) return;
  if (d.status === 'offline') return;
  session.me.availability = d.status;
  var select = document.querySelector('[data-testid=my-availability]');
  if (select) paint(select);
});
