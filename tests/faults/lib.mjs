// Helpers the fault trials share: processes on fixed ports (so a killed gateway comes back where
// its clients look for it), the orchestrator and redis-server as the orchestrator tests start
// them, and the trial counts. CORTEX_FAULTS_FULL=1 (make soak) runs the full counts; make test
// runs the small ones.
import { spawn, spawnSync } from 'node:child_process';
import { createServer } from 'node:net';
import { dirname, join } from 'node:path';
import { SHIPPED, GATEWAY, SIM, writeConfig as writeConfigLocal, httpSession as httpSessionLocal } from '../integration/lib.mjs';

export { SHIPPED, GATEWAY, SIM };
export { startSim, startHttp, httpSession, writeConfig, tmpDir, sseMessages } from '../integration/lib.mjs';

export const FULL = process.env.CORTEX_FAULTS_FULL === '1';
export const ORCH = process.env.CORTEX_ORCHESTRATOR_BIN || join(dirname(SHIPPED), 'cortex-orchestrator');
export const TASKCTL = process.env.CORTEX_TASKCTL_BIN || join(dirname(SHIPPED), 'bench/taskctl');
export const haveRedis = spawnSync('redis-server', ['--version']).status === 0;
export const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

export async function freePort() {
  return new Promise((res) => {
    const srv = createServer();
    srv.listen(0, '127.0.0.1', () => { const { port } = srv.address(); srv.close(() => res(port)); });
  });
}

// Every process a trial starts, killed when the file's tests end.
export const running = [];
export function killAll() { running.forEach((p) => p.kill()); }

// A child process with its stderr kept; ready resolves when stderr (or stdout) matches re.
export function startProc(bin, args, { env = {}, re, stdout = false } = {}) {
  const child = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
  let err = '';
  let out = '';
  child.stderr.setEncoding('utf8');
  child.stdout.setEncoding('utf8');
  const exited = new Promise((res) => child.on('exit', (code, signal) => res({ code, signal })));
  const ready = new Promise((res, rej) => {
    const check = () => {
      const m = (stdout ? out : err).match(re);
      if (m) res(m);
    };
    child.stderr.on('data', (d) => { err += d; if (!stdout) check(); });
    child.stdout.on('data', (d) => { out += d; if (stdout) check(); });
    exited.then(({ code, signal }) => rej(new Error(`${bin} exited with ${code}/${signal}: ${err}`)));
  });
  ready.catch(() => {});
  const p = {
    child, exited, ready, stderr: () => err, stdout: () => out,
    alive() { return child.exitCode === null && child.signalCode === null; },
    kill(sig = 'SIGKILL') { if (p.alive()) child.kill(sig); },
  };
  running.push(p);
  return p;
}

// The gateway on a given loopback port; ready resolves with its /mcp URL.
export async function gatewayOn(port, config, { bin = SHIPPED, env = {} } = {}) {
  const g = startProc(bin, ['--listen', `127.0.0.1:${port}`, '--config', config], {
    env, re: /listening on (http:\/\/127\.0\.0\.1:\d+\/mcp)/,
  });
  g.url = (await g.ready)[1];
  return g;
}

export async function sim(args = []) {
  const s = startProc(SIM, ['--listen', '127.0.0.1:0', ...args], {
    stdout: true, re: /^cortex-sim listening on (https?:\/\/127\.0\.0\.1:\d+)$/m,
  });
  s.url = (await s.ready)[1];
  s.post = (path, body) => fetch(s.url + path, { method: 'POST', body: JSON.stringify(body) }).then((r) => r.json());
  s.del = (path) => fetch(s.url + path, { method: 'DELETE' }).then((r) => r.json());
  return s;
}

export function startOrch(config, env) {
  return startProc(ORCH, ['--config', config], { env, re: /cortex-orchestrator .*workers/ });
}

// A redis-server of the trial's own on a port (the same port again after a kill).
export async function startRedis(port, extra = []) {
  const r = startProc('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', ...extra], {
    stdout: true, re: /Ready to accept connections/,
  });
  await r.ready;
  return r;
}

// The task as stored, through the worker's side of the store.
export function taskctl(tasks, ...args) {
  return spawnSync(TASKCTL, [JSON.stringify(tasks), ...args], { encoding: 'utf8', timeout: 30000 });
}

// A tools/call over an MCP session; the JSON-RPC result, or throws on a transport failure.
export async function callTool(session, name, args = {}) {
  const r = await session.call('tools/call', { name, arguments: args });
  if (!r.result) throw new Error(`${name}: ${JSON.stringify(r)}`);
  return r.result;
}

