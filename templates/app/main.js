// The web app's entry module (app.html loads it with <script type="module">): the inbox and
// the admin pages register their routes as they are imported, then the shell signs in and
// draws the page of the address. No bundler, no build step: the browser loads the imports.

import { start } from './core.js';
import './inbox/index.js';
import './contacts/index.js';
import './reports/index.js';
import './admin/index.js';
import './bell.js';
import './status.js';

// Imports run first, so every route is registered before start() draws the page; module
// scripts run once the document is parsed (like `defer`), so #app is there.
if (document.getElementById('app')) start();
