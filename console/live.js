// The tasks the console knows, kept current by GET /v1/events (one event per task change, for
// every task): the stream opened, then the list from GET /v1/tasks; when the stream is missing
// or drops, the list is read again and the stream reopened after a growing wait (1 s .. 30 s).
// No polling. Views subscribe with onChange(fn) and read tasks / status / awaiting().
import { ApiError, getTask, listTasks, readEvents, sleep, taskOf } from './api.js';

const FINISHED = new Set(['completed', 'failed', 'cancelled']);
export const isFinished = (t) => FINISHED.has(t.status);

export const tasks = new Map();
export const status = { state: 'off', error: '', retryAt: 0 };
const listeners = new Set();
let ctl = null;

export function onChange(fn) {
  listeners.add(fn);
  return () => listeners.delete(fn);
}

function emit(kind, task) {
  for (const fn of [...listeners]) {
    try {
      fn(kind, task);
    } catch (e) {
      console.warn('cortex console: a view failed to update', e); // eslint-disable-line no-console
    }
  }
}

function setState(state, error = '', retryAt = 0) {
  Object.assign(status, { state, error, retryAt });
  emit('status', null);
}

// Adds or updates a task (a full one from an event, or a list item); an older copy than the
// one held is ignored.
export function upsert(raw) {
  const t = taskOf(raw);
  if (!t) return null;
  const old = tasks.get(t.id);
  if (old && old.updated_at && t.updated_at && t.updated_at < old.updated_at) return old;
  const merged = old ? { ...old, ...t } : t;
  if (old && !t.progress && old.progress) merged.progress = { ...old.progress, current_action: t.current_action ?? old.progress.current_action };
  tasks.set(t.id, merged);
  for (const c of Array.isArray(t.children) ? t.children : []) {
    if (c && c.id && !tasks.has(c.id)) tasks.set(c.id, { ...c, parent_id: c.parent_id || t.id });
  }
  emit('task', merged);
  return merged;
}

export const awaiting = () => [...tasks.values()].filter((t) => t.status === 'awaiting_approval');

async function snapshot(signal) {
  const [recent, held] = await Promise.all([
    listTasks({ limit: 200 }, { signal }),
    listTasks({ status: 'awaiting_approval', limit: 500 }, { signal }),
  ]);
  for (const t of [...recent, ...held]) upsert(t);
  // The list leaves out progress and held calls: read the unfinished ones in full.
  const open = [...tasks.values()].filter((t) => !isFinished(t) && !t.progress).slice(0, 50);
  await Promise.all(open.map(async (t) => {
    try {
      upsert(await getTask(t.id, { signal }));
    } catch (e) {
      if (e && e.name === 'AbortError') throw e;
    }
  }));
}

function reason(e, route) {
  if (e instanceof ApiError && e.status === 404) return `this gateway has no ${route === 'GET /v1/tasks' ? 'task tools' : 'live stream'} (${route}: 404)`;
  if (e instanceof ApiError && e.status === 403) return `this token may not read tasks (${route}: 403)`;
  return (e && e.message) || String(e);
}

const aborted = (e) => e && e.name === 'AbortError';

// The feed first, then the list (the gateway sends nothing at the start, so no change falls
// between the two); "resync" (changes were dropped) lists again.
async function run(signal) {
  let wait = 1000;
  while (!signal.aborted) {
    setState('connecting');
    const inner = new AbortController();
    const stopInner = () => inner.abort();
    signal.addEventListener('abort', stopInner, { once: true });
    let why = '';
    let listed = false;
    try {
      await readEvents('/v1/events', {
        signal: inner.signal,
        onOpen: () => {
          wait = 1000;
          snapshot(inner.signal).then(() => { listed = true; setState('live'); }, (e) => {
            if (inner.signal.aborted || aborted(e)) return;
            why = reason(e, 'GET /v1/tasks');
            inner.abort();
          });
        },
        onEvent: (type, data) => {
          if (type === 'resync') {
            snapshot(inner.signal).catch(() => {});
          } else if (type === 'task') {
            try {
              upsert(JSON.parse(data));
            } catch {
              /* not JSON: not ours to show */
            }
          }
        },
      });
      why = why || 'the live stream ended';
    } catch (e) {
      if (signal.aborted) return;
      if (e instanceof ApiError && e.status === 401) return;
      if (!why) why = aborted(e) ? 'the live stream stopped' : reason(e, 'GET /v1/events');
    } finally {
      signal.removeEventListener('abort', stopInner);
    }
    if (!listed && !signal.aborted) {
      try { // without the feed, at least show the tasks as they are now
        await snapshot(signal);
      } catch (e) {
        if (signal.aborted) return;
        if (e instanceof ApiError && (e.status === 403 || e.status === 404)) why = reason(e, 'GET /v1/tasks');
      }
    }
    if (signal.aborted) return;
    setState('retrying', why, Date.now() + wait);
    await sleep(wait, signal);
    wait = Math.min(wait * 2, 30000);
  }
}

export function start() {
  stop();
  ctl = new AbortController();
  run(ctl.signal);
}

export function stop() {
  if (ctl) ctl.abort();
  ctl = null;
  tasks.clear();
  setState('off');
}

// The task's own stream (GET /v1/tasks/{id}/events) until it ends: used only while the feed
// is down. Returns a function that stops it.
function taskStream(id) {
  const c = new AbortController();
  (async () => {
    let wait = 1000;
    while (!c.signal.aborted) {
      let last = null;
      try {
        await readEvents('/v1/tasks/' + encodeURIComponent(id) + '/events', {
          signal: c.signal,
          onEvent: (type, data) => {
            try {
              last = upsert(JSON.parse(data)) || last;
            } catch {
              /* not JSON */
            }
          },
        });
        if (last && isFinished(last)) return;
      } catch (e) {
        if (c.signal.aborted || aborted(e)) return;
        if (e instanceof ApiError && (e.status === 401 || e.status === 404)) return;
      }
      await sleep(wait, c.signal);
      wait = Math.min(wait * 2, 30000);
    }
  })();
  return () => c.abort();
}

// Follows one task: onTask(task) now and at each change, in full (a list item, which has no
// progress or result, is read again). Changes come from the feed; while the feed is down, from
// the task's own stream. Returns a function that stops following.
export function follow(id, onTask) {
  let stream = null;
  let stopped = false;
  const read = () => getTask(id).then((t) => { if (!stopped) upsert(t); }).catch(() => {});
  const check = () => {
    if (status.state === 'retrying' && !stream) stream = taskStream(id);
    else if (status.state === 'live' && stream) { stream(); stream = null; }
  };
  const off = onChange((kind, t) => {
    if (stopped) return;
    if (kind === 'status') check();
    else if (t && t.id === id) {
      if (t.progress) onTask(t);
      else read();
    }
  });
  check();
  read();
  return () => {
    stopped = true;
    off();
    if (stream) stream();
  };
}
