// cortex-gateway over stdio, as Claude Desktop launches it: newline-delimited JSON-RPC,
// stdout carrying protocol messages only.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import { GATEWAY, SHIPPED, startStdio, writeConfig, tmpDir } from './lib.mjs';

const running = [];
after(() => running.forEach((g) => g.kill()));
function gw(args = [], opts) { const g = startStdio(args, opts); running.push(g); return g; }

const INIT = { jsonrpc: '2.0', id: 1, method: 'initialize',
  params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'printf', version: '1' } } };

test('printf of an initialize line into the shipped gateway answers serverInfo and nothing else', () => {
  const r = spawnSync(SHIPPED, ['--stdio'], { input: JSON.stringify(INIT) + '\n', encoding: 'utf8', timeout: 10000 });
  assert.equal(r.status, 0, r.stderr);
  const lines = r.stdout.split('\n').filter((l) => l.length);
  assert.equal(lines.length, 1, 'exactly one line on stdout: ' + r.stdout);
  const msg = JSON.parse(lines[0]);
  assert.equal(msg.id, 1);
  assert.equal(msg.result.serverInfo.name, 'cortex-gateway');
  assert.equal(msg.result.protocolVersion, '2025-11-25');
  assert.ok(msg.result.capabilities.tools);
  assert.match(r.stderr, /ready/, 'diagnostics go to stderr');
});

test('the shipped gateway offers gateway_status and the task tools, and no test tools', async () => {
  const g = gw([], { bin: SHIPPED });
  await g.initialize();
  const r = await g.request('tools/list', {});
  assert.deepEqual(r.result.tools.map((t) => t.name), ['gateway_status', 'cortex_create_task', 'cortex_get_tasks',
    'cortex_get_task_status', 'cortex_list_agents', 'cortex_get_metrics', 'cortex_approve_task', 'cortex_cancel_task']);
  assert.equal((await g.close()).code, 0);
});

test('protocol version negotiation', async () => {
  for (const [asked, got] of [['2025-03-26', '2025-03-26'], ['2025-06-18', '2025-06-18'],
    ['2025-11-25', '2025-11-25'], ['2099-01-01', '2025-11-25'], ['1.0', '2025-11-25']]) {
    const g = gw();
    const r = await g.request('initialize', { protocolVersion: asked, capabilities: {}, clientInfo: { name: 't', version: '1' } }, 7);
    assert.equal(r.result.protocolVersion, got, 'asked ' + asked);
    await g.close();
  }
});

test('JSON-RPC errors: parse, invalid request, unknown method, ids echoed unchanged', async () => {
  const g = gw();
  g.send('{"jsonrpc": "2.0", "id": 1, "method": ');
  let r = await g.next();
  assert.equal(r.error.code, -32700);
  assert.equal(r.id, null);

  // ping works before initialize; other requests do not.
  r = await g.request('ping', undefined, 'p-1');
  assert.deepEqual(r, { jsonrpc: '2.0', id: 'p-1', result: {} });
  r = await g.request('tools/list', {}, 5);
  assert.equal(r.error.code, -32600);
  assert.equal(r.id, 5);

  await g.initialize();
  g.send({ jsonrpc: '1.0', id: 9, method: 'ping' });
  r = await g.next();
  assert.equal(r.error.code, -32600);
  g.send({ jsonrpc: '2.0', id: null, method: 'ping' });
  r = await g.next();
  assert.equal(r.error.code, -32600);
  assert.equal(r.id, null);
  r = await g.request('no/such/method', {}, 'abc-\u00e9');
  assert.equal(r.error.code, -32601);
  assert.equal(r.id, 'abc-\u00e9');
  // Big integer and real ids come back as sent.
  g.send('{"jsonrpc":"2.0","id":9007199254740993,"method":"ping"}');
  const raw = await new Promise((res) => g.child.stdout.once('data', (d) => res(d.toString())));
  assert.match(raw, /"id":9007199254740993/);
  await g.next(); // drain the parsed copy
  // A notification, even an unknown one, is never answered: the next line is the ping's.
  g.send({ jsonrpc: '2.0', method: 'notifications/whatever', params: {} });
  r = await g.request('ping', undefined, 42);
  assert.equal(r.id, 42);
  // A response from the client (to a server request) is not answered either.
  g.send({ jsonrpc: '2.0', id: 'srv-1', result: {} });
  r = await g.request('ping', undefined, 43);
  assert.equal(r.id, 43);
  assert.equal(g.pending(), 0);
  assert.equal((await g.close()).code, 0);
});

