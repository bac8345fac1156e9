// Ended sessions shared by the gateways of one deployment (http.ended_sessions_shared, on by
// default with the Redis task store): replicas with the same http.session_key accept each
// other's sealed session ids, so a DELETE answered by one must end the session on all of
// them — at once, for a replica started later, with its GET streams — and a failure to share
// must be said, not swallowed.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { spawn, spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { GATEWAY, httpSession, startHttp, writeConfig, tmpDir } from './lib.mjs';
import { freePort, redisTasks, running as orchRunning } from './orchestrator-lib.mjs';

const running = [];
after(() => { running.forEach((g) => g.kill()); orchRunning.forEach((p) => p.kill()); });

const A = 'token-alice-shared-0123456789a';
const hash = (t) => createHash('sha256').update(t).digest('hex');
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function keyFile() {
  const key = join(tmpDir(), 'session-key');
  writeFileSync(key, randomBytes(48).toString('base64'), { mode: 0o600 });
  return key;
}

function config(key, tasks, http = {}) {
  return writeConfig({
    adapters: { testkit: {} },
    tasks,
    http: { session_key: { file: key }, max_ended_sessions: 16, ...http },
    tokens: [{ name: 'alice', sha256: hash(A) }],
  });
}

async function start(conf) {
  const g = startHttp(['--config', conf]);
  running.push(g);
  g.url = await g.ready;
  return g;
}

const ping = async (url, s) => (await fetch(url, { method: 'POST', headers: s.headers,
  body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'ping' }) })).status;
const end = async (url, s) => (await fetch(url, { method: 'DELETE', headers: s.headers })).status;

// Milliseconds until the session answers 404 at url (or -1 after ms).
async function until404(url, s, ms = 3000) {
  const t0 = Date.now();
  while (Date.now() - t0 < ms) {
    if (await ping(url, s) === 404) return Date.now() - t0;
    await sleep(10);
  }
  return -1;
}

test('a session ended on one gateway is ended on the others at once, on one started later, and its streams there end', async () => {
  const key = keyFile();
  const tasks = await redisTasks();
  const a = await start(config(key, tasks));
  const b = await start(config(key, tasks));
  assert.match(b.stderr(), /sessions: ended sessions shared with the other gateways through redis 127\.0\.0\.1:\d+\/0 \(key 'orch-test-\d+:ended-sessions'; 0 line\(s\) read\)/);

  const s = await httpSession(a.url, { token: A });
  const kept = await httpSession(a.url, { token: A });
  assert.equal(await ping(b.url, s), 200, 'the replicas share the session key');
  assert.equal(await end(a.url, s), 204);
  const took = await until404(b.url, s);
  assert.ok(took >= 0 && took < 1000, `ended on the other gateway within 1 s (took ${took} ms)`);
  console.log(`# a session ended on one gateway answered 404 on the other after ${took} ms`);
  assert.equal(await ping(b.url, kept), 200, 'the other sessions live on');

  // A GET stream open on b ends when its session is ended on a.
  const streamed = await httpSession(a.url, { token: A });
  await streamed.post({ jsonrpc: '2.0', method: 'notifications/initialized' });
  const res = await fetch(b.url, { headers: { ...streamed.headers, Accept: 'text/event-stream' } });
  assert.equal(res.status, 200);
  const closed = (async () => { for await (const _ of res.body); return Date.now(); })(); // eslint-disable-line no-unused-vars
  await sleep(100);
  const t0 = Date.now();
  assert.equal(await end(a.url, streamed), 204);
  const tEnd = await Promise.race([closed, sleep(3000).then(() => -1)]);
  assert.ok(tEnd > 0 && tEnd - t0 < 2000, 'the stream on the other gateway ended');

  // More ends than her bound (16): a "not before" for her, on every replica.
  const older = await httpSession(a.url, { token: A });
  await sleep(1100); // the next second
  for (let i = 0; i < 17; i++) {
    const x = await httpSession(a.url, { token: A });
    assert.equal(await end(a.url, x), 204);
  }
  assert.ok(await until404(b.url, older) >= 0, "her 'not before' reached the other gateway");
  const fresh = await httpSession(a.url, { token: A });
  assert.equal(await ping(b.url, fresh), 200, 'a session she opens after it lives');

  // A gateway started later reads what was ended before it listens.
  const c = await start(config(key, tasks));
  assert.match(c.stderr(), /ended sessions shared with the other gateways .*; (\d+) line\(s\) read\)/);
  assert.equal(await ping(c.url, s), 404, 'ended before this replica started');
  assert.equal(await ping(c.url, older), 404);
  assert.equal(await ping(c.url, kept), 404, "older than her 'not before'");
  assert.equal(await ping(c.url, fresh), 200);

  // Off by choice: that replica keeps its own list only (the documented opt-out).
  const d = await start(config(key, tasks, { ended_sessions_shared: false }));
  assert.doesNotMatch(d.stderr(), /shared with the other gateways/);
  assert.equal(await ping(d.url, s), 200);
  for (const g of [a, b, c, d]) {
    g.child.kill('SIGTERM');
    const { code } = await g.exited;
    assert.equal(code, 0, g.stderr());
    assert.ok(!g.stderr().includes(A), 'no token in the log');
  }
});

