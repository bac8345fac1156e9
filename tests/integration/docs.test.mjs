// The operator documentation does what it says: docs/QUICKSTART.md's commands produce a
// token-protected gateway that another host can reach, its client configurations are valid
// JSON pointing at /mcp with the bearer header, and OPERATIONS.md states what the code does.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { networkInterfaces } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SHIPPED, httpSession, startHttp, startStdio, tmpDir } from './lib.mjs';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const quickstart = readFileSync(join(root, 'docs/QUICKSTART.md'), 'utf8');
const operations = readFileSync(join(root, 'docs/OPERATIONS.md'), 'utf8');
const blocks = (text, lang) => [...text.matchAll(new RegExp('```' + lang + '\\n([\\s\\S]*?)```', 'g'))].map((m) => m[1]);
const running = [];
after(() => running.forEach((c) => { if (c.exitCode === null) c.kill('SIGKILL'); }));

// QUICKSTART's steps 2 and 3 as a script for a scratch directory: /etc/cortex and
// /var/log/cortex moved into it, no sudo, no system user, this build as the binary.
function quickstartScript(dir) {
  const sh = blocks(quickstart, 'sh');
  const token = sh.find((b) => /--hash-token/.test(b) && /TOKEN=/.test(b));
  const config = sh.find((b) => /gateway\.json/.test(b) && /<<EOF/.test(b));
  assert.ok(token && config, 'QUICKSTART has the token and the config steps');
  return (token + config).split('\n')
    .filter((l) => !/useradd/.test(l))
    .map((l) => l.replaceAll('/opt/cortex/bin/cortex-gateway', 'cortex-gateway')
      .replaceAll('/etc/cortex', join(dir, 'etc'))
      .replaceAll('/var/log/cortex', join(dir, 'log'))
      .replaceAll('/var/lib/cortex', join(dir, 'lib'))
      .replaceAll(' -o cortex -g cortex', '')
      .replace(/^sudo -u cortex /, '')
      .replace(/^sudo chown .*$/, ':')
      .replaceAll('sudo ', ''))
    .join('\n') + '\nprintf "TOKEN=%s\\n" "$TOKEN"\n';
}

test('QUICKSTART: the steps give a config that passes --check-config with auth on, as the text shows', () => {
  const dir = tmpDir();
  const bin = tmpDir();
  symlinkSync(SHIPPED, join(bin, 'cortex-gateway'));
  const r = spawnSync('sh', ['-ec', quickstartScript(dir)], { cwd: dir, encoding: 'utf8', timeout: 20000,
    env: { ...process.env, PATH: bin + ':' + process.env.PATH } });
  assert.equal(r.status, 0, r.stderr);
  const shown = blocks(quickstart, 'text').find((b) => /config ok/.test(b));
  for (const line of ['config ok: 2 adapter(s), 8 tool(s)', 'listen: 0.0.0.0:8080 (checked, not bound: --check-config does not bind the port)',
    'console: http://HOST:8080/ for a HOST the http: line allows (sign in with a token)', 'auth: on, 1 bearer token(s)']) {
    assert.ok(shown.includes(line), 'QUICKSTART shows ' + line);
    assert.ok(r.stdout.includes(line), 'the gateway prints ' + line + ': ' + r.stdout);
  }
  assert.match(r.stdout, /\nhttp: Host must be a loopback name, or this machine's \(/);
  assert.match(r.stdout, new RegExp('audit: ' + join(dir, 'log', 'audit.log')));
});

test('QUICKSTART: the gateway it configures answers a client that connects by the machine\'s address with the token, and only with it', async (t) => {
  let ip = null;
  for (const list of Object.values(networkInterfaces()))
    for (const a of list || []) if (!ip && a.family === 'IPv4' && !a.internal) ip = a.address;
  if (!ip) {
    t.skip('no non-loopback IPv4 address');
    return;
  }
  const dir = tmpDir();
  const bin = tmpDir();
  symlinkSync(SHIPPED, join(bin, 'cortex-gateway'));
  const r = spawnSync('sh', ['-ec', quickstartScript(dir)], { cwd: dir, encoding: 'utf8', timeout: 20000,
    env: { ...process.env, PATH: bin + ':' + process.env.PATH } });
  assert.equal(r.status, 0, r.stderr);
  const token = r.stdout.match(/TOKEN=(\S+)/)[1];
  // The same config on a free port (the quick start's 8080 may be taken here).
  const child = spawn(SHIPPED, ['--config', join(dir, 'etc', 'gateway.json'), '--listen', '0.0.0.0:0'],
    { stdio: ['ignore', 'ignore', 'pipe'] });
  running.push(child);
  let stderr = '';
  const port = await new Promise((res, rej) => {
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (d) => {
      stderr += d;
      const m = stderr.match(/listening on http:\/\/0\.0\.0\.0:(\d+)\/mcp/);
      if (m) res(Number(m[1]));
    });
    child.on('exit', (code) => rej(new Error('exited ' + code + ': ' + stderr)));
  });
  const init = (headers) => new Promise((res, rej) => {
    const req = http.request({ host: ip, port, method: 'POST', path: '/mcp', agent: false, headers: {
      'Content-Type': 'application/json', Accept: 'application/json, text/event-stream', ...headers } },
    (resp) => { resp.resume(); resp.on('end', () => res(resp.statusCode)); });
    req.on('error', rej);
    req.end(JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'initialize',
      params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'quickstart', version: '1' } } }));
  });
  assert.equal(await init({ Authorization: 'Bearer ' + token }), 200);
  assert.equal(await init({}), 401);
  assert.equal(await init({ Authorization: 'Bearer not-' + token }), 401);
  child.kill('SIGTERM');
});

