// The soak behind `make soak` (not in make test): node tests/faults/soak.mjs BUILD_DIR
//
// Starts cortex-sim and the shipped gateway (Proxmox and Cloudflare adapters against the
// simulator, audit lines to a file), opens SOAK_SESSIONS (1000) MCP sessions each holding an
// open GET stream, and puts a mixed call load on random sessions for SOAK_SECONDS (600): Proxmox
// and Cloudflare reads through the simulator, the gateway's own tool, tools/list and ping, at
// SOAK_RATE calls/s (200) from SOAK_CONCURRENCY (32) callers. The gateway keeps its default
// per-client limits (64 GET streams, 256 connections): the sessions are spread over SOAK_TOKENS
// (25) bearer tokens, 40 streams each; only http.max_connections (1024 by default, the whole
// process's) is raised to 2048 to hold 1000 streams plus the callers' connections.
//
// Every SOAK_SAMPLE_SECONDS (10) it samples the gateway's RSS and open file descriptors; at the
// end it prints calls made, errors, streams still open, RSS at start / after warm-up / middle /
// end, fds, and p50/p99 latency per minute. Exit 1 when there was any error, a stream was lost,
// or RSS grew more than 10 % after the warm-up (the first minute, or 10 % of a shorter run).
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync, readdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { request as httpRequest, Agent } from 'node:http';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const build = resolve(process.argv[2] || 'build');
const SECONDS = Number(process.env.SOAK_SECONDS || 600);
const SESSIONS = Number(process.env.SOAK_SESSIONS || 1000);
const RATE = Number(process.env.SOAK_RATE || 200);
const CONC = Number(process.env.SOAK_CONCURRENCY || 32);
const TOKENS = Number(process.env.SOAK_TOKENS || 25);
const SAMPLE_S = Number(process.env.SOAK_SAMPLE_SECONDS || 10);
const WARMUP_S = Math.min(60, Math.max(10, Math.floor(SECONDS / 10)));
const PX_SECRET = '5e1f3c9a-2b7d-4e8f-9a61-0c3d5b7e9f12';
const CF_TOKEN = 'cfsim-token-0123456789abcdef0123456789abcdef';
const PROTO = '2025-11-25';

const tmp = mkdtempSync(join(tmpdir(), 'cortex-soak-'));
const procs = [];
const cleanup = () => { for (const p of procs) if (p.exitCode === null) p.kill('SIGKILL'); rmSync(tmp, { recursive: true, force: true }); };
process.on('exit', cleanup);
process.on('SIGINT', () => process.exit(130));

function start(bin, args, re, { env = {}, stdout = false } = {}) {
  const child = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
  procs.push(child);
  let out = '';
  let err = '';
  child.stdout.on('data', (d) => { out += d; });
  child.stderr.on('data', (d) => { err += d; if (err.length > 1e6) err = err.slice(-5e5); });
  child.log = () => err;
  return new Promise((res, rej) => {
    const t = setInterval(() => {
      const m = (stdout ? out : err).match(re);
      if (m) { clearInterval(t); res([child, m[1]]); }
    }, 20);
    child.on('exit', (code) => { clearInterval(t); rej(new Error(`${bin} exited ${code}: ${err}`)); });
  });
}

const tokens = Array.from({ length: TOKENS }, (_, i) => `soak-token-${i}-${randomBytes(16).toString('hex')}`);
const [sim, simUrl] = await start(join(build, 'cortex-sim'), ['--listen', '127.0.0.1:0'],
  /cortex-sim listening on (http:\/\/127\.0\.0\.1:\d+)/, { stdout: true });
const conf = join(tmp, 'gateway.json');
writeFileSync(conf, JSON.stringify({
  http: { max_connections: 2048 },
  tokens: tokens.map((t, i) => ({ name: `soak-${i}`, sha256: createHash('sha256').update(t).digest('hex') })),
  audit: { file: join(tmp, 'audit.log') },
  calls: { timeout_ms: 10000 },
  adapters: {
    proxmox: { url: simUrl, token_id: 'root@pam!cortex', token_secret: { env: 'PX_SECRET' } },
    cloudflare: { url: simUrl + '/client/v4', api_token: { env: 'CF_TOKEN' } },
  },
}));
const [gw, gwUrl] = await start(join(build, 'cortex-gateway'), ['--listen', '127.0.0.1:0', '--config', conf],
  /listening on (http:\/\/127\.0\.0\.1:\d+\/mcp)/, { env: { PX_SECRET, CF_TOKEN } });
const url = new URL(gwUrl);
console.log(`soak: ${SESSIONS} sessions with GET streams over ${TOKENS} tokens (default per-client limits: 64 streams, 256 connections; http.max_connections 2048), ${RATE} calls/s from ${CONC} callers, ${SECONDS} s; gateway pid ${gw.pid}`);

