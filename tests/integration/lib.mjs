// Helpers for driving the real gateway binary in integration tests.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
export const GATEWAY = process.env.CORTEX_GATEWAY_BIN || join(root, 'build/cortex-gateway-test');
export const SHIPPED = process.env.CORTEX_GATEWAY_SHIPPED_BIN || join(root, 'build/cortex-gateway');
export const SIM = process.env.CORTEX_SIM_BIN || join(root, 'build/cortex-sim');

// Temporary folders of a test file, removed when its process ends.
const made = [];
process.on('exit', () => made.forEach((d) => rmSync(d, { recursive: true, force: true })));

export function tmpDir() {
  const d = mkdtempSync(join(tmpdir(), 'cortex-test-'));
  made.push(d);
  return d;
}

export function writeConfig(obj) {
  const dir = tmpDir();
  const path = join(dir, 'gateway.json');
  writeFileSync(path, JSON.stringify(obj));
  return path;
}

// A gateway over stdio: send(obj) writes a line, next() resolves with the next stdout line
// parsed as JSON; every stdout line must be JSON (stdout carries protocol messages only).
export function startStdio(args = [], { bin = GATEWAY, env = {} } = {}) {
  const child = spawn(bin, ['--stdio', ...args], {
    stdio: ['pipe', 'pipe', 'pipe'],
    env: { ...process.env, ...env },
  });
  const lines = [];
  const waiters = [];
  let buf = '';
  let stderr = '';
  child.stdout.setEncoding('utf8');
  child.stdout.on('data', (d) => {
    buf += d;
    let i;
    while ((i = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, i);
      buf = buf.slice(i + 1);
      const msg = JSON.parse(line); // throws (fails the test) on anything but JSON
      if (waiters.length) waiters.shift()(msg);
      else lines.push(msg);
    }
  });
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (d) => { stderr += d; });
  const exited = new Promise((res) => child.on('exit', (code, signal) => res({ code, signal })));
  return {
    child,
    exited,
    stderr: () => stderr,
    send(obj) { child.stdin.write((typeof obj === 'string' ? obj : JSON.stringify(obj)) + '\n'); },
    next(timeoutMs = 10000) {
      if (lines.length) return Promise.resolve(lines.shift());
      return new Promise((res, rej) => {
        const t = setTimeout(() => rej(new Error('no reply within ' + timeoutMs + ' ms; stderr: ' + stderr)), timeoutMs);
        waiters.push((m) => { clearTimeout(t); res(m); });
      });
    },
    pending() { return lines.length; },
    async request(method, params, id = Math.floor(Math.random() * 1e9)) {
      this.send({ jsonrpc: '2.0', id, method, ...(params !== undefined ? { params } : {}) });
      return this.next();
    },
    async initialize(version = '2025-11-25') {
      const r = await this.request('initialize', {
        protocolVersion: version, capabilities: {}, clientInfo: { name: 'cortex-tests', version: '1' },
      }, 0);
      this.send({ jsonrpc: '2.0', method: 'notifications/initialized' });
      return r;
    },
    close() { child.stdin.end(); return exited; },
    kill() { if (child.exitCode === null) child.kill('SIGKILL'); },
  };
}

// A gateway over HTTP on a free loopback port; resolves once it prints its URL.
export function startHttp(args = [], { bin = GATEWAY, env = {} } = {}) {
  const child = spawn(bin, ['--listen', '127.0.0.1:0', ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ...env },
  });
  let stderr = '';
  let stdout = '';
  const exited = new Promise((res) => child.on('exit', (code, signal) => res({ code, signal })));
  const ready = new Promise((res, rej) => {
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (d) => {
      stderr += d;
      const m = stderr.match(/listening on (http:\/\/127\.0\.0\.1:(\d+)\/mcp)/);
      if (m) res(m[1]);
    });
    child.stdout.on('data', (d) => { stdout += d; });
    exited.then(({ code }) => rej(new Error('gateway exited with ' + code + ': ' + stderr)));
  });
  return {
    child, exited, ready,
    stderr: () => stderr,
    stdout: () => stdout,
    kill() { if (child.exitCode === null) child.kill('SIGKILL'); },
  };
}

