// The Cortex console: sign in with a gateway token, then hash-routed pages (#/ask, #/tasks,
// #/tasks/ID, #/approvals, #/tools, #/status). Everything goes through the gateway's public
// REST routes with the token as a bearer header; nothing is private to the console.
import { ApiError, events, listTools, token } from './api.js';
import { clear, duration, h, tickElapsed } from './dom.js';
import * as live from './live.js';
import * as ask from './view-ask.js';
import * as tasksView from './view-tasks.js';
import * as taskView from './view-task.js';
import * as approvals from './view-approvals.js';
import * as toolsView from './view-tools.js';
import * as statusView from './view-status.js';

const DEFAULT_CATEGORIES = ['general', 'development', 'security', 'infrastructure', 'inventory', 'cicd'];
const main = document.getElementById('main');
const nav = document.getElementById('nav');
const session = document.getElementById('session');
const liveEl = document.getElementById('live');
const countEl = document.getElementById('approval-count');

// What the views share: the tools this token may call (read at sign-in, again on the Tools
// page) and the task categories (from cortex_create_task's schema, which lists the masters').
export const ctx = {
  tools: [],
  categories() {
    const t = this.tools.find((x) => x.name === 'cortex_create_task');
    const e = t && t.inputSchema && t.inputSchema.properties && t.inputSchema.properties.category;
    const list = e && Array.isArray(e.enum) ? e.enum.filter((x) => typeof x === 'string') : DEFAULT_CATEGORIES;
    return list.includes('general') ? ['general', ...list.filter((x) => x !== 'general')] : list;
  },
};

let dispose = null;
let signInMessage = '';
let active = false; // signed in (the sign-in form handles its own 401)

function setDispose(fn) {
  if (dispose) dispose();
  dispose = typeof fn === 'function' ? fn : null;
}

function pageOf(hash) {
  const parts = hash.replace(/^#\/?/, '').split('/');
  if (parts[0] === 'tasks' && parts[1]) return { page: 'task', id: decodeURIComponent(parts.slice(1).join('/')) };
  const page = ['ask', 'tasks', 'approvals', 'tools', 'status'].includes(parts[0]) ? parts[0] : 'ask';
  return { page };
}

const VIEWS = { ask, tasks: tasksView, task: taskView, approvals, tools: toolsView, status: statusView };

function route() {
  if (token.get() === null) {
    showSignIn();
    return;
  }
  const { page, id } = pageOf(location.hash);
  for (const a of nav.querySelectorAll('a[data-page]')) {
    const on = a.dataset.page === page || (page === 'task' && a.dataset.page === 'tasks');
    if (on) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
  clear(main);
  setDispose(VIEWS[page].render(main, { ...ctx, categories: () => ctx.categories(), id }));
  const title = main.querySelector('h1');
  document.title = (title ? title.textContent + ' — ' : '') + 'Cortex console';
}

function focusHeading() {
  const title = main.querySelector('h1');
  if (title) {
    title.setAttribute('tabindex', '-1');
    title.focus({ preventScroll: true });
  }
}

function showSignedIn(on) {
  nav.hidden = !on;
  session.hidden = !on;
}

function showSignIn() {
  setDispose(null);
  showSignedIn(false);
  clear(main);
  const input = h('input', { id: 'token', name: 'token', type: 'password', autocomplete: 'off', spellcheck: 'false', 'aria-describedby': 'token-hint' });
  const msg = h('div', { id: 'sign-in-message', 'aria-live': 'assertive' });
  const button = h('button', { type: 'submit', class: 'primary' }, 'Sign in');
  if (signInMessage) msg.append(h('p', { class: 'error', role: 'alert' }, signInMessage));
  const form = h('form', { class: 'card sign-in', novalidate: true },
    h('h1', null, 'Sign in'),
    h('p', null, 'The console acts with a gateway token, like any other client: you see and may call what that token may.'),
    h('label', { for: 'token' }, 'Gateway token'),
    input,
    h('p', { id: 'token-hint', class: 'hint' }, 'Kept in this tab’s session storage only, and sent as a bearer header. Leave it empty for a loopback gateway that has no tokens.'),
    button, msg);
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const value = input.value.trim();
    clear(msg);
    button.disabled = true;
    msg.append(h('p', { class: 'hint', role: 'status' }, 'Checking the token…'));
    token.set(value);
    try {
      ctx.tools.splice(0, ctx.tools.length, ...(await listTools()));
    } catch (e) {
      token.clear();
      button.disabled = false;
      clear(msg);
      const text = e instanceof ApiError && e.status === 401 ? 'This token was refused by the gateway.'
        : e instanceof ApiError && e.status === 0 ? 'The gateway is unreachable: ' + e.message
          : 'Signing in failed: ' + e.message;
      msg.append(h('p', { class: 'error', role: 'alert' }, text));
      input.select();
      input.focus();
      return;
    }
    signInMessage = '';
    signedIn(true);
  });
  main.append(form);
  input.focus();
}

// focus: move the focus to the page's heading (after the sign-in form, not on a page load).
function signedIn(focus) {
  active = true;
  showSignedIn(true);
  live.start();
  if (!location.hash || location.hash === '#' || location.hash === '#main') history.replaceState(null, '', '#/ask');
  route();
  if (focus) focusHeading();
}

function signOut(message = '') {
  active = false;
  sessionStorage.clear(); // the token, and the last request asked (another person may sign in next)
  ctx.tools.splice(0);
  live.stop();
  signInMessage = message;
  history.replaceState(null, '', location.pathname);
  showSignIn();
}

function renderLive() {
  const s = live.status;
  liveEl.className = 'live live-' + s.state;
  if (s.state === 'live') liveEl.textContent = 'Live';
  else if (s.state === 'connecting') liveEl.textContent = 'Connecting…';
  else if (s.state === 'retrying') {
    const secs = Math.max(0, Math.ceil((s.retryAt - Date.now()) / 1000));
    liveEl.textContent = `Not live: ${s.error}; retrying in ${duration(secs * 1000).replace('.0 s', ' s')}`;
  } else liveEl.textContent = '';
}

function renderCount() {
  const n = live.awaiting().length;
  countEl.textContent = String(n);
  countEl.setAttribute('aria-label', `${n} waiting`);
  countEl.classList.toggle('count-waiting', n > 0);
}

live.onChange((kind) => {
  if (kind === 'status') renderLive();
  renderCount();
});
events.addEventListener('unauthorized', () => {
  if (active) signOut('This token was refused by the gateway; sign in again.');
});
document.getElementById('sign-out').addEventListener('click', () => signOut(''));
document.querySelector('.skip-link').addEventListener('click', (ev) => {
  ev.preventDefault(); // the hash is the route: move the focus without changing it
  main.focus();
});
window.addEventListener('hashchange', () => {
  if (location.hash === '#main') return; // the skip link
  if (token.get() === null) return;
  route();
  focusHeading();
});
setInterval(() => {
  tickElapsed();
  if (live.status.state === 'retrying') renderLive();
}, 1000);

if (token.get() !== null) {
  signedIn(false);
  listTools().then((t) => { ctx.tools.splice(0, ctx.tools.length, ...t); }).catch(() => {});
} else {
  showSignIn();
}
