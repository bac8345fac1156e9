// Tasks (the io.modelcontextprotocol/tasks extension, SEP-2663) in the stateless revision: a
// task-supporting tool called by a client that declares the extension answers at once with a
// task id; tasks/get polls it (result or error inlined), tasks/update answers its questions,
// tasks/cancel stops it. Tasks belong to the token that created them, and every run of the
// tool is audited like any call. Driven against the conformance fixtures (slow_compute,
// failing_job, protocol_error_job, confirm_delete, multi_input, test_tool_with_task).
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { startHttp, writeConfig, tmpDir } from './lib.mjs';

const V = '2026-07-28';
const EXT = 'io.modelcontextprotocol/tasks';
const sha = (s) => createHash('sha256').update(s).digest('hex');
const TOKENS = { alice: 'alice-token-1', bob: 'bob-token-2' };
const withTasks = { elicitation: {}, sampling: {}, extensions: { [EXT]: {} } };

let g;
let audit;
let nextId = 1;

before(async () => {
  audit = join(tmpDir(), 'audit.log');
  const cfg = writeConfig({
    adapters: { conformance: {} },
    tokens: [{ name: 'alice', sha256: sha(TOKENS.alice) }, { name: 'bob', sha256: sha(TOKENS.bob) }],
  });
  g = startHttp(['--config', cfg, '--audit-file', audit]);
  g.url = await g.ready;
});
after(() => g?.kill());

// One stateless request; resolves { status, body }.
async function rpc(method, params = {}, { token = 'alice', caps = withTasks, headers = {} } = {}) {
  const id = nextId++;
  const h = {
    'Content-Type': 'application/json', Accept: 'application/json, text/event-stream',
    'MCP-Protocol-Version': V, 'Mcp-Method': method, Authorization: `Bearer ${TOKENS[token]}`,
  };
  const name = method.startsWith('tasks/') ? params.taskId : params.name;
  if (typeof name === 'string') h['Mcp-Name'] = name;
  const body = {
    jsonrpc: '2.0', id, method,
    params: { ...params, _meta: { 'io.modelcontextprotocol/protocolVersion': V, 'io.modelcontextprotocol/clientCapabilities': caps } },
  };
  const res = await fetch(g.url, { method: 'POST', headers: { ...h, ...headers }, body: JSON.stringify(body) });
  const text = await res.text();
  let parsed;
  if ((res.headers.get('content-type') ?? '').startsWith('text/event-stream')) {
    parsed = text.split('\n').filter((l) => l.startsWith('data:')).map((l) => JSON.parse(l.slice(5)))
      .find((m) => m.id === id);
  } else {
    parsed = JSON.parse(text);
  }
  assert.equal(parsed.id, id, 'the answer carries the request id');
  return { status: res.status, body: parsed };
}

const call = (name, args, opts) => rpc('tools/call', { name, arguments: args }, opts);

