// Tokens, tool allow-patterns and read-only tokens over HTTP: refused calls are isError
// results the model can read, and every call is audited under the token's name.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { startHttp, httpSession, writeConfig, tmpDir } from './lib.mjs';

const sha = (s) => createHash('sha256').update(s).digest('hex');
const running = [];
after(() => running.forEach((g) => g.kill()));

test('token allow-patterns and read-only tokens are enforced in dispatch and audited', async () => {
  const audit = join(tmpDir(), 'audit.log');
  const g = startHttp(['--config', writeConfig({
    tokens: [
      { name: 'ops', sha256: sha('ops-token-1') },
      { name: 'viewer', sha256: sha('viewer-token-2'), allow: ['gateway_*', 'testkit_echo', 'testkit_delete'], read_only: true },
      { name: 'echo-only', sha256: sha('echo-token-3'), allow: ['testkit_e*'] },
    ],
    adapters: { testkit: {} },
  }), '--audit-file', audit]);
  running.push(g);
  const url = await g.ready;

  const viewer = await httpSession(url, { token: 'viewer-token-2' });
  assert.equal(viewer.status, 200);
  let r = await viewer.call('tools/list', {});
  // read_only hides testkit_delete even though a pattern names it.
  assert.deepEqual(r.result.tools.map((t) => t.name), ['gateway_status', 'testkit_echo']);
  r = await viewer.call('tools/call', { name: 'testkit_delete', arguments: { target: 'vm-100' } });
  assert.equal(r.result.isError, true);
  assert.match(r.result.content[0].text, /refused: token 'viewer' is read-only/);
  r = await viewer.call('tools/call', { name: 'testkit_sleep', arguments: { ms: 1 } });
  assert.equal(r.result.isError, true);
  assert.match(r.result.content[0].text, /not allowed to call 'testkit_sleep'/);
  r = await viewer.call('tools/call', { name: 'testkit_echo', arguments: { text: 'ok' } });
  assert.deepEqual(r.result.structuredContent, { text: 'ok' });

  const echoOnly = await httpSession(url, { token: 'echo-token-3' });
  r = await echoOnly.call('tools/list', {});
  assert.deepEqual(r.result.tools.map((t) => t.name), ['testkit_echo']);
  r = await echoOnly.call('tools/call', { name: 'gateway_status' });
  assert.equal(r.result.isError, true);

  const ops = await httpSession(url, { token: 'ops-token-1' });
  r = await ops.call('tools/call', { name: 'testkit_delete', arguments: { target: 'vm-100' } });
  assert.equal(r.result.isError, undefined);
  assert.match(r.result.content[0].text, /deleted 'vm-100'/);

  // The token is checked on every request, and a session belongs to the token that created
  // it: another valid token holding the id finds no such session.
  let res = await fetch(url, { method: 'POST', headers: { ...ops.headers, Authorization: 'Bearer wrong' },
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'ping' }) });
  assert.equal(res.status, 401);
  res = await fetch(url, { method: 'POST', headers: { ...ops.headers, Authorization: 'Bearer viewer-token-2' },
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'testkit_delete', arguments: { target: 'x' } } }) });
  assert.equal(res.status, 404);
  res = await fetch(url, { method: 'POST', headers: ops.headers,
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'ping' }) });
  assert.equal(res.status, 200);

  g.child.kill('SIGTERM');
  assert.equal((await g.exited).code, 0);
  const lines = readFileSync(audit, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  const refused = lines.filter((l) => l.outcome === 'refused');
  assert.deepEqual(refused.map((l) => [l.caller, l.tool]),
    [['viewer', 'testkit_delete'], ['viewer', 'testkit_sleep'], ['echo-only', 'gateway_status']]);
  assert.ok(refused.every((l) => typeof l.detail === 'string' && l.session.length === 16));
  assert.ok(lines.some((l) => l.caller === 'ops' && l.tool === 'testkit_delete' && l.outcome === 'ok'));
  assert.ok(!readFileSync(audit, 'utf8').includes('ops-token-1'));
});