test('QUICKSTART: every client configuration is valid JSON; the HTTP ones send the bearer header to /mcp, the stdio ones start the gateway with flags it takes', () => {
  const json = blocks(quickstart, 'json').map((b) => JSON.parse(b));
  assert.ok(json.length >= 7, 'Claude Code (.mcp.json), Claude Desktop, VS Code and Cursor, stdio and HTTP');
  let http = 0;
  const stdio = [];
  for (const doc of json) {
    for (const s of Object.values(doc.mcpServers || doc.servers)) {
      if (s.url) {
        http++;
        assert.match(s.url, /^http:\/\/192\.0\.2\.2:8080\/mcp$/);
        assert.match(s.headers.Authorization, /^Bearer \$\{((input|env):)?[\w-]+\}$/);
        if (doc.servers || s.type) assert.equal(s.type, 'http');
      } else if (s.args.includes('mcp-remote')) {
        http++;
        assert.ok(s.args.includes('http://192.0.2.2:8080/mcp'));
        assert.ok(s.args.includes('Authorization:${CORTEX_AUTH}'));
        assert.match(s.env.CORTEX_AUTH, /^Bearer /);
      } else if (s.command === 'ssh') {
        const at = s.args.indexOf('/opt/cortex/bin/cortex-gateway');
        assert.ok(at > 0 && /^[\w-]+@192\.0\.2\.2$/.test(s.args[at - 1]), 'ssh USER@HOST then the gateway');
        assert.ok(s.args.includes('-T'), 'no terminal: stdio carries JSON-RPC only');
        stdio.push(s.args.slice(at + 1));
      } else {
        assert.equal(s.command, '/opt/cortex/bin/cortex-gateway');
        if (doc.servers) assert.equal(s.type, 'stdio');
        stdio.push(s.args);
      }
    }
  }
  assert.equal(http, 4, 'Claude Code (.mcp.json), Claude Desktop (bridge), VS Code, Cursor over HTTP');
  assert.equal(stdio.length, 3, 'Claude Desktop (over SSH), VS Code, Cursor over stdio');
  assert.match(quickstart, /claude mcp add --transport http cortex http:\/\/192\.0\.2\.2:8080\/mcp \\\n\s+--header "Authorization: Bearer \$TOKEN"/);
  const cc = quickstart.match(/claude mcp add cortex -- \/opt\/cortex\/bin\/cortex-gateway (.*)/);
  assert.ok(cc);
  stdio.push(cc[1].split(' '));
  // The same arguments, with --check-config, against a real config: the gateway takes them.
  const config = join(tmpDir(), 'gateway.json');
  writeFileSync(config, JSON.stringify({ tasks: { enabled: false } }));
  for (const args of stdio) {
    assert.deepEqual(args, ['--stdio', '--config', '/etc/cortex/gateway.json']);
    const r = spawnSync(SHIPPED, [...args.map((a) => (a === '/etc/cortex/gateway.json' ? config : a)), '--check-config'],
      { encoding: 'utf8', timeout: 20000 });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /^config ok: /);
  }
});

