// Shutdown under load: SIGTERM lets the calls already running finish, answers the calls still
// queued at once (a retryable isError: the client goes to another replica), and exits after
// about as long as the longest running call, never longer than calls.drain_grace_ms.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { httpSession, startHttp, writeConfig } from './lib.mjs';

const running = [];
after(() => running.forEach((g) => g.kill()));

async function gateway(config = {}) {
  const g = startHttp(['--config', writeConfig({ adapters: { testkit: {} }, ...config })]);
  running.push(g);
  g.url = await g.ready;
  return g;
}

function sleepCall(s, id, ms) {
  return s.post({ jsonrpc: '2.0', id, method: 'tools/call',
    params: { name: 'testkit_sleep', arguments: { ms } } }).then((r) => r.json());
}

// Time for every request to arrive (and the first ones to reach a worker) on a loaded machine.
const settle = (ms) => new Promise((r) => setTimeout(r, ms));

test('SIGTERM with 50 three-second calls: queued ones are answered at once, exit in about 3 s', async (t) => {
  // max_per_adapter 8: all eight workers may run the test kit's calls.
  const g = await gateway({ calls: { workers: 8, max_per_adapter: 8 } });
  const s = await httpSession(g.url);
  const calls = [];
  for (let i = 0; i < 50; i++) calls.push(sleepCall(s, 100 + i, 3000));
  // Every request has arrived (8 run, 42 wait for a worker) when the gateway counts 50 in flight.
  const metrics = g.url.replace('/mcp', '/metrics');
  for (let i = 0; i < 100; i++) {
    const m = (await (await fetch(metrics)).text()).match(/^cortex_calls_in_flight (\d+)/m);
    if (m && Number(m[1]) === 50) break;
    await settle(50);
  }
  const t0 = Date.now();
  g.child.kill('SIGTERM');
  const answers = await Promise.all(calls);
  const { code } = await g.exited;
  const took = Date.now() - t0;
  assert.equal(code, 0, g.stderr());
  // Under make check a leak or a use after free at shutdown shows here.
  assert.doesNotMatch(g.stderr(), /Sanitizer|runtime error/, g.stderr());
  const ok = answers.filter((a) => a.result && !a.result.isError);
  const shed = answers.filter((a) => a.result?.isError);
  assert.equal(ok.length + shed.length, 50, JSON.stringify(answers.filter((a) => !a.result)));
  assert.equal(ok.length, 8, 'the eight running calls finish');
  for (const a of shed)
    assert.match(a.result.content[0].text, /was not run: the gateway is shutting down; retry/);
  // Before: 22 s (the queue ran to the end, eight at a time). Now: the running calls' 3 s.
  assert.ok(took < 7000, `exit took ${took} ms`);
  t.diagnostic(`exit took ${took} ms after SIGTERM`);
  assert.match(g.stderr(), /answered 42 queued call\(s\) as shutting down/);
});

test('calls.drain_grace_ms bounds the wait for a running call', async () => {
  const g = await gateway({ calls: { drain_grace_ms: 400 } });
  const s = await httpSession(g.url);
  const call = sleepCall(s, 7, 20000);
  await settle(500);
  const t0 = Date.now();
  g.child.kill('SIGTERM');
  const a = await call;
  const { code } = await g.exited;
  const took = Date.now() - t0;
  assert.equal(code, 0, g.stderr());
  // Under make check a leak or a use after free at shutdown shows here.
  assert.doesNotMatch(g.stderr(), /Sanitizer|runtime error/, g.stderr());
  assert.equal(a.result?.isError, true, JSON.stringify(a));
  assert.match(a.result.content[0].text, /shutting down/);
  assert.ok(took < 5000, `exit took ${took} ms`);
});

