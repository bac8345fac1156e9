// cortex-gateway as a new operator meets it (issue 7): --check-config says what start-up would
// say, errors name the flag or the file and key, a remote client can connect to a token-
// protected gateway, refusals are logged, `make run` honours the config, and the example
// config works as its README says.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { hostname, networkInterfaces } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { assertAllStopCleanly, GATEWAY, SHIPPED, startHttp, tmpDir, writeConfig } from './lib.mjs';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const sha = (s) => createHash('sha256').update(s).digest('hex');
const running = [];
after(() => running.forEach((g) => g.kill()));

const INIT = JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'initialize',
  params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'ops', version: '1' } } });

function run(args, opts = {}) {
  return spawnSync(opts.bin || GATEWAY, args, { encoding: 'utf8', timeout: 10000, ...opts });
}

// A port some other process holds.
function holdPort() {
  return new Promise((res) => {
    const srv = net.createServer();
    srv.listen(0, '127.0.0.1', () => res(srv));
  });
}

// Starts the gateway with any listen address; resolves with { url, port } once it listens.
function startAny(args, { env = {}, cwd } = {}) {
  const child = spawn(GATEWAY, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env }, cwd });
  let stderr = '';
  const exited = new Promise((r) => child.on('exit', (code, signal) => r({ code, signal })));
  const g = { child, exited, stderr: () => stderr, kill() { if (child.exitCode === null) child.kill('SIGKILL'); } };
  running.push(g);
  g.ready = new Promise((res, rej) => {
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (d) => {
      stderr += d;
      const m = stderr.match(/listening on (http:\/\/(\S+):(\d+)\/mcp)/);
      if (m && / ready: /.test(stderr)) res({ url: m[1], port: Number(m[3]) });
    });
    exited.then(({ code }) => rej(new Error('gateway exited with ' + code + ': ' + stderr)));
  });
  return g;
}

// A POST initialize through node:http with the chosen address and headers.
function rawInit({ host = '127.0.0.1', port, headers = {} }) {
  return new Promise((res, rej) => {
    const req = http.request({ host, port, method: 'POST', path: '/mcp', agent: false, headers: {
      'Content-Type': 'application/json', Accept: 'application/json, text/event-stream', ...headers } }, (r) => {
      let body = '';
      r.setEncoding('utf8');
      r.on('data', (d) => { body += d; });
      r.on('end', () => res({ status: r.statusCode, body }));
    });
    req.on('error', rej);
    req.end(INIT);
  });
}

const waitFor = async (pred, ms = 3000) => {
  for (const end = Date.now() + ms; Date.now() < end; await new Promise((r) => setTimeout(r, 20)))
    if (pred()) return true;
  return pred();
};

// ---- 1. --check-config catches everything start-up would ----

