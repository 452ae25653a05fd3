// Switchboard web app: the agent's profile and the admin pages (inboxes, agents, teams, canned
// responses, labels, contact attributes, audit log, service levels). Everything is built with h() and text nodes: user content, secrets
// and snippets never go through innerHTML. Every call goes through api() (CSRF, errors).
// This module registers the pages' routes (in this order: /admin/inboxes/new before
// /admin/inboxes/:id); each page is in its own module beside it.

import { navigate, route } from '../core.js';
import { isAdmin } from '../shared.js';
import { profilePage } from './profile.js';
import { inboxesPage } from './inboxes.js';
import { inboxPage } from './inbox.js';
import { agentsPage } from './agents.js';
import { teamsPage } from './teams.js';
import { labelsPage } from './labels.js';
import { attributesPage } from './attributes.js';
import { cannedPage } from './canned.js';
import { auditPage } from './audit.js';
import { slaPage } from './sla.js';

route('/profile', profilePage);
route('/admin', function () {
  navigate(isAdmin() ? '/admin/inboxes' : '/admin/canned', true);
});
route('/admin/inboxes', function (main) { inboxesPage(main, false); }, { admin: true });
route('/admin/inboxes/new', function (main) { inboxesPage(main, true); }, { admin: true });
route('/admin/inboxes/:id', inboxPage, { admin: true });
route('/admin/agents', agentsPage, { admin: true });
route('/admin/teams', teamsPage, { admin: true });
route('/admin/labels', labelsPage, { admin: true });
route('/admin/attributes', attributesPage, { admin: true });
route('/admin/canned', cannedPage);
route('/admin/audit', auditPage, { admin: true });
route('/admin/sla', slaPage, { admin: true });
