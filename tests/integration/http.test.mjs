// cortex-gateway over Streamable HTTP: what an MCP client, a browser and an operator rely on
// at /mcp — status codes, headers, sessions sealed with a shared key, SSE, shutdown.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import http from 'node:http';
import { assertAllStopCleanly, GATEWAY, startHttp, writeConfig } from './lib.mjs';

const running = [];
after(() => running.forEach((g) => g.kill()));

async function gateway(config = {}, env = {}) {
  const cfg = writeConfig({ adapters: { testkit: {} }, ...config });
  const g = startHttp(['--config', cfg], { env });
  running.push(g);
  g.url = await g.ready;
  g.port = Number(new URL(g.url).port);
  return g;
}

const ACCEPT_BOTH = 'application/json, text/event-stream';
const JSON_HEADERS = { 'Accept': ACCEPT_BOTH, 'Content-Type': 'application/json' };
const CLIENT = { name: 'http-tests', version: '1' };

function initMsg(version = '2025-11-25', id = 1) {
  return { jsonrpc: '2.0', id, method: 'initialize',
    params: { protocolVersion: version, capabilities: {}, clientInfo: CLIENT } };
}

function post(url, body, headers = {}) {
  return fetch(url, { method: 'POST', headers: { ...JSON_HEADERS, ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body) });
}

// initialize + notifications/initialized; returns the headers later requests need.
async function session(url, { version = '2025-11-25', headers = {} } = {}) {
  const r = await post(url, initMsg(version), headers);
  assert.equal(r.status, 200, await r.clone().text());
  const sid = r.headers.get('mcp-session-id');
  assert.ok(sid, 'initialize answers with Mcp-Session-Id');
  const body = await r.json();
  const h = { ...headers, 'Mcp-Session-Id': sid, 'MCP-Protocol-Version': body.result.protocolVersion };
  const n = await post(url, { jsonrpc: '2.0', method: 'notifications/initialized' }, h);
  assert.equal(n.status, 202);
  return { sid, headers: h, init: body };
}

// A JSON-RPC error body with id null and the given code.
async function assertRpcError(res, status, code, pattern, id = null) {
  assert.equal(res.status, status);
  assert.match(res.headers.get('content-type'), /^application\/json/);
  const body = await res.json();
  assert.equal(body.jsonrpc, '2.0');
  assert.equal(body.id, id);
  assert.equal(body.error.code, code);
  if (pattern) assert.match(body.error.message, pattern);
  return body;
}

// node:http for what fetch cannot do: a chosen Host header, a Content-Length without a body,
// a chunked upload. Resolves { status, headers, body } once the response has ended.
function raw(port, { method = 'POST', path = '/mcp', headers = {}, body, chunks, endAfterHeaders = false } = {}) {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method, path, headers, agent: false }, (res) => {
      let data = '';
      res.setEncoding('utf8');
      res.on('data', (d) => { data += d; });
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: data }));
      res.on('error', reject);
    });
    req.on('error', reject);
    if (endAfterHeaders) {
      req.flushHeaders(); // the body is announced but never sent
      return;
    }
    if (chunks) {
      for (const c of chunks) req.write(c);
      req.end();
      return;
    }
    req.end(body);
  });
}

// Reads an SSE response until pattern matches the text so far (or the stream ends).
async function readUntil(res, pattern, timeoutMs = 5000) {
  const reader = res.body.getReader();
  const dec = new TextDecoder();
  let text = '';
  const deadline = Date.now() + timeoutMs;
  while (!pattern.test(text) && Date.now() < deadline) {
    const chunk = await Promise.race([reader.read(),
      new Promise((r) => setTimeout(() => r({ timeout: true }), deadline - Date.now()))]);
    if (chunk.timeout || chunk.done) break;
    text += dec.decode(chunk.value, { stream: true });
  }
  return { text, reader };
}

test('health probe: GET /healthz answers 200 ok with any Host and no credentials', async () => {
  const g = await gateway({ tokens: [{ name: 'ci', sha256: createHash('sha256').update('t0k3n-for-health').digest('hex') }] });
  const r = await raw(g.port, { method: 'GET', path: '/healthz', headers: { Host: 'cortex-gateway.cortex.svc:8080' } });
  assert.equal(r.status, 200);
  assert.equal(r.body.trim(), 'ok');
});

