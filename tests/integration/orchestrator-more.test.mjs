// cortex-orchestrator, the rest of issue 11 (the world: orchestrator-lib.mjs): what a task costs
// the store, the OpenAI-compatible provider alone, cancellation during a retry wait, several
// held calls in one reply, and one config file for the gateway and the orchestrator with the
// gateway's URL and token in it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { watch, readFileSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import {
  ORCH, SHIPPED, KEY, SECRET, TOKEN_ID, world, FINISHED, stopsCleanly, waitFor, stored, create, status,
  startOrch, startHttp, startSim, httpSession, writeConfig, tmpDir, freePort, running,
} from './orchestrator-lib.mjs';

const simPost = (w, path, body) => fetch(w.simUrl + path, { method: 'POST', body: JSON.stringify(body) });

test('a task of one tool call costs the store three writes: created, claimed, finished with its progress', async () => {
  // heartbeat_ms long: no lease renewal lands inside the task, so the count is exact
  const w = await world([{ match: 'COUNT-WRITES', turns: [{ tool_use: [{ name: 'gateway_status', input: {} }] }, { text: 'counted' }] }],
    { orchestrator: { heartbeat_ms: 5000 } });
  const renames = [];
  const watcher = watch(w.tasks.dir, (ev, name) => { if (ev === 'rename' && name) renames.push(name); });
  try {
    const [id] = await create(w, { query: 'COUNT-WRITES once', category: 'general' });
    const t = await waitFor(w, id);
    assert.equal(t.status, 'completed', JSON.stringify(t));
    await new Promise((r) => setTimeout(r, 300)); // the last events
    const mine = renames.filter((n) => n === `${id}.json`);
    assert.equal(mine.length, 3, `the task file was replaced ${mine.length} times (create, claim, finish expected): ${renames.join(' ')}`);
    // the progress the loop left rode on the result's write
    assert.equal(t.progress.iterations, 2);
    assert.deepEqual(t.progress.tools_used, ['gateway_status']);
    const m = stored(w, id).metadata;
    assert.equal(m.state.messages.length, 4, 'the whole conversation is in the finished task');
    assert.equal(m.current_action, null);
  } finally {
    watcher.close();
  }
  await stopsCleanly(w.orch);
});

test('progress of a long step shows within a heartbeat, without a write per step', async () => {
  const w = await world([{ match: 'SLOW-STEP', turns: [{ tool_use: [{ name: 'proxmox_get_cluster_status', input: {} }] }, { text: 'slow done' }] }]);
  await simPost(w, '/_sim/faults', { path: '/api2/json/cluster/status', kind: 'latency', latency_ms: 4000, count: 1 });
  const [id] = await create(w, { query: 'SLOW-STEP', category: 'infrastructure' });
  const t0 = Date.now();
  let t;
  do {
    t = await status(w, id);
    if (/running proxmox_get_cluster_status/.test(t.progress?.current_action || '')) break;
    await new Promise((r) => setTimeout(r, 50));
  } while (Date.now() - t0 < 3600);
  assert.match(t.progress?.current_action || '', /running proxmox_get_cluster_status/, 'seen while the call runs');
  assert.ok(Date.now() - t0 < 3600, 'within the 4 s call');
  assert.equal((await waitFor(w, id)).status, 'completed');
});

