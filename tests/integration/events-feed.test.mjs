// GET /v1/events: the live feed of task changes the console's task list runs on. Tasks created
// after the feed opened appear; a worker's claim, progress and finish arrive as they happen
// (the worker played by build/bench/taskctl on the same dir store); each event is exactly what
// GET /v1/tasks/{id} answers; bursts of changes to one task are coalesced; the stream does not
// end with a task, only with its lifetime or the gateway. No token 401, a token that may not
// read tasks 403, the task store disabled 503; every answer checked against gateway/openapi.json.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { GATEWAY, assertAllStopCleanly, httpSession, sseEvents, startHttp, tmpDir, writeConfig } from './lib.mjs';
import { checkAnswer, rest, scrape, value } from './routes-lib.mjs';

const TASKCTL = process.env.CORTEX_TASKCTL_BIN || join(dirname(GATEWAY), 'bench/taskctl');
const running = [];
after(() => running.forEach((p) => p.kill()));

const sha = (s) => createHash('sha256').update(s).digest('hex');
const OPS = 'ops-feed-token-71c2';
const VIEWER = 'viewer-feed-token-9a0e';
const ECHO = 'echo-feed-token-44d1';

async function gateway(extra = {}) {
  const dir = tmpDir();
  const store = { store: 'dir', dir: join(dir, 'tasks'), fsync: false };
  const conf = {
    tokens: [
      { name: 'ops', sha256: sha(OPS) },
      { name: 'viewer', sha256: sha(VIEWER), read_only: true },
      { name: 'echo-only', sha256: sha(ECHO), allow: ['testkit_echo'] },
    ],
    adapters: { testkit: {} },
    audit: { file: join(dir, 'audit.log') },
    tasks: store,
    ...extra,
  };
  const g = startHttp(['--config', writeConfig(conf)]);
  running.push(g);
  g.url = await g.ready;
  g.base = g.url.replace(/\/mcp$/, '');
  g.store = store;
  g.audit = () => readFileSync(conf.audit.file, 'utf8').trim().split('\n').filter(Boolean).map((l) => JSON.parse(l));
  return g;
}

function taskctl(conf, ...args) {
  const r = spawnSync(TASKCTL, [JSON.stringify(conf), ...args.map((a) => (typeof a === 'string' ? a : JSON.stringify(a)))],
    { encoding: 'utf8', timeout: 20000 });
  assert.equal(r.status, 0, `taskctl ${args[0]}: ${r.stderr}`);
  const out = r.stdout.trim();
  return out ? JSON.parse(out) : undefined;
}

// The SSE events of res (lib.mjs's sseEvents), with until(pred, ms).
function feedEvents(res) {
  const next = sseEvents(res);
  // Events until one for which pred holds (the others returned too); fails past ms.
  const until = async (pred, ms = 8000) => {
    const seen = [];
    const deadline = Date.now() + ms;
    for (;;) {
      const e = await next(Math.max(1, deadline - Date.now()));
      assert.ok(e && e !== 'timeout', `no matching event within ${ms} ms (${e}); saw ${seen.length}: ${JSON.stringify(seen.slice(-5).map((x) => [x.event, x.data?.id, x.data?.status]))}`);
      seen.push(e);
      if (pred(e)) return seen;
    }
  };
  return { next, until };
}

async function feed(g, token = OPS, signal) {
  const res = await fetch(g.base + '/v1/events', { headers: token ? { Authorization: 'Bearer ' + token } : {}, signal });
  const ctype = res.headers.get('content-type') || '';
  if (res.status !== 200) {
    const body = ctype.startsWith('application/json') ? await res.json() : await res.text();
    checkAnswer('GET', '/v1/events', res.status, ctype, body);
    return { status: res.status, body };
  }
  checkAnswer('GET', '/v1/events', 200, ctype, '');
  assert.equal(res.headers.get('cache-control'), 'no-cache');
  return { status: 200, res, ...feedEvents(res) };
}

const create = async (g, body) => (await rest(g.base, 'POST', '/v1/tasks', { token: OPS, body })).body.structuredContent.ids;
const get = async (g, id) => (await rest(g.base, 'GET', '/v1/tasks/' + id, { token: OPS })).body.structuredContent;