export const text = (r) => (r.content || []).map((c) => c.text).join('\n');

// Lines of a file that do not parse as JSON (an audit file must have none).
export function badLines(body) {
  const bad = [];
  for (const l of body.split('\n')) {
    if (!l) continue;
    try { JSON.parse(l); } catch { bad.push(l.slice(0, 200)); }
  }
  return bad;
}

export function percentile(sorted, p) {
  if (!sorted.length) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

export const LLM_KEY = 'sk-ant-sim-faults-test-0123';
export const PX_SECRET = '5e1f3c9a-2b7d-4e8f-9a61-0c3d5b7e9f12';
export const FINISHED = ['completed', 'failed', 'cancelled'];

// Simulator (Proxmox and the scripted LLM), the shipped gateway and one orchestrator sharing a
// task store, as tests/integration/orchestrator.test.mjs builds them. tasks: the store's config.
export async function orchWorld(conversations, tasks, { orchestrator = {}, gateway = {} } = {}) {
  const s = await sim(['--config', writeConfigLocal({ llm: { api_key: LLM_KEY, conversations } })]);
  const gw = await gatewayOn(await freePort(), writeConfigLocal({
    calls: { timeout_ms: 20000 },
    adapters: { proxmox: { url: s.url, token_id: 'root@pam!cortex', token_secret: { env: 'PX_SECRET' }, task_poll_ms: 50 } },
    tasks,
    ...gateway,
  }), { env: { PX_SECRET } });
  const env = { CORTEX_GATEWAY_URL: gw.url, ANTHROPIC_BASE_URL: s.url, ANTHROPIC_API_KEY: LLM_KEY, OPENAI_BASE_URL: s.url };
  const confPath = writeConfigLocal({ tasks, orchestrator: { heartbeat_ms: 200, grace_ms: 3000, ...orchestrator } });
  const w = {
    sim: s, gw, tasks, orch: null, mcp: await httpSessionLocal(gw.url), orchConf: confPath, orchEnv: env,
    async start() { this.orch = startOrch(confPath, env); await this.orch.ready; return this.orch; },
    async call(name, args = {}) { return callTool(this.mcp, name, args); },
    async create(specs) {
      const r = await this.call('cortex_create_task', { tasks: specs });
      if (r.isError) throw new Error('cortex_create_task: ' + text(r));
      return r.structuredContent.tasks.map((t) => t.id);
    },
    async status(id) {
      const r = await this.call('cortex_get_task_status', { id });
      if (r.isError) throw new Error('cortex_get_task_status: ' + text(r));
      return r.structuredContent.task || r.structuredContent;
    },
    // Polls until every id is in one of states; returns the tasks.
    async waitAll(ids, states = FINISHED, ms = 60000) {
      const end = Date.now() + ms;
      const done = new Map();
      while (Date.now() < end && done.size < ids.length) {
        for (const id of ids) {
          if (done.has(id)) continue;
          const t = await this.status(id);
          if (states.includes(t.status)) done.set(id, t);
        }
        if (done.size < ids.length) await sleep(100);
      }
      if (done.size < ids.length) {
        const left = ids.filter((id) => !done.has(id));
        const st = await Promise.all(left.slice(0, 5).map((id) => this.status(id)));
        throw new Error(`${left.length} tasks not finished after ${ms} ms: ${JSON.stringify(st).slice(0, 1500)}\norchestrator: ${this.orch?.stderr().slice(-3000)}`);
      }
      return ids.map((id) => done.get(id));
    },
    llm: async () => (await (await fetch(s.url + '/v1/_sim/llm')).json()).script,
  };
  await w.start();
  return w;
}

// How often the scripted LLM was asked about each query (the first message of each request).
// A task run twice at once, or finished and run again, asks more than turns x attempts.
export async function assertNotDoubled(w, done, queries, assert) {
  const asked = new Map();
  for (const c of (await w.llm()).conversations) {
    for (const r of c.requests) {
      const first = r.body.messages[0].content;
      const q = typeof first === 'string' ? first : first.map((b) => b.text || '').join('');
      asked.set(q, (asked.get(q) || 0) + 1);
    }
  }
  for (const t of done) {
    const [q, turns] = queries.get(t.id);
    const n = [...asked].filter(([k]) => k === q || k.startsWith(q + '\n') || k.endsWith(q)).reduce((a, [, v]) => a + v, 0);
    assert.ok(n >= 1 && n <= turns * t.attempts, `${q}: the model was asked ${n} times for ${turns} turns and ${t.attempts} attempts`);
  }
}