test('batches: rejected for 2025-06-18 and later, answered for 2025-03-26', async () => {
  let g = gw();
  await g.initialize('2025-06-18');
  g.send([{ jsonrpc: '2.0', id: 1, method: 'ping' }, { jsonrpc: '2.0', id: 2, method: 'ping' }]);
  let r = await g.next();
  assert.equal(r.error.code, -32600);
  assert.equal(r.id, null);
  await g.close();

  g = gw();
  await g.initialize('2025-03-26');
  g.send([{ jsonrpc: '2.0', id: 1, method: 'ping' }, { jsonrpc: '2.0', method: 'notifications/x' },
    { jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name: 'gateway_status' } }]);
  r = await g.next();
  assert.ok(Array.isArray(r));
  assert.deepEqual(r.map((m) => m.id).sort(), [1, 2]);
  await g.close();
});

test('tools/list pages with cursors; a bad cursor is -32602', async () => {
  const g = gw(['--config', writeConfig({ tools: { page_size: 2 }, adapters: { testkit: {} } })]);
  await g.initialize();
  const names = [];
  const list = [];
  let cursor;
  let pages = 0;
  do {
    const r = await g.request('tools/list', cursor ? { cursor } : {});
    assert.ok(r.result.tools.length <= 2);
    names.push(...r.result.tools.map((t) => t.name));
    list.push(...r.result.tools);
    cursor = r.result.nextCursor;
    pages++;
  } while (cursor && pages < 20);
  assert.equal(names[0], 'gateway_status');
  assert.equal(new Set(names).size, names.length, 'no tool twice');
  assert.ok(names.includes('testkit_echo') && names.includes('testkit_delete'));
  assert.equal(pages, Math.ceil(names.length / 2));
  const bad = await g.request('tools/list', { cursor: 'not-a-cursor' });
  assert.equal(bad.error.code, -32602);
  const del = list.find((t) => t.name === 'testkit_delete');
  assert.deepEqual(del.annotations, { readOnlyHint: false, destructiveHint: true, idempotentHint: false, openWorldHint: true });
  await g.close();
});

