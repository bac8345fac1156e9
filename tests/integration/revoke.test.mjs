// Ending sessions (DELETE) cannot be blocked by another client, and an ended session never
// comes back: the list of ended sessions is bounded per token (http.max_ended_sessions), and a
// token past its bound has all of its own older sessions ended at once instead.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { httpSession, startHttp, writeConfig } from './lib.mjs';

const running = [];
after(() => running.forEach((g) => g.kill()));

const A = 'token-alice-0123456789abcdef';
const B = 'token-bob-0123456789abcdef01';
const hash = (t) => createHash('sha256').update(t).digest('hex');

async function ping(s) {
  const r = await s.post({ jsonrpc: '2.0', id: 1, method: 'ping' });
  return r.status;
}

async function end(url, s) {
  return (await fetch(url, { method: 'DELETE', headers: s.headers })).status;
}

test('one token ending sessions past its bound never stops another from ending its own', async () => {
  const g = startHttp(['--config', writeConfig({
    adapters: { testkit: {} },
    http: { max_ended_sessions: 16 },
    tokens: [{ name: 'alice', sha256: hash(A) }, { name: 'bob', sha256: hash(B) }],
  })]);
  running.push(g);
  const url = await g.ready;
  const bobKept = await httpSession(url, { token: B });
  const bobEnded = await httpSession(url, { token: B });
  assert.equal(await end(url, bobEnded), 204);
  const aliceOld = await httpSession(url, { token: A });
  assert.equal(await ping(aliceOld), 200);
  // Sessions are issued by the second: the bump below ends those issued before its second.
  await new Promise((r) => setTimeout(r, 1100));

  // Alice churns: 40 sessions started and ended, more than twice her bound.
  const aliceEnded = [];
  for (let i = 0; i < 40; i++) {
    const s = await httpSession(url, { token: A });
    assert.equal(await end(url, s), 204, `DELETE ${i}`);
    aliceEnded.push(s);
  }
  // Every session she ended stays ended.
  for (const s of aliceEnded) assert.equal(await ping(s), 404);
  // Her session from before the churn (an earlier second) was ended with her older ones.
  assert.equal(await ping(aliceOld), 404);
  assert.match(g.stderr(), /'alice' ended more than 16 sessions within their lifetime/);
  // A new session of hers works.
  const aliceNew = await httpSession(url, { token: A });
  assert.equal(await ping(aliceNew), 200);

  // Bob: his ended session stays ended, his other one lives, and he can still end it.
  assert.equal(await ping(bobEnded), 404);
  assert.equal(await ping(bobKept), 200);
  assert.equal(await end(url, bobKept), 204);
  assert.equal(await ping(bobKept), 404);
  g.child.kill('SIGTERM');
  const { code } = await g.exited;
  assert.equal(code, 0, g.stderr());
  assert.doesNotMatch(g.stderr(), /Sanitizer|runtime error/);
  assert.ok(!g.stderr().includes(A) && !g.stderr().includes(B), 'no token in the log');
});
