// The inbox's constants and its shared state: every inbox module imports S and V from here,
// so they all see one copy.

export var PAGE = 50;
export var CHANNELS = {
  api: { icon: '🔌', label: 'API' },
  telegram: { icon: '✈️', label: 'Telegram' },
  widget: { icon: '💬', label: 'Web chat' },
  whatsapp: { icon: '📱', label: 'WhatsApp' },
  email: { icon: '✉️', label: 'Email' }
};
export var STATUS_LABELS = { open: 'Open', pending: 'Pending', snoozed: 'Snoozed', resolved: 'Resolved', closed: 'Closed' };
export var ALL_STATUSES = 'open,pending,snoozed,resolved,closed';
export var SORTS = [['newest', 'Newest'], ['waiting', 'Waiting longest'], ['priority', 'Priority'], ['sla_due', 'SLA due soonest']];
export var PRIORITIES = [['none', 'No priority'], ['low', 'Low'], ['medium', 'Medium'], ['high', 'High'], ['urgent', 'Urgent']];
export var TICKS = {
  queued: ['⏱', 'Queued'], sent: ['✓', 'Sent'], delivered: ['✓✓', 'Delivered'],
  read: ['✓✓', 'Read'], failed: ['⚠', 'Failed']
};
export var RANK = { queued: 0, sent: 1, delivered: 2, read: 3, failed: 4 };
export var SHORTCUTS = [
  ['j', 'Next conversation'], ['k', 'Previous conversation'], ['r', 'Reply'],
  ['n', 'Private note'], ['e', 'Resolve and open the next'], ['a', 'Assign to me'],
  ['x', 'Select the conversation for bulk actions (Shift: the range)'], ['/', 'Search'],
  ['?', 'Show or hide this help'], ['Esc', 'Leave a field, close a list or this help']
];

// ---- State that outlives one render (core.js rebuilds the page on every navigation) --------

export var S = {
  filters: loadFilters(),
  rows: [], cursor: null, pages: 0, key: null,
  inboxes: {}, inboxesPromise: null, inboxesLoaded: false,
  agents: {}, members: {}, allAgents: null,
  teams: null, teamList: [],
  labels: null, labelColors: {}, // label name → #rrggbb (admin-managed; GET /api/v1/labels)
  views: null, // the agent's saved views (GET /api/v1/me/views)
  contacts: {},
  snippets: {}, drafts: {}, labelsSeen: {}, viewers: {},
  presence: {}, // agent id → online | busy | away | offline, from `presence` events
  selected: {}, lastPicked: null // rows picked for bulk actions (bulk.js)
};
// The mounted view (DOM references and the open conversation). Other modules read it (an
// imported binding follows every change) and change its fields; only setView() replaces it.
export var V = null;
export function setView(view) { V = view; }

// The list's filters when nothing is chosen.
export function defaultFilters() {
  return { assignee: 'all', inbox: '', team: '', status: 'open', priority: '', label: '', q: '', sla: '', sort: 'newest' };
}
function loadFilters() {
  var f = defaultFilters();
  try {
    var saved = JSON.parse(sessionStorage.getItem('sb.inbox.filters') || 'null');
    if (saved && typeof saved === 'object') {
      Object.keys(f).forEach(function (k) { if (typeof saved[k] === 'string') f[k] = saved[k]; });
    }
  } catch (e) { /* private mode: defaults */ }
  return f;
}
export function saveFilters() {
  try { sessionStorage.setItem('sb.inbox.filters', JSON.stringify(S.filters)); } catch (e) { /* ignore */ }
}