test('OPERATIONS.md states what the code does: 404 for another token\'s session, exit 2 for usage errors, make run\'s variables', () => {
  const row = operations.split('\n').find((l) => /^\| any \| 404 \|/.test(l));
  assert.match(row, /created by another token/);
  assert.match(operations, /2\s+for a usage error/);
  assert.match(operations, /`CORTEX_LISTEN`/);
  assert.match(operations, /`--log-level LEVEL` \| `debug`, `info`, `warn`, `error`, `off`/);
  assert.match(operations, /`"tokens": \[\]` is a config error/);
  const runScript = readFileSync(join(root, 'scripts/run-gateway.sh'), 'utf8');
  assert.match(runScript, /CORTEX_LISTEN/);
  const readme = readFileSync(join(root, 'README.md'), 'utf8');
  assert.match(readme, /docs\/QUICKSTART\.md/);
  assert.match(readme, /--listen 0\.0\.0\.0:8080[\s\S]*"tokens": \[\{"name"[\s\S]*allowed_hosts/);
});

// ---- docs/SECURITY.md: the claims it marks (tested) ----
const security = readFileSync(join(root, 'docs/SECURITY.md'), 'utf8');

function checkConfig(config, env = {}) {
  const file = join(tmpDir(), 'gateway.json');
  writeFileSync(file, JSON.stringify(config));
  const r = spawnSync(SHIPPED, ['--check-config', '--config', file], { encoding: 'utf8', timeout: 20000,
    env: { ...process.env, CORTEX_TASKS_DIR: join(tmpDir(), 'tasks'), ...env } });
  return { status: r.status, out: r.stdout + r.stderr };
}

test('SECURITY.md: no tokens on a public address, plaintext tokens, [] and inline secrets are refused at start', () => {
  const hash = createHash('sha256').update('a-long-random-token').digest('hex');
  let r = checkConfig({ listen: '0.0.0.0:0' });
  assert.equal(r.status, 1);
  assert.match(r.out, /refusing to listen on '0\.0\.0\.0:0' without tokens/);
  assert.equal(checkConfig({ listen: '0.0.0.0:0', insecure_no_auth: true }).status, 0);
  assert.equal(checkConfig({ listen: '0.0.0.0:0', tokens: [{ name: 'a', sha256: hash }] }).status, 0);
  r = checkConfig({ tokens: [{ name: 'a', token: 'a-long-random-token' }] });
  assert.match(r.out, /plaintext tokens are not accepted; store the token's SHA-256/);
  assert.doesNotMatch(r.out, /a-long-random-token/);
  assert.match(checkConfig({ tokens: [] }).out, /'tokens' is empty/);
  assert.match(checkConfig({ tokens: [{ name: 'a', sha256: '0'.repeat(64) }] }).out, /is a placeholder/);
  r = checkConfig({ http: { session_key: 'an-inline-secret-of-more-than-32-bytes' } });
  assert.match(r.out, /secrets are never written inline/);
  assert.doesNotMatch(r.out, /an-inline-secret/);
  r = checkConfig({ adapters: { cloudflare: { api_token: 'inline-cloudflare-token' } }, tasks: { enabled: false } });
  assert.match(r.out, /'api_token' must be \{"file": PATH\} or \{"env": NAME\}; secrets are never written inline/);
  assert.doesNotMatch(r.out, /inline-cloudflare-token/);
});

// Every adapter of the shipped gateway, configured against nothing (no backend is contacted at
// start), over stdio: its tools/list.
async function allTools(extraSsh = {}) {
  const dir = tmpDir();
  const key = join(dir, 'id_ed25519');
  assert.equal(spawnSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', key]).status, 0);
  writeFileSync(join(dir, 'known_hosts'), '# none\n');
  writeFileSync(join(dir, 'kubeconfig'), 'apiVersion: v1\nkind: Config\ncurrent-context: c\nclusters:\n- name: c\n  cluster:\n'
    + '    server: https://127.0.0.1:1\ncontexts:\n- name: c\n  context:\n    cluster: c\n    user: u\nusers:\n- name: u\n  user:\n    token: t\n');
  const s = { env: 'CX_DOC_SECRET' };
  const config = { adapters: {
    proxmox: { url: 'https://127.0.0.1:1', token_id: 'a@pve!b', token_secret: s,
      ssh: { user: 'root', key: { file: key }, known_hosts: join(dir, 'known_hosts'), hosts: { pve1: '127.0.0.1' }, ...extraSsh } },
    cloudflare: { api_token: s }, sandfly: { url: 'https://127.0.0.1:1', username: 'u', password: s },
    unifi: { url: 'https://127.0.0.1:1', api_key: s }, kubectl: { kubeconfig: join(dir, 'kubeconfig') } },
  tasks: { dir: join(dir, 'tasks') } };
  writeFileSync(join(dir, 'gateway.json'), JSON.stringify(config));
  const input = [
    { jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'docs', version: '1' } } },
    { jsonrpc: '2.0', method: 'notifications/initialized' },
    { jsonrpc: '2.0', id: 2, method: 'tools/list', params: {} },
  ].map((m) => JSON.stringify(m)).join('\n') + '\n';
  const r = spawnSync(SHIPPED, ['--stdio', '--config', join(dir, 'gateway.json')], { input, encoding: 'utf8', timeout: 20000,
    env: { ...process.env, CX_DOC_SECRET: 'not-a-real-secret' } });
  const list = r.stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l)).find((m) => m.id === 2);
  assert.ok(list?.result, r.stderr);
  assert.equal(list.result.nextCursor, undefined, 'one page');
  return { tools: list.result.tools, stderr: r.stderr };
}

