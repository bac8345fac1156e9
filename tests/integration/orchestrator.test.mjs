// cortex-orchestrator end to end (the world: orchestrator-lib.mjs): cortex-sim, the shipped
// gateway and the orchestrator on a temporary task store.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { ORCH, KEY, SECRET, world, FINISHED, stopsCleanly, status, waitFor, stored, create, haveRedis, writeConfig, tmpDir } from './orchestrator-lib.mjs';

test('"What VMs run on pve1?" completes with the simulator\'s VM list in its details', async () => {
  const w = await world([{
    match: 'What VMs run on pve1?',
    turns: [
      { tool_use: [{ name: 'proxmox_list_vms', input: { node: 'pve1' } }], usage: { input_tokens: 120, output_tokens: 30 } },
      { text: 'These run on pve1: {{last_tool_result}}', usage: { input_tokens: 400, output_tokens: 60 } },
    ],
  }]);
  const direct = await w.call('proxmox_list_vms', { node: 'pve1' });
  const names = JSON.stringify(direct.structuredContent).match(/"name":"[^"]+"/g).map((s) => s.slice(8, -1));
  assert.deepEqual(names.sort(), ['db01', 'dns01', 'web01']);

  const [id] = await create(w, { query: 'What VMs run on pve1?', category: 'inventory' });
  const t = await waitFor(w, id);
  assert.equal(t.status, 'completed', JSON.stringify(t));
  for (const n of names) assert.match(t.result.details, new RegExp(n), t.result.details);
  assert.doesNotMatch(t.result.details, /build01|proxy01/, 'only pve1 guests');
  assert.match(t.result.summary, /These run on pve1/);
  assert.equal(t.result.master, 'inventory');
  assert.ok(t.result.execution_time_ms >= 0);
  assert.equal(t.progress.iterations, 2);
  assert.deepEqual(t.progress.tools_used, ['proxmox_list_vms']);
  assert.equal(t.progress.last_tool_used, 'proxmox_list_vms');
  assert.match(t.worker, /^inventory-\d+\./);
  const pickup = Date.parse(t.started_at) - Date.parse(t.created_at);
  assert.ok(pickup < 1000, `claimed ${pickup} ms after creation (the target is 50 ms; slack for a loaded machine)`);
  const full = stored(w, id);
  const m = full.metadata;
  assert.ok(m, JSON.stringify(full).slice(0, 2000));
  assert.equal(m.tokens_in, 520);
  assert.equal(m.tokens_out, 90);
  assert.equal(m.model, 'claude-sonnet-4-5');
  assert.equal(m.state.messages.length, 4, 'the conversation is kept: query, tool_use, tool_result, answer');

  // what the model was sent: the inventory master's prompt and only its tools, with schemas
  const conv = (await w.llm()).conversations[0];
  const first = conv.requests[0].body;
  assert.match(first.system, /inventory master/);
  const sent = first.tools.map((x) => x.name);
  assert.ok(sent.includes('proxmox_list_vms'));
  assert.ok(!sent.some((n) => n === 'proxmox_vm_action' || n.startsWith('cortex_')), sent.join(','));
  assert.equal(first.tools.find((x) => x.name === 'proxmox_list_vms').input_schema.type, 'object');
  const second = conv.requests[1].body;
  const res = second.messages[2].content[0];
  assert.equal(res.type, 'tool_result');
  assert.equal(res.tool_use_id, 'toolu_sim_0_0_0');
  assert.ok(!res.is_error);
  assert.doesNotMatch(w.orch.stderr() + w.gw.stderr(), new RegExp(KEY + '|' + SECRET));
  await stopsCleanly(w.orch);
});

const simPost = (w, path, body) => fetch(w.simUrl + path, { method: 'POST', body: JSON.stringify(body) });

