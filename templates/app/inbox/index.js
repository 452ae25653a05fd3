// Switchboard web inbox: the agents' three panes (conversation list, conversation, details).
// Built on core.js: h() for every node (user content only ever in text nodes), api() for
// the JSON API, on() for the agent websocket. No dependencies, no build step (ES2019 and
// native modules). This module registers the inbox's routes; the page is drawn by page.js from
// the modules beside it, one per part of the page.

// ---- Routes -------------------------------------------------------------------------------------

import { route } from '../core.js';
import { render } from './page.js';

route('/', render);
route('/conversations/:id', render);