test('tasks created after the feed opened appear, each as GET /v1/tasks/{id} answers it', async () => {
  const g = await gateway();
  const f = await feed(g, VIEWER);
  assert.equal(f.status, 200);
  assert.equal(await f.next(300), 'timeout', 'nothing is sent while nothing changes');
  assert.equal(value(await scrape(g.base, OPS), 'cortex_http_streams_open', { kind: 'feed' }), 1);

  const [a] = await create(g, { query: 'first after the feed', category: 'inventory' });
  const [b, c] = await create(g, { tasks: [{ query: 'second' }, { query: 'third', category: 'security' }] });
  const want = new Set([a, b, c]);
  const seen = await f.until((e) => { if (e.event === 'task') want.delete(e.data.id); return want.size === 0; });
  for (const e of seen) {
    assert.equal(e.event, 'task');
    assert.match(e.id, /^[0-9a-f]+-\d+$/, 'events are numbered');
  }
  // Nothing changed since: the last event of each task is exactly what the task route answers.
  for (const id of [a, b, c]) {
    const last = seen.filter((e) => e.data.id === id).pop();
    assert.deepEqual(last.data, await get(g, id));
  }
  assert.equal(seen.find((e) => e.data.id === c).data.category, 'security');
  const reads = g.audit().filter((l) => l.tool === 'cortex_get_task_status' && l.caller === 'viewer');
  assert.ok(reads.length >= 3 && reads.every((l) => l.via === 'rest'), 'each read is an audited call of the token');
});

test('a worker\'s claim, progress and finish arrive live; the feed goes on after the task ends', async () => {
  const g = await gateway();
  const f = await feed(g);
  const [id] = await create(g, { query: 'work on me', category: 'development' });
  await f.until((e) => e.data?.id === id && e.data.status === 'queued');

  const claimed = taskctl(g.store, 'claim', 'dev-1', '0', 'development');
  assert.equal(claimed.id, id);
  let seen = await f.until((e) => e.data?.id === id && e.data.status === 'in_progress');
  assert.equal(seen.pop().data.worker, 'dev-1');

  taskctl(g.store, 'progress', id, 'dev-1', { iterations: 2, current_action: 'reading the logs', last_tool_used: 'kubectl_logs' });
  seen = await f.until((e) => e.data?.id === id && e.data.progress?.iterations === 2);
  const p = seen.pop().data.progress;
  assert.equal(p.current_action, 'reading the logs');
  assert.equal(p.last_tool_used, 'kubectl_logs');

  taskctl(g.store, 'finish', id, 'dev-1', 'completed', { answer: 'all good' });
  seen = await f.until((e) => e.data?.id === id && e.data.status === 'completed');
  assert.equal(seen.pop().data.result.answer, 'all good');
  assert.notEqual(await f.next(500), null, 'the feed does not end with a task');

  // Another task after that one ended still arrives.
  const [next] = await create(g, { query: 'and another' });
  await f.until((e) => e.data?.id === next);
});

test('changes to one task during a read are coalesced: read once more, not once per change', async () => {
  // One worker: a sleeping call holds it, so the feed's read of the first change waits behind
  // it while the task changes four more times.
  const g = await gateway({ calls: { workers: 1 } });
  const f = await feed(g);
  const [id] = await create(g, { query: 'busy task', category: 'cicd' });
  await f.until((e) => e.data?.id === id && e.data.status === 'queued');
  taskctl(g.store, 'claim', 'ci-1', '0', 'cicd');
  await f.until((e) => e.data?.id === id && e.data.status === 'in_progress');

  const sleeping = rest(g.base, 'POST', '/v1/tools/testkit_sleep', { token: OPS, body: { ms: 1500 } });
  await new Promise((r) => setTimeout(r, 200));
  for (let i = 1; i <= 5; i++) {
    taskctl(g.store, 'progress', id, 'ci-1', { iterations: i, current_action: 'step ' + i });
    await new Promise((r) => setTimeout(r, 60)); // each change reaches the gateway on its own
  }
  assert.equal((await sleeping).status, 200);
  const seen = await f.until((e) => e.data?.id === id && e.data.progress?.iterations === 5);
  for (let e; (e = await f.next(1000)) !== 'timeout';) seen.push(e);
  assert.ok(seen.every((e) => e.event === 'task' && e.data.id === id));
  // The read queued by the first change, then one more for the four that came meanwhile.
  assert.ok(seen.length <= 2, `5 changes during one read give at most 2 reads, got ${seen.length}: ` +
    JSON.stringify(seen.map((e) => e.data.progress.iterations)));
  assert.equal(seen.at(-1).data.progress.iterations, 5, 'the last event shows the last change');
  assert.equal(seen.at(-1).data.progress.current_action, 'step 5');
});

