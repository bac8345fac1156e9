// What one 2025-03-26 JSON-RPC batch may cost: at most calls.max_batch members (counted before
// the body is parsed) and calls.max_batch_reply_bytes of answers, so that 16 clients sending
// 18,000-member batches cannot make the gateway build gigabytes of replies.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { httpSession, startHttp, startStdio, writeConfig } from './lib.mjs';

const running = [];
after(() => running.forEach((g) => g.kill()));

async function gateway(calls = {}) {
  const g = startHttp(['--config', writeConfig({ adapters: { testkit: {} }, calls })]);
  running.push(g);
  g.url = await g.ready;
  return g;
}

const list = (n, method = 'tools/list') =>
  Array.from({ length: n }, (_, i) => ({ jsonrpc: '2.0', id: i + 1, method }));

async function postBatch(s, batch) {
  const r = await fetch(s.url, { method: 'POST', headers: s.headers, body: JSON.stringify(batch) });
  return { status: r.status, text: await r.text() };
}

async function session(g) {
  const s = await httpSession(g.url, { version: '2025-03-26' });
  s.url = g.url;
  return s;
}

function kib(pid, field) {
  const m = readFileSync(`/proc/${pid}/status`, 'utf8').match(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm'));
  return Number(m[1]);
}

test('a batch longer than calls.max_batch is refused whole, before it is parsed', async () => {
  const g = await gateway({ max_batch: 10 });
  const s = await session(g);
  const ok = await postBatch(s, list(10, 'ping'));
  assert.equal(ok.status, 200, ok.text);
  assert.equal(JSON.parse(ok.text).length, 10);
  const big = await postBatch(s, list(11, 'ping'));
  assert.equal(big.status, 400, big.text);
  const e = JSON.parse(big.text);
  assert.equal(e.error.code, -32600);
  assert.equal(e.id, null);
  assert.match(e.error.message, /a batch of more than 10 messages \(calls\.max_batch\)/);
  // Strings holding commas and brackets are not members.
  const tricky = list(10, 'ping');
  tricky[0].params = { _meta: { note: '[1,2,3,{"a":[4,5]}],,,' } };
  assert.equal((await postBatch(s, tricky)).status, 200);
});

test('over stdio too', async () => {
  const g = startStdio(['--config', writeConfig({ adapters: { testkit: {} }, calls: { max_batch: 3 } })]);
  running.push(g);
  await g.request('initialize', { protocolVersion: '2025-03-26', capabilities: {}, clientInfo: { name: 't', version: '1' } });
  g.child.stdin.write(JSON.stringify(list(4, 'ping')) + '\n');
  const msg = await g.next();
  assert.equal(msg.error?.code, -32600, JSON.stringify(msg));
  assert.match(msg.error.message, /calls\.max_batch/);
  await g.close();
});

test('answers past calls.max_batch_reply_bytes become short errors; the reply stays under the cap', async () => {
  const g = await gateway({ max_batch_reply_bytes: 65536 });
  const s = await session(g);
  const one = await postBatch(s, list(1));
  const each = one.text.length;
  assert.ok(each > 4096 && each < 32768, `one tools/list answer is ${each} bytes`);
  const r = await postBatch(s, list(20));
  assert.equal(r.status, 200);
  assert.ok(r.text.length <= 65536, `reply of ${r.text.length} bytes`);
  const answers = JSON.parse(r.text);
  assert.equal(answers.length, 20, 'every member is answered');
  const full = answers.filter((a) => a.result);
  const dropped = answers.filter((a) => a.error);
  assert.ok(full.length >= 1 && full.length < 20, `${full.length} in full`);
  assert.equal(full.length + dropped.length, 20);
  for (const a of dropped) {
    assert.equal(a.error.code, -32603);
    assert.match(a.error.message, /passed 65536 bytes \(calls\.max_batch_reply_bytes\)/);
    assert.ok(a.id >= 1 && a.id <= 20);
  }
});

test('16 clients sending 18,000-member batches at once: peak memory stays near idle', async () => {
  const g = await gateway();
  const sessions = [];
  for (let i = 0; i < 16; i++) sessions.push(await session(g));
  const pid = g.child.pid;
  const idle = kib(pid, 'VmRSS');
  const attack = JSON.stringify(list(18000));
  assert.ok(attack.length > 800000 && attack.length < 1048576, `${attack.length} bytes`);
  for (let round = 0; round < 3; round++) {
    const rs = await Promise.all(sessions.map((s) =>
      fetch(s.url, { method: 'POST', headers: s.headers, body: attack }).then((r) => r.status)));
    assert.deepEqual([...new Set(rs)], [400]);
  }
  // The largest batch allowed (64 tools/list), 16 at once, 3 times.
  for (let round = 0; round < 3; round++) {
    const rs = await Promise.all(sessions.map((s) => postBatch(s, list(64))));
    for (const r of rs) assert.equal(JSON.parse(r.text).length, 64);
  }
  const peak = kib(pid, 'VmHWM');
  const grew = (peak - idle) / 1024;
  // Before: 1.45 GB for the 18,000-member batches. Now a few MB: the body buffers (1 MiB
  // each at most) and 16 replies of 64 answers. AddressSanitizer (make check) keeps freed
  // memory in quarantine (256 MB by default), so the figure is judged on the plain build only.
  const asan = readFileSync(`/proc/${pid}/maps`, 'utf8').includes('libasan');
  if (!asan)
    assert.ok(grew < 8, `peak RSS ${Math.round(peak / 1024)} MB, idle ${Math.round(idle / 1024)} MB`);
  console.log(`# batch attack${asan ? ' (AddressSanitizer build: not judged)' : ''}: idle ${(idle / 1024).toFixed(1)} MB, peak ${(peak / 1024).toFixed(1)} MB (+${grew.toFixed(1)} MB)`);
});