test('sharing needs the Redis task store; a Redis that is down is said, and caught up with when it is back', async () => {
  const key = keyFile();
  const dir = writeConfig({ adapters: { testkit: {} }, tasks: { store: 'dir', dir: tmpDir() },
    http: { session_key: { file: key }, ended_sessions_shared: true } });
  const r = spawnSync(GATEWAY, ['--check-config', '--config', dir], { encoding: 'utf8', timeout: 20000 });
  assert.equal(r.status, 1, r.stdout + r.stderr);
  assert.match(r.stderr, /http\.ended_sessions_shared: the gateways share ended sessions through the Redis task store, and tasks\.store is not "redis" here/);

  // A Redis of this test's own, stopped and started again.
  const port = await freePort();
  const rdir = tmpDir();
  const redisUp = async () => {
    const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '',
      '--appendonly', 'yes', '--appendfsync', 'always', '--dir', rdir], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    await new Promise((res, rej) => {
      child.stdout.on('data', (d) => { out += d; if (/Ready to accept connections/.test(out)) res(); });
      child.on('exit', (code) => rej(new Error('redis-server exited with ' + code + ': ' + out)));
    });
    const p = { child, kill() { if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL'); } };
    running.push(p);
    return p;
  };
  let redis = await redisUp();
  const tasks = { store: 'redis', url: `redis://127.0.0.1:${port}/0`, timeout_ms: 500 };
  const a = await start(config(key, tasks));
  const b = await start(config(key, tasks));
  const s = await httpSession(a.url, { token: A });
  const t = await httpSession(a.url, { token: A });
  redis.kill();
  await new Promise((res) => redis.child.on('exit', res));
  // The end still holds where it was asked; that it could not be shared is logged.
  assert.equal(await end(a.url, s), 204);
  assert.equal(await ping(a.url, s), 404);
  assert.match(a.stderr(), /could not share the end of a session with the other gateways \(task store unreachable: .*\); they accept it until it is shared, as soon as .* answers again/);
  assert.equal(await ping(b.url, s), 200, 'the documented gap while Redis is down');
  // Back (its append-only file kept what was shared before): the end kept in a's outbox
  // reaches b without anyone asking again, and an end made now reaches it too.
  redis = await redisUp();
  assert.ok(await until404(b.url, s, 15000) >= 0, 'the end made while Redis was down is shared once it is back');
  assert.match(a.stderr(), /1 line\(s\) of ended sessions kept while the other gateways could not be told are shared now/);
  assert.equal(await end(a.url, t), 204);
  assert.ok(await until404(b.url, t, 8000) >= 0, 'shared again once Redis is back');
  for (const g of [a, b]) {
    g.child.kill('SIGTERM');
    const { code } = await g.exited;
    assert.equal(code, 0, g.stderr());
  }
});
