// A slow call never holds up a ping or another session's call, and cancelling it gives its
// worker back at once — proved with a single worker, so nothing else could have served.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { startHttp, httpSession, writeConfig } from './lib.mjs';

const running = [];
after(() => running.forEach((g) => g.kill()));

async function gateway(calls) {
  const g = startHttp(['--config', writeConfig({ adapters: { testkit: {} }, calls })]);
  running.push(g);
  return { g, url: await g.ready };
}

test('a slow call does not delay a ping or another session\'s call', async () => {
  const { url } = await gateway({ workers: 2, timeout_ms: 10000 });
  const a = await httpSession(url);
  const b = await httpSession(url);
  const slow = a.call('tools/call', { name: 'testkit_sleep', arguments: { ms: 3000 } });
  await new Promise((res) => setTimeout(res, 100));
  let t0 = Date.now();
  assert.deepEqual((await a.call('ping')).result, {});
  assert.ok(Date.now() - t0 < 500, 'ping on the same session answered at once');
  t0 = Date.now();
  const r = await b.call('tools/call', { name: 'testkit_echo', arguments: { text: 'other' } });
  assert.deepEqual(r.result.structuredContent, { text: 'other' });
  assert.ok(Date.now() - t0 < 500, 'another session\'s call answered at once');
  assert.equal((await slow).result.content[0].text, 'slept');
});

test('cancelling a call frees its worker at once (one worker)', async () => {
  const { url } = await gateway({ workers: 1, timeout_ms: 20000 });
  const a = await httpSession(url);
  const b = await httpSession(url);
  // The only worker takes the slow call; the POST waits for its answer.
  const slow = a.post({ jsonrpc: '2.0', id: 'slow-1', method: 'tools/call',
    params: { name: 'testkit_sleep', arguments: { ms: 15000 } } });
  await new Promise((res) => setTimeout(res, 200));
  const t0 = Date.now();
  const cancel = await a.post({ jsonrpc: '2.0', method: 'notifications/cancelled',
    params: { requestId: 'slow-1', reason: 'operator changed their mind' } });
  assert.equal(cancel.status, 202);
  const r = await b.call('tools/call', { name: 'testkit_echo', arguments: { text: 'freed' } });
  assert.deepEqual(r.result.structuredContent, { text: 'freed' });
  assert.ok(Date.now() - t0 < 1000, 'the single worker served the next call right after the cancel');
  // The cancelled request gets no JSON-RPC answer.
  const res = await slow;
  const body = await res.text();
  assert.ok(!body.includes('"id":"slow-1"'), 'no response for a cancelled request: ' + body);
  // Another session cannot cancel it: a cancel from a naming b's request id is ignored.
  const c = b.post({ jsonrpc: '2.0', id: 'b-sleep', method: 'tools/call',
    params: { name: 'testkit_sleep', arguments: { ms: 300 } } });
  await new Promise((res) => setTimeout(res, 50));
  await a.post({ jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: 'b-sleep' } });
  const answer = await (await c).json();
  assert.equal(answer.id, 'b-sleep');
  assert.equal(answer.result.content[0].text, 'slept');
});