// '/' is the console (console-serve.test.mjs), or 404 like these with console.enabled: false.
test('unknown paths answer 404 with a JSON body; /mcp is matched exactly', async () => {
  const g = await gateway();
  for (const path of ['/mcp/', '/console', '/consolex/index.html', '/mcpx', '/v0/mcp', '/metricsx', '/readyz/']) {
    const r = await fetch(new URL(path, g.url), { method: 'POST', headers: JSON_HEADERS, body: '{}' });
    assert.equal(r.status, 404, path);
    assert.deepEqual(await r.json(), { error: 'not found' });
  }
});

test('initialize, tools/list, tools/call over POST; a notification gets 202 with no body', async () => {
  const g = await gateway();
  const r = await post(g.url, initMsg('2025-06-18', 'init-1'));
  assert.equal(r.status, 200);
  assert.match(r.headers.get('content-type'), /^application\/json/);
  const sid = r.headers.get('mcp-session-id');
  assert.match(sid, /^[A-Za-z0-9._~-]{16,}$/, 'a visible-ASCII session id');
  const init = await r.json();
  assert.equal(init.id, 'init-1');
  assert.equal(init.result.protocolVersion, '2025-06-18');
  assert.equal(init.result.serverInfo.name, 'cortex-gateway');
  const h = { 'Mcp-Session-Id': sid, 'MCP-Protocol-Version': '2025-06-18' };

  const n = await post(g.url, { jsonrpc: '2.0', method: 'notifications/initialized' }, h);
  assert.equal(n.status, 202);
  assert.equal(await n.text(), '');

  const list = await (await post(g.url, { jsonrpc: '2.0', id: 2, method: 'tools/list' }, h)).json();
  const names = list.result.tools.map((t) => t.name);
  for (const t of ['testkit_echo', 'testkit_sleep', 'testkit_fail']) assert.ok(names.includes(t), t);

  const call = await post(g.url, { jsonrpc: '2.0', id: 3, method: 'tools/call',
    params: { name: 'testkit_echo', arguments: { text: 'hello over http' } } }, h);
  assert.equal(call.status, 200);
  const body = await call.json();
  assert.equal(body.id, 3);
  assert.equal(body.result.structuredContent.text, 'hello over http');
  assert.notEqual(body.result.isError, true);
});

test('calls that run on workers answer on their own connection, many at once', async () => {
  const g = await gateway({ calls: { workers: 8 } });
  const s = await session(g.url);
  const t0 = Date.now();
  const replies = await Promise.all(Array.from({ length: 8 }, (_, i) =>
    post(g.url, { jsonrpc: '2.0', id: 100 + i, method: 'tools/call',
      params: { name: 'testkit_sleep', arguments: { ms: 300 } } }, s.headers).then((r) => r.json())));
  replies.forEach((b, i) => {
    assert.equal(b.id, 100 + i, 'each answer goes back to its own request');
    assert.notEqual(b.result.isError, true, JSON.stringify(b));
  });
  // 8 calls of 300 ms on 8 workers: one round, not eight (2400 ms) one after another.
  assert.ok(Date.now() - t0 < 1800, 'calls overlap: ' + (Date.now() - t0) + ' ms');
  const fail = await (await post(g.url, { jsonrpc: '2.0', id: 9, method: 'tools/call',
    params: { name: 'testkit_fail', arguments: {} } }, s.headers)).json();
  assert.equal(fail.result.isError, true, 'a backend failure is a result, not an HTTP error');
});

