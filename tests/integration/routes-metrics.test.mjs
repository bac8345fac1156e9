// GET /metrics and GET /readyz as an operator's Prometheus and Kubernetes use them: the
// exposition checked line by line and read with a real parser, values asserted after known
// calls (a call that fails counts as isError, a refused one as refused, a late one lands in a
// slow bucket), backend requests, retries and rate-limit waits counted against the simulator,
// audit write errors, task counts from the store; readiness ready, not ready with the reason,
// and draining after SIGTERM. Every metric the gateway emits is documented in
// docs/OPERATIONS.md.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { request as httpRequest, Agent } from 'node:http';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { spawnSync } from 'node:child_process';
import { GATEWAY, assertAllStopCleanly, httpSession, startHttp, startSim, tmpDir, writeConfig } from './lib.mjs';
import { histogram, rest, scrape, value } from './routes-lib.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const running = [];
after(() => running.forEach((p) => p.kill()));

const sha = (s) => createHash('sha256').update(s).digest('hex');
const OPS = 'ops-metrics-token-8f2a';
const LIMITED = 'limited-metrics-token-77c1';
const SCRAPER = 'prometheus-scrape-token-31d0';
const PX_SECRET = '5e1f3c9a-2b7d-4e8f-9a61-0c3d5b7e9f12';

async function gateway(conf, env = {}) {
  const g = startHttp(['--config', writeConfig(conf)], { env });
  running.push(g);
  g.url = await g.ready;
  g.base = g.url.replace(/\/mcp$/, '');
  return g;
}

const tokens = [
  { name: 'ops', sha256: sha(OPS) },
  { name: 'limited', sha256: sha(LIMITED), allow: ['gateway_*'] },
  { name: 'prometheus', sha256: sha(SCRAPER), allow: [] },
];

const delta = (a, b, name, labels) => value(b, name, labels) - value(a, name, labels);
const calls = (tool, outcome) => ['cortex_tool_calls_total', { tool, outcome }];

