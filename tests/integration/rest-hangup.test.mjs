// Clients that hang up on the REST routes at every moment — before the answer, while a task's
// event stream is being opened, right after — must leave nothing behind: no stream pointing at
// a request that is gone (a use-after-free ASan caught: the stream's tap was freed with the
// request), no request counted as waiting (the stop then waited its full 10 s and left the
// listener open). The gateway then stops at once, cleanly.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { startHttp, writeConfig, tmpDir } from './lib.mjs';

const running = [];
after(() => running.forEach((g) => g.kill()));

for (const route of ['task events', 'task', 'list', 'feed']) {
  test(`aborted GET ${route} requests, 60 of them at staggered moments: the gateway stops at once`, async () => {
    const g = startHttp(['--config', writeConfig({ adapters: { testkit: {} }, tasks: { store: 'dir', dir: tmpDir(), fsync: false } })]);
    running.push(g);
    const url = new URL(await g.ready).origin;
    const made = await (await fetch(url + '/v1/tasks', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: '{"query":"held open"}' })).json();
    const id = made.structuredContent.ids[0];
    const path = { 'task events': `/v1/tasks/${id}/events`, task: `/v1/tasks/${id}`, list: '/v1/tasks?limit=200', feed: '/v1/events' }[route];
    const pending = [];
    for (let i = 0; i < 60; i++) {
      const ac = new AbortController();
      pending.push(fetch(url + path, { headers: { Accept: 'text/event-stream' }, signal: ac.signal })
        .then((r) => r.body.getReader().read()).catch(() => {}));
      setTimeout(() => ac.abort(), i % 7);
      if (i % 5 === 0) {
        pending.push(fetch(url + '/v1/tasks', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: '{"query":"a change"}' }).catch(() => {}));
      }
      await new Promise((res) => setTimeout(res, 3));
    }
    await Promise.all(pending);
    await new Promise((res) => setTimeout(res, 500));
    // Still serving.
    assert.equal((await fetch(url + '/healthz')).status, 200);
    const t0 = Date.now();
    g.child.kill('SIGTERM');
    const { code, signal } = await g.exited;
    assert.equal(signal, null, g.stderr());
    assert.equal(code, 0, g.stderr());
    assert.ok(Date.now() - t0 < 5000, `stopped after ${Date.now() - t0} ms`);
    assert.doesNotMatch(g.stderr(), /still wait|Sanitizer|runtime error/, g.stderr());
  });
}