test('a request with _meta.progressToken is answered as one SSE event (after the priming event in 2025-11-25)', async () => {
  const g = await gateway();
  for (const version of ['2025-06-18', '2025-11-25']) {
    const s = await session(g.url, { version });
    for (const tool of [['testkit_echo', { text: 'sse' }], ['testkit_sleep', { ms: 50 }]]) {
      const r = await post(g.url, { jsonrpc: '2.0', id: 'sse-1', method: 'tools/call',
        params: { name: tool[0], arguments: tool[1], _meta: { progressToken: 'p-7' } } }, s.headers);
      assert.equal(r.status, 200);
      assert.match(r.headers.get('content-type'), /^text\/event-stream/);
      assert.equal(r.headers.get('cache-control'), 'no-cache');
      let text = await r.text(); // the stream closes after the answer
      if (version === '2025-11-25') {
        const p = text.match(/^id: ([0-9a-f]+)-0\nretry: \d+\ndata:\n\n/);
        assert.ok(p, 'priming event first: ' + JSON.stringify(text));
        text = text.slice(p[0].length);
        assert.ok(text.startsWith('id: ' + p[1] + '-1\n'), 'the answer is event 1 of the same stream');
      }
      const m = text.match(/^id: (\S+)\nevent: message\ndata: (.*)\n\n$/);
      assert.ok(m, 'one event: ' + JSON.stringify(text));
      const msg = JSON.parse(m[2]);
      assert.equal(msg.id, 'sse-1');
      assert.ok(msg.result, tool[0]);
    }
  }
  const s = await session(g.url);
  // Without a progress token the same call is plain JSON.
  const r = await post(g.url, { jsonrpc: '2.0', id: 2, method: 'tools/call',
    params: { name: 'testkit_echo', arguments: { text: 'json' }, _meta: {} } }, s.headers);
  assert.match(r.headers.get('content-type'), /^application\/json/);
});

test('406 when the client does not accept both JSON and SSE; */* and q-values are understood', async () => {
  const g = await gateway();
  const s = await session(g.url);
  const ping = { jsonrpc: '2.0', id: 1, method: 'ping' };
  for (const accept of ['application/json', 'text/event-stream', 'text/html',
    'application/json, text/event-stream;q=0']) {
    await assertRpcError(await post(g.url, ping, { ...s.headers, Accept: accept }), 406,
      -32600, /not acceptable/);
  }
  const noAccept = await raw(g.port, { headers: { 'Content-Type': 'application/json', ...s.headers },
    body: JSON.stringify(ping) });
  assert.equal(noAccept.status, 406, 'a missing Accept header is not acceptable either');
  for (const accept of ['*/*', 'application/json;q=0.9, text/event-stream;q=0.8',
    'TEXT/EVENT-STREAM, Application/JSON; charset=utf-8', 'application/*, text/*']) {
    const r = await post(g.url, ping, { ...s.headers, Accept: accept });
    assert.equal(r.status, 200, accept);
  }
  const get = await fetch(g.url, { headers: { ...s.headers, Accept: 'application/json' } });
  await assertRpcError(get, 406, -32600, /text\/event-stream/);
});

test('415 unless the body is application/json (parameters allowed)', async () => {
  const g = await gateway();
  const s = await session(g.url);
  const ping = JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'ping' });
  for (const ct of ['text/plain', 'application/x-www-form-urlencoded', 'application/jsonx']) {
    await assertRpcError(await post(g.url, ping, { ...s.headers, 'Content-Type': ct }), 415, -32600);
  }
  const ok = await post(g.url, ping, { ...s.headers, 'Content-Type': 'application/json; charset=utf-8' });
  assert.equal(ok.status, 200);
});

test('405 with Allow for methods other than GET, POST, DELETE', async () => {
  const g = await gateway();
  for (const method of ['PUT', 'PATCH', 'HEAD', 'OPTIONS']) {
    const r = await fetch(g.url, { method });
    assert.equal(r.status, 405, method);
    assert.equal(r.headers.get('allow'), 'GET, POST, DELETE');
  }
});