test('parallel tool_use blocks run at once through the gateway; each result mirrors isError', async () => {
  const w = await world([{
    match: 'PARALLEL-MARK',
    turns: [
      { tool_use: [{ name: 'proxmox_get_cluster_status', input: {} }, { name: 'proxmox_get_cluster_status', input: {} },
        { name: 'proxmox_get_vm_status', input: { vmid: 999 } }] },
      { text: 'done' },
    ],
  }]);
  await simPost(w, '/_sim/faults', { path: '/api2/json/cluster/status', kind: 'latency', latency_ms: 1500, count: 2 });
  const [id] = await create(w, { query: 'PARALLEL-MARK: how is the cluster?', category: 'infrastructure' });
  const t = await waitFor(w, id);
  assert.equal(t.status, 'completed', JSON.stringify(t));
  assert.ok(t.result.execution_time_ms >= 1400, 'the slow calls were made: ' + t.result.execution_time_ms);
  assert.ok(t.result.execution_time_ms < 2900, 'two 1.5 s calls ran at once: ' + t.result.execution_time_ms);
  const sent = (await w.llm()).conversations[0].requests[1].body.messages;
  assert.equal(sent.length, 3);
  const results = sent[2].content;
  assert.deepEqual(results.map((b) => b.type), ['tool_result', 'tool_result', 'tool_result'], 'one user message holds them all');
  assert.deepEqual(results.map((b) => b.tool_use_id), ['toolu_sim_0_0_0', 'toolu_sim_0_0_1', 'toolu_sim_0_0_2']);
  assert.deepEqual(results.map((b) => b.is_error === true), [false, false, true]);
  assert.match(JSON.stringify(results[2].content), /999/);
  assert.deepEqual(t.progress.tools_used.sort(), ['proxmox_get_cluster_status', 'proxmox_get_vm_status']);
});

test('19 tasks from one cortex_create_task call, across categories, all complete on their masters', async () => {
  const w = await world([{ match: 'ROUTE-', turns: [{ text: 'routed' }] }]);
  const cats = ['development', 'security', 'infrastructure', 'inventory', 'cicd', 'general'];
  const specs = Array.from({ length: 19 }, (_, i) => ({ query: `ROUTE-${i}: report in`, category: cats[i % 6] }));
  const ids = await create(w, { tasks: specs });
  assert.equal(ids.length, 19);
  for (let i = 0; i < 19; i++) {
    const t = await waitFor(w, ids[i]);
    assert.equal(t.status, 'completed', JSON.stringify(t));
    assert.equal(t.result.master, cats[i % 6]);
    assert.ok(t.worker.startsWith(cats[i % 6] + '-'), t.worker);
    assert.equal(t.attempts, 1);
  }
  const reqs = (await w.llm()).conversations[0].requests;
  assert.equal(reqs.length, 19, 'one request per task, none doubled');
  for (let i = 0; i < 19; i++) { // each task was sent with its own master's prompt
    const r = reqs.find((x) => x.body.messages[0].content.some?.((b) => b.text === specs[i].query) || x.body.messages[0].content === specs[i].query);
    assert.ok(r, specs[i].query);
    assert.match(r.body.system, new RegExp((cats[i % 6] === 'cicd' ? 'CI/CD' : cats[i % 6]) + ' master'));
    assert.match(r.body.system, new RegExp(ids[i]));
  }
  const agents = (await w.call('cortex_list_agents', {})).structuredContent.agents;
  assert.ok(agents.filter((a) => a.kind === 'worker').length >= 18, JSON.stringify(agents).slice(0, 500));
  assert.ok(cats.every((c) => agents.some((a) => a.kind === 'master' && a.master === c)));
});

