// Helpers the fault trials share: processes on fixed ports (so a killed gateway comes back where
// its clients look for it), the orchestrator and redis-server as the orchestrator tests start
// them, and the trial counts. CORTEX_FAULTS_FULL=1 (make soak) runs the full counts; make test
// runs the small ones.
import { spawn, spawnSync } from 'node:child_process';
import { createServer } from 'node:net';
import { dirname, join } from 'node:path';
import { SHIPPED, GATEWAY, SIM } from '../integration/lib.mjs';

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
