// bench/orchestrator.mjs BUILD_DIR — the orchestrator's half of `make bench` (issue 11):
//   pickup     a task created while a worker is free: from created_at to started_at, as the
//              store wrote them (target < 50 ms; the system Cortex descends from polled every 5 s)
//   drain      BENCH_ORCH_TASKS (10000) tasks created in one cortex_create_task call and run to
//              the end by the orchestrator, each one LLM turn with one tool call (gateway_status)
//              and a final answer from the simulator's zero-latency scripted LLM: tasks/s from
//              the call to the last one finished (target >= 1000 on the dir store), and the
//              orchestrator's peak RSS
// Everything runs on loopback: cortex-sim (the scripted LLM), the shipped gateway (the task
// tools on a dir store in a temporary folder, fsync as BENCH_ORCH_FSYNC says: true by default)
// and the orchestrator with BENCH_ORCH_WORKERS (32) workers of one master.
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const build = resolve(process.argv[2] || 'build');
const N = Number(process.env.BENCH_ORCH_TASKS || 10000);
const WORKERS = Number(process.env.BENCH_ORCH_WORKERS || 32);
const ROUNDS = Number(process.env.BENCH_ROUNDS || 50);
const FSYNC = (process.env.BENCH_ORCH_FSYNC || 'true') === 'true';
const KEY = 'sk-ant-sim-bench-0123456789';
const dir = mkdtempSync(join(tmpdir(), 'cortex-bench-orch-'));
const kids = [];

function cleanup() {
  for (const k of kids) if (k.exitCode === null) k.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
}
process.on('exit', cleanup);
process.on('SIGINT', () => process.exit(130));

function write(name, obj) {
  const p = join(dir, name);
  writeFileSync(p, JSON.stringify(obj));
  return p;
}

// Starts bin and resolves with the first match of re in its stdout or stderr. Once it has
// matched only the output's last 4 KiB are kept, for the error if it exits: matching the whole
// of a growing log at each read cost the bench a sixth of the machine during the drain.
function start(bin, args, re, env = {}) {
  const child = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
  kids.push(child);
  let out = '';
  let found = false;
  return new Promise((res, rej) => {
    const look = (d) => {
      out += d;
      if (found) { if (out.length > 8192) out = out.slice(-4096); return; }
      const m = out.match(re);
      if (m) { found = true; res({ child, m }); }
    };
    child.stdout.on('data', look);
    child.stderr.on('data', look);
    child.on('exit', (code) => rej(new Error(`${bin} exited with ${code}: ${out.slice(-2000)}`)));
  });
}

async function session(url) {
  const base = { Accept: 'application/json, text/event-stream', 'Content-Type': 'application/json' };
  const init = await fetch(url, { method: 'POST', headers: base, body: JSON.stringify({ jsonrpc: '2.0', id: 0, method: 'initialize',
    params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'bench', version: '1' } } }) });
  const body = await init.json();
  const headers = { ...base, 'Mcp-Session-Id': init.headers.get('mcp-session-id'), 'MCP-Protocol-Version': body.result.protocolVersion };
  let id = 1;
  return async (name, args) => {
    const r = await fetch(url, { method: 'POST', headers, body: JSON.stringify({ jsonrpc: '2.0', id: id++, method: 'tools/call', params: { name, arguments: args } }) });
    const j = await r.json();
    if (!j.result || j.result.isError) throw new Error(`${name}: ${JSON.stringify(j).slice(0, 500)}`);
    return j.result.structuredContent;
  };
}

const stats = (v) => {
  const s = [...v].sort((a, b) => a - b);
  const q = (p) => s[Math.min(s.length - 1, Math.floor(p * s.length))];
  return { mean: +(s.reduce((a, b) => a + b, 0) / s.length).toFixed(1), p50: q(0.5), p95: q(0.95), max: s[s.length - 1] };
};