test('tools/call: results, isError naming the field, unknown tool, output contract, deadlines', async () => {
  const dir = tmpDir();
  const audit = join(dir, 'audit.log');
  const g = gw(['--config', writeConfig({ calls: { timeout_ms: 300, max_output_bytes: 2048 }, adapters: { testkit: {} } }),
    '--audit-file', audit]);
  await g.initialize();
  let r = await g.request('tools/call', { name: 'testkit_echo', arguments: { text: 'hi', mode: 'upper', count: 2, password: 'hunter2' } });
  assert.equal(r.result.isError, undefined);
  assert.deepEqual(r.result.structuredContent, { text: 'HIHI' });
  assert.deepEqual(JSON.parse(r.result.content[0].text), { text: 'HIHI' });

  r = await g.request('tools/call', { name: 'testkit_echo', arguments: { text: 'hi', count: 9 } });
  assert.equal(r.result.isError, true);
  assert.match(r.result.content[0].text, /arguments\.count/);
  r = await g.request('tools/call', { name: 'testkit_echo', arguments: { text: 'hi', tag: 'Bad Tag' } });
  assert.match(r.result.content[0].text, /arguments\.tag/);
  r = await g.request('tools/call', { name: 'testkit_echo', arguments: {} });
  assert.match(r.result.content[0].text, /text/);
  r = await g.request('tools/call', { name: 'testkit_echo', arguments: { text: 'x', extra: 1 } });
  assert.match(r.result.content[0].text, /extra/);
  r = await g.request('tools/call', { name: 'testkit_echo', arguments: 'text' });
  assert.equal(r.error.code, -32602);

  r = await g.request('tools/call', { name: 'no_such_tool', arguments: {} });
  assert.equal(r.error.code, -32602);
  r = await g.request('tools/call', { name: 'testkit_fail' });
  assert.equal(r.result.isError, true);
  r = await g.request('tools/call', { name: 'testkit_badoutput', arguments: {} });
  assert.equal(r.result.isError, true);
  assert.match(r.result.content[0].text, /outputSchema/);
  r = await g.request('tools/call', { name: 'testkit_big', arguments: { bytes: 100 } });
  assert.equal(r.result.content[0].text.length, 100);
  r = await g.request('tools/call', { name: 'testkit_big', arguments: { bytes: 5000 } });
  assert.equal(r.result.isError, true);
  assert.match(r.result.content[0].text, /limit/);

  // A call past its deadline is answered with isError, and a ping is not held up by it.
  const t0 = Date.now();
  g.send({ jsonrpc: '2.0', id: 'slow', method: 'tools/call', params: { name: 'testkit_sleep', arguments: { ms: 5000 } } });
  g.send({ jsonrpc: '2.0', id: 'quick', method: 'ping' });
  const first = await g.next();
  assert.equal(first.id, 'quick');
  const slow = await g.next();
  assert.equal(slow.id, 'slow');
  assert.equal(slow.result.isError, true);
  assert.match(slow.result.content[0].text, /did not finish within 300 ms/);
  assert.ok(Date.now() - t0 < 3000, 'abandoned at the deadline, not after the sleep');
  assert.equal((await g.close()).code, 0);

  const lines = readFileSync(audit, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  const echo = lines.find((l) => l.tool === 'testkit_echo' && l.outcome === 'ok');
  assert.equal(echo.caller, 'stdio');
  assert.equal(echo.arguments.password, '[redacted]');
  assert.equal(echo.arguments.text, 'hi');
  assert.equal(typeof echo.duration_ms, 'number');
  assert.ok(lines.some((l) => l.tool === 'testkit_fail' && l.outcome === 'isError'));
  assert.ok(lines.some((l) => l.tool === 'testkit_sleep' && l.outcome === 'isError'));
  assert.ok(!readFileSync(audit, 'utf8').includes('hunter2'), 'the secret never reaches the audit log');
});

test('the audit file is appended across restarts', async () => {
  const audit = join(tmpDir(), 'audit.log');
  for (let i = 0; i < 2; i++) {
    const g = gw(['--audit-file', audit]);
    await g.initialize();
    await g.request('tools/call', { name: 'gateway_status' });
    await g.close();
  }
  const lines = readFileSync(audit, 'utf8').trim().split('\n');
  assert.equal(lines.length, 2);
});

test('SIGHUP reopens the audit file after rotation', async () => {
  const dir = tmpDir();
  const audit = join(dir, 'audit.log');
  const g = gw(['--audit-file', audit]);
  await g.initialize();
  await g.request('tools/call', { name: 'gateway_status' });
  renameSync(audit, audit + '.1');
  g.child.kill('SIGHUP');
  // The reopen happens on the signal thread; poll until the new file exists.
  for (let i = 0; i < 100 && !existsSync(audit); i++) {
    await g.request('tools/call', { name: 'gateway_status' });
    await new Promise((res) => setTimeout(res, 20));
  }
  assert.equal((await g.close()).code, 0);
  assert.equal(readFileSync(audit + '.1', 'utf8').trim().split('\n').length >= 1, true);
  assert.ok(readFileSync(audit, 'utf8').trim().split('\n').length >= 1, 'lines after SIGHUP go to the new file');
});

test('SIGTERM finishes the call in flight, then exits 0', async () => {
  const g = gw(['--config', writeConfig({ adapters: { testkit: {} } })]);
  await g.initialize();
  g.send({ jsonrpc: '2.0', id: 'inflight', method: 'tools/call', params: { name: 'testkit_sleep', arguments: { ms: 700 } } });
  await new Promise((res) => setTimeout(res, 200));
  g.child.kill('SIGTERM');
  const r = await g.next();
  assert.equal(r.id, 'inflight');
  assert.equal(r.result.isError, undefined);
  const { code } = await g.exited;
  assert.equal(code, 0);
});

test('bad configuration fails start-up, naming the key', () => {
  let r = spawnSync(GATEWAY, ['--stdio', '--config', writeConfig({ http: { max_bodyy: 1 } })], { input: '', encoding: 'utf8' });
  assert.notEqual(r.status, 0);
  assert.match(r.stderr, /http\.max_bodyy/);
  r = spawnSync(GATEWAY, ['--stdio', '--config', writeConfig({ adapters: { nosuch: {} } })], { input: '', encoding: 'utf8' });
  assert.notEqual(r.status, 0);
  assert.match(r.stderr, /nosuch/);
  r = spawnSync(GATEWAY, ['--stdio', '--config', '/nonexistent/cortex.json'], { input: '', encoding: 'utf8' });
  assert.notEqual(r.status, 0);
  assert.match(r.stderr, /nonexistent/);
  r = spawnSync(GATEWAY, ['--bogus-flag'], { encoding: 'utf8' });
  assert.equal(r.status, 2);
  r = spawnSync(GATEWAY, ['--check-config', '--config', writeConfig({ adapters: { testkit: {} } })], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /config ok/);
});

test('--hash-token prints the SHA-256 operators put in the config', () => {
  const r = spawnSync(SHIPPED, ['--hash-token'], { input: 's3cret-token\n', encoding: 'utf8' });
  assert.equal(r.status, 0);
  assert.equal(r.stdout.trim(), createHash('sha256').update('s3cret-token').digest('hex'));
});

test('--help and --version', () => {
  const h = spawnSync(SHIPPED, ['--help'], { encoding: 'utf8' });
  assert.equal(h.status, 0);
  assert.match(h.stdout, /--stdio/);
  assert.match(h.stdout, /--listen/);
  const v = spawnSync(SHIPPED, ['--version'], { encoding: 'utf8' });
  assert.match(v.stdout, /^cortex-gateway \d+\.\d+\.\d+/);
});