test('the OpenAI-compatible provider alone (no Anthropic model, no Anthropic key): tool_calls through the gateway, a final answer with the simulator\'s data', async () => {
  const OPENAI_KEY = 'sk-openai-sim-test-4567890abcdef';
  const masters = { masters: [{ name: 'general', system_prompt: 'You are the local general master.', tools: ['proxmox_list_*', 'proxmox_get_*'],
    models: [{ api: 'openai', model: 'llama3.1:8b' }], workers: 1 }] };
  const w = await world([{ match: 'LOCAL-MODEL', turns: [
    { tool_use: [{ name: 'proxmox_list_vms', input: { node: 'pve1' } }], usage: { input_tokens: 50, output_tokens: 10 } },
    { text: 'Guests on pve1: {{last_tool_result}}', usage: { input_tokens: 300, output_tokens: 40 } },
  ] }], { masters, llm: { openai_api_key: OPENAI_KEY }, env: { ANTHROPIC_API_KEY: '', ANTHROPIC_BASE_URL: '', OPENAI_API_KEY: OPENAI_KEY } });
  const [id] = await create(w, { query: 'LOCAL-MODEL: what runs on pve1?' });
  const t = await waitFor(w, id);
  assert.equal(t.status, 'completed', JSON.stringify(t));
  for (const n of ['web01', 'db01', 'dns01']) assert.match(t.result.details, new RegExp(n), t.result.details);
  assert.doesNotMatch(t.result.details, /build01|proxy01/);
  assert.equal(t.result.model, 'llama3.1:8b');
  assert.deepEqual(t.progress.tools_used, ['proxmox_list_vms']);
  const m = stored(w, id).metadata;
  assert.equal(m.tokens_in, 350);
  assert.equal(m.tokens_out, 50);
  const conv = (await w.llm()).conversations[0];
  assert.deepEqual(conv.requests.map((r) => r.path), ['/chat/completions', '/chat/completions'], 'only Chat Completions was asked');
  const first = conv.requests[0].body;
  assert.equal(first.model, 'llama3.1:8b');
  assert.equal(first.messages[0].role, 'system');
  assert.match(first.messages[0].content, /local general master/);
  const fn = first.tools.find((x) => x.function?.name === 'proxmox_list_vms');
  assert.ok(fn && fn.type === 'function' && fn.function.parameters.type === 'object', JSON.stringify(first.tools).slice(0, 300));
  const second = conv.requests[1].body.messages;
  const asked = second.find((x) => x.role === 'assistant' && x.tool_calls);
  assert.equal(asked.tool_calls[0].id, 'call_sim_0_0_0');
  assert.deepEqual(JSON.parse(asked.tool_calls[0].function.arguments), { node: 'pve1' });
  const answer = second.find((x) => x.role === 'tool');
  assert.equal(answer.tool_call_id, 'call_sim_0_0_0');
  assert.match(JSON.stringify(answer.content), /web01/);
  assert.doesNotMatch(w.orch.stderr() + w.gw.stderr(), new RegExp(OPENAI_KEY));
  await stopsCleanly(w.orch);
});

test('cancellation during a retry wait (429, retry-after 30 s) ends the task at once, not when the wait ends', async () => {
  const w = await world([{ match: 'LONG-WAIT', turns: [{ text: 'never', faults: [{ status: 429, headers: { 'retry-after': '30' } }] }] }]);
  const [id] = await create(w, { query: 'LONG-WAIT', category: 'general' });
  const t0 = Date.now();
  let t;
  do { // the wait is the task's current action while it lasts
    t = await status(w, id);
    if (/waiting 30000 ms to retry/.test(t.progress?.current_action || '')) break;
    await new Promise((r) => setTimeout(r, 50));
  } while (Date.now() - t0 < 10000);
  assert.match(t.progress?.current_action || '', /waiting 30000 ms to retry model claude-sonnet-4-5 \(status 429\)/, JSON.stringify(t));
  const c0 = Date.now();
  const r = await w.call('cortex_cancel_task', { id, reason: 'not worth the wait' });
  assert.ok(!r.isError, JSON.stringify(r));
  const done = await waitFor(w, id, FINISHED, 20000);
  const took = Date.now() - c0;
  assert.equal(done.status, 'cancelled', JSON.stringify(done));
  assert.ok(took < 6000, `cancelled ${took} ms after asking (the wait had ~30 s left)`);
  const m = stored(w, id).metadata;
  assert.deepEqual(m.llm_waits.map((x) => [x.kind, x.status, x.wait_ms, x.basis]), [['retry', 429, 30000, 'retry-after']]);
  assert.equal((await w.llm()).conversations[0].requests.length, 1, 'the model was not asked again');
  await stopsCleanly(w.orch);
});

