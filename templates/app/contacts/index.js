// Contacts: the list (/contacts) and one contact (/contacts/:id), for every agent; each page
// shows only contacts with an identity in the agent's inboxes (admins see all).

import { route } from '../core.js';
import { contactsPage } from './list.js';
import { contactPage } from './contact.js';

route('/contacts', contactsPage);
route('/contacts/:id', contactPage);