test('SECURITY.md: its table of tools that are not read-only is what tools/list says, destructive flags included', async () => {
  const { tools } = await allTools();
  const table = security.split('## Tools that change things')[1].split('\n## ')[0];
  const rows = table.split('\n').filter((l) => /^\| `\w+` \| (yes|no) \|/.test(l))
    .map((l) => { const [, name, d] = l.match(/^\| `(\w+)` \| (yes|no) \|/); return [name, d === 'yes']; });
  const actual = tools.filter((t) => !t.annotations.readOnlyHint).map((t) => [t.name, t.annotations.destructiveHint === true]);
  assert.deepEqual(rows.sort(), actual.sort());
  const exec = tools.find((t) => t.name === 'proxmox_node_exec');
  assert.equal(exec.annotations.readOnlyHint, true, 'proxmox_node_exec is read-only with the default allow-list');
  const defaults = security.match(/default allow-list\n?\s*\(([^)]*)\)/)[1].match(/`([^`]+)`/g).map((s) => s.replace(/`/g, '').replace(/\s+/g, ' '));
  const broad = await allTools({ allow: [...defaults, 'systemctl restart UNIT'] });
  const exec2 = broad.tools.find((t) => t.name === 'proxmox_node_exec');
  assert.equal(exec2.annotations.destructiveHint, true, 'beyond the default list it is destructive');
  assert.equal(exec2.annotations.readOnlyHint, false);
  assert.match(broad.stderr, /ssh\.allow goes beyond the read-only default list/);
  // The default list as SECURITY.md gives it is the default: the same list, given, stays read-only.
  assert.equal((await allTools({ allow: defaults })).tools.find((t) => t.name === 'proxmox_node_exec').annotations.readOnlyHint, true);
});

test('SECURITY.md: a refused call is an isError result and an audit line "refused", secret-looking arguments redacted, no token logged', async () => {
  const dir = tmpDir();
  const audit = join(dir, 'audit.log');
  const token = 'docs-security-token-' + 'x'.repeat(20);
  writeFileSync(join(dir, 'gateway.json'), JSON.stringify({
    tokens: [{ name: 'viewer', sha256: createHash('sha256').update(token).digest('hex'), allow: ['gateway_*'] }],
    adapters: { testkit: {} }, audit: { file: audit } }));
  const g = startHttp(['--config', join(dir, 'gateway.json')]);
  running.push(g.child);
  const url = await g.ready;
  const s = await httpSession(url, { token });
  // SECURITY.md names these keys; each is redacted as written and upper-cased, at any depth.
  const secrets = security.match(/keys that name a secret — read as words, so\s+([\s\S]*?) and the like/)[1]
    .match(/`([^`]+)`/g).map((k) => k.replace(/`/g, ''));
  for (const k of ['password', 'pwd', 'pass', 'token', 'api_key', 'bearer', 'cookie', 'key', 'sessionId'])
    assert.ok(secrets.includes(k), k);
  const kept = security.match(/while ([\s\S]*?) stay/)[1].match(/`([^`]+)`/g).map((k) => k.replace(/`/g, ''));
  assert.ok(kept.includes('progressToken'));
  const args = { target: 'vm-100', nested: {}, note: 'Authorization: Bearer 0123456789abcdef' };
  secrets.forEach((k, i) => { args[k] = 'value-' + i; args.nested[k.toUpperCase()] = 'deep-' + i; });
  kept.forEach((k) => { args.nested[k] = 'kept'; });
  const r = await s.call('tools/call', { name: 'testkit_delete', arguments: args });
  assert.equal(r.result.isError, true);
  assert.match(r.result.content[0].text, /^refused: token 'viewer' is not allowed to call 'testkit_delete'/);
  g.child.kill('SIGTERM');
  await g.exited;
  const line = JSON.parse(readFileSync(audit, 'utf8').trim().split('\n').at(-1));
  assert.equal(line.outcome, 'refused');
  assert.equal(line.caller, 'viewer');
  assert.match(line.session, /^[0-9a-f]{16}$/);
  assert.notEqual(line.session, s.sid);
  assert.equal(line.arguments.target, 'vm-100');
  for (const [k, v] of Object.entries(line.arguments)) if (k !== 'target' && k !== 'nested') assert.equal(v, '[redacted]', k);
  for (const [k, v] of Object.entries(line.arguments.nested)) assert.equal(v, kept.includes(k) ? 'kept' : '[redacted]', k);
  const everything = readFileSync(audit, 'utf8') + g.stderr();
  assert.doesNotMatch(everything, /value-\d|deep-\d|0123456789abcdef/);
  assert.ok(!everything.includes(token), 'the token is in no log line');
  assert.ok(!everything.includes(s.sid), 'the session id is in no log line');
});