test('several held calls in one reply: one decision for all; the others of the reply run at once; denied each is an error, approved all run', async () => {
  const turns = (tag) => [
    { tool_use: [
      { name: 'proxmox_vm_action', input: { vmid: 101, action: 'start' } },
      { name: 'proxmox_list_nodes', input: {} },
      { name: 'proxmox_vm_action', input: { vmid: 100, action: 'stop' } },
    ] },
    { text: `${tag}: {{last_tool_result}}` },
  ];
  const w = await world([{ match: 'HOLD-TWO-DENY', turns: turns('denied') }, { match: 'HOLD-TWO-APPROVE', turns: turns('approved') }]);
  const vm = async (vmid) => (await w.call('proxmox_get_vm_status', { vmid })).structuredContent.status;

  for (const decision of ['deny', 'approve']) {
    const tag = decision === 'deny' ? 'HOLD-TWO-DENY' : 'HOLD-TWO-APPROVE';
    const [id] = await create(w, { query: tag, category: 'infrastructure' });
    const held = await waitFor(w, id, ['awaiting_approval']);
    const p = held.approval.pending;
    assert.equal(p.tool, 'proxmox_vm_action');
    assert.deepEqual(p.calls.map((c) => [c.tool, c.arguments, c.tool_use_id]), [
      ['proxmox_vm_action', { vmid: 101, action: 'start' }, p.calls[0].tool_use_id],
      ['proxmox_vm_action', { vmid: 100, action: 'stop' }, p.calls[1].tool_use_id],
    ]);
    assert.ok(p.calls.every((c) => /destructive/.test(c.why)));
    // the call that needs nobody ran before the hold; its result waits in the conversation
    const st = stored(w, id).metadata.state;
    const results = st.messages[2].content;
    assert.equal(results.length, 1, JSON.stringify(results));
    assert.equal(results[0].tool_use_id.endsWith('_1'), true);
    assert.match(JSON.stringify(results[0].content), /pve1/);
    assert.equal(await vm(101), 'stopped', 'nothing held ran before the decision');
    assert.equal(await vm(100), 'running');

    const r = await w.call('cortex_approve_task', decision === 'deny' ? { id, decision, reason: 'change freeze' } : { id, decision });
    assert.ok(!r.isError, JSON.stringify(r));
    const t = await waitFor(w, id);
    assert.equal(t.status, 'completed', JSON.stringify(t));
    const conv = (await w.llm()).conversations[decision === 'deny' ? 0 : 1].requests;
    assert.equal(conv.length, 2, 'the model was asked once more, with every result');
    const sent = conv[1].body.messages[2].content;
    const c = decision === 'deny' ? 0 : 1; // the simulator's conversation index
    assert.deepEqual(sent.map((b) => b.tool_use_id).sort(), [0, 1, 2].map((i) => `toolu_sim_${c}_0_${i}`));
    const byId = Object.fromEntries(sent.map((b) => [b.tool_use_id.slice(-1), b]));
    assert.ok(!byId['1'].is_error, 'the read-only call is no error');
    if (decision === 'deny') {
      for (const k of ['0', '2']) {
        assert.equal(byId[k].is_error, true);
        assert.match(JSON.stringify(byId[k].content), /denied.*change freeze/);
      }
      assert.equal(await vm(101), 'stopped', 'denied: neither ran');
      assert.equal(await vm(100), 'running');
    } else {
      for (const k of ['0', '2']) assert.ok(!byId[k].is_error, JSON.stringify(byId[k]));
      assert.equal(await vm(101), 'running', 'approved: both ran');
      assert.equal(await vm(100), 'stopped');
    }
  }
  await stopsCleanly(w.orch);
});

