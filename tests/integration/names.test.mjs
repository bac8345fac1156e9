// Control characters in names: a method, tool, resource, prompt, task id or argument key with a
// NUL (or any character below U+0020, or DEL) is refused with a clear error — never cut at the
// NUL and run as the name before it — and so is a bearer token or any request header with one.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { createHash } from 'node:crypto';
import { httpSession, startHttp, startStdio, writeConfig } from './lib.mjs';

const TOKEN = 'tok-names-0123456789abcdef';
const running = [];
after(() => running.forEach((g) => g.kill()));

async function gateway(config = {}) {
  const g = startHttp(['--config', writeConfig({ adapters: { testkit: {} }, ...config })]);
  running.push(g);
  g.url = await g.ready;
  g.port = Number(new URL(g.url).port);
  return g;
}

// One raw HTTP/1.1 request (bytes as given, so a NUL reaches the server); resolves with the
// status code and body.
function raw(port, head, body = '') {
  return new Promise((res, rej) => {
    const s = connect(port, '127.0.0.1');
    let data = Buffer.alloc(0);
    s.on('data', (d) => { data = Buffer.concat([data, d]); });
    s.on('error', rej);
    s.on('close', () => {
      const text = data.toString('latin1');
      const m = text.match(/^HTTP\/1\.1 (\d+)/);
      res({ status: m ? Number(m[1]) : 0, text });
    });
    s.end(Buffer.concat([Buffer.from(head.replace(/\n/g, '\r\n') + '\r\n', 'latin1'), Buffer.from(body)]));
  });
}

const CTL = ['\u0000', '\u0001', '\n', '\u001f', '\u007f'];

test('methods with a control character are invalid requests, not the method before it', async () => {
  const g = await gateway();
  const s = await httpSession(g.url);
  for (const c of CTL) {
    const r = await s.call('ping' + c + 'xx');
    assert.equal(r.error?.code, -32600, JSON.stringify(r));
    assert.match(r.error.message, /'method' contains a control character/);
  }
  // The clean method still works.
  assert.deepEqual((await s.call('ping')).result, {});
});

test('tool, resource, prompt names and argument keys with a control character are refused', async () => {
  const g = await gateway();
  const s = await httpSession(g.url);
  const cases = [
    ['tools/call', { name: 'testkit_echo\u0000evil', arguments: { text: 'x' } }, /'name'/],
    ['tools/call', { name: 'testkit_echo\tx', arguments: { text: 'x' } }, /'name'/],
    ['tools/call', { name: 'testkit_echo', arguments: { 'te\u0001xt': 'x' } }, /argument key/],
    ['resources/read', { uri: 'testkit://status\u0000/../x' }, /'uri'/],
    ['resources/subscribe', { uri: 'testkit://status\n' }, /'uri'/],
    ['prompts/get', { name: 'testkit_summary\u0000', arguments: { topic: 'x' } }, /'name'/],
    ['prompts/get', { name: 'testkit_summary', arguments: { topic: 'x', 'to\u007fne': 'x' } }, /argument key/],
    ['completion/complete', { ref: { type: 'ref/prompt', name: 'testkit_summary\u0000' },
      argument: { name: 'topic', value: 'a' } }, /'ref.name'/],
    ['completion/complete', { ref: { type: 'ref/prompt', name: 'testkit_summary' },
      argument: { name: 'to\u0000pic', value: 'a' } }, /'argument.name'/],
  ];
  for (const [method, params, why] of cases) {
    const r = await s.call(method, params);
    assert.equal(r.error?.code, -32602, `${method} ${JSON.stringify(params)}: ${JSON.stringify(r)}`);
    assert.match(r.error.message, /contains a control character/);
    assert.match(r.error.message, why);
  }
  // Control characters in argument values are data, not names: still accepted.
  const ok = await s.call('tools/call', { name: 'testkit_echo', arguments: { text: 'a\u0000b\nc' } });
  assert.ok(ok.result && !ok.result.isError, JSON.stringify(ok));
});

test('over stdio too', async () => {
  const g = startStdio(['--config', writeConfig({ adapters: { testkit: {} } })]);
  running.push(g);
  await g.request('initialize', { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 't', version: '1' } });
  const r = await g.request('tools/call', { name: 'testkit_echo\u0000evil', arguments: { text: 'x' } });
  assert.equal(r.error?.code, -32602, JSON.stringify(r));
  await g.close();
});