test('/metrics needs a token like /mcp and counts every call by tool and outcome, with latency per adapter', async () => {
  const g = await gateway({
    tokens, calls: { timeout_ms: 1500, workers: 2 },
    adapters: { testkit: {} }, tasks: { store: 'dir', dir: join(tmpDir(), 'tasks'), fsync: false },
  });
  const anon = await fetch(g.base + '/metrics');
  assert.equal(anon.status, 401);
  assert.match(anon.headers.get('www-authenticate'), /Bearer/);
  assert.equal((await fetch(g.base + '/metrics', { headers: { Authorization: 'Bearer wrong' } })).status, 401);
  const post = await fetch(g.base + '/metrics', { method: 'POST', headers: { Authorization: 'Bearer ' + OPS } });
  assert.equal(post.status, 405);
  assert.equal(post.headers.get('allow'), 'GET');
  // Any valid token may scrape, whatever tools it may call; a scrape-only token calls none.
  await scrape(g.base, LIMITED);
  await scrape(g.base, SCRAPER);
  assert.deepEqual((await rest(g.base, 'GET', '/v1/tools', { token: SCRAPER })).body, { tools: [] });

  const m0 = await scrape(g.base, OPS);
  const s = await httpSession(g.url, { token: OPS });
  const lim = await httpSession(g.url, { token: LIMITED });
  const call = async (sess, name, args) => (await sess.call('tools/call', { name, arguments: args })).result;
  assert.equal((await call(s, 'testkit_echo', { text: 'hi' })).isError, undefined);
  assert.equal((await call(s, 'testkit_fail', {})).isError, true);
  assert.equal((await call(s, 'testkit_echo', { text: 5 })).isError, true, 'schema error');
  const late = await call(s, 'testkit_sleep', { ms: 4000 });
  assert.equal(late.isError, true);
  assert.match(late.content[0].text, /did not finish within 1500 ms/);
  assert.equal((await call(lim, 'testkit_echo', { text: 'no' })).isError, true, 'refused');
  const r = await rest(g.base, 'POST', '/v1/tools/testkit_echo', { token: OPS, body: { text: 'rest' } });
  assert.equal(r.status, 200);

  const m1 = await scrape(g.base, OPS);
  assert.equal(delta(m0, m1, ...calls('testkit_echo', 'ok')), 2, 'one over MCP, one over REST');
  assert.equal(delta(m0, m1, ...calls('testkit_echo', 'isError')), 1);
  assert.equal(delta(m0, m1, ...calls('testkit_echo', 'refused')), 1);
  assert.equal(delta(m0, m1, ...calls('testkit_fail', 'isError')), 1);
  assert.equal(delta(m0, m1, ...calls('testkit_sleep', 'isError')), 1, 'a deadline counts as isError');
  assert.equal(delta(m0, m1, ...calls('testkit_sleep', 'ok')), 0);
  assert.equal(m1.cortex_tool_calls_total.type, 'COUNTER');
  const h0 = histogram(m0, 'cortex_tool_call_duration_seconds', { adapter: 'testkit' });
  const h1 = histogram(m1, 'cortex_tool_call_duration_seconds', { adapter: 'testkit' });
  assert.equal(h1.count - h0.count, 6);
  assert.equal(h1.buckets['1'] - h0.buckets['1'], 5, 'five quick calls');
  assert.equal(h1.buckets['2.5'] - h0.buckets['2.5'], 6, 'the late one within 2.5 s');
  assert.ok(h1.sum - h0.sum >= 1.4 && h1.sum - h0.sum < 3, `sum ${h1.sum - h0.sum}`);
  assert.equal(delta(m0, m1, 'cortex_sessions_started_total'), 2);
  assert.equal(value(m1, 'cortex_workers'), 2);
  assert.equal(value(m1, 'cortex_ready'), 1);
  assert.equal(value(m1, 'cortex_adapter_healthy', { adapter: 'testkit' }), 1);

  // Calls in flight and waiting: two workers, four calls of 1.4 s (under the 1.5 s deadline).
  const sleeping = [1, 2, 3, 4].map(() =>
    rest(g.base, 'POST', '/v1/tools/testkit_sleep', { token: OPS, body: { ms: 1400 } }));
  let busy;
  for (let i = 0; i < 20; i++) {
    await new Promise((res) => setTimeout(res, 50));
    busy = await scrape(g.base, OPS);
    if (value(busy, 'cortex_calls_in_flight') === 4) break;
  }
  assert.equal(value(busy, 'cortex_calls_in_flight'), 4);
  assert.equal(value(busy, 'cortex_queue_depth'), 2);
  for (const p of sleeping) assert.equal((await p).status, 200);
  const idle = await scrape(g.base, OPS);
  assert.equal(value(idle, 'cortex_calls_in_flight'), 0);
  assert.equal(value(idle, 'cortex_queue_depth'), 0);

  // An open GET stream, then a session ended by its client.
  const ac = new AbortController();
  const get = await fetch(g.url, { headers: { ...s.headers, Accept: 'text/event-stream' }, signal: ac.signal });
  assert.equal(get.status, 200);
  assert.equal(value(await scrape(g.base, OPS), 'cortex_http_streams_open', { kind: 'get' }), 1);
  ac.abort();
  const del = await fetch(g.url, { method: 'DELETE', headers: lim.headers });
  assert.equal(del.status, 204);
  assert.equal(value(await scrape(g.base, OPS), 'cortex_sessions_ended_total'), 1);

  // Task counts come from the store.
  for (const q of ['one', 'two'])
    assert.equal((await rest(g.base, 'POST', '/v1/tasks', { token: OPS, body: { query: q } })).status, 201);
  const m2 = await scrape(g.base, OPS);
  assert.equal(value(m2, 'cortex_tasks', { status: 'queued', category: 'general' }), 2);
  assert.equal(value(m2, 'cortex_tasks', { status: 'completed', category: 'general' }), 0);
  assert.equal(value(m2, 'cortex_task_store_up'), 1);

  // Every metric the gateway emits is documented.
  const ops = readFileSync(join(root, 'docs/OPERATIONS.md'), 'utf8');
  for (const name of Object.keys(m2)) assert.ok(ops.includes('`' + name + '`'), `${name} is not in docs/OPERATIONS.md`);
  for (const t of [OPS, LIMITED, SCRAPER]) assert.ok(!g.stderr().includes(t), 'no token in the log');
});

