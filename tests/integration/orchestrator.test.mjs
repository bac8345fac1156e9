// cortex-orchestrator end to end: cortex-sim (the Proxmox backend and the scripted LLM under
// /v1), the shipped gateway (the proxmox adapter against the simulator, the task tools on a
// temporary dir store) and the orchestrator, pointed at the simulator as ANTHROPIC_BASE_URL with
// a dummy key. Tasks are created and watched through the gateway, as a person would.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { SHIPPED, startHttp, startSim, httpSession, writeConfig, tmpDir } from './lib.mjs';

const ORCH = process.env.CORTEX_ORCHESTRATOR_BIN || join(dirname(SHIPPED), 'cortex-orchestrator');
const TASKCTL = process.env.CORTEX_TASKCTL_BIN || join(dirname(SHIPPED), 'bench/taskctl');
const KEY = 'sk-ant-sim-orchestrator-test-0123';
const TOKEN_ID = 'root@pam!cortex';
const SECRET = '5e1f3c9a-2b7d-4e8f-9a61-0c3d5b7e9f12';

const running = [];
after(() => running.forEach((p) => p.kill()));

function startOrch(config, env) {
  const child = spawn(ORCH, ['--config', config], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
  let stderr = '';
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (d) => { stderr += d; });
  child.stdout.resume();
  const exited = new Promise((res) => child.on('exit', (code, signal) => res({ code, signal })));
  const ready = new Promise((res, rej) => {
    child.stderr.on('data', () => { if (/cortex-orchestrator .*workers/.test(stderr)) res(); });
    exited.then(({ code }) => rej(new Error('orchestrator exited with ' + code + ': ' + stderr)));
  });
  const o = {
    child, exited, ready, stderr: () => stderr,
    kill(sig = 'SIGKILL') { if (child.exitCode === null && child.signalCode === null) child.kill(sig); },
  };
  running.push(o);
  return o;
}

// Simulator, gateway and orchestrator sharing one fresh task store.
async function world(conversations, { orchestrator = {}, lease_ms = 3000, masters } = {}) {
  const sim = startSim(['--config', writeConfig({ llm: { api_key: KEY, conversations } })]);
  running.push(sim);
  const simUrl = await sim.ready;
  const tasks = { store: 'dir', dir: tmpDir(), fsync: false, lease_ms };
  const gw = startHttp(['--config', writeConfig({
    calls: { timeout_ms: 20000 },
    adapters: { proxmox: { url: simUrl, token_id: TOKEN_ID, token_secret: { env: 'PX_SECRET' }, task_poll_ms: 50 } },
    tasks,
  })], { bin: SHIPPED, env: { PX_SECRET: SECRET } });
  running.push(gw);
  const gwUrl = await gw.ready;
  const orchConf = { tasks, orchestrator: { heartbeat_ms: 200, grace_ms: 3000, ...orchestrator } };
  if (masters) orchConf.orchestrator.masters = writeConfig(masters);
  const env = { CORTEX_GATEWAY_URL: gwUrl, ANTHROPIC_BASE_URL: simUrl, ANTHROPIC_API_KEY: KEY, CORTEX_TOKEN: '' };
  const confPath = writeConfig(orchConf);
  const orch = startOrch(confPath, env);
  await orch.ready;
  const mcp = await httpSession(gwUrl);
  const call = async (name, args = {}) => {
    const r = await mcp.call('tools/call', { name, arguments: args });
    assert.ok(r.result, JSON.stringify(r));
    return r.result;
  };
  return {
    sim, simUrl, gw, orch, mcp, call, tasks,
    restart() { const o = startOrch(confPath, env); this.orch = o; return o.ready; },
    llm: async () => (await (await fetch(simUrl + '/v1/_sim/llm')).json()).script,
  };
}

const FINISHED = ['completed', 'failed', 'cancelled'];

async function status(w, id) {
  const r = await w.call('cortex_get_task_status', { id });
  assert.ok(!r.isError, JSON.stringify(r));
  return r.structuredContent.task || r.structuredContent;
}

// Waits (polling the gateway, as a dashboard would) until the task is in one of states.
async function waitFor(w, id, states = FINISHED, ms = 20000) {
  const end = Date.now() + ms;
  let t;
  while (Date.now() < end) {
    t = await status(w, id);
    if (states.includes(t.status)) return t;
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.fail(`task ${id} still ${t && t.status} after ${ms} ms; orchestrator: ${w.orch.stderr()}`);
}

// The task as stored, metadata and all (the gateway's view flattens it).
function stored(w, id) {
  const r = spawnSync(TASKCTL, [JSON.stringify(w.tasks), 'get', id], { encoding: 'utf8', timeout: 20000 });
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout);
}

async function create(w, args) {
  const r = await w.call('cortex_create_task', args);
  assert.ok(!r.isError, JSON.stringify(r));
  const sc = r.structuredContent;
  return sc.tasks ? sc.tasks.map((t) => t.id) : [sc.id || sc.task.id];
}

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
});