test('README and docs/*.md: every relative link names a file that exists; README links the operator docs', () => {
  const files = ['README.md', ...readdirSync(join(root, 'docs')).filter((f) => f.endsWith('.md')).map((f) => 'docs/' + f)];
  for (const f of files) {
    const text = readFileSync(join(root, f), 'utf8');
    for (const [, target] of text.matchAll(/\]\(([^)#\s]+)(#[^)]*)?\)/g)) {
      if (/^[a-z]+:/.test(target)) continue;
      assert.ok(existsSync(join(root, dirname(f), target)), `${f} links ${target}, which does not exist`);
    }
  }
  const readme = readFileSync(join(root, 'README.md'), 'utf8');
  for (const doc of ['docs/QUICKSTART.md', 'docs/CONFIG.md', 'docs/SECURITY.md', 'docs/OPERATIONS.md']) assert.ok(readme.includes('](' + doc + ')'), doc);
});

test('OPERATIONS.md: the dir store\'s backup command, run while a gateway writes, gives a folder another gateway opens with every task', async () => {
  const dir = tmpDir();
  const live = join(dir, 'tasks');
  const g = startStdio(['--config', writeConfigFile(dir, { tasks: { dir: live } })]);
  running.push(g.child);
  await g.initialize();
  const ids = [];
  for (let i = 0; i < 3; i++) {
    const r = await g.request('tools/call', { name: 'cortex_create_task', arguments: { query: 'backup check ' + i } });
    assert.equal(r.result.isError, undefined, JSON.stringify(r.result));
    ids.push(r.result.structuredContent.id ?? r.result.structuredContent.task_id ?? r.result.structuredContent.tasks?.[0]?.id);
  }
  assert.ok(ids.every(Boolean), JSON.stringify(ids));
  writeFileSync(join(live, '.tmp.1.1.stray.json'), '{'); // a write in flight: not to be copied
  const sh = blocks(operations, 'sh').find((b) => /find \/var\/lib\/cortex\/tasks/.test(b));
  assert.ok(sh, 'OPERATIONS.md has the backup command');
  const script = sh.replaceAll('/var/lib/cortex/tasks', live).replaceAll('/var/backups/', join(dir, 'backup') + '/');
  const r = spawnSync('sh', ['-ec', script + '\nprintf %s "$dest"'], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const dest = r.stdout.trim();
  const copied = readdirSync(dest).sort();
  assert.deepEqual(copied, ids.map((id) => id + '.json').sort());
  await g.close();
  // Restored into another folder: a gateway opened on it lists the three tasks.
  const g2 = startStdio(['--config', writeConfigFile(dir, { tasks: { dir: dest } })]);
  running.push(g2.child);
  await g2.initialize();
  const list = await g2.request('tools/call', { name: 'cortex_get_tasks', arguments: {} });
  const got = JSON.stringify(list.result.structuredContent);
  for (const id of ids) assert.ok(got.includes(id), id + ' in ' + got);
  await g2.close();
});

function writeConfigFile(dir, config) {
  const file = join(dir, 'gateway-' + Math.random().toString(36).slice(2) + '.json');
  writeFileSync(file, JSON.stringify(config));
  return file;
}
