// The operator documentation does what it says: docs/QUICKSTART.md's commands produce a
// token-protected gateway that another host can reach, its client configurations are valid
// JSON pointing at /mcp with the bearer header, and OPERATIONS.md states what the code does.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { readFileSync, symlinkSync } from 'node:fs';
import http from 'node:http';
import { networkInterfaces } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SHIPPED, tmpDir } from './lib.mjs';

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
    'auth: on, 1 bearer token(s)']) {
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

test('QUICKSTART: every client configuration is valid JSON; the HTTP ones send the bearer header to /mcp', () => {
  const json = blocks(quickstart, 'json').map((b) => JSON.parse(b));
  assert.ok(json.length >= 6, 'Claude Desktop, VS Code and Cursor, stdio and HTTP');
  let http = 0;
  let stdio = 0;
  for (const doc of json) {
    for (const s of Object.values(doc.mcpServers || doc.servers)) {
      if (s.url) {
        http++;
        assert.match(s.url, /^http:\/\/192\.0\.2\.2:8080\/mcp$/);
        assert.match(s.headers.Authorization, /^Bearer \$\{(input|env):[\w-]+\}$/);
      } else if (s.args.includes('mcp-remote')) {
        http++;
        assert.ok(s.args.includes('http://192.0.2.2:8080/mcp'));
        assert.ok(s.args.includes('Authorization:${CORTEX_AUTH}'));
        assert.match(s.env.CORTEX_AUTH, /^Bearer /);
      } else {
        stdio++;
        assert.equal(s.command, '/opt/cortex/bin/cortex-gateway');
        assert.deepEqual(s.args, ['--stdio', '--config', '/etc/cortex/gateway.json']);
      }
    }
  }
  assert.equal(http, 3, 'Claude Desktop (bridge), VS Code, Cursor over HTTP');
  assert.equal(stdio, 3, 'Claude Desktop, VS Code, Cursor over stdio');
  assert.match(quickstart, /claude mcp add --transport http cortex http:\/\/192\.0\.2\.2:8080\/mcp \\\n\s+--header "Authorization: Bearer \$TOKEN"/);
  assert.match(quickstart, /claude mcp add cortex -- \/opt\/cortex\/bin\/cortex-gateway --stdio --config/);
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