test('a bearer token or a header with a NUL or control character is refused', async () => {
  const g = await gateway({ tokens: [{ name: 'ci', sha256: createHash('sha256').update(TOKEN).digest('hex') }] });
  const body = JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'initialize',
    params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 't', version: '1' } } });
  const head = (auth, extra = '') => `POST /mcp HTTP/1.1\nHost: 127.0.0.1\nAuthorization: ${auth}\n` +
    `Content-Type: application/json\nAccept: application/json, text/event-stream\n${extra}` +
    `Content-Length: ${Buffer.byteLength(body)}\nConnection: close\n`;
  const good = await raw(g.port, head('Bearer ' + TOKEN), body);
  assert.equal(good.status, 200, good.text);
  for (const c of ['\u0000', '\u0001', '\u001b', '\u007f']) {
    const r = await raw(g.port, head('Bearer ' + TOKEN + c + 'junk'), body);
    assert.ok(r.status === 400 || r.status === 401, `token + ${JSON.stringify(c)}: ${r.text}`);
    assert.doesNotMatch(r.text, /"result"/);
  }
  const r = await raw(g.port, head('Bearer ' + TOKEN, 'X-Trace: a\u0000b\n'), body);
  assert.equal(r.status, 400, r.text);
  assert.match(r.text, /NUL|control character/);
  // The token itself is never echoed back or logged.
  assert.doesNotMatch(g.stderr(), new RegExp(TOKEN));
});

test('a percent-encoded path is decoded and served; a %00 in it, or a NUL hidden in a header beside it, is refused', async () => {
  const g = await gateway({ tokens: [{ name: 'ci', sha256: createHash('sha256').update(TOKEN).digest('hex') }] });
  const req = (path, extra = '') => `POST ${path} HTTP/1.1\nHost: 127.0.0.1\nAuthorization: Bearer ${TOKEN}\n` +
    `Content-Type: application/json\n${extra}Content-Length: 2\nConnection: close\n`;
  // /v1/tools/gateway_status, written with %5F and %73: the same tool.
  const ok = await raw(g.port, req('/v1/tools/gateway%5Fstatu%73'), '{}');
  assert.equal(ok.status, 200, ok.text);
  assert.match(ok.text, /"structuredContent"/);
  const nul = await raw(g.port, req('/v1/tools/gateway_status%00evil'), '{}');
  assert.equal(nul.status, 400, nul.text);
  assert.doesNotMatch(nul.text, /"structuredContent"/);
  const hidden = await raw(g.port, req('/v1/tools/gateway%5Fstatus', 'X-Trace: a\u0000b\n'), '{}');
  assert.equal(hidden.status, 400, hidden.text);
  assert.match(hidden.text, /NUL/);
});

test('a NUL hidden in the token or a header is refused on a request with a query string too', async () => {
  const g = await gateway({ tokens: [{ name: 'ci', sha256: createHash('sha256').update(TOKEN).digest('hex') }] });
  const get = (target, auth, extra = '') => `GET ${target} HTTP/1.1\nHost: 127.0.0.1\nAuthorization: ${auth}\n${extra}Connection: close\n`;
  // Percent-encoded and plain arguments, as scripts send them: served.
  for (const q of ['/v1/tasks?status=queued&limit=2', '/v1/tasks?status=queu%65d&limit=%32', '/v1/tools?x=1%20y&z']) {
    const ok = await raw(g.port, get(q, 'Bearer ' + TOKEN));
    assert.equal(ok.status, 200, `${q}: ${ok.text}`);
  }
  // "Bearer <token>\0junk" was read as the token when the target had a query string.
  const r = await raw(g.port, get('/v1/tasks?status=queued', 'Bearer ' + TOKEN + '\u0000junk'));
  assert.equal(r.status, 400, r.text);
  assert.match(r.text, /NUL/);
  assert.doesNotMatch(r.text, /"tasks"/);
  const h = await raw(g.port, get('/v1/tools?x=%41', 'Bearer ' + TOKEN, 'X-Trace: a\u0000b\n'));
  assert.equal(h.status, 400, h.text);
  const body = JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'ping' });
  const post = `POST /mcp?via=script HTTP/1.1\nHost: 127.0.0.1\nAuthorization: Bearer ${TOKEN}\u0000junk\n` +
    `Content-Type: application/json\nAccept: application/json, text/event-stream\nContent-Length: ${body.length}\nConnection: close\n`;
  const p = await raw(g.port, post, body);
  assert.equal(p.status, 400, p.text);
});