async function main() {
  const sim = await start(join(build, 'cortex-sim'), ['--listen', '127.0.0.1:0', '--config', write('sim.json', { llm: { api_key: KEY,
    conversations: [{ match: 'BENCH', turns: [{ tool_use: [{ name: 'gateway_status', input: {} }] }, { text: 'ok' }] }] } })],
  /cortex-sim listening on (http:\/\/127\.0\.0\.1:\d+)/);
  const simUrl = sim.m[1];
  const tasks = { store: 'dir', dir: join(dir, 'tasks'), fsync: FSYNC };
  const gw = await start(join(build, 'cortex-gateway'), ['--listen', '127.0.0.1:0', '--config',
    write('gateway.json', { tasks, calls: { timeout_ms: 30000, workers: 16, queue_max: 4096 } })], /listening on (http:\/\/127\.0\.0\.1:\d+\/mcp)/);
  const gwUrl = gw.m[1];
  const masters = write('masters.json', { masters: [{ name: 'general', categories: ['general'], system_prompt: 'bench', tools: ['gateway_status'],
    models: [{ api: 'anthropic', model: 'bench' }], workers: WORKERS, limits: { iterations: 5, tokens: 1000000, wall_clock_ms: 600000, max_tokens: 256 } }] });
  const orch = await start(join(build, 'cortex-orchestrator'), ['--config', write('orch.json', { tasks, orchestrator: { masters } })],
    /workers; tasks in/, { CORTEX_GATEWAY_URL: gwUrl, ANTHROPIC_BASE_URL: simUrl, ANTHROPIC_API_KEY: KEY, CORTEX_TOKEN: '' });
  const call = await session(gwUrl);

  // pickup: one task at a time, each after the last finished
  const pick = [];
  for (let i = 0; i < ROUNDS; i++) {
    const made = await call('cortex_create_task', { query: `BENCH pickup ${i}` });
    const id = made.ids[0];
    let t;
    for (;;) {
      t = await call('cortex_get_task_status', { id });
      if (t.status === 'completed' || t.status === 'failed') break;
      await new Promise((r) => setTimeout(r, 5));
    }
    if (t.status !== 'completed') throw new Error('pickup task failed: ' + JSON.stringify(t));
    pick.push(Date.parse(t.started_at) - Date.parse(t.created_at));
  }
  const p = stats(pick);
  console.log(`orchestrator pickup (created_at -> started_at, ${ROUNDS} tasks, ms): mean ${p.mean} p50 ${p.p50} p95 ${p.p95} max ${p.max}` +
    ` — target < 50 ms: ${p.p95 < 50 ? 'met' : 'MISSED'}`);

  // drain: N tasks in one call; the CPU each process spent on it beside the figure
  const cpu = (child) => readFileSync(`/proc/${child.pid}/stat`, 'utf8').split(') ')[1].split(' ').slice(11, 13).reduce((a, b) => a + Number(b), 0) * 10;
  const cpu0 = [orch, gw, sim].map((x) => cpu(x.child));
  const t0 = Date.now();
  await call('cortex_create_task', { tasks: Array.from({ length: N }, (_, i) => ({ query: `BENCH drain ${i}`, title: `drain ${i}` })) });
  const created = Date.now() - t0;
  // What the orchestrator does once every task is there: the create call's own cost (10,000
  // new files) depends on the file system as much as on Cortex (see the README).
  const m0 = await call('cortex_get_metrics', {});
  const done0 = (m0.queue?.completed?.general || 0) + (m0.queue?.failed?.general || 0) - ROUNDS;
  const t1 = Date.now();
  let done = 0;
  let failed = 0;
  for (;;) {
    const m = await call('cortex_get_metrics', {});
    done = m.queue?.completed?.general || 0;
    failed = m.queue?.failed?.general || 0;
    if (done + failed >= N + ROUNDS) break;
    if (Date.now() - t0 > 900000) throw new Error(`drain: ${done} of ${N} after 15 minutes`);
    await new Promise((r) => setTimeout(r, 250));
  }
  const secs = (Date.now() - t0) / 1000;
  const after = (N - done0) / ((Date.now() - t1) / 1000);
  const rss = readFileSync(`/proc/${orch.child.pid}/status`, 'utf8').match(/VmHWM:\s+(\d+) kB/)[1];
  const [co, cg, cs] = [orch, gw, sim].map((x, i) => ((cpu(x.child) - cpu0[i]) / N).toFixed(2));
  console.log(`orchestrator drain (${N} tasks in one call, ${WORKERS} workers, dir store fsync ${FSYNC}): ` +
    `${(N / secs).toFixed(0)} tasks/s (${secs.toFixed(1)} s; the create call ${created} ms, and after it ` +
    (N - done0 > 0 ? `${after.toFixed(0)} tasks/s for the ${N - done0} not yet finished), `
      : 'none was left: every task had finished when the gateway first answered), ') + `${failed} failed, ` +
    `peak RSS ${(rss / 1024).toFixed(1)} MiB; CPU ms per task: orchestrator ${co}, gateway ${cg}, simulator ${cs} ` +
    `(store in ${dir}) — target >= 1000 tasks/s: ${N / secs >= 1000 ? 'met' : 'MISSED'}`);
  if (failed) process.exitCode = 1;
}

// The children's pipes would keep node alive: exit (cleanup kills them) when done.
main().catch((e) => { console.error('bench: ' + e.message); process.exitCode = 1; })
  .finally(() => process.exit(process.exitCode || 0));