test('--check-config fails, as start-up does and with the same message, on each mistake start-up refuses', () => {
  const dir = tmpDir();
  const cases = [
    [{ listen: 'garbage' }, /'listen': 'garbage' has no port; write HOST:PORT/],
    [{ listen: '127.0.0.1:99999' }, /'listen': '127\.0\.0\.1:99999': port 99999 is out of range \(0-65535/],
    [{ listen: '0.0.0.0:8080' }, /'listen': refusing to listen on '0\.0\.0\.0:8080' without tokens/],
    [{ listen: '127.0.0.1:0', audit: { file: join(dir, 'nope', 'audit.log') } },
      /'audit\.file': could not create audit file .*nope\/audit\.log': directory .*nope' does not exist/],
    [{ listen: '127.0.0.1:0', tokens: [] }, /'tokens' is empty: .*remove the key/],
    [{ listen: '127.0.0.1:0', http: { max_body: 1 } }, /unknown key 'http\.max_body'; did you mean 'http\.max_body_bytes'\?/],
  ];
  for (const [cfg, pattern] of cases) {
    const path = writeConfig(cfg);
    const where = new RegExp("config '" + path.replace(/[.]/g, '\\.') + "': ");
    const check = run(['--check-config', '--config', path]);
    assert.equal(check.status, 1, JSON.stringify(cfg) + ': ' + check.stdout + check.stderr);
    assert.doesNotMatch(check.stdout, /config ok/);
    assert.match(check.stderr, pattern, JSON.stringify(cfg));
    assert.match(check.stderr, where, 'names the file');
    const start = run(['--config', path]);
    assert.equal(start.status, 1, 'start-up refuses it too: ' + JSON.stringify(cfg));
    assert.equal(start.stderr, check.stderr, 'with the same message');
  }
});

test('an adapter this build lacks is named with the ones it has, in one whole sentence', () => {
  // the shipped build: "testkit" is the test build's, and "cortex" has an object of its own
  const check = run(['--check-config', '--config', writeConfig({ adapters: { testkit: {} } })], { bin: SHIPPED });
  assert.equal(check.status, 1, check.stdout + check.stderr);
  assert.match(check.stderr, /^cortex-gateway: config 'adapters\.testkit': no such adapter in this build \(it has: proxmox, cloudflare, sandfly, unifi, kubectl\)\n$/);
  const cortex = run(['--check-config', '--config', writeConfig({ adapters: { cortex: {} } })], { bin: SHIPPED });
  assert.equal(cortex.status, 1);
  assert.match(cortex.stderr, /'adapters\.cortex': the task tools are set up by the top-level "tasks" object/);
});

test('--check-config does not bind the port, and says so', async () => {
  const held = await holdPort();
  try {
    const listen = '127.0.0.1:' + held.address().port;
    const r = run(['--check-config', '--config', writeConfig({ listen, adapters: { testkit: {} } })]);
    assert.equal(r.status, 0, r.stderr);
    // gateway, testkit and the task tools (cortex, on by default)
    assert.match(r.stdout, /^config ok: 3 adapter\(s\), \d+ tool\(s\)\n/);
    assert.match(r.stdout, new RegExp('listen: ' + listen + ' \\(checked, not bound: --check-config does not bind the port\\)'));
    assert.match(r.stdout, /auth: off \(no tokens; anonymous access on loopback only\)/);
    assert.match(r.stdout, new RegExp('\nconsole: http://' + listen + '/ \\(sign in with a token\\)\n'));
    const off = run(['--check-config', '--config', writeConfig({ listen, console: { enabled: false } })]);
    assert.equal(off.status, 0, off.stderr);
    assert.match(off.stdout, /\nconsole: off \(console\.enabled: false\)\n/);
  } finally {
    held.close();
  }
});

// ---- 2. Errors say where ----

test('a config named by $CORTEX_CONFIG says so in its errors', () => {
  const path = writeConfig({ listen: '127.0.0.1:99999' });
  const r = run(['--check-config'], { env: { ...process.env, CORTEX_CONFIG: path } });
  assert.equal(r.status, 1);
  assert.match(r.stderr, new RegExp("config '" + path.replace(/[.]/g, '\\.') + "' \\(from \\$CORTEX_CONFIG\\): 'listen': .*port 99999 is out of range"));
  const flag = run(['--check-config', '--config', path]);
  assert.doesNotMatch(flag.stderr, /CORTEX_CONFIG/);
});

test('usage errors exit 2 and name the flag; --listen says the port is out of range', () => {
  let r = run(['--listen', 'localhost:99999']);
  assert.equal(r.status, 2);
  assert.equal(r.stderr, "cortex-gateway: --listen: 'localhost:99999': port 99999 is out of range (0-65535; 0 picks a free port)\n");
  r = run(['--listen', 'garbage', '--check-config']);
  assert.equal(r.status, 2);
  assert.match(r.stderr, /--listen: 'garbage' has no port/);
  r = run(['--log-level', 'verbose']);
  assert.equal(r.status, 2);
  assert.match(r.stderr, /--log-level: unknown level 'verbose' \(debug, info, warn, error, off\)/);
  r = run(['--no-such-flag']);
  assert.equal(r.status, 2);
  r = run(['stray-argument']);
  assert.equal(r.status, 2);
  r = run(['--listen']);
  assert.equal(r.status, 2);
});

test('a port in use: the error names the address and port, with no unrelated notice before it', async () => {
  const held = await holdPort();
  try {
    const port = held.address().port;
    const r = run(['--listen', '127.0.0.1:' + port]);
    assert.equal(r.status, 1);
    assert.match(r.stderr, new RegExp(`cortex-gateway: --listen: could not listen on '127\\.0\\.0\\.1:${port}': Address already in use`));
    assert.doesNotMatch(r.stderr, /port 0\b/, 'never "port 0"');
    assert.doesNotMatch(r.stderr, /session_key/, 'the session-key notice comes only once the port is bound');
    // From a file: the file and key are named.
    const path = writeConfig({ listen: '127.0.0.1:' + port });
    const f = run(['--config', path]);
    assert.equal(f.status, 1);
    assert.match(f.stderr, new RegExp(`config '${path.replace(/[.]/g, '\\.')}': 'listen': could not listen on '127\\.0\\.0\\.1:${port}'`));
  } finally {
    held.close();
  }
});

// ---- 3. Relative secret paths ----

test('a relative secret path is taken from the config file\'s directory, wherever the gateway starts', async () => {
  const dir = tmpDir();
  mkdirSync(join(dir, 'secrets'));
  writeFileSync(join(dir, 'secrets', 'session-key'), 'a-session-secret-of-at-least-32-bytes-123456\n', { mode: 0o600 });
  const path = join(dir, 'gateway.json');
  writeFileSync(path, JSON.stringify({ listen: '127.0.0.1:0', http: { session_key: { file: 'secrets/session-key' } },
    audit: { file: 'audit.log' } }));
  const r = run(['--check-config', '--config', path], { cwd: '/' });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, new RegExp('audit: ' + join(dir, 'audit.log')));
  // Started from elsewhere, it seals sessions with that key and audits next to the config.
  const g = startAny(['--config', path], { cwd: '/' });
  const { url } = await g.ready;
  assert.doesNotMatch(g.stderr(), /no http\.session_key configured/);
  const res = await fetch(url, { method: 'POST', headers: { 'Content-Type': 'application/json',
    Accept: 'application/json, text/event-stream' }, body: INIT });
  assert.equal(res.status, 200);
  // A missing one is reported where it was looked for.
  const other = tmpDir();
  copyFileSync(path, join(other, 'gateway.json'));
  const miss = run(['--check-config', '--config', join(other, 'gateway.json')], { cwd: dir });
  assert.equal(miss.status, 1);
  assert.match(miss.stderr, new RegExp(`'http\\.session_key': could not open '${other}/secrets/session-key'`));
});