async function untilStatus(taskId, want, opts, ms = 8000) {
  const end = Date.now() + ms;
  for (;;) {
    const { body } = await rpc('tasks/get', { taskId }, opts);
    assert.ok(body.result, `tasks/get failed: ${JSON.stringify(body.error)}`);
    if (want.includes(body.result.status)) return body.result;
    if (Date.now() > end) assert.fail(`task ${taskId} stayed ${body.result.status}, wanted ${want}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
const TERMINAL = ['completed', 'failed', 'cancelled'];

test('discover advertises the extension under capabilities.extensions', async () => {
  const { body } = await rpc('server/discover');
  assert.deepEqual(body.result.capabilities.extensions[EXT], {});
  assert.equal(body.result.capabilities.tasks, undefined);
});

test('a task runs to completion: CreateTaskResult, working, then the result inlined', async () => {
  const { body } = await call('slow_compute', { seconds: 0.5, label: 'life' });
  const t = body.result;
  assert.equal(t.resultType, 'task');
  assert.match(t.taskId, /^task-[0-9a-f]{32}$/);
  assert.equal(t.status, 'working');
  assert.match(t.createdAt, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d/);
  assert.ok(Number.isInteger(t.ttlMs) && t.ttlMs > 0 && Number.isInteger(t.pollIntervalMs));
  for (const k of ['result', 'error', 'inputRequests', 'requestState', 'task', 'ttl']) assert.ok(!(k in t), k);

  const now = (await rpc('tasks/get', { taskId: t.taskId })).body.result;
  assert.equal(now.taskId, t.taskId);
  assert.equal(now.status, 'working');
  assert.equal(now.result, undefined);

  const done = await untilStatus(t.taskId, TERMINAL);
  assert.equal(done.status, 'completed');
  assert.equal(done.resultType, 'complete');
  assert.equal(done.result.content[0].text, "slow_compute 'life' finished after 0.5 s");
  assert.equal(done.result.resultType, undefined, 'the inlined result is a plain CallToolResult');
  assert.equal(done.error, undefined);
});

test('a tool error completes the task with isError; an internal fault fails it with the error', async () => {
  const failing = (await call('failing_job', {})).body.result;
  const f = await untilStatus(failing.taskId, TERMINAL);
  assert.equal(f.status, 'completed');
  assert.equal(f.result.isError, true);

  const broken = (await call('protocol_error_job', {})).body.result;
  const b = await untilStatus(broken.taskId, TERMINAL);
  assert.equal(b.status, 'failed');
  assert.equal(b.error.code, -32603);
  assert.equal(typeof b.error.message, 'string');
  assert.equal(b.result, undefined);
});

test('tasks/cancel stops a running task; it is idempotent and answers an empty ack', async () => {
  const t = (await call('slow_compute', { seconds: 60, label: 'cancel-me' })).body.result;
  const started = Date.now();
  const ack = (await rpc('tasks/cancel', { taskId: t.taskId })).body.result;
  assert.deepEqual(ack, { resultType: 'complete' });
  const c = await untilStatus(t.taskId, TERMINAL);
  assert.equal(c.status, 'cancelled');
  assert.equal(c.result, undefined);
  assert.ok(Date.now() - started < 5000);
  // Again on the terminal task: the same ack, the status stays.
  assert.deepEqual((await rpc('tasks/cancel', { taskId: t.taskId })).body.result, { resultType: 'complete' });
  assert.equal((await rpc('tasks/get', { taskId: t.taskId })).body.result.status, 'cancelled');
  // A completed task is not turned into a cancelled one.
  const quick = (await call('slow_compute', { seconds: 0, label: 'quick' })).body.result;
  await untilStatus(quick.taskId, TERMINAL);
  await rpc('tasks/cancel', { taskId: quick.taskId });
  assert.equal((await rpc('tasks/get', { taskId: quick.taskId })).body.result.status, 'completed');
});

test('input required inside a task: tasks/update answers, partial answers keep it waiting', async () => {
  const t = (await call('confirm_delete', { filename: 'a.txt' })).body.result;
  const waiting = await untilStatus(t.taskId, ['input_required', ...TERMINAL]);
  assert.equal(waiting.status, 'input_required');
  assert.equal(waiting.inputRequests.confirm.method, 'elicitation/create');
  assert.equal(waiting.requestState, undefined);
  // An answer to a question nobody asked changes nothing.
  let ack = (await rpc('tasks/update', { taskId: t.taskId, inputResponses: { nope: { action: 'accept' } } })).body.result;
  assert.deepEqual(ack, { resultType: 'complete' });
  assert.equal((await rpc('tasks/get', { taskId: t.taskId })).body.result.status, 'input_required');
  ack = (await rpc('tasks/update', { taskId: t.taskId, inputResponses: { confirm: { action: 'accept', content: { confirm: true } } } })).body.result;
  assert.deepEqual(ack, { resultType: 'complete' });
  const done = await untilStatus(t.taskId, TERMINAL);
  assert.equal(done.status, 'completed');
  assert.equal(done.result.content[0].text, "deleted 'a.txt'");

  const m = (await call('multi_input', {})).body.result;
  const two = await untilStatus(m.taskId, ['input_required', ...TERMINAL]);
  assert.deepEqual(Object.keys(two.inputRequests).sort(), ['first', 'second']);
  await rpc('tasks/update', { taskId: m.taskId, inputResponses: { first: { action: 'accept', content: { name: 'x' } } } });
  const one = (await rpc('tasks/get', { taskId: m.taskId })).body.result;
  assert.equal(one.status, 'input_required');
  assert.deepEqual(Object.keys(one.inputRequests), ['second']);
  await rpc('tasks/update', { taskId: m.taskId, inputResponses: { second: { action: 'accept', content: { name: 'y' } } } });
  const both = await untilStatus(m.taskId, TERMINAL);
  assert.equal(both.status, 'completed');
  assert.equal(both.result.content[0].text, 'both answers received');

  // tasks/update needs an object of answers.
  const bad = (await rpc('tasks/update', { taskId: m.taskId, inputResponses: 5 })).body;
  assert.equal(bad.error.code, -32602);
});

test('a late task gathers input as an ordinary call, then becomes a task', async () => {
  const r1 = (await call('test_tool_with_task', {})).body.result;
  assert.equal(r1.resultType, 'input_required');
  assert.equal(r1.taskId, undefined);
  const r2 = (await rpc('tools/call', {
    name: 'test_tool_with_task', arguments: {}, requestState: r1.requestState,
    inputResponses: { user_name: { action: 'accept', content: { name: 'Alice' } } },
  })).body.result;
  assert.equal(r2.resultType, 'task');
  assert.equal(r2.requestState, undefined);
  const done = await untilStatus(r2.taskId, TERMINAL);
  assert.equal(done.status, 'completed');
  assert.match(done.result.content[0].text, /Alice/);
});

test('another token, unknown ids and an undeclared extension are refused', async () => {
  const t = (await call('slow_compute', { seconds: 30, label: 'mine' })).body.result;
  for (const method of ['tasks/get', 'tasks/cancel']) {
    const other = await rpc(method, { taskId: t.taskId }, { token: 'bob' });
    assert.equal(other.body.error.code, -32602, `${method} by another token`);
  }
  const upd = await rpc('tasks/update', { taskId: t.taskId, inputResponses: {} }, { token: 'bob' });
  assert.equal(upd.body.error.code, -32602);
  assert.equal((await rpc('tasks/get', { taskId: t.taskId })).body.result.status, 'working', 'bob did not cancel it');
  assert.equal((await rpc('tasks/get', { taskId: 'task-00000000000000000000000000000000' })).body.error.code, -32602);
  assert.equal((await rpc('tasks/cancel', { taskId: 'nope' })).body.error.code, -32602);

  // Without the extension: tasks/* are -32021, optional task tools run synchronously,
  // required ones are -32021 with the extension named.
  const caps = { elicitation: {} };
  const gated = await rpc('tasks/get', { taskId: t.taskId }, { caps });
  assert.equal(gated.status, 400);
  assert.equal(gated.body.error.code, -32021);
  assert.deepEqual(gated.body.error.data.requiredCapabilities.extensions[EXT], {});
  const sync = (await call('slow_compute', { seconds: 0, label: 'sync' }, { caps })).body.result;
  assert.equal(sync.resultType, 'complete');
  assert.equal(sync.taskId, undefined);
  assert.match(sync.content[0].text, /sync/);
  const req = await call('failing_job', {}, { caps });
  assert.equal(req.status, 400);
  assert.equal(req.body.error.code, -32021);
  assert.deepEqual(req.body.error.data.requiredCapabilities.extensions[EXT], {});
  // A sync tool stays sync for a client with the extension; the removed v1 methods are gone.
  const greet = (await call('greet', { name: 'World' }, { headers: {} })).body.result;
  assert.equal(greet.content[0].text, 'Hello, World!');
  assert.equal(greet.taskId, undefined);
  assert.equal((await rpc('tasks/list')).body.error.code, -32601);
  assert.equal((await rpc('tasks/result', { taskId: t.taskId })).body.error.code, -32601);
  await rpc('tasks/cancel', { taskId: t.taskId });
});

test('every run of a task tool is audited under its token', async () => {
  const t = (await call('slow_compute', { seconds: 0, label: 'audited' }, { token: 'bob' })).body.result;
  await untilStatus(t.taskId, TERMINAL, { token: 'bob' });
  const lines = readFileSync(audit, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  const mine = lines.filter((l) => l.tool === 'slow_compute' && l.arguments?.label === 'audited');
  assert.equal(mine.length, 1);
  assert.equal(mine[0].caller, 'bob');
  assert.equal(mine[0].outcome, 'ok');
  const refused = lines.filter((l) => l.tool === 'failing_job' && l.outcome === 'refused');
  assert.ok(refused.length >= 1, 'the -32021 refusal is audited');
});

test('SIGTERM cancels running tasks instead of waiting for them', async () => {
  const t = (await call('slow_compute', { seconds: 120, label: 'shutdown' })).body.result;
  await untilStatus(t.taskId, ['working']);
  const started = Date.now();
  g.child.kill('SIGTERM');
  const { code } = await g.exited;
  assert.equal(code, 0);
  assert.ok(Date.now() - started < 5000, 'drain did not wait for the task');
});