// One HTTP exchange on its own agent (keep-alive, a few sockets per caller).
const callAgent = new Agent({ keepAlive: true, maxSockets: CONC * 2 });
function post(headers, body) {
  return new Promise((res, rej) => {
    const req = httpRequest({ host: url.hostname, port: url.port, path: url.pathname, method: 'POST', agent: callAgent, headers },
      (r) => {
        let data = '';
        r.setEncoding('utf8');
        r.on('data', (d) => { data += d; });
        r.on('end', () => res({ status: r.statusCode, headers: r.headers, body: data }));
      });
    req.setTimeout(30000, () => req.destroy(new Error('no answer in 30 s')));
    req.on('error', rej);
    req.end(JSON.stringify(body));
  });
}
const baseHeaders = (token) => ({ Accept: 'application/json, text/event-stream', 'Content-Type': 'application/json', Authorization: 'Bearer ' + token });

const sessions = [];
async function openSession(i) {
  const token = tokens[i % TOKENS];
  const r = await post(baseHeaders(token), { jsonrpc: '2.0', id: 0, method: 'initialize',
    params: { protocolVersion: PROTO, capabilities: {}, clientInfo: { name: 'cortex-soak', version: '1' } } });
  if (r.status !== 200 || !r.headers['mcp-session-id']) throw new Error(`initialize: ${r.status} ${r.body.slice(0, 200)}`);
  const headers = { ...baseHeaders(token), 'Mcp-Session-Id': r.headers['mcp-session-id'], 'MCP-Protocol-Version': PROTO };
  await post(headers, { jsonrpc: '2.0', method: 'notifications/initialized' });
  const s = { i, headers, stream: null, streamOpen: false, reopened: 0, lastEventId: null };
  sessions.push(s);
  openStream(s);
}

let streamErrors = 0;
let stopping = false;
function openStream(s) {
  const headers = { ...s.headers, Accept: 'text/event-stream' };
  delete headers['Content-Type'];
  if (s.lastEventId) headers['Last-Event-ID'] = s.lastEventId;
  const req = httpRequest({ host: url.hostname, port: url.port, path: url.pathname, method: 'GET', agent: false, headers }, (r) => {
    if (r.statusCode !== 200) {
      streamErrors++;
      console.error(`stream ${s.i}: HTTP ${r.statusCode}`);
      r.resume();
      return;
    }
    s.streamOpen = true;
    r.setEncoding('utf8');
    r.on('data', (d) => { const m = d.match(/^id: *(\S+)$/m); if (m) s.lastEventId = m[1]; });
    r.on('end', () => {
      s.streamOpen = false;
      if (!stopping) { s.reopened++; openStream(s); } // the stream's lifetime ended: resume
    });
  });
  req.on('error', (e) => { s.streamOpen = false; if (!stopping) { streamErrors++; console.error(`stream ${s.i}: ${e.message}`); } });
  req.end();
  s.stream = req;
}

const t0 = Date.now();
for (let i = 0; i < SESSIONS; i += 50) {
  await Promise.all(Array.from({ length: Math.min(50, SESSIONS - i) }, (_, k) => openSession(i + k)));
}
for (let k = 0; k < 100 && sessions.filter((s) => s.streamOpen).length < SESSIONS; k++) await new Promise((r) => setTimeout(r, 100));
console.log(`soak: ${sessions.length} sessions, ${sessions.filter((s) => s.streamOpen).length} streams open after ${Date.now() - t0} ms`);

const mix = [
  ['tools/call', { name: 'proxmox_list_vms', arguments: { node: 'pve1' } }, (r) => JSON.stringify(r.structuredContent).includes('web01')],
  ['tools/call', { name: 'proxmox_get_vm_status', arguments: { vmid: 100 } }, (r) => r.structuredContent?.status === 'running'],
  ['tools/call', { name: 'proxmox_get_cluster_status', arguments: {} }, (r) => r.structuredContent?.cluster?.quorate === true],
  ['tools/call', { name: 'cloudflare_list_zones', arguments: {} }, (r) => r.structuredContent?.zones?.length === 2],
  ['tools/call', { name: 'cloudflare_get_dns', arguments: { zone: 'example.com' } }, (r) => r.structuredContent?.count === 120],
  ['tools/call', { name: 'gateway_status', arguments: {} }, (r) => !!r.structuredContent],
  ['tools/list', {}, (r) => r.tools?.length > 10],
  ['ping', undefined, (r) => r && typeof r === 'object'],
];

const minutes = []; // { lat: [], calls, errors }
let calls = 0;
let errors = 0;
const errorSamples = [];
function record(ms, ok, what) {
  const m = Math.min(Math.floor((Date.now() - tStart) / 60000), Math.max(0, Math.ceil(SECONDS / 60) - 1));
  minutes[m] = minutes[m] || { lat: [], calls: 0, errors: 0 };
  minutes[m].lat.push(ms);
  minutes[m].calls++;
  calls++;
  if (!ok) {
    minutes[m].errors++;
    errors++;
    if (errorSamples.length < 10) errorSamples.push(what);
  }
}