// ---- 4, 5, 6. Tokens, remote clients, visible auth ----

function ownIPv4() {
  for (const list of Object.values(networkInterfaces()))
    for (const a of list || []) if (a.family === 'IPv4' && !a.internal) return a.address;
  return null;
}

test('a token-protected gateway on 0.0.0.0 serves clients that connect by the machine\'s address or name, and logs its Host policy', async (t) => {
  const ip = ownIPv4();
  if (!ip) {
    t.skip('this machine has no non-loopback IPv4 address');
    return;
  }
  const cfg = writeConfig({ listen: '0.0.0.0:0', tokens: [{ name: 'ops', sha256: sha('remote-t0ken') }] });
  const g = startAny(['--config', cfg]);
  const { port } = await g.ready;
  assert.match(g.stderr(), new RegExp(`http: Host must be a loopback name, or this machine's \\([^)]*\\b${ip.replace(/\./g, '\\.')}\\b[^)]*\\)`));
  assert.match(g.stderr(), new RegExp(`ready: .*; config '${cfg.replace(/[.]/g, '\\.')}'; auth on, 1 bearer token\\(s\\)`));
  const auth = { Authorization: 'Bearer remote-t0ken' };
  // Connected by its address, as a client on another host would.
  let r = await rawInit({ host: ip, port, headers: auth });
  assert.equal(r.status, 200, r.body);
  // By its name (the Host header a client sends for http://<name>:port/).
  r = await rawInit({ port, headers: { ...auth, Host: `${hostname()}:${port}` } });
  assert.equal(r.status, 200, r.body);
  // Any other name is still refused (DNS rebinding), and the refusal is logged with the token's name.
  r = await rawInit({ port, headers: { ...auth, Host: 'evil.example' } });
  assert.equal(r.status, 403);
  assert.ok(await waitFor(() => /http: 403 from 127\.0\.0\.1 \(token 'ops'\): Host 'evil\.example' is not a loopback name/.test(g.stderr())), g.stderr());
  assert.doesNotMatch(g.stderr(), /remote-t0ken/);
});

