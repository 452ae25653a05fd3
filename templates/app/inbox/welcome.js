// ---- First run: what the conversation pane shows while there is no inbox ----------------------
// An admin gets the way to a first conversation (an inbox per channel, connecting it, answering);
// an agent learns that an admin adds them to inboxes.

import { h, navigate } from '../core.js';
import { isAdmin } from '../shared.js';
import { chanIcon } from './helpers.js';

var CHOICES = [
  ['api', 'API', 'Your own app or backend sends signed webhooks. Try it with one curl command, no account needed.'],
  ['widget', 'Web chat', 'A chat bubble on your website, with a snippet to paste.'],
  ['email', 'Email', 'A support address: mail read over IMAP, replies sent over SMTP.'],
  ['telegram', 'Telegram', 'A bot you create with @BotFather.'],
  ['whatsapp', 'WhatsApp', 'A WhatsApp Business number of Meta\'s Cloud API.']
];

function go(href) {
  return function (e) {
    if (e.ctrlKey || e.metaKey || e.shiftKey || e.altKey || e.button) return;
    e.preventDefault();
    navigate(href);
  };
}

export function welcomePane() {
  if (!isAdmin()) {
    return h('div', { class: 'empty conv-empty', 'data-testid': 'no-inbox' },
      h('p', null, 'You are not in any inbox yet.'),
      h('p', { class: 'muted' }, 'An admin adds you to inboxes on the Inboxes admin page; their conversations then show here, live.'));
  }
  var choices = CHOICES.map(function (c) {
    var href = '/admin/inboxes/new?channel=' + c[0];
    return h('li', {},
      h('a', { class: 'channel-choice', href: href, 'data-testid': 'first-run-' + c[0], onclick: go(href) },
        h('span', { 'aria-hidden': 'true' }, chanIcon(c[0])),
        h('span', {}, h('strong', {}, c[1]), h('span', { class: 'muted' }, c[2]))));
  });
  return h('section', { class: 'first-run', 'data-testid': 'first-run', 'aria-labelledby': 'first-run-title' },
    h('h2', { id: 'first-run-title' }, 'Welcome to Switchboard'),
    h('p', {}, 'Every customer conversation, from every channel, lands in this inbox. Three steps to the first one:'),
    h('ol', { class: 'steps' },
      h('li', {}, h('strong', {}, 'Create an inbox'), ' for a channel:', h('ul', { class: 'channel-choices' }, choices)),
      h('li', {}, h('strong', {}, 'Connect it. '),
        'The inbox\'s page shows what goes where: the webhook URL and a ready-to-run signed test command (API), ',
        'the snippet for your site (web chat), the mail servers (email), the bot token (Telegram) or the callback URL ',
        'and verify token (WhatsApp).'),
      h('li', {}, h('strong', {}, 'Answer. '),
        'Messages appear in the list on the left as they arrive; reply from here, and add colleagues on the ',
        h('a', { href: '/admin/agents', onclick: go('/admin/agents') }, 'Agents'), ' page.')));
}