test('one config file runs the gateway and the orchestrator; the gateway URL and token come from it (a secret file), and the token is never logged', async () => {
  const sim = startSim([]);
  running.push(sim);
  const simUrl = await sim.ready;
  await fetch(simUrl + '/v1/_sim/llm', { method: 'PUT', body: JSON.stringify({ api_key: KEY, conversations: [
    { match: 'ONE-FILE', turns: [{ tool_use: [{ name: 'proxmox_list_nodes', input: {} }] }, { text: 'Nodes: {{last_tool_result}}' }] }] }) });
  const dir = tmpDir();
  const TOKEN = 'orch-file-token-9f8e7d6c5b4a39281706f5e4d3c2b1a0';
  const PERSON = 'person-token-0123456789abcdef0123456789abcdef';
  const tokenFile = join(dir, 'orchestrator.token');
  writeFileSync(tokenFile, TOKEN + '\n', { mode: 0o600 });
  const audit = join(dir, 'audit.log');
  const port = await freePort();
  const gwUrl = `http://127.0.0.1:${port}/mcp`;
  const sha = (t) => createHash('sha256').update(t).digest('hex');
  const conf = {
    listen: `127.0.0.1:${port}`,
    calls: { timeout_ms: 20000 },
    tokens: [{ name: 'orchestrator', sha256: sha(TOKEN) }, { name: 'person', sha256: sha(PERSON) }],
    audit: { file: audit },
    adapters: { proxmox: { url: simUrl, token_id: TOKEN_ID, token_secret: { env: 'PX_SECRET' }, task_poll_ms: 50 } },
    tasks: { store: 'dir', dir: join(dir, 'tasks'), fsync: false, lease_ms: 3000 },
    orchestrator: { gateway_url: gwUrl, gateway_token: { file: 'orchestrator.token' }, heartbeat_ms: 200, grace_ms: 3000 },
  };
  const file = join(dir, 'cortex.json');
  writeFileSync(file, JSON.stringify(conf));

  const check = spawnSync(SHIPPED, ['--check-config', '--config', file], { encoding: 'utf8', env: { ...process.env, PX_SECRET: SECRET } });
  assert.equal(check.status, 0, check.stderr + check.stdout);
  const gw = startHttp(['--listen', `127.0.0.1:${port}`, '--config', file], { bin: SHIPPED, env: { PX_SECRET: SECRET } });
  running.push(gw);
  assert.equal(await gw.ready, gwUrl);
  // no CORTEX_GATEWAY_URL, no CORTEX_TOKEN: both from the file
  const orch = startOrch(file, { CORTEX_GATEWAY_URL: '', CORTEX_TOKEN: '', ANTHROPIC_BASE_URL: simUrl, ANTHROPIC_API_KEY: KEY });
  await orch.ready;
  const mcp = await httpSession(gwUrl, { token: PERSON });
  const made = await mcp.call('tools/call', { name: 'cortex_create_task', arguments: { query: 'ONE-FILE: which nodes?', category: 'inventory' } });
  const id = made.result.structuredContent.id || made.result.structuredContent.task?.id || made.result.structuredContent.ids?.[0];
  let t;
  for (const end = Date.now() + 20000; Date.now() < end;) {
    t = (await mcp.call('tools/call', { name: 'cortex_get_task_status', arguments: { id } })).result.structuredContent;
    t = t.task || t;
    if (FINISHED.includes(t.status)) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.equal(t.status, 'completed', JSON.stringify(t) + orch.stderr());
  assert.match(t.result.details, /pve1/);
  const lines = readFileSync(audit, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  const call = lines.find((l) => JSON.stringify(l).includes('proxmox_list_nodes'));
  assert.ok(call, 'the orchestrator\'s call is audited');
  assert.match(JSON.stringify(call), /"orchestrator"/, 'as the token from the file');
  assert.match(orch.stderr(), new RegExp('gateway ' + gwUrl.replace(/[.]/g, '\\.')));
  for (const text of [orch.stderr(), gw.stderr(), readFileSync(audit, 'utf8')]) {
    assert.doesNotMatch(text, new RegExp(TOKEN + '|' + PERSON));
  }
  await stopsCleanly(orch);

  // each binary still refuses what it does not know inside its own sections
  const bad = (extra) => { const p = join(dir, `bad-${Math.random().toString(36).slice(2)}.json`); writeFileSync(p, JSON.stringify({ ...conf, ...extra })); return p; };
  const orchRun = (p, env = {}) => spawnSync(ORCH, ['--config', p], { encoding: 'utf8', timeout: 10000, env: { ...process.env, ANTHROPIC_API_KEY: KEY, ...env } });
  const gwCheck = (p) => spawnSync(SHIPPED, ['--check-config', '--config', p], { encoding: 'utf8', env: { ...process.env, PX_SECRET: SECRET } });
  let r = orchRun(bad({ orchestrator: { ...conf.orchestrator, gateway_tokn: 'x' } }));
  assert.equal(r.status, 1);
  assert.match(r.stderr, /'orchestrator' has an unknown key 'gateway_tokn'/);
  r = gwCheck(bad({ calls: { timeout_ms: 20000, bogus: 1 } }));
  assert.notEqual(r.status, 0);
  assert.match(r.stderr + r.stdout, /unknown key 'calls\.bogus'/);
  r = gwCheck(bad({ orchestrater: {} }));
  assert.notEqual(r.status, 0);
  assert.match(r.stderr + r.stdout, /unknown key 'orchestrater'; did you mean 'orchestrator'/);
  r = gwCheck(bad({ orchestrator: 5 }));
  assert.notEqual(r.status, 0);
  assert.match(r.stderr + r.stdout, /'orchestrator' must be an object/);
  // the token itself in the file is refused, saying how to give it; a missing secret is named
  r = orchRun(bad({ orchestrator: { ...conf.orchestrator, gateway_token: TOKEN } }));
  assert.equal(r.status, 1);
  assert.match(r.stderr, /gateway_token' must be \{"file": PATH\} or \{"env": NAME\}/);
  assert.doesNotMatch(r.stderr, new RegExp(TOKEN));
  r = orchRun(bad({ orchestrator: { ...conf.orchestrator, gateway_token: { env: 'CORTEX_TEST_NO_SUCH_VAR' } } }));
  assert.equal(r.status, 1);
  assert.match(r.stderr, /orchestrator\.gateway_token/);
});

test('the gateway token from {"env": NAME} in the config wins over $CORTEX_TOKEN', async () => {
  const TOKEN = 'orch-env-token-abcdef0123456789abcdef01234567';
  const audit = join(tmpDir(), 'audit.log');
  const w = await world([{ match: 'ENV-TOKEN', turns: [{ tool_use: [{ name: 'proxmox_list_nodes', input: {} }] }, { text: 'ok {{last_tool_result}}' }] }], {
    token: TOKEN, // the test's own session uses it
    orchestrator: { gateway_token: { env: 'MY_GATEWAY_TOKEN' } },
    gateway: { tokens: [{ name: 'from-config', sha256: createHash('sha256').update(TOKEN).digest('hex') }], audit: { file: audit } },
    env: { CORTEX_TOKEN: 'a-wrong-token-the-config-overrides-0000000', MY_GATEWAY_TOKEN: TOKEN },
  });
  const [id] = await create(w, { query: 'ENV-TOKEN', category: 'inventory' });
  const t = await waitFor(w, id);
  assert.equal(t.status, 'completed', JSON.stringify(t) + w.orch.stderr());
  assert.doesNotMatch(w.orch.stderr() + w.gw.stderr(), new RegExp(TOKEN));
  await stopsCleanly(w.orch);
});

test('the orchestrator reads its config and masters files as the gateway reads its config: duplicate keys refused, each mistake named once', () => {
  const dir = tmpDir();
  const file = (name, text) => { writeFileSync(join(dir, name), text); return join(dir, name); };
  const ok = file('ok.json', JSON.stringify({ tasks: { dir: join(dir, 'tasks') } }));
  const cases = [
    [['--config', file('dup.json', '{"orchestrator": {"grace_ms": 1}, "orchestrator": {}}')],
      /^cortex-orchestrator: config: '[^']*dup\.json': line 1 column \d+: duplicate object key\n$/],
    [['--config', join(dir, 'missing.json')], /^cortex-orchestrator: config: could not open '[^']*missing\.json': No such file or directory\n$/],
    [['--config', file('list.json', '[1]')], /^cortex-orchestrator: config '[^']*list\.json': must be a JSON object\n$/],
    [['--config', ok, '--masters', file('m.json', '{"masters": [], "masters": []}')],
      /^cortex-orchestrator: masters registry: '[^']*m\.json': line 1 column \d+: duplicate object key\n$/],
    [['--config', ok, '--masters', join(dir, 'none.json')],
      /^cortex-orchestrator: masters registry: could not open '[^']*none\.json': No such file or directory\n$/],
  ];
  for (const [args, pattern] of cases) {
    const r = spawnSync(ORCH, args, { encoding: 'utf8', timeout: 20000 });
    assert.equal(r.status, 1, args.join(' ') + ': ' + r.stderr);
    assert.match(r.stderr, pattern, args.join(' '));
  }
});