test('401 and 403 are logged with the client address and the reason, never the token, and rate-limited', async () => {
  const cfg = writeConfig({ tokens: [{ name: 'ops', sha256: sha('good-t0ken') }, { name: 'ci', sha256: sha('ci-t0ken') }] });
  const g = startHttp(['--config', cfg]);
  running.push(g);
  const url = await g.ready;
  const port = Number(new URL(url).port);
  await waitFor(() => / ready: /.test(g.stderr()));
  assert.match(g.stderr(), new RegExp(`ready: 8 tool\\(s\\) from 2 adapter\\(s\\); config '${cfg.replace(/[.]/g, '\\.')}'; auth on, 2 bearer token\\(s\\)`));

  let r = await rawInit({ port });
  assert.equal(r.status, 401);
  r = await rawInit({ port, headers: { Authorization: 'Bearer wrong-secret-value-123' } });
  assert.equal(r.status, 401);
  r = await rawInit({ port, headers: { Authorization: 'Bearer ci-t0ken', Origin: 'https://evil.example' } });
  assert.equal(r.status, 403);
  r = await rawInit({ port, headers: { Authorization: 'Bearer good-t0ken' } });
  assert.equal(r.status, 200);
  await waitFor(() => (g.stderr().match(/ http: 40[13] /g) || []).length >= 3);
  const log = g.stderr();
  assert.match(log, /warn  http: 401 from 127\.0\.0\.1: bearer token missing \(no Authorization: Bearer header\)/);
  assert.match(log, /warn  http: 401 from 127\.0\.0\.1: bearer token is not valid/);
  assert.match(log, /warn  http: 403 from 127\.0\.0\.1 \(token 'ci'\): Origin 'https:\/\/evil\.example' is not a loopback origin, the request's Host, or in http\.allowed_origins/);
  for (const secret of ['wrong-secret-value-123', 'ci-t0ken', 'good-t0ken']) assert.ok(!log.includes(secret), secret + ' in the log');

  // A flood: every request is answered, the log gets a burst (20 a minute in all).
  for (let i = 0; i < 60; i++) assert.equal((await rawInit({ port, headers: { Authorization: 'Bearer flood-' + i } })).status, 401);
  await new Promise((res) => setTimeout(res, 100));
  const lines = (g.stderr().match(/ http: 40[13] from /g) || []).length;
  assert.equal(lines, 20, 'the first 20 refusals of the minute, then silence');
  await assertAllStopCleanly([g], assert);
});

test('without a config the start-up line says so and that auth is off', async () => {
  const g = startHttp([]);
  running.push(g);
  await g.ready;
  await waitFor(() => / ready: /.test(g.stderr()));
  assert.match(g.stderr(), /ready: .*; config none \(built-in defaults\); auth off \(no tokens; anonymous access on loopback only\)/);
  // The session-key notice comes after the listener is up, not before its error.
  assert.ok(g.stderr().indexOf('listening on') < g.stderr().indexOf('no http.session_key'));
  await assertAllStopCleanly([g], assert);
});

// ---- 7. make run ----

// scripts/run-gateway.sh (what `make run` runs) in its own process group; resolves when the
// snippets are printed.
function runScript(env) {
  const child = spawn(join(root, 'scripts/run-gateway.sh'), [SHIPPED], {
    stdio: ['ignore', 'pipe', 'pipe'], detached: true, env: { ...process.env, CORTEX_CONFIG: '', CORTEX_LISTEN: '', ...env } });
  let out = '';
  let err = '';
  const exited = new Promise((r) => child.on('exit', (code, signal) => r({ code, signal })));
  const s = { child, exited, out: () => out, err: () => err,
    kill() { try { process.kill(-child.pid, 'SIGKILL'); } catch { /* gone */ } } };
  running.push(s);
  child.stdout.setEncoding('utf8');
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (d) => { err += d; });
  s.ready = new Promise((res, rej) => {
    child.stdout.on('data', (d) => { out += d; if (/Stop with Ctrl-C/.test(out)) res(); });
    exited.then(({ code }) => rej(new Error('run-gateway.sh exited with ' + code + ': ' + err + out)));
  });
  s.stop = async () => { process.kill(-child.pid, 'SIGINT'); return exited; };
  return s;
}