test('a destructive call waits for approval: approved it runs, denied the model reads why', async () => {
  const w = await world([
    { match: 'APPROVE-START', turns: [{ tool_use: [{ name: 'proxmox_vm_action', input: { vmid: 101, action: 'start' } }] }, { text: 'Result: {{last_tool_result}}' }] },
    { match: 'DENY-STOP', turns: [{ tool_use: [{ name: 'proxmox_vm_action', input: { vmid: 100, action: 'stop' } }] }, { text: 'Result: {{last_tool_result}}' }] },
  ]);
  const [a] = await create(w, { query: 'APPROVE-START: start db01', category: 'infrastructure' });
  const [d] = await create(w, { query: 'DENY-STOP: stop web01', category: 'infrastructure' });
  const ta = await waitFor(w, a, ['awaiting_approval']);
  assert.equal(ta.approval.pending.tool, 'proxmox_vm_action');
  assert.deepEqual(ta.approval.pending.arguments, { vmid: 101, action: 'start' });
  assert.match(ta.approval.pending.why, /proxmox_vm_action/);
  await waitFor(w, d, ['awaiting_approval']);
  assert.equal((await w.call('proxmox_get_vm_status', { vmid: 101 })).structuredContent.status, 'stopped', 'nothing ran before the approval');

  let r = await w.call('cortex_approve_task', { id: a, decision: 'approve' });
  assert.ok(!r.isError, JSON.stringify(r));
  r = await w.call('cortex_approve_task', { id: d, decision: 'deny', reason: 'not during business hours' });
  assert.ok(!r.isError, JSON.stringify(r));
  const da = await waitFor(w, a);
  assert.equal(da.status, 'completed', JSON.stringify(da));
  assert.match(da.result.details, /UPID|OK/);
  assert.equal((await w.call('proxmox_get_vm_status', { vmid: 101 })).structuredContent.status, 'running');
  const dd = await waitFor(w, d);
  assert.equal(dd.status, 'completed', JSON.stringify(dd));
  assert.match(dd.result.details, /denied.*not during business hours/);
  assert.equal((await w.call('proxmox_get_vm_status', { vmid: 100 })).structuredContent.status, 'running', 'the denied call never ran');
  const conv = (await w.llm()).conversations[1].requests;
  const last = conv[conv.length - 1].body.messages;
  assert.equal(last[2].content[0].is_error, true);
  await stopsCleanly(w.orch);
});

test('cancellation stops the loop and cancels the call in flight', async () => {
  const w = await world([{ match: 'CANCEL-ME', turns: [{ tool_use: [{ name: 'proxmox_get_cluster_status', input: {} }] }, { text: 'never' }] }]);
  await simPost(w, '/_sim/faults', { path: '/api2/json/cluster/status', kind: 'latency', latency_ms: 15000, count: 1 });
  const [id] = await create(w, { query: 'CANCEL-ME: a slow look', category: 'infrastructure' });
  const end = Date.now() + 10000;
  let t;
  do {
    t = await status(w, id);
    if (/running proxmox_get_cluster_status/.test(t.progress.current_action || '')) break;
    await new Promise((res) => setTimeout(res, 50));
  } while (Date.now() < end);
  assert.match(t.progress.current_action || '', /running proxmox_get_cluster_status/);
  const t0 = Date.now();
  const r = await w.call('cortex_cancel_task', { id, reason: 'changed my mind' });
  assert.ok(!r.isError, JSON.stringify(r));
  const done = await waitFor(w, id);
  assert.equal(done.status, 'cancelled', JSON.stringify(done));
  assert.ok(Date.now() - t0 < 8000, 'stopped long before the 15 s call would have ended');
  assert.equal((await w.llm()).conversations[0].requests.length, 1, 'the model was not asked again');
});

test('a parent that creates subtasks finishes after them, listing them', async () => {
  const w = await world([
    { match: 'PARENT-TASK', turns: [{ tool_use: [{ name: 'cortex_create_task', input: { tasks: [{ query: 'CHILD-TASK one', category: 'inventory' }, { query: 'CHILD-TASK two', category: 'cicd' }] } }] }, { text: 'Created: {{last_tool_result}}' }] },
    { match: 'CHILD-TASK', turns: [{ text: 'child done' }] },
  ]);
  const [id] = await create(w, { query: 'PARENT-TASK: split it', category: 'general' });
  const p = await waitFor(w, id);
  assert.equal(p.status, 'completed', JSON.stringify(p));
  assert.equal(p.result.children.length, 2, JSON.stringify(p.result));
  for (const c of p.result.children) {
    assert.equal(c.status, 'completed');
    const ct = await status(w, c.id);
    assert.equal(ct.parent_id, id);
    assert.ok(ct.finished_at <= p.finished_at, 'the parent finished last');
  }
});

// The issue asks for 20 kills in a row; CORTEX_ORCH_KILL_ROUNDS sets how many (each ~2-3 s).
const KILL_ROUNDS = Number(process.env.CORTEX_ORCH_KILL_ROUNDS || 20);