function sample() {
  const status = readFileSync(`/proc/${gw.pid}/status`, 'utf8');
  const rss = Number(status.match(/VmRSS:\s+(\d+)/)[1]);
  const fds = readdirSync(`/proc/${gw.pid}/fd`).length;
  return { t: Math.round((Date.now() - tStart) / 1000), rss, fds, streams: sessions.filter((s) => s.streamOpen).length, calls };
}

const tStart = Date.now();
const tEnd = tStart + SECONDS * 1000;
const samples = [sample()];
const sampler = setInterval(() => {
  const s = sample();
  samples.push(s);
  console.log(`soak: t=${s.t}s rss=${(s.rss / 1024).toFixed(1)} MB fds=${s.fds} streams=${s.streams} calls=${s.calls} errors=${errors}`);
}, SAMPLE_S * 1000);

let nextId = 1;
let issued = 0;
async function caller() {
  while (Date.now() < tEnd) {
    // pace: the n-th call of the run is due at n / RATE seconds
    const due = tStart + (issued / RATE) * 1000;
    issued++;
    const wait = due - Date.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    if (Date.now() >= tEnd) break;
    const s = sessions[Math.floor(Math.random() * sessions.length)];
    const [method, params, check] = mix[Math.floor(Math.random() * mix.length)];
    const t = Date.now();
    try {
      const r = await post(s.headers, { jsonrpc: '2.0', id: nextId++, method, ...(params ? { params } : {}) });
      const body = r.status === 200 ? JSON.parse(r.body) : null;
      const result = body?.result;
      const ok = r.status === 200 && result && !result.isError && check(result);
      record(Date.now() - t, ok, ok ? '' : `${method} ${params?.name || ''}: HTTP ${r.status} ${r.body.slice(0, 200)}`);
    } catch (e) {
      record(Date.now() - t, false, `${method} ${params?.name || ''}: ${e.message}`);
    }
  }
}
await Promise.all(Array.from({ length: CONC }, caller));
clearInterval(sampler);
samples.push(sample());
const streamsAtEnd = sessions.filter((s) => s.streamOpen).length;
stopping = true;

const pct = (v, p) => v[Math.min(v.length - 1, Math.floor((p / 100) * v.length))] ?? 0;
const mb = (kb) => (kb / 1024).toFixed(1) + ' MB';
console.log('\n== soak results');
console.log(`duration ${SECONDS} s; sessions ${SESSIONS} (GET streams over ${TOKENS} tokens, default per-client limits); calls ${calls} (${(calls / SECONDS).toFixed(1)}/s); errors ${errors}`);
console.log(`streams open at the end ${streamsAtEnd}/${SESSIONS}; stream errors ${streamErrors}; streams resumed after their lifetime ${sessions.reduce((a, s) => a + s.reopened, 0)}`);
console.log('minute  calls  errors  p50 ms  p99 ms');
minutes.forEach((m, i) => {
  if (!m) return;
  const v = m.lat.sort((a, b) => a - b);
  console.log(`${String(i + 1).padStart(6)}  ${String(m.calls).padStart(5)}  ${String(m.errors).padStart(6)}  ${String(pct(v, 50)).padStart(6)}  ${String(pct(v, 99)).padStart(6)}`);
});
const warm = samples.find((s) => s.t >= WARMUP_S) || samples[samples.length - 1];
const mid = samples[Math.floor(samples.length / 2)];
const last = samples[samples.length - 1];
const afterWarm = samples.filter((s) => s.t >= WARMUP_S);
const peak = Math.max(...afterWarm.map((s) => s.rss));
const growth = (last.rss - warm.rss) / warm.rss;
console.log(`RSS: start ${mb(samples[0].rss)}, after warm-up (${warm.t} s) ${mb(warm.rss)}, middle (${mid.t} s) ${mb(mid.rss)}, end (${last.t} s) ${mb(last.rss)}; peak after warm-up ${mb(peak)}; growth after warm-up ${(growth * 100).toFixed(1)} %`);
console.log(`open fds: start ${samples[0].fds}, middle ${mid.fds}, end ${last.fds} (max ${Math.max(...samples.map((s) => s.fds))})`);
console.log('RSS over time (s: MB): ' + samples.map((s) => `${s.t}:${(s.rss / 1024).toFixed(1)}`).join(' '));
if (errorSamples.length) console.log('first errors:\n  ' + errorSamples.join('\n  '));
const secretSeen = gw.log().includes(PX_SECRET) || gw.log().includes(CF_TOKEN) || tokens.some((t) => gw.log().includes(t));
const failed = errors > 0 || streamErrors > 0 || streamsAtEnd < SESSIONS || growth > 0.10 || gw.exitCode !== null || secretSeen;
gw.kill('SIGTERM');
const code = await new Promise((r) => (gw.exitCode !== null ? r(gw.exitCode) : gw.on('exit', (c) => r(c))));
console.log(`gateway exit on SIGTERM: ${code}`);
console.log(failed || code !== 0 ? 'SOAK FAILED' : 'soak passed: 0 errors, every stream held, RSS flat after warm-up');
sim.kill('SIGKILL');
process.exit(failed || code !== 0 ? 1 : 0);