test('make run uses the config\'s listen, prints the snippets once the port is bound, and the header tokens need', async () => {
  const cfg = writeConfig({ listen: '127.0.0.1:0', tokens: [{ name: 'ops', sha256: sha('run-t0ken') }] });
  const s = runScript({ CORTEX_CONFIG: cfg });
  await s.ready;
  const port = s.err().match(/listening on http:\/\/127\.0\.0\.1:(\d+)\/mcp/)[1];
  assert.notEqual(port, '0');
  assert.match(s.out(), new RegExp(`Cortex gateway: http://127\\.0\\.0\\.1:${port}/mcp — auth: on, 1 bearer token\\(s\\)`));
  assert.match(s.out(), new RegExp(`claude mcp add --transport http cortex http://127\\.0\\.0\\.1:${port}/mcp --header "Authorization: Bearer \\$CORTEX_TOKEN"`));
  assert.match(s.out(), /Authorization: Bearer <token>/);
  assert.match(s.out(), new RegExp(`"args": \\["--stdio", "--config", "${cfg.replace(/[.]/g, '\\.')}"\\]`));
  const r = await rawInit({ port: Number(port), headers: { Authorization: 'Bearer run-t0ken' } });
  assert.equal(r.status, 200);
  const { code } = await s.stop();
  assert.equal(code, 0, s.err());
  assert.match(s.err(), /stopped cleanly/);
});

test('make run: CORTEX_LISTEN overrides the file\'s listen; without it the file\'s is used; no tokens, no header', async () => {
  const held = await holdPort();
  try {
    const cfg = writeConfig({ listen: '127.0.0.1:' + held.address().port });
    const bad = runScript({ CORTEX_CONFIG: cfg });
    await assert.rejects(bad.ready, /Address already in use/);
    assert.equal((await bad.exited).code, 1);
    assert.doesNotMatch(bad.out(), /claude mcp add/, 'no snippets for a gateway that did not start');

    const s = runScript({ CORTEX_CONFIG: cfg, CORTEX_LISTEN: '127.0.0.1:0' });
    await s.ready;
    const port = s.err().match(/listening on http:\/\/127\.0\.0\.1:(\d+)\/mcp/)[1];
    assert.notEqual(Number(port), held.address().port);
    assert.match(s.out(), new RegExp(`claude mcp add --transport http cortex http://127\\.0\\.0\\.1:${port}/mcp\n`));
    assert.doesNotMatch(s.out(), /Authorization/);
    assert.equal((await s.stop()).code, 0);
  } finally {
    held.close();
  }
});

test('make run CONFIG=FILE hands the file to the script as CORTEX_CONFIG', () => {
  // A make of our own, not the one running the tests (whose flags would be inherited).
  const env = { ...process.env };
  for (const k of ['MAKEFLAGS', 'MFLAGS', 'MAKELEVEL', 'MAKEOVERRIDES']) delete env[k];
  const r = spawnSync('make', ['-n', '--no-print-directory', 'run', 'CONFIG=/etc/cortex/gw.json'],
    { cwd: root, encoding: 'utf8', timeout: 60000, env });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /CORTEX_CONFIG='\/etc\/cortex\/gw\.json' scripts\/run-gateway\.sh build\/cortex-gateway/);
  const plain = spawnSync('make', ['-n', '--no-print-directory', 'run'], { cwd: root, encoding: 'utf8', timeout: 60000, env });
  assert.match(plain.stdout, /^scripts\/run-gateway\.sh build\/cortex-gateway$/m);
});

// ---- 8. Small things ----