test(`kill -9 in the middle of tasks, ${KILL_ROUNDS} times in a row, each time restarted: every task completes once`, async () => {
  const w = await world([{ match: 'KILL-ME', turns: [{ tool_use: [{ name: 'proxmox_get_cluster_status', input: {} }] }, { text: 'survived' }] }],
    { lease_ms: 1000 });
  for (let round = 0; round < KILL_ROUNDS; round++) {
    await simPost(w, '/_sim/faults', { path: '/api2/json/cluster/status', kind: 'latency', latency_ms: 3000, count: 2 });
    const ids = await create(w, { tasks: [1, 2].map((i) => ({ query: `KILL-ME ${round}.${i}`, category: 'infrastructure' })) });
    await waitFor(w, ids[0], ['in_progress']);
    await new Promise((res) => setTimeout(res, 300));
    w.orch.kill('SIGKILL');
    await w.orch.exited;
    await w.restart();
    for (const id of ids) {
      const t = await waitFor(w, id, FINISHED, 30000);
      assert.equal(t.status, 'completed', JSON.stringify(t));
      assert.equal(t.result.summary, 'survived');
    }
  }
  const all = (await w.call('cortex_get_tasks', { limit: 100 })).structuredContent.tasks;
  assert.equal(all.length, 2 * KILL_ROUNDS, 'no task lost or added');
  assert.ok(all.every((t) => t.status === 'completed'));
  assert.ok(all.some((t) => t.attempts >= 2), 'the kills hit tasks in flight: ' + all.map((t) => t.attempts));
  await stopsCleanly(w.orch);
});

// One master for everything, with small limits and two models (the second on Chat Completions).
const tight = {
  masters: [{
    name: 'general', system_prompt: 'You are the tight general master.', tools: ['gateway_status', 'proxmox_get_*', 'proxmox_list_*'],
    models: [{ api: 'anthropic', model: 'claude-first' }, { api: 'openai', model: 'gpt-second' }],
    workers: 2, limits: { iterations: 3, tokens: 5000, wall_clock_ms: 2000, max_tokens: 512 }, require_approval: [],
  }],
};

test('limits fail a task with a clear reason; stop reasons refusal, max_tokens and pause_turn are handled', async () => {
  const loop = { tool_use: [{ name: 'gateway_status', input: {} }] };
  const w = await world([
    { match: 'LOOP-FOREVER', turns: [loop, loop, loop, loop, { text: 'never' }] },
    { match: 'TOKEN-HOG', turns: [{ ...loop, usage: { input_tokens: 4000, output_tokens: 1500 } }, { text: 'never' }] },
    { match: 'SLOW-WALL', turns: [{ tool_use: [{ name: 'proxmox_get_cluster_status', input: {} }] }, { text: 'never' }] },
    { match: 'REFUSE-ME', turns: [{ text: 'I will not do that.', stop: 'refusal' }] },
    { match: 'CUT-OFF', turns: [{ text: 'part one', stop: 'max_tokens' }, { text: 'part two' }] },
    { match: 'PAUSED', turns: [{ text: 'searching', stop: 'pause_turn' }, { text: 'resumed' }] },
    { match: 'FORBIDDEN', turns: [{ tool_use: [{ name: 'proxmox_vm_action', input: { vmid: 100, action: 'stop' } }] }, { text: 'Got: {{last_tool_result}}' }] },
  ], { masters: tight });
  await simPost(w, '/_sim/faults', { path: '/api2/json/cluster/status', kind: 'latency', latency_ms: 8000, count: 1 });
  const ids = await create(w, { tasks: ['LOOP-FOREVER', 'TOKEN-HOG', 'SLOW-WALL', 'REFUSE-ME', 'CUT-OFF', 'PAUSED', 'FORBIDDEN'].map((q) => ({ query: q })) });
  const [loopT, hog, slow, refuse, cut, paused, forbidden] = await Promise.all(ids.map((id) => waitFor(w, id)));
  assert.equal(loopT.status, 'failed');
  assert.match(loopT.error || loopT.result.error, /within 3 iterations.*limits\.iterations/);
  assert.equal(loopT.progress.iterations, 3);
  assert.equal(hog.status, 'failed');
  assert.match(hog.result.error, /5500 tokens used.*limits\.tokens\) is 5000/);
  assert.equal(slow.status, 'failed');
  assert.match(slow.result.error, /wall-clock limit of 2000 ms/);
  assert.ok(slow.result.execution_time_ms < 6000, 'the slow call was cut at the deadline: ' + slow.result.execution_time_ms);
  assert.equal(refuse.status, 'failed');
  assert.match(refuse.result.error, /refused the task: I will not do that/);
  assert.equal(cut.status, 'completed');
  assert.equal(cut.result.details, 'part two');
  assert.equal(paused.status, 'completed');
  assert.equal(paused.result.details, 'resumed');
  assert.equal(forbidden.status, 'completed');
  assert.match(forbidden.result.details, /not available to the general master/);
  assert.equal((await w.call('proxmox_get_vm_status', { vmid: 100 })).structuredContent.status, 'running');
  const convs = (await w.llm()).conversations;
  const cutSecond = convs[4].requests[1].body.messages;
  assert.equal(cutSecond.at(-1).role, 'user');
  assert.match(JSON.stringify(cutSecond.at(-1).content), /cut off at the max_tokens limit/);
  const pausedSecond = convs[5].requests[1].body.messages;
  assert.equal(pausedSecond.length, 2, 'pause_turn: the conversation goes back as it is');
  assert.equal(pausedSecond[1].role, 'assistant');
  assert.equal(convs[0].requests[0].body.max_tokens, 512);
  await stopsCleanly(w.orch);
});