test('400: malformed JSON (-32700, id null), missing session, unsupported or mismatched protocol version', async () => {
  const g = await gateway();
  await assertRpcError(await post(g.url, '{"jsonrpc": "2.0", "id": 1, "method": '), 400, -32700);
  await assertRpcError(await post(g.url, ''), 400, -32700);

  // No session and no protocol version: neither a 2025 session nor a stateless 2026 request;
  // the error echoes the request's id.
  await assertRpcError(await post(g.url, { jsonrpc: '2.0', id: 1, method: 'tools/list' }), 400,
    -32020, /MCP-Protocol-Version/, 1);

  const s = await session(g.url, { version: '2025-06-18' });
  await assertRpcError(await post(g.url, { jsonrpc: '2.0', id: 1, method: 'tools/list' },
    { ...s.headers, 'MCP-Protocol-Version': '1999-01-01' }), 400, -32600, /1999-01-01/);
  await assertRpcError(await post(g.url, initMsg(), { 'MCP-Protocol-Version': 'bogus' }), 400,
    -32600, /bogus/);
  await assertRpcError(await post(g.url, { jsonrpc: '2.0', id: 1, method: 'tools/list' },
    { ...s.headers, 'MCP-Protocol-Version': '2026-07-28' }), 400, -32600, /2026-07-28/);
  // Without the header, or with another revision that has sessions (the conformance suite
  // sends 2025-03-26 on every request), the session's version is in force: no batches here.
  const { 'MCP-Protocol-Version': _, ...noVersion } = s.headers;
  assert.equal((await post(g.url, { jsonrpc: '2.0', id: 1, method: 'tools/list' }, noVersion)).status, 200);
  for (const v of ['2025-03-26', '2025-11-25']) {
    const r = await post(g.url, { jsonrpc: '2.0', id: 1, method: 'tools/list' }, { ...s.headers, 'MCP-Protocol-Version': v });
    assert.equal(r.status, 200, v);
    const batch = await post(g.url, [{ jsonrpc: '2.0', id: 1, method: 'ping' }], { ...s.headers, 'MCP-Protocol-Version': v });
    assert.equal((await batch.json()).error?.code, -32600,
      'batches follow the session\'s 2025-06-18, not the header\'s ' + v);
  }
});

test('batches are passed to the server: allowed in 2025-03-26, refused in later versions', async () => {
  const g = await gateway();
  const old = await session(g.url, { version: '2025-03-26' });
  const r = await post(g.url, [{ jsonrpc: '2.0', id: 1, method: 'ping' },
    { jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name: 'testkit_sleep', arguments: { ms: 20 } } },
    { jsonrpc: '2.0', method: 'notifications/whatever' }], old.headers);
  assert.equal(r.status, 200);
  const body = await r.json();
  assert.ok(Array.isArray(body));
  assert.deepEqual(body.map((m) => m.id).sort(), [1, 2]);

  const cur = await session(g.url, { version: '2025-11-25' });
  const b = await (await post(g.url, [{ jsonrpc: '2.0', id: 1, method: 'ping' }], cur.headers)).json();
  assert.equal(b.error.code, -32600);
});

test('404 for a bogus, tampered or deleted session; DELETE answers 204', async () => {
  const g = await gateway();
  const list = { jsonrpc: '2.0', id: 1, method: 'tools/list' };
  await assertRpcError(await post(g.url, list, { 'Mcp-Session-Id': 'not-a-session' }), 404, -32001);
  await assertRpcError(await post(g.url, list, { 'Mcp-Session-Id': 'x'.repeat(5000) }), 404, -32001);

  const s = await session(g.url);
  const sid = s.sid;
  const i = Math.floor(sid.length / 2);
  const tampered = sid.slice(0, i) + (sid[i] === 'A' ? 'B' : 'A') + sid.slice(i + 1);
  await assertRpcError(await post(g.url, list, { ...s.headers, 'Mcp-Session-Id': tampered }), 404, -32001);
  assert.equal((await post(g.url, list, s.headers)).status, 200, 'the genuine id still works');

  await assertRpcError(await fetch(g.url, { method: 'DELETE' }), 400, -32600, /Mcp-Session-Id/);
  const del = await fetch(g.url, { method: 'DELETE', headers: s.headers });
  assert.equal(del.status, 204);
  await assertRpcError(await post(g.url, list, s.headers), 404, -32001);
  await assertRpcError(await fetch(g.url, { headers: { ...s.headers, Accept: 'text/event-stream' } }), 404, -32001);
  await assertRpcError(await fetch(g.url, { method: 'DELETE', headers: s.headers }), 404, -32001);

  // A client that gets 404 starts over with initialize and carries on.
  const again = await session(g.url);
  assert.notEqual(again.sid, sid);
  assert.equal((await post(g.url, list, again.headers)).status, 200);
});

