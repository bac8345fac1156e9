// notifications/tools/list_changed over HTTP: every session with a GET stream open hears it,
// once, when an adapter withdraws or restores a tool.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { startHttp, httpSession, writeConfig } from './lib.mjs';

const running = [];
after(() => running.forEach((g) => g.kill()));

// Data lines of an SSE response, one message at a time (null at the end, 'timeout' after ms).
function reader(res) {
  const r = res.body.getReader();
  const dec = new TextDecoder();
  let buf = '';
  let pending = null;             // a read that outlived a timeout keeps its chunk
  return async function next(ms = 3000) {
    const deadline = Date.now() + ms;
    for (;;) {
      const i = buf.indexOf('\n\n');
      if (i >= 0) {
        const block = buf.slice(0, i);
        buf = buf.slice(i + 2);
        const data = block.split('\n').filter((l) => l.startsWith('data:')).map((l) => l.slice(5).trim()).join('');
        if (data) return JSON.parse(data);
        continue;
      }
      const left = deadline - Date.now();
      if (left <= 0) return 'timeout';
      pending = pending || r.read();
      const chunk = await Promise.race([pending, new Promise((res) => setTimeout(() => res('timeout'), left))]);
      if (chunk === 'timeout') return 'timeout';
      pending = null;
      if (chunk.done) return null;
      buf += dec.decode(chunk.value, { stream: true });
    }
  };
}

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
    streams.push(reader(res));
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