test('retry waits are recorded in the task; a spend-limited provider falls back to the next model', async () => {
  const w = await world([
    { match: 'RETRY-WAIT', turns: [{ text: 'patient', faults: [{ status: 529 }, { status: 429, headers: { 'retry-after-ms': '300' } }] }] },
    { match: 'FALLBACK', turns: [{ text: 'from the second', faults: [{ status: 429, spend_limit: true }] }] },
  ], { masters: tight });
  const [retry, fall] = await create(w, { tasks: [{ query: 'RETRY-WAIT' }, { query: 'FALLBACK' }] });
  const r = await waitFor(w, retry);
  assert.equal(r.status, 'completed', JSON.stringify(r));
  const rm = stored(w, retry).metadata;
  assert.equal(rm.llm_waits.length, 2, JSON.stringify(rm.llm_waits));
  assert.deepEqual(rm.llm_waits.map((x) => [x.kind, x.status, x.basis]), [['retry', 529, 'backoff'], ['retry', 429, 'retry-after-ms']]);
  assert.equal(rm.llm_waits[1].wait_ms, 300);
  assert.equal(rm.model, 'claude-first');
  const f = await waitFor(w, fall);
  assert.equal(f.status, 'completed', JSON.stringify(f));
  assert.equal(f.result.details, 'from the second');
  const fm = stored(w, fall).metadata;
  assert.equal(fm.model, 'gpt-second');
  assert.deepEqual(fm.llm_waits.map((x) => [x.kind, x.model]), [['fallback', 'claude-first']]);
  assert.match(fm.llm_waits[0].reason, /spend|usage|limit/i);
  const reqs = (await w.llm()).conversations[1].requests;
  assert.deepEqual(reqs.map((x) => x.path), ['/messages', '/chat/completions'], 'the spend limit is not retried');
});

test('an approval nobody answers fails the task after approval_timeout_ms', async () => {
  const w = await world([{ match: 'NOBODY-ANSWERS', turns: [{ tool_use: [{ name: 'proxmox_vm_action', input: { vmid: 101, action: 'start' } }] }, { text: 'never' }] }],
    { orchestrator: { approval_timeout_ms: 800 } });
  const [id] = await create(w, { query: 'NOBODY-ANSWERS', category: 'infrastructure' });
  await waitFor(w, id, ['awaiting_approval']);
  const t = await waitFor(w, id, FINISHED, 15000);
  assert.equal(t.status, 'failed', JSON.stringify(t));
  assert.match(t.result.error, /proxmox_vm_action waited for approval: no decision within 800 ms/);
  assert.equal((await w.call('proxmox_get_vm_status', { vmid: 101 })).structuredContent.status, 'stopped');
});