test('more changes at once than a feed holds: the rest are dropped and a resync event follows', async () => {
  // The only worker sleeps (an MCP call, cancelled once the store's changes are in) while
  // 1,100 tasks are created straight in the store: the feed's first read waits, the ids queue
  // up to 1,024 and the others are dropped.
  const g = await gateway({ calls: { workers: 1, timeout_ms: 60000 } });
  const f = await feed(g);
  const s = await httpSession(g.url, { token: OPS });
  await s.post({ jsonrpc: '2.0', method: 'notifications/initialized' });
  const sleeping = s.post({ jsonrpc: '2.0', id: 77, method: 'tools/call', params: { name: 'testkit_sleep', arguments: { ms: 60000 } } });
  await new Promise((r) => setTimeout(r, 200));
  taskctl(g.store, 'bench-create', '1100', '1');
  await new Promise((r) => setTimeout(r, 1000)); // the store's watcher reports the last ones
  await s.post({ jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: 77, reason: 'enough' } });
  await sleeping;
  const seen = await f.until((e) => e.event === 'resync', 120000);
  const resync = seen.pop();
  assert.match(resync.data.message, /list them again \(GET \/v1\/tasks\)/);
  assert.ok(seen.every((e) => e.event === 'task'));
  assert.ok(seen.length >= 1000 && seen.length <= 1025, `${seen.length} tasks read before the resync`);
  assert.equal(new Set(seen.map((e) => e.data.id)).size, seen.length, 'each task read once');
  assert.equal(await f.next(1000), 'timeout', 'nothing after it until something changes');
  const [id] = await create(g, { query: 'after the resync' });
  await f.until((e) => e.data?.id === id);
});

test('who may follow: no token 401, a token that may not read tasks 403, store disabled 503', async () => {
  const g = await gateway();
  const none = await feed(g, null);
  assert.equal(none.status, 401);
  const bad = await feed(g, 'not-a-token');
  assert.equal(bad.status, 401);
  const echo = await feed(g, ECHO);
  assert.equal(echo.status, 403);
  assert.match(echo.body.error.message, /reads tasks with cortex_get_task_status, which this token may not call/);
  const post = await rest(g.base, 'POST', '/v1/events', { token: OPS, body: {} });
  assert.equal(post.status, 405);
  assert.equal(post.headers.get('allow'), 'GET');

  const off = await gateway({ tasks: { enabled: false } });
  const r = await feed(off);
  assert.equal(r.status, 503);
  assert.match(r.body.error.message, /the task store is disabled \(tasks\.enabled is false\)/);
});

test('a client that leaves is dropped at the next change; the stream ends at http.stream_max_lifetime_s', async () => {
  const g = await gateway({ http: { stream_max_lifetime_s: 2 } });
  const ac = new AbortController();
  const gone = await feed(g, OPS, ac.signal);
  const stay = await feed(g);
  assert.equal(value(await scrape(g.base, OPS), 'cortex_http_streams_open', { kind: 'feed' }), 2);
  ac.abort();
  const [id] = await create(g, { query: 'after one left' });
  await stay.until((e) => e.data?.id === id);
  let n = 2;
  for (let i = 0; i < 50 && n !== 1; i++) {
    await new Promise((r) => setTimeout(r, 100));
    n = value(await scrape(g.base, OPS), 'cortex_http_streams_open', { kind: 'feed' });
  }
  assert.equal(n, 1, 'the feed whose client left is gone');
  assert.ok(gone);

  // The lifetime ends the one still open (between events, as for GET /mcp).
  const t0 = Date.now();
  let e;
  while ((e = await stay.next(5000)) !== null && e !== 'timeout');
  assert.equal(e, null, 'the stream ended');
  assert.ok(Date.now() - t0 < 5000);
});

test('a feed open when the gateway stops ends with it, and all gateways stop cleanly', async () => {
  const g = await gateway();
  const f = await feed(g);
  const [id] = await create(g, { query: 'last one' });
  await f.until((e) => e.data?.id === id);
  await assertAllStopCleanly(running, assert);
  let e;
  while ((e = await f.next(5000)) !== null && e !== 'timeout');
  assert.equal(e, null);
});