test('backend requests, retries, rate-limit waits and failures are counted by backend', async () => {
  const sim = startSim();
  running.push(sim);
  const simUrl = await sim.ready;
  const fault = (body) => fetch(simUrl + '/_sim/faults', { method: body ? 'POST' : 'DELETE', body: body && JSON.stringify(body) });
  const g = await gateway({
    calls: { timeout_ms: 2500 },
    adapters: { proxmox: { url: simUrl, token_id: 'root@pam!cortex', token_secret: { env: 'PX_SECRET' }, retries: 3 } },
    tasks: { enabled: false },
  }, { PX_SECRET });
  const s = await httpSession(g.url);
  const call = async (name) => (await s.call('tools/call', { name, arguments: {} })).result;
  const b = { backend: 'proxmox' };

  const m0 = await scrape(g.base);
  assert.equal((await call('proxmox_list_nodes')).isError, undefined);
  const m1 = await scrape(g.base);
  assert.ok(delta(m0, m1, 'cortex_backend_requests_total', b) >= 1);
  assert.equal(delta(m0, m1, 'cortex_backend_retries_total', b), 0);

  await fault({ method: 'GET', path: '/api2/json/nodes', kind: 'status', status: 503, count: 2 });
  assert.equal((await call('proxmox_list_nodes')).isError, undefined);
  await fault();
  const m2 = await scrape(g.base);
  assert.equal(delta(m1, m2, 'cortex_backend_retries_total', b), 2);
  assert.equal(delta(m1, m2, 'cortex_backend_rate_limit_waits_total', b), 0, '503 is not a rate limit');

  await fault({ method: 'GET', path: '/api2/json/nodes', kind: 'status', status: 429, retry_after: 1, count: 1 });
  assert.equal((await call('proxmox_list_nodes')).isError, undefined);
  await fault();
  const m3 = await scrape(g.base);
  assert.equal(delta(m2, m3, 'cortex_backend_retries_total', b), 1);
  assert.equal(delta(m2, m3, 'cortex_backend_rate_limit_waits_total', b), 1);
  assert.equal(delta(m2, m3, 'cortex_backend_failures_total', b), 0);

  await fault({ path: '/api2/json/nodes', kind: 'latency', latency_ms: 6000 });
  assert.equal((await call('proxmox_list_nodes')).isError, true);
  await fault();
  // The request gives up at the call's deadline, just after the call is answered.
  let m4;
  for (let i = 0; i < 20; i++) {
    m4 = await scrape(g.base);
    if (delta(m3, m4, 'cortex_backend_failures_total', b) === 1) break;
    await new Promise((res) => setTimeout(res, 100));
  }
  assert.equal(delta(m3, m4, 'cortex_backend_failures_total', b), 1);
  assert.equal(delta(m0, m4, 'cortex_tool_calls_total', { tool: 'proxmox_list_nodes', outcome: 'ok' }), 3);
  assert.equal(delta(m0, m4, 'cortex_tool_calls_total', { tool: 'proxmox_list_nodes', outcome: 'isError' }), 1);
  assert.ok(!g.stderr().includes(PX_SECRET), 'the backend secret is never logged');
});

test('audit writes that fail are counted, and the call still answers', async () => {
  const g = await gateway({ audit: { file: '/dev/full' }, tasks: { enabled: false } });
  const m0 = await scrape(g.base);
  const r = await rest(g.base, 'POST', '/v1/tools/gateway_status', {});
  assert.equal(r.status, 200);
  assert.equal(r.body.isError, undefined);
  const m1 = await scrape(g.base);
  assert.equal(delta(m0, m1, 'cortex_audit_write_errors_total'), 1);
  assert.match(g.stderr(), /audit log '\/dev\/full': could not write a record/);
});

// A gateway is 'starting' until each adapter's first health check has finished, which under
// ASan on a loaded machine can outlast the start-up itself; wait that out before asking.
async function settled(base) {
  let r;
  for (let i = 0; i < 100; i++) {
    r = await rest(base, 'GET', '/readyz');
    if (r.body.status !== 'starting') return r;
    await new Promise((res) => setTimeout(res, 100));
  }
  return r;
}

test('/readyz with http.ready_adapters: only the adapters named decide; the others are shown, and a name the gateway lacks is refused', async () => {
  // Several replicas share their backends: one backend down must not take every replica out
  // of its Service. Readiness on the task store alone, the backend shown as unhealthy.
  const g = await gateway({ adapters: { testkit: { healthy: false } }, http: { ready_adapters: ['cortex'] },
    tasks: { store: 'dir', dir: join(tmpDir(), 't'), fsync: false } });
  const r = await settled(g.base);
  assert.equal(r.status, 200, JSON.stringify(r.body));
  assert.equal(r.body.status, 'ready');
  assert.equal(r.body.adapters.testkit, 'unhealthy', 'still shown');
  assert.equal(value(await scrape(g.base), 'cortex_adapter_healthy', { adapter: 'testkit' }), 0);
  // Named, the same adapter decides again; an empty list: nothing but starting and draining.
  const named = await gateway({ adapters: { testkit: { healthy: false } }, http: { ready_adapters: ['testkit'] }, tasks: { enabled: false } });
  assert.equal((await settled(named.base)).status, 503);
  const none = await gateway({ adapters: { testkit: { healthy: false } }, http: { ready_adapters: [] }, tasks: { enabled: false } });
  assert.equal((await settled(none.base)).status, 200);
  const c = spawnSync(GATEWAY, ['--check-config', '--config', writeConfig({ adapters: { testkit: {} }, http: { ready_adapters: ['cortex', 'proxmox'] } })],
    { encoding: 'utf8', timeout: 20000 });
  assert.equal(c.status, 1, c.stdout + c.stderr);
  assert.match(c.stderr, /http\.ready_adapters: 'proxmox' is not an adapter of this gateway \(it has: gateway, testkit, cortex\)/);
});