test('on the Redis task store: a task completes, and a kill -9 in its middle loses nothing', { skip: !haveRedis && 'no redis-server' }, async () => {
  const w = await world([
    { match: 'What VMs run on pve1?', turns: [{ tool_use: [{ name: 'proxmox_list_vms', input: { node: 'pve1' } }] }, { text: 'On pve1: {{last_tool_result}}' }] },
    { match: 'KILL-ME', turns: [{ tool_use: [{ name: 'proxmox_get_cluster_status', input: {} }] }, { text: 'survived' }] },
  ], { store: 'redis', lease_ms: 1500 });
  const [id] = await create(w, { query: 'What VMs run on pve1?', category: 'inventory' });
  const t = await waitFor(w, id);
  assert.equal(t.status, 'completed', JSON.stringify(t));
  for (const n of ['web01', 'db01', 'dns01']) assert.match(t.result.details, new RegExp(n));
  await simPost(w, '/_sim/faults', { path: '/api2/json/cluster/status', kind: 'latency', latency_ms: 3000, count: 3 });
  const ids = await create(w, { tasks: [1, 2, 3].map((i) => ({ query: `KILL-ME ${i}`, category: 'infrastructure' })) });
  await waitFor(w, ids[0], ['in_progress']);
  await new Promise((res) => setTimeout(res, 300));
  w.orch.kill('SIGKILL');
  await w.orch.exited;
  await w.restart();
  for (const k of ids) {
    const d = await waitFor(w, k, FINISHED, 30000);
    assert.equal(d.status, 'completed', JSON.stringify(d));
    assert.equal(d.result.summary, 'survived');
  }
  const all = (await w.call('cortex_get_tasks', { limit: 100 })).structuredContent.tasks;
  assert.equal(all.length, 4);
  await stopsCleanly(w.orch);
});

