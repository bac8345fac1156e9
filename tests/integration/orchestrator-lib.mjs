// The orchestrator tests' world (orchestrator*.test.mjs): cortex-sim (the Proxmox backend and
// the scripted LLM under /v1), the shipped gateway (the proxmox adapter against the simulator,
// the task tools on a temporary dir store) and the orchestrator, pointed at the simulator as
// ANTHROPIC_BASE_URL with a dummy key. Tasks are created and watched through the gateway, as a
// person would.
import { after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { createServer } from 'node:net';
import { dirname, join } from 'node:path';
import { GATEWAY, SHIPPED, startHttp, startSim, httpSession, writeConfig, tmpDir } from './lib.mjs';

export { GATEWAY, SHIPPED, startHttp, startSim, httpSession, writeConfig, tmpDir };

export const ORCH = process.env.CORTEX_ORCHESTRATOR_BIN || join(dirname(SHIPPED), 'cortex-orchestrator');
export const TASKCTL = process.env.CORTEX_TASKCTL_BIN || join(dirname(SHIPPED), 'bench/taskctl');
export const KEY = 'sk-ant-sim-orchestrator-test-0123';
export const TOKEN_ID = 'root@pam!cortex';
export const SECRET = '5e1f3c9a-2b7d-4e8f-9a61-0c3d5b7e9f12';

export const running = [];
after(() => running.forEach((p) => p.kill()));

export function startOrch(config, env) {
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

export async function freePort() {
  return new Promise((res) => {
    const srv = createServer();
    srv.listen(0, '127.0.0.1', () => { const { port } = srv.address(); srv.close(() => res(port)); });
  });
}

// A redis-server of the test's own (the Redis task store), when the machine has one.
let redis;
export async function redisTasks() {
  if (!redis) {
    const port = await freePort();
    const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
      { stdio: ['ignore', 'pipe', 'pipe'] });
    running.push({ kill() { if (child.exitCode === null) child.kill('SIGKILL'); } });
    let out = '';
    await new Promise((res, rej) => {
      child.stdout.on('data', (d) => { out += d; if (/Ready to accept connections/.test(out)) res(); });
      child.on('exit', (code) => rej(new Error('redis-server exited with ' + code + ': ' + out)));
    });
    redis = { port, n: 0 };
  }
  redis.n += 1;
  return { store: 'redis', url: `redis://127.0.0.1:${redis.port}/0`, prefix: `orch-test-${redis.n}:` };
}
export const haveRedis = spawnSync('redis-server', ['--version']).status === 0;

// Simulator, gateway and orchestrator sharing one fresh task store (bin: the gateway binary;
// GATEWAY, the test build, adds the testkit adapter's tools when gateway.adapters names it).
export async function world(conversations, { orchestrator = {}, lease_ms = 3000, masters, store, gateway = {}, token = '', env: envOver = {}, llm = {}, bin = SHIPPED, listen } = {}) {
  const sim = startSim(['--config', writeConfig({ llm: { api_key: KEY, conversations, ...llm } })]);
  running.push(sim);
  const simUrl = await sim.ready;
  const tasks = store === 'redis' ? { ...(await redisTasks()), lease_ms } : { store: 'dir', dir: tmpDir(), fsync: false, lease_ms };
  const gwArgs = ['--config', writeConfig({
    calls: { timeout_ms: 20000 },
    adapters: { proxmox: { url: simUrl, token_id: TOKEN_ID, token_secret: { env: 'PX_SECRET' }, task_poll_ms: 50 } },
    tasks,
    ...gateway,
  }), ...(listen ? ['--listen', listen] : [])];
  const gw = startHttp(gwArgs, { bin, env: { PX_SECRET: SECRET } });
  running.push(gw);
  const gwUrl = await gw.ready;
  const orchConf = { tasks, orchestrator: { heartbeat_ms: 200, grace_ms: 3000, ...orchestrator } };
  if (masters) orchConf.orchestrator.masters = writeConfig(masters);
  const env = { CORTEX_GATEWAY_URL: gwUrl, ANTHROPIC_BASE_URL: simUrl, ANTHROPIC_API_KEY: KEY, OPENAI_BASE_URL: simUrl, CORTEX_TOKEN: token };
  for (const [k, v] of Object.entries(envOver)) env[k] = typeof v === 'function' ? v({ gwUrl, simUrl }) : v;
  const confPath = writeConfig(orchConf);
  const orch = startOrch(confPath, env);
  await orch.ready;
  const mcp = await httpSession(gwUrl, { token: token || undefined });
  const call = async (name, args = {}) => {
    const r = await w.mcp.call('tools/call', { name, arguments: args });
    assert.ok(r.result, JSON.stringify(r));
    return r.result;
  };
  const w = {
    sim, simUrl, gw, orch, mcp, call, tasks,
    restart() { const o = startOrch(confPath, env); this.orch = o; return o.ready; },
    // kill -9 of the gateway and a new one on the same address (listen: a fixed HOST:PORT)
    async restartGateway() {
      this.gw.kill();
      await this.gw.exited;
      const g = startHttp(gwArgs, { bin, env: { PX_SECRET: SECRET } });
      running.push(g);
      this.gw = g;
      await g.ready;
      this.mcp = await httpSession(gwUrl, { token: token || undefined });
    },
    llm: async () => (await (await fetch(simUrl + '/v1/_sim/llm')).json()).script,
  };
  return w;
}

export const FINISHED = ['completed', 'failed', 'cancelled'];

// SIGTERM: exit 0, nothing from the sanitizers (under make check a leak shows here).
export async function stopsCleanly(o) {
  o.child.kill('SIGTERM');
  const { code, signal } = await o.exited;
  assert.equal(signal, null, o.stderr());
  assert.equal(code, 0, o.stderr());
  assert.doesNotMatch(o.stderr(), /Sanitizer|runtime error|leak/i, o.stderr());
}

export async function status(w, id) {
  const r = await w.call('cortex_get_task_status', { id });
  assert.ok(!r.isError, JSON.stringify(r));
  return r.structuredContent.task || r.structuredContent;
}

// Waits (polling the gateway, as a dashboard would) until the task is in one of states.
export async function waitFor(w, id, states = FINISHED, ms = 20000) {
  const end = Date.now() + ms;
  let t;
  while (Date.now() < end) {
    t = await status(w, id);
    if (states.includes(t.status)) return t;
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.fail(`task ${id} still ${t && t.status} after ${ms} ms: ${JSON.stringify(t)}; orchestrator (exit ${w.orch.child.exitCode}/${w.orch.child.signalCode}): ${w.orch.stderr()}`);
}

// The task as stored, metadata and all (the gateway's view flattens it).
export function stored(w, id) {
  const r = spawnSync(TASKCTL, [JSON.stringify(w.tasks), 'get', id], { encoding: 'utf8', timeout: 20000 });
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout);
}

export async function create(w, args) {
  const r = await w.call('cortex_create_task', args);
  assert.ok(!r.isError, JSON.stringify(r));
  const sc = r.structuredContent;
  return sc.tasks ? sc.tasks.map((t) => t.id) : [sc.id || sc.task.id];
}