test('--help lists every protocol revision and every log level; --version the libraries and features', () => {
  const h = run(['--help'], { bin: SHIPPED });
  assert.equal(h.status, 0);
  for (const v of ['2025-03-26', '2025-06-18', '2025-11-25', '2026-07-28']) assert.match(h.stdout, new RegExp(v), v);
  assert.match(h.stdout, /debug, info, warn, error or off/);
  const v = run(['--version'], { bin: SHIPPED });
  assert.equal(v.status, 0);
  assert.match(v.stdout, /^cortex-gateway \d+\.\d+\.\d+\n/);
  assert.match(v.stdout, /\nlibraries: libmicrohttpd \d+\.\d+\.\d+, jansson \d+\.\d+(\.\d+)?, OpenSSL \d+\.\d+\.\d+.*, libcurl \d+\.\d+\.\d+\n/);
  assert.match(v.stdout, /\nprotocols: .*2026-07-28 \(stateless\)\n/);
  const adapters = v.stdout.match(/\nadapters: (.*)\n/)[1].split(', ');
  assert.deepEqual([...adapters].sort(), ['cloudflare', 'cortex', 'gateway (built in)', 'kubectl', 'proxmox', 'sandfly', 'unifi'],
    'the shipped build has the five backend adapters, the task tools and no test adapters');
  assert.match(v.stdout, /\nfeatures: stdio, http \(epoll (yes|no), IPv6 (yes|no)\)/);
  assert.match(v.stdout, /\nbuild: (gcc|clang) \d+\.\d+/);
  const t = run(['--version']);
  assert.match(t.stdout, /\nadapters: gateway \(built in\), testkit/, 'the test build says it has the test kit');
});

test('--hash-token from a pipe prints only the hash; an empty token is a usage error', () => {
  let r = run(['--hash-token'], { bin: SHIPPED, input: 'pipe-t0ken\n' });
  assert.equal(r.status, 0);
  assert.equal(r.stdout, sha('pipe-t0ken') + '\n');
  assert.equal(r.stderr, '', 'no prompt when stdin is not a terminal');
  r = run(['--hash-token'], { bin: SHIPPED, input: '\n' });
  assert.equal(r.status, 2);
  assert.match(r.stderr, /no token on stdin/);
});

test('the example config passes --check-config as shipped, once its README\'s steps are done', () => {
  const dir = tmpDir();
  copyFileSync(join(root, 'manifests/examples/gateway.json'), join(dir, 'gateway.json'));
  const readme = readFileSync(join(root, 'manifests/examples/README.md'), 'utf8');
  const blocks = [...readme.matchAll(/```sh\n([\s\S]*?)```/g)].map((m) => m[1]);
  const steps = blocks.find((b) => /check-config/.test(b));
  assert.ok(steps, 'the README shows the steps and the check');
  // Before the steps: the missing secret is named where it is looked for.
  let r = run(['--check-config', '--config', join(dir, 'gateway.json')], { bin: SHIPPED });
  assert.equal(r.status, 1);
  assert.match(r.stderr, new RegExp(`'http\\.session_key': could not open '${dir}/secrets/session-key'`));
  // The README's steps, run in the directory the config was copied to ("cd" aside), with
  // this build as cortex-gateway.
  const bin = tmpDir();
  symlinkSync(SHIPPED, join(bin, 'cortex-gateway'));
  const script = steps.split('\n').filter((l) => !/^cd /.test(l)).join('\n');
  r = spawnSync('sh', ['-ec', script], { cwd: dir, encoding: 'utf8', timeout: 20000,
    env: { ...process.env, PATH: bin + ':' + process.env.PATH } });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /^config ok: 2 adapter\(s\), 8 tool\(s\)\n/);
  assert.match(r.stdout, /auth: on, 2 bearer token\(s\)/);
  // Its tokens are real hashes (of tokens nobody has), not placeholders; a placeholder is refused.
  const example = JSON.parse(readFileSync(join(dir, 'gateway.json'), 'utf8'));
  example.tokens[0].sha256 = '0'.repeat(64);
  writeFileSync(join(dir, 'gateway.json'), JSON.stringify(example));
  r = run(['--check-config', '--config', join(dir, 'gateway.json')], { bin: SHIPPED });
  assert.equal(r.status, 1);
  assert.match(r.stderr, /'tokens\[0\]\.sha256' is a placeholder/);
});