test('a gateway with tokens: the orchestrator uses $CORTEX_TOKEN, its calls are audited as that token, the token is never logged', async () => {
  const TOKEN = 'orch-token-0123456789abcdef0123456789';
  const audit = join(tmpDir(), 'audit.log');
  const w = await world([{ match: 'WITH-TOKEN', turns: [{ tool_use: [{ name: 'proxmox_list_nodes', input: {} }] }, { text: 'Nodes: {{last_tool_result}}' }] }], {
    token: TOKEN,
    gateway: { tokens: [{ name: 'orchestrator', sha256: createHash('sha256').update(TOKEN).digest('hex') }], audit: { file: audit } },
  });
  const [id] = await create(w, { query: 'WITH-TOKEN: which nodes?', category: 'inventory' });
  const t = await waitFor(w, id);
  assert.equal(t.status, 'completed', JSON.stringify(t));
  assert.match(t.result.details, /pve1/);
  const lines = readFileSync(audit, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  const call = lines.find((l) => JSON.stringify(l).includes('proxmox_list_nodes'));
  assert.ok(call, 'the tool call is in the audit log');
  assert.match(JSON.stringify(call), /orchestrator/);
  assert.doesNotMatch(w.orch.stderr() + w.gw.stderr() + readFileSync(audit, 'utf8'), new RegExp(TOKEN));
  await stopsCleanly(w.orch);
});

test('parents outnumber workers: a master with one worker runs a parent and its subtasks without deadlock', async () => {
  const one = { masters: [{ ...tight.masters[0], workers: 1, tools: ['cortex_create_task'], limits: { iterations: 5, tokens: 100000, wall_clock_ms: 20000 } }] };
  const w = await world([
    { match: 'BIG-PARENT', turns: [{ tool_use: [{ name: 'cortex_create_task', input: { tasks: [{ query: 'SMALL-CHILD a' }, { query: 'SMALL-CHILD b' }, { query: 'SMALL-CHILD c' }] } }] }, { text: 'split' }] },
    { match: 'SMALL-CHILD', turns: [{ text: 'small done' }] },
  ], { masters: one });
  const parents = await create(w, { tasks: [{ query: 'BIG-PARENT 1' }, { query: 'BIG-PARENT 2' }] });
  for (const id of parents) {
    const p = await waitFor(w, id, FINISHED, 30000);
    assert.equal(p.status, 'completed', JSON.stringify(p));
    assert.equal(p.result.children.length, 3);
    assert.ok(p.result.children.every((c) => c.status === 'completed'));
  }
  await stopsCleanly(w.orch);
});

test('bad settings stop start-up with a sentence naming them; --help and --version', () => {
  const run = (args, env = {}) => spawnSync(ORCH, args, { encoding: 'utf8', timeout: 10000, env: { ...process.env, ...env } });
  const help = run(['--help']);
  assert.equal(help.status, 0);
  assert.match(help.stdout, /--masters FILE/);
  assert.match(run(['--version']).stdout, /^cortex-orchestrator \d+\.\d+\.\d+/);
  assert.equal(run(['--bogus']).status, 2);
  const tasks = { store: 'dir', dir: tmpDir() };
  const cases = [
    [{ tasks, orchestrator: { bogus: 1 } }, /'orchestrator' has an unknown key 'bogus'/],
    [{ tasks, orchestrator: { grace_ms: -1 } }, /'orchestrator\.grace_ms' must be an integer/],
    [{ tasks: { store: 'floppy' } }, /floppy/],
    [{ tasks, orchestrator: { masters: writeConfig({ masters: [{ name: 'x', models: [] }] }) } }, /masters\[0\]\.models' must list 1 to/],
    [{ tasks, orchestrator: { masters: writeConfig({ masters: [{ name: 'x', models: ['m'], colour: 'red' }] }) } }, /masters\[0\]' must be .*unknown keys are refused/],
    [{ tasks, orchestrator: { masters: writeConfig({ masters: [{ name: 'x', models: ['m'], limits: { iterations: 0 } }] }) } }, /masters\[0\]\.limits\.iterations' must be an integer from 1/],
    [{ tasks, orchestrator: { masters: writeConfig({ masters: [{ name: 'x', models: [{ api: 'gemini', model: 'g' }] }] }) } }, /models\[0\]\.api' must be "anthropic" or "openai"/],
  ];
  for (const [conf, re] of cases) {
    const r = run(['--config', writeConfig(conf)], { ANTHROPIC_API_KEY: KEY });
    assert.equal(r.status, 1, JSON.stringify(conf) + ': ' + r.stderr);
    assert.match(r.stderr, re);
  }
  const nokey = run(['--config', writeConfig({ tasks })], { ANTHROPIC_API_KEY: '' });
  assert.equal(nokey.status, 1);
  assert.match(nokey.stderr, /master 'development'.*ANTHROPIC_API_KEY|ANTHROPIC_API_KEY/);
});

test('SIGTERM: a running step finishes within the grace, the task is given back with its conversation and resumed', async () => {
  const w = await world([{ match: 'TERM-ME', turns: [{ tool_use: [{ name: 'proxmox_get_cluster_status', input: {} }] }, { text: 'resumed after: {{last_tool_result}}' }] }],
    { orchestrator: { grace_ms: 5000 } });
  await simPost(w, '/_sim/faults', { path: '/api2/json/cluster/status', kind: 'latency', latency_ms: 1500, count: 1 });
  const [id] = await create(w, { query: 'TERM-ME', category: 'infrastructure' });
  await waitFor(w, id, ['in_progress']);
  await new Promise((res) => setTimeout(res, 300));
  const t0 = Date.now();
  await stopsCleanly(w.orch);
  assert.ok(Date.now() - t0 >= 800, 'it waited for the call in flight');
  const held = stored(w, id);
  assert.equal(held.status, 'queued', 'given back, not failed');
  assert.equal(held.metadata.state.messages.length, 3, 'the tool result was saved with the conversation');
  await w.restart();
  const t = await waitFor(w, id);
  assert.equal(t.status, 'completed', JSON.stringify(t));
  assert.match(t.result.details, /resumed after/);
  const reqs = (await w.llm()).conversations[0].requests;
  assert.equal(reqs.length, 2, 'the restart went on from the saved conversation: the model was not asked twice');
  await stopsCleanly(w.orch);
});

test('SIGTERM past the grace cancels the call in flight and gives the task back', async () => {
  const w = await world([{ match: 'STUCK', turns: [{ tool_use: [{ name: 'proxmox_get_cluster_status', input: {} }] }, { text: 'x' }] }],
    { orchestrator: { grace_ms: 500 } });
  await simPost(w, '/_sim/faults', { path: '/api2/json/cluster/status', kind: 'latency', latency_ms: 15000, count: 1 });
  const [id] = await create(w, { query: 'STUCK', category: 'infrastructure' });
  await waitFor(w, id, ['in_progress']);
  await new Promise((res) => setTimeout(res, 300));
  const t0 = Date.now();
  await stopsCleanly(w.orch);
  assert.ok(Date.now() - t0 < 8000, 'it did not wait for the 15 s call');
  assert.equal(stored(w, id).status, 'queued');
  assert.match(w.orch.stderr(), /grace of 500 ms/);
});