test('403 for a foreign Origin or Host (DNS rebinding); loopback names and configured ones pass', async () => {
  const g = await gateway({ http: { allowed_origins: ['https://app.example.com'],
    allowed_hosts: ['mcp.internal.example', 'gw.example:9443'] } });
  const ping = JSON.stringify(initMsg());
  for (const origin of ['http://evil.example', 'null', 'http://localhost.evil.example',
    'http://127.0.0.1.evil.example:80', 'file://', 'https://app.example.com.evil']) {
    await assertRpcError(await post(g.url, ping, { Origin: origin }), 403, -32600, /Origin/);
  }
  for (const origin of ['http://localhost:3000', 'https://127.0.0.1', 'http://[::1]:8080',
    'https://app.example.com']) {
    assert.equal((await post(g.url, ping, { Origin: origin })).status, 200, origin);
  }

  const base = { 'Content-Type': 'application/json', 'Accept': ACCEPT_BOTH };
  for (const host of ['evil.example', 'evil.example:' + g.port, 'localhost.evil.example',
    'gw.example:1234', '127.0.0.1.evil.example', 'localhost:80:80', '[::1']) {
    const r = await raw(g.port, { headers: { ...base, Host: host }, body: ping });
    assert.equal(r.status, 403, 'Host: ' + host);
    assert.equal(JSON.parse(r.body).error.code, -32600);
  }
  for (const host of ['localhost', 'localhost:' + g.port, '127.0.0.1:' + g.port, '[::1]:' + g.port,
    'mcp.internal.example', 'mcp.internal.example:443', 'gw.example:9443']) {
    const r = await raw(g.port, { headers: { ...base, Host: host }, body: ping });
    assert.equal(r.status, 200, 'Host: ' + host);
  }
});

test('413 for a body over http.max_body_bytes, announced or chunked', async () => {
  const g = await gateway({ http: { max_body_bytes: 1024 } });
  const headers = { 'Content-Type': 'application/json', 'Accept': ACCEPT_BOTH, Host: 'localhost' };
  // Refused from the headers alone: the 5000 announced bytes are never sent.
  const announced = await raw(g.port, { headers: { ...headers, 'Content-Length': '5000' }, endAfterHeaders: true });
  assert.equal(announced.status, 413);
  assert.match(JSON.parse(announced.body).error.message, /1024/);

  const big = JSON.stringify({ ...initMsg(), pad: 'x'.repeat(3000) });
  const chunked = await raw(g.port, { headers: { ...headers, 'Transfer-Encoding': 'chunked' },
    chunks: [big.slice(0, 500), big.slice(500, 1500), big.slice(1500)] });
  assert.equal(chunked.status, 413);

  // Just under the cap is fine, chunked or not.
  const small = JSON.stringify({ ...initMsg(), pad: 'y'.repeat(700) });
  assert.ok(small.length <= 1024);
  assert.equal((await raw(g.port, { headers, body: small })).status, 200);
  assert.equal((await raw(g.port, { headers: { ...headers, 'Transfer-Encoding': 'chunked' },
    chunks: [small.slice(0, 100), small.slice(100)] })).status, 200);
});

