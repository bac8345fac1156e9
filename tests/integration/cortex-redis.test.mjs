// The cortex_* tools on the Redis task store when Redis goes away: a gateway over HTTP whose
// store is a redis-server of the test's own (password from the environment, append-only, fsync
// always), under a load of creates from several clients. Redis is killed (SIGKILL) and started
// again on the same port and data: while it is down every call answers at once with an isError
// result saying "task store unreachable"; afterwards the same gateway, never restarted, works
// again, every task whose create was acknowledged is there, and a subscription made before the
// outage hears changes again. The password appears in nothing the gateway writes.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { startHttp, httpSession, sseMessages, writeConfig, tmpDir } from './lib.mjs';

const PASSWORD = 'r3dis-Secret-7Qx';
const REDIS = process.env.REDIS_SERVER || '/usr/bin/redis-server';
const running = [];
after(() => running.forEach((p) => p.kill()));

async function freePort() {
  return new Promise((res) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => { const { port } = s.address(); s.close(() => res(port)); });
  });
}

// redis-server on port with its data in dir; resolves once it accepts connections.
async function startRedis(port, dir) {
  const child = spawn(REDIS, ['--port', String(port), '--bind', '127.0.0.1', '--save', '',
    '--appendonly', 'yes', '--appendfsync', 'always', '--dir', dir, '--requirepass', PASSWORD],
  { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  await new Promise((res, rej) => {
    const t = setTimeout(() => rej(new Error('redis-server did not start: ' + out)), 15000);
    child.stdout.on('data', (d) => {
      out += d;
      if (/Ready to accept connections/.test(out)) { clearTimeout(t); res(); }
    });
    child.on('error', (e) => rej(new Error(`cannot run ${REDIS} (scripts/deps.sh test installs redis-server): ${e.message}`)));
    child.on('exit', (code) => rej(new Error('redis-server exited with ' + code + ': ' + out)));
  });
  const server = {
    child,
    exited: new Promise((res) => child.on('exit', res)),
    kill() { if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL'); },
  };
  running.push(server);
  return server;
}

const text = (r) => (r.content || []).map((c) => c.text).join('\n');
const sleep = (ms) => new Promise((res) => setTimeout(res, ms));

test('Redis killed and restarted under load: isError while down, no acknowledged task lost, recovery without a restart', async () => {
  const port = await freePort();
  const dir = tmpDir();
  let redis = await startRedis(port, dir);
  const g = startHttp(['--config', writeConfig({
    tasks: { store: 'redis', url: `redis://127.0.0.1:${port}/0`, password: { env: 'CX_TEST_REDIS_PASSWORD' } },
    calls: { timeout_ms: 20000 },
  })], { env: { CX_TEST_REDIS_PASSWORD: PASSWORD } });
  running.push(g);
  const url = await g.ready;
  const clients = await Promise.all([1, 2, 3, 4].map(() => httpSession(url)));
  const call = async (c, name, args) => (await c.call('tools/call', { name, arguments: args })).result;

  // A task to watch through the outage.
  const watched = (await call(clients[0], 'cortex_create_task', { query: 'watch me', category: 'security' })).structuredContent.ids[0];
  const watcher = await httpSession(url);
  await watcher.post({ jsonrpc: '2.0', method: 'notifications/initialized' });
  const sub = await watcher.call('resources/subscribe', { uri: `cortex://tasks/${watched}` });
  assert.ok(sub.result, JSON.stringify(sub));
  const res = await fetch(url, { method: 'GET', headers: watcher.headers });
  assert.equal(res.status, 200);
  const stream = sseMessages(res);

  const acked = new Set();
  const down = [];
  const other = [];
  let stop = false;
  let n = 0;
  const load = clients.map(async (c) => {
    while (!stop) {
      const t0 = Date.now();
      const r = await call(c, 'cortex_create_task', { tasks: [{ query: `load ${n++}`, category: 'general' }, { query: `load ${n++}`, category: 'cicd', priority: 2 }] });
      if (!r.isError) r.structuredContent.ids.forEach((id) => acked.add(id));
      else if (/^task store unreachable/.test(text(r))) down.push(Date.now() - t0);
      else other.push(text(r));
      await sleep(5);
    }
  });

  await sleep(500);
  const before = acked.size;
  assert.ok(before > 10, `creates went through before the outage (${before})`);
  redis.kill();
  await redis.exited;
  await sleep(1000);
  // While down: every tool says so, at once.
  for (const [name, args] of [['cortex_get_tasks', {}], ['cortex_get_task_status', { id: watched }],
    ['cortex_get_metrics', {}], ['cortex_list_agents', {}], ['cortex_cancel_task', { id: watched, reason: 'x' }]]) {
    const t0 = Date.now();
    const r = await call(clients[0], name, args);
    assert.equal(r.isError, true, name + ': ' + JSON.stringify(r));
    assert.match(text(r), /task store unreachable.*retry in a moment/, name);
    assert.ok(Date.now() - t0 < 3000, name + ' answered in time');
  }
  assert.ok(down.length > 0, 'creates were refused while Redis was down');

  redis = await startRedis(port, dir);
  const t0 = Date.now();
  while (acked.size < before + 20 && Date.now() - t0 < 10000) await sleep(20);
  stop = true;
  await Promise.all(load);
  assert.ok(acked.size >= before + 20, `creates go through again without a gateway restart (${acked.size - before} after)`);
  assert.deepEqual(other, [], 'no error but "task store unreachable"');
  assert.ok(Math.max(...down) < 3000, 'refusals were quick: ' + Math.max(...down) + ' ms');

  // Every acknowledged task is there.
  const listed = new Set();
  let cursor;
  do {
    const r = await call(clients[1], 'cortex_get_tasks', { limit: 500, ...(cursor ? { cursor } : {}) });
    assert.ok(!r.isError, text(r));
    r.structuredContent.tasks.forEach((t) => listed.add(t.id));
    cursor = r.structuredContent.next_cursor;
  } while (cursor);
  const lost = [...acked].filter((id) => !listed.has(id));
  assert.deepEqual(lost, [], `${acked.size} acknowledged, all listed after the restart`);
  for (const id of [...acked].slice(0, 20)) {
    const r = await call(clients[2], 'cortex_get_task_status', { id });
    assert.ok(!r.isError, text(r));
  }

  // The subscription made before the outage hears a change made after it.
  await sleep(1200); // the subscriber's reconnect backoff
  const cancel = await call(clients[3], 'cortex_cancel_task', { id: watched, reason: 'after the outage' });
  assert.ok(!cancel.isError, text(cancel));
  const deadline = Date.now() + 5000;
  let heard = false;
  while (!heard && Date.now() < deadline) {
    const m = await stream(Math.max(1, deadline - Date.now()));
    if (m === 'timeout' || m === null) break;
    heard = m.method === 'notifications/resources/updated' && m.params.uri === `cortex://tasks/${watched}`;
  }
  assert.ok(heard, 'notifications/resources/updated after Redis came back');
  assert.equal(g.child.exitCode, null, 'the gateway is still running');
  assert.ok(!g.stderr().includes(PASSWORD), 'the password is in nothing the gateway wrote');
  console.log(`# outage: ${acked.size} tasks acknowledged (${before} before), ${down.length} creates refused while down, slowest refusal ${Math.max(...down)} ms`);
});

test('a wrong Redis password stops the gateway at start, without the password in what it says', async () => {
  const port = await freePort();
  await startRedis(port, tmpDir());
  const g = startHttp(['--config', writeConfig({
    tasks: { store: 'redis', url: `redis://127.0.0.1:${port}/0`, password: { env: 'CX_TEST_REDIS_PASSWORD' } },
  })], { env: { CX_TEST_REDIS_PASSWORD: 'not-the-Password-9' } });
  running.push(g);
  g.ready.catch(() => {}); // it never listens
  const { code } = await g.exited;
  assert.notEqual(code, 0);
  assert.match(g.stderr(), /refused the credentials/);
  assert.ok(!g.stderr().includes('not-the-Password-9'));
  assert.ok(!g.stderr().includes(PASSWORD));
});