// The backend simulator (tests/sim/) on a free loopback port; ready resolves with its base URL
// once it prints it, fingerprint() then gives the certificate's SHA-256 line under --tls.
export function startSim(args = [], { bin = SIM } = {}) {
  const child = spawn(bin, ['--listen', '127.0.0.1:0', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  let stdout = '';
  const exited = new Promise((res) => child.on('exit', (code, signal) => res({ code, signal })));
  const ready = new Promise((res, rej) => {
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (d) => {
      stdout += d;
      const m = stdout.match(/^cortex-sim listening on (https?:\/\/127\.0\.0\.1:\d+)$/m);
      if (m) res(m[1]);
    });
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (d) => { stderr += d; });
    exited.then(({ code }) => rej(new Error('cortex-sim exited with ' + code + ': ' + stderr)));
  });
  return {
    child, exited, ready,
    stderr: () => stderr,
    stdout: () => stdout,
    fingerprint: () => stdout.match(/^cortex-sim certificate sha256 ([0-9A-F:]+)$/m)?.[1],
    kill() { if (child.exitCode === null) child.kill('SIGKILL'); },
  };
}

// One MCP session over HTTP with fetch.
export async function httpSession(url, { token, version = '2025-11-25' } = {}) {
  const base = {
    'Accept': 'application/json, text/event-stream',
    'Content-Type': 'application/json',
    ...(token ? { Authorization: 'Bearer ' + token } : {}),
  };
  const init = await fetch(url, {
    method: 'POST', headers: base,
    body: JSON.stringify({ jsonrpc: '2.0', id: 0, method: 'initialize',
      params: { protocolVersion: version, capabilities: {}, clientInfo: { name: 'cortex-tests', version: '1' } } }),
  });
  const initBody = await init.json();
  const sid = init.headers.get('mcp-session-id');
  const headers = { ...base, 'Mcp-Session-Id': sid, 'MCP-Protocol-Version': initBody.result?.protocolVersion ?? version };
  let next = 1;
  return {
    status: init.status, sid, initBody, headers,
    async post(msg) {
      return fetch(url, { method: 'POST', headers, body: JSON.stringify(msg) });
    },
    async call(method, params) {
      const r = await fetch(url, { method: 'POST', headers,
        body: JSON.stringify({ jsonrpc: '2.0', id: next++, method, ...(params ? { params } : {}) }) });
      return r.json();
    },
  };
}

// The events of an SSE response as {event, data, id} (data parsed as JSON, null when absent),
// one per call of the returned next(ms): null at the end of the stream, 'timeout' when nothing
// came within ms. Comments (keep-alives) are skipped. A read still pending at a timeout keeps
// its chunk for the next call.
export function sseEvents(res) {
  const reader = res.body.getReader();
  const dec = new TextDecoder();
  let buf = '';
  let pending = null;
  return async function next(ms = 5000) {
    const deadline = Date.now() + ms;
    for (;;) {
      const i = buf.indexOf('\n\n');
      if (i >= 0) {
        const block = buf.slice(0, i);
        buf = buf.slice(i + 2);
        const lines = block.split('\n').filter((l) => !l.startsWith(':'));
        if (!lines.length) continue;
        const field = (n) => lines.filter((l) => l.startsWith(n + ':')).map((l) => l.slice(n.length + 1).trim());
        const data = field('data').join('\n');
        return { event: field('event')[0] || 'message', id: field('id')[0], data: data ? JSON.parse(data) : null };
      }
      const left = deadline - Date.now();
      if (left <= 0) return 'timeout';
      pending = pending || reader.read();
      let timer;
      const chunk = await Promise.race([pending, new Promise((r) => { timer = setTimeout(() => r('timeout'), left); })]);
      clearTimeout(timer);
      if (chunk === 'timeout') return 'timeout';
      pending = null;
      if (chunk.done) return null;
      buf += dec.decode(chunk.value, { stream: true });
    }
  };
}

// The JSON messages of an SSE response, one per call of the returned next(ms), as sseEvents
// gives them: events without data (priming events) are skipped.
export function sseMessages(res) {
  const events = sseEvents(res);
  return async function next(ms = 5000) {
    const deadline = Date.now() + ms;
    for (;;) {
      const e = await events(Math.max(0, deadline - Date.now()));
      if (e === null || e === 'timeout') return e;
      if (e.data !== null) return e.data;
    }
  };
}

// Last test of a file that starts gateways: SIGTERM every one still running and require a clean
// exit 0 with nothing from the sanitizers (under `make check` a leak, a use after free or an
// abort at shutdown shows here). min: how many must still be running.
export async function assertAllStopCleanly(running, assert, min = 1) {
  const live = running.filter((g) => g.child.exitCode === null && g.child.signalCode === null);
  assert.ok(live.length >= min, `${live.length} gateways still running, expected at least ${min}`);
  for (const g of live) g.child.kill('SIGTERM');
  for (const g of live) {
    const { code, signal } = await g.exited;
    assert.equal(signal, null, g.stderr());
    assert.equal(code, 0, g.stderr());
    assert.doesNotMatch(g.stderr(), /Sanitizer|runtime error|still wait/, g.stderr());
  }
}
