// A task's conversation, as the console's task page shows it: cortex_get_task_status with
// include_conversation (over MCP and as GET /v1/tasks/{id}?include_conversation=true) adds the
// messages the worker saved (metadata.state.messages, here written by build/bench/taskctl as
// the orchestrator writes them) and its per-call timings when the state has them; past 512 KiB
// the oldest messages are left out and conversation_truncated says so. Without the argument
// nothing of the conversation shows.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { GATEWAY, assertAllStopCleanly, httpSession, startHttp, tmpDir, writeConfig } from './lib.mjs';
import { rest } from './routes-lib.mjs';

const TASKCTL = process.env.CORTEX_TASKCTL_BIN || join(dirname(GATEWAY), 'bench/taskctl');
const running = [];
after(() => running.forEach((p) => p.kill()));

const sha = (s) => createHash('sha256').update(s).digest('hex');
const OPS = 'ops-conv-token-2b8f';

async function gateway() {
  const dir = tmpDir();
  const store = { store: 'dir', dir: join(dir, 'tasks'), fsync: false };
  const g = startHttp(['--config', writeConfig({ tokens: [{ name: 'ops', sha256: sha(OPS) }], tasks: store,
    audit: { file: join(dir, 'audit.log') } })]);
  running.push(g);
  g.url = await g.ready;
  g.base = g.url.replace(/\/mcp$/, '');
  g.store = store;
  return g;
}

function taskctl(conf, ...args) {
  const r = spawnSync(TASKCTL, [JSON.stringify(conf), ...args.map((a) => (typeof a === 'string' ? a : JSON.stringify(a)))],
    { encoding: 'utf8', timeout: 20000 });
  assert.equal(r.status, 0, `taskctl ${args[0]}: ${r.stderr}`);
  return r.stdout.trim() ? JSON.parse(r.stdout) : undefined;
}

// A conversation as the orchestrator keeps it: the query, then replies with tool_use and the
// tool results, in the Anthropic Messages shape.
function conversation(turns, pad = '') {
  const m = [{ role: 'user', content: [{ type: 'text', text: 'what VMs run on pve1' }] }];
  for (let i = 0; i < turns; i++) {
    m.push({ role: 'assistant', content: [{ type: 'tool_use', id: 'toolu_' + i, name: 'proxmox_list_vms', input: { node: 'pve1' } }] });
    m.push({ role: 'user', content: [{ type: 'tool_result', tool_use_id: 'toolu_' + i, content: `turn ${i} ${pad}` }] });
  }
  return m;
}

async function started(g, query) {
  const id = (await rest(g.base, 'POST', '/v1/tasks', { token: OPS, body: { query, category: 'inventory' } })).body.structuredContent.ids[0];
  assert.equal(taskctl(g.store, 'claim', 'inv-1', '0', 'inventory').id, id);
  return id;
}

const status = (g, id, q = '') => rest(g.base, 'GET', `/v1/tasks/${id}${q}`, { token: OPS });

test('include_conversation adds the saved messages and the calls; without it nothing shows', async () => {
  const g = await gateway();
  const id = await started(g, 'talk to me');
  const messages = conversation(3);
  const calls = [
    { id: 'toolu_0', tool: 'proxmox_list_vms', started_at: '2026-12-02T10:00:00.000Z', ms: 41, is_error: false },
    { id: 'toolu_1', tool: 'proxmox_list_vms', started_at: '2026-12-02T10:00:01.000Z', ms: 7, is_error: true },
  ];
  taskctl(g.store, 'progress', id, 'inv-1', { iterations: 3 }, { messages, iterations: 3, pending: null, calls });

  for (const q of ['', '?include_conversation=false']) {
    const r = await status(g, id, q);
    assert.equal(r.status, 200);
    assert.equal(r.body.structuredContent.conversation, undefined, q);
    assert.equal(r.body.structuredContent.conversation_truncated, undefined, q);
    assert.doesNotMatch(JSON.stringify(r.body), /toolu_0|what VMs run/, 'the conversation stays private ' + q);
  }
  const r = await status(g, id, '?include_conversation=true');
  assert.equal(r.status, 200);
  const sc = r.body.structuredContent;
  assert.deepEqual(sc.conversation.messages, messages);
  assert.deepEqual(sc.conversation.calls, calls);
  assert.equal(sc.conversation_truncated, false);
  assert.equal(sc.progress.iterations, 3, 'the rest of the status is there too');
  // The text block carries the status and the conversation's size, not the conversation.
  const text = JSON.parse(r.body.content[0].text);
  assert.deepEqual(text.conversation, { messages: 7, calls: 2, note: "the conversation's messages and calls are in structuredContent" });
  assert.equal(text.id, id);

  // Without calls in the state, there are none in the answer.
  taskctl(g.store, 'progress', id, 'inv-1', { iterations: 4 }, { messages, iterations: 4 });
  const nocalls = (await status(g, id, '?include_conversation=true')).body.structuredContent;
  assert.equal(nocalls.conversation.calls, undefined);
  assert.deepEqual(nocalls.conversation.messages, messages);

  // A task no worker has run has an empty conversation.
  const fresh = (await rest(g.base, 'POST', '/v1/tasks', { token: OPS, body: { query: 'not yet' } })).body.structuredContent.ids[0];
  const f = (await status(g, fresh, '?include_conversation=true')).body.structuredContent;
  assert.deepEqual(f.conversation, { messages: [] });
  assert.equal(f.conversation_truncated, false);

  // The argument is checked like any other: a boolean, nothing else.
  for (const q of ['?include_conversation=yes', '?include_conversation=1', '?include_conversatio=true']) {
    const bad = await status(g, id, q);
    assert.equal(bad.status, 400, q);
  }

  // Over MCP the same argument gives the same structuredContent.
  const s = await httpSession(g.url, { token: OPS });
  await s.post({ jsonrpc: '2.0', method: 'notifications/initialized' });
  const mcp = await s.call('tools/call', { name: 'cortex_get_task_status', arguments: { id, include_conversation: true } });
  assert.deepEqual(mcp.result.structuredContent.conversation.messages, messages);
  const plain = await s.call('tools/call', { name: 'cortex_get_task_status', arguments: { id } });
  assert.equal(plain.result.structuredContent.conversation, undefined);
});

test('a conversation over 512 KiB loses its oldest messages, says so, and still fits the output limit', async () => {
  const g = await gateway();
  const id = await started(g, 'a long one');
  const messages = conversation(40, 'x'.repeat(20 * 1024)); // 81 messages, about 820 KiB
  const file = join(tmpDir(), 'state.json');
  writeFileSync(file, JSON.stringify({ messages, iterations: 40 }));
  taskctl(g.store, 'progress', id, 'inv-1', { iterations: 40 }, '@' + file);

  const r = await status(g, id, '?include_conversation=true');
  assert.equal(r.status, 200);
  assert.notEqual(r.body.isError, true, JSON.stringify(r.body).slice(0, 300));
  const sc = r.body.structuredContent;
  assert.equal(sc.conversation_truncated, true);
  const kept = sc.conversation.messages;
  assert.ok(Buffer.byteLength(JSON.stringify(sc.conversation)) <= 512 * 1024, 'within 512 KiB');
  assert.ok(kept.length > 20 && kept.length < messages.length, `${kept.length} of ${messages.length} kept`);
  // The newest are kept, in order.
  assert.deepEqual(kept, messages.slice(messages.length - kept.length));
  assert.equal(JSON.parse(r.body.content[0].text).conversation.messages, kept.length);
});

test('all gateways stop cleanly', async () => {
  await assertAllStopCleanly(running, assert);
});