test('401 with WWW-Authenticate unless the bearer token is configured', async () => {
  const token = 'test-token-' + randomBytes(8).toString('hex');
  const g = await gateway({ tokens: [{ name: 'ci', sha256: createHash('sha256').update(token).digest('hex') }] });

  const missing = await post(g.url, initMsg());
  await assertRpcError(missing.clone(), 401, -32600);
  assert.equal(missing.headers.get('www-authenticate'), 'Bearer realm="cortex"');

  for (const auth of ['Bearer wrong-token', 'Bearer ' + token + 'x', 'Bearer ']) {
    const r = await post(g.url, initMsg(), { Authorization: auth });
    assert.equal(r.status, 401, auth);
    if (auth !== 'Bearer ')
      assert.equal(r.headers.get('www-authenticate'), 'Bearer realm="cortex", error="invalid_token"');
  }
  assert.equal((await post(g.url, initMsg(), { Authorization: 'Basic ' + btoa('ci:' + token) })).status, 401);

  const s = await session(g.url, { headers: { Authorization: 'Bearer ' + token } });
  const call = await (await post(g.url, { jsonrpc: '2.0', id: 5, method: 'tools/call',
    params: { name: 'testkit_echo', arguments: { text: 'authed' } } }, s.headers)).json();
  assert.equal(call.result.structuredContent.text, 'authed');
  // The session id alone is not a credential.
  const { Authorization: _, ...noAuth } = s.headers;
  assert.equal((await post(g.url, { jsonrpc: '2.0', id: 6, method: 'tools/list' }, noAuth)).status, 401);
});

test('GET opens an SSE stream that starts with a comment; at most 4 per session', async () => {
  const g = await gateway();
  const s = await session(g.url);
  const streams = [];
  for (let i = 0; i < 4; i++) {
    const ctl = new AbortController();
    const r = await fetch(g.url, { headers: { ...s.headers, Accept: 'text/event-stream' }, signal: ctl.signal });
    assert.equal(r.status, 200);
    assert.match(r.headers.get('content-type'), /^text\/event-stream/);
    assert.equal(r.headers.get('cache-control'), 'no-cache');
    const { text } = await readUntil(r, /\n\n/);
    assert.ok(text.startsWith(': cortex stream open\n\n'), JSON.stringify(text));
    streams.push(ctl);
  }
  const fifth = await fetch(g.url, { headers: { ...s.headers, Accept: 'text/event-stream' } });
  await assertRpcError(fifth, 429, -32600);
  // Another session is not affected, and POSTs keep working beside open streams.
  const other = await session(g.url);
  const r = await fetch(g.url, { headers: { ...other.headers, Accept: 'text/event-stream' } });
  assert.equal(r.status, 200);
  await r.body.cancel();
  assert.equal((await post(g.url, { jsonrpc: '2.0', id: 1, method: 'ping' }, s.headers)).status, 200);
  streams.forEach((c) => c.abort());
  await assertRpcError(await fetch(g.url, { headers: { Accept: 'text/event-stream' } }), 400, -32600,
    /Mcp-Session-Id/);
});

test('a client that reconnects its GET stream is not refused for its own dead streams', async () => {
  const g = await gateway();
  const s = await session(g.url);
  for (let i = 0; i < 8; i++) {
    const ctl = new AbortController();
    const r = await fetch(g.url, { headers: { ...s.headers, Accept: 'text/event-stream' }, signal: ctl.signal });
    assert.equal(r.status, 200, 'reconnect ' + i);
    const { text } = await readUntil(r, /\n\n/);
    assert.ok(text.startsWith(': cortex stream open\n\n'), JSON.stringify(text));
    ctl.abort();
    await new Promise((res) => setTimeout(res, 20));
  }
});

test('a non-loopback listener without tokens refuses to start', () => {
  const cfg = writeConfig({ adapters: { testkit: {} } });
  const r = spawnSync(GATEWAY, ['--listen', '0.0.0.0:0', '--config', cfg], { encoding: 'utf8', timeout: 10000 });
  assert.equal(r.status, 1, r.stderr);
  assert.equal(r.signal, null, 'exits by itself');
  assert.match(r.stderr, /--listen: refusing to listen on '0\.0\.0\.0:0' without tokens: .*configure "tokens" .* or pass --insecure-no-auth/);
});

