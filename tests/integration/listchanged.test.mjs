// notifications/tools/list_changed over HTTP: every session with a GET stream open hears it,
// once, when an adapter withdraws or restores a tool.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { startHttp, httpSession, sseMessages, writeConfig } from './lib.mjs';

const running = [];
after(() => running.forEach((g) => g.kill()));

test('every session with an open stream hears list_changed once', async () => {
  const g = startHttp(['--config', writeConfig({ adapters: { testkit: {} } })]);
  running.push(g);
  const url = await g.ready;
  const a = await httpSession(url);
  const b = await httpSession(url);
  assert.equal(a.initBody.result.capabilities.tools.listChanged, true);
  const streams = [];
  for (const s of [a, b]) {
    const res = await fetch(url, { headers: { ...s.headers, Accept: 'text/event-stream' } });
    assert.equal(res.status, 200);
    streams.push(sseMessages(res));
  }
  let r = await a.call('tools/call', { name: 'testkit_withdraw', arguments: { tool: 'testkit_sleep', available: false } });
  assert.equal(r.result.content[0].text, 'done');
  for (const next of streams) {
    const m = await next();
    assert.equal(m.method, 'notifications/tools/list_changed');
    assert.equal(await next(300), 'timeout', 'once per session');
  }
  r = await b.call('tools/list', {});
  assert.ok(!r.result.tools.some((t) => t.name === 'testkit_sleep'));
  await a.call('tools/call', { name: 'testkit_withdraw', arguments: { tool: 'testkit_sleep', available: true } });
  for (const next of streams) assert.equal((await next()).method, 'notifications/tools/list_changed');
  r = await b.call('tools/list', {});
  assert.ok(r.result.tools.some((t) => t.name === 'testkit_sleep'));
});