test('/readyz: ready, starting, not ready with the reason (an adapter, the task store), draining after SIGTERM', async () => {
  const ok = await gateway({ tokens, adapters: { testkit: {} }, tasks: { store: 'dir', dir: join(tmpDir(), 't'), fsync: false } });
  // No token needed: probes carry none.
  const r = await settled(ok.base);
  assert.equal(r.status, 200);
  assert.deepEqual(r.body, { ready: true, status: 'ready', task_store: 'ok', adapters: { gateway: 'ok', testkit: 'ok', cortex: 'ok' } });
  assert.equal((await fetch(ok.base + '/readyz', { method: 'HEAD' })).status, 200);
  assert.equal((await fetch(ok.base + '/readyz', { method: 'POST' })).status, 405);
  assert.equal((await fetch(ok.base + '/healthz')).status, 200, '/healthz unchanged');

  const sick = await gateway({ adapters: { testkit: { healthy: false } }, tasks: { enabled: false } });
  const s = await settled(sick.base);
  assert.equal(s.status, 503);
  assert.equal(s.body.status, 'not_ready');
  assert.equal(s.body.adapters.testkit, 'unhealthy');
  assert.equal(s.body.task_store, 'disabled');
  assert.match(s.body.reason, /health check fails/);
  assert.ok(!JSON.stringify(s.body).includes('told to be unhealthy'), 'health messages stay in gateway_status');
  assert.equal(value(await scrape(sick.base), 'cortex_ready'), 0);

  // A task store nobody answers at: not ready, and the scrape says the store is down.
  const nostore = await gateway({ tasks: { store: 'redis', url: 'redis://127.0.0.1:1/0' } });
  const n = await settled(nostore.base);
  assert.equal(n.status, 503);
  assert.equal(n.body.task_store, 'unreachable');
  const nm = await scrape(nostore.base);
  assert.equal(value(nm, 'cortex_task_store_up'), 0);
  assert.equal(value(nm, 'cortex_adapter_healthy', { adapter: 'cortex' }), 0);

  // Starting: the first health check of an adapter has not finished (the backend is slow).
  const sim = startSim();
  running.push(sim);
  const simUrl = await sim.ready;
  await fetch(simUrl + '/_sim/faults', { method: 'POST', body: JSON.stringify({ path: '/api2/json/version', kind: 'latency', latency_ms: 3000 }) });
  const slow = await gateway({
    adapters: { proxmox: { url: simUrl, token_id: 'root@pam!cortex', token_secret: { env: 'PX_SECRET' } } },
    tasks: { enabled: false },
  }, { PX_SECRET });
  const st = await rest(slow.base, 'GET', '/readyz');
  assert.equal(st.status, 503);
  assert.equal(st.body.status, 'starting');
  assert.equal(st.body.adapters.proxmox, 'starting');
  assert.match(st.body.reason, /starting/);
  await fetch(simUrl + '/_sim/faults', { method: 'DELETE' });
  let later;
  for (let i = 0; i < 100; i++) {
    later = await rest(slow.base, 'GET', '/readyz');
    if (later.body.status !== 'starting') break;
    await new Promise((res) => setTimeout(res, 100));
  }
  assert.equal(later.status, 200, 'ready once the first check passed');
  assert.equal(later.body.adapters.proxmox, 'ok');

  // Draining: a call holds the gateway open after SIGTERM; a kept-alive connection asks.
  const d = await gateway({ adapters: { testkit: {} }, tasks: { enabled: false }, calls: { timeout_ms: 5000 } });
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  const get = (path) => new Promise((res, rej) => {
    const req = httpRequest(d.base + path, { agent }, (resp) => {
      let body = '';
      resp.on('data', (c) => { body += c; });
      resp.on('end', () => res({ status: resp.statusCode, body }));
    });
    req.on('error', rej);
    req.end();
  });
  await settled(d.base);
  assert.equal((await get('/readyz')).status, 200);
  const held = rest(d.base, 'POST', '/v1/tools/testkit_sleep', { body: { ms: 1500 } });
  await new Promise((res) => setTimeout(res, 200));
  d.child.kill('SIGTERM');
  await new Promise((res) => setTimeout(res, 200));
  const dr = await get('/readyz');
  assert.equal(dr.status, 503);
  assert.equal(JSON.parse(dr.body).status, 'draining');
  assert.equal((await held).status, 200, 'the call in flight still answered');
  agent.destroy();
  const { code } = await d.exited;
  assert.equal(code, 0);
});

test('every gateway stops cleanly', async () => {
  await assertAllStopCleanly(running.filter((p) => p.url && p.base), assert);
});