test('an IPv6 loopback listener serves /mcp at [::1]', async (t) => {
  const cfg = writeConfig({ adapters: { testkit: {} } });
  const child = spawn(GATEWAY, ['--listen', '[::1]:0', '--config', cfg], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  const exited = new Promise((res) => child.on('exit', (code, signal) => res({ code, signal })));
  running.push({ child, exited, stderr: () => stderr,
    kill() { if (child.exitCode === null) child.kill('SIGKILL'); } });
  child.stderr.setEncoding('utf8');
  const url = await new Promise((res) => {
    child.stderr.on('data', (d) => {
      stderr += d;
      const m = stderr.match(/listening on (http:\/\/\[::1\]:\d+\/mcp)/);
      if (m) res(m[1]);
    });
    child.on('exit', () => res(null));
  });
  if (!url && /Cannot assign requested address|Address family not supported/.test(stderr)) {
    t.skip('no IPv6 loopback on this machine');
    return;
  }
  assert.ok(url, stderr);
  const s = await session(url);
  assert.equal((await post(url, { jsonrpc: '2.0', id: 1, method: 'ping' }, s.headers)).status, 200);
});

test('a listen address without a port is refused at start, as a usage error', () => {
  const r = spawnSync(GATEWAY, ['--listen', '127.0.0.1'], { encoding: 'utf8', timeout: 10000 });
  assert.equal(r.status, 2, r.stderr);
  assert.match(r.stderr, /--listen: '127\.0\.0\.1' has no port; write HOST:PORT/);
});

test('replicas sharing http.session_key accept each other\'s session ids; another key does not', async () => {
  const cfg = { http: { session_key: { env: 'CORTEX_SESSION_KEY' } } };
  const key = randomBytes(32).toString('base64');
  const [a, b, c] = await Promise.all([gateway(cfg, { CORTEX_SESSION_KEY: key }),
    gateway(cfg, { CORTEX_SESSION_KEY: key }),
    gateway(cfg, { CORTEX_SESSION_KEY: randomBytes(32).toString('base64') })]);
  const s = await session(a.url);
  const call = { jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'testkit_echo', arguments: { text: 'b' } } };
  const rb = await post(b.url, call, s.headers);
  assert.equal(rb.status, 200);
  assert.equal((await rb.json()).result.structuredContent.text, 'b');
  await assertRpcError(await post(c.url, call, s.headers), 404, -32001);
  // Ending it on one replica does not end it on the other: revocation is per process.
  assert.equal((await fetch(b.url, { method: 'DELETE', headers: s.headers })).status, 204);
  await assertRpcError(await post(b.url, call, s.headers), 404, -32001);
  assert.equal((await post(a.url, call, s.headers)).status, 200);
});

test('SIGTERM: a call in flight still gets its answer, open streams end, exit status 0', async () => {
  const g = await gateway();
  const s = await session(g.url);
  const ctl = new AbortController();
  const stream = await fetch(g.url, { headers: { ...s.headers, Accept: 'text/event-stream' }, signal: ctl.signal });
  const { reader } = await readUntil(stream, /\n\n/);
  const inflight = post(g.url, { jsonrpc: '2.0', id: 42, method: 'tools/call',
    params: { name: 'testkit_sleep', arguments: { ms: 1500 } } }, s.headers);
  // Time for the call to reach a worker even on a loaded machine (a call that has not
  // arrived when the signal comes is refused, rightly); it is still sleeping at the signal.
  await new Promise((r) => setTimeout(r, 500));
  g.child.kill('SIGTERM');
  const r = await inflight;
  assert.equal(r.status, 200);
  const body = await r.json();
  assert.equal(body.id, 42);
  assert.notEqual(body.result.isError, true, JSON.stringify(body));
  // The stream is closed by the server rather than left hanging.
  let done = false;
  const until = Date.now() + 5000;
  while (!done && Date.now() < until) {
    try { done = (await reader.read()).done; } catch { done = true; }
  }
  assert.ok(done, 'the GET stream ended');
  const { code, signal } = await g.exited;
  assert.equal(signal, null, g.stderr());
  assert.equal(code, 0, g.stderr());
  assert.doesNotMatch(g.stderr(), /still wait|panic|abort/i);
});

// Last, so it covers all the traffic above: under `make check` (ASan, LeakSanitizer) a leak,
// a use after free or an abort at shutdown shows here.
test('every gateway started above stops cleanly on SIGTERM', () =>
  assertAllStopCleanly(running, assert, 10));
