// The stateless revision (MCP 2026-07-28) over Streamable HTTP: one self-contained POST per
// request, no initialize and no session; the version, client capabilities and client info ride
// in params._meta, and the standard headers (Mcp-Method, Mcp-Name, Mcp-Param-*) must agree with
// the body. What a 2026 client, and an intermediary routing on those headers, rely on.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import http from 'node:http';
import { assertAllStopCleanly, startHttp, writeConfig } from './lib.mjs';

const V = '2026-07-28';
const META_VERSION = 'io.modelcontextprotocol/protocolVersion';
const META_CAPS = 'io.modelcontextprotocol/clientCapabilities';
const META_INFO = 'io.modelcontextprotocol/clientInfo';
const ACCEPT_BOTH = 'application/json, text/event-stream';

const running = [];
after(() => running.forEach((g) => g.kill()));

async function gateway(config = {}) {
  const cfg = writeConfig({ adapters: { testkit: {}, conformance: {} }, ...config });
  const g = startHttp(['--config', cfg]);
  running.push(g);
  g.url = await g.ready;
  g.port = Number(new URL(g.url).port);
  return g;
}

let nextId = 1;

function meta(caps = { elicitation: {}, sampling: {} }, extra = {}) {
  return { [META_VERSION]: V, [META_CAPS]: caps, [META_INFO]: { name: 'stateless-tests', version: '1' }, ...extra };
}

// The request a conforming 2026 client sends: headers mirrored from the body. `headers`
// overrides them (null removes one); `params._meta` is filled unless `rawParams` is given.
// rawParams null: no params at all.
function request(method, params = {}, { headers = {}, id = nextId++, caps, rawParams } = {}) {
  const p = rawParams === null ? undefined
    : rawParams !== undefined ? rawParams : { ...params, _meta: { ...meta(caps), ...(params._meta ?? {}) } };
  const h = { 'Content-Type': 'application/json', 'Accept': ACCEPT_BOTH, 'MCP-Protocol-Version': V, 'Mcp-Method': method };
  const name = method === 'resources/read' ? params.uri : params.name;
  if (typeof name === 'string' && ['tools/call', 'prompts/get', 'resources/read'].includes(method)) h['Mcp-Name'] = name;
  for (const [k, v] of Object.entries(headers)) {
    for (const key of Object.keys(h)) if (key.toLowerCase() === k.toLowerCase()) delete h[key];
    if (v !== null) h[k] = v;
  }
  return { id, headers: h, body: { jsonrpc: '2.0', id, method, ...(p === undefined ? {} : { params: p }) } };
}

// Posts with node:http so header names go out exactly as written. Resolves
// { status, headers, text, body (JSON or undefined), events (for SSE) }.
function send(port, { headers, body, method = 'POST' }) {
  return new Promise((resolve, reject) => {
    const data = body === undefined ? undefined : (typeof body === 'string' ? body : JSON.stringify(body));
    const req = http.request({ host: '127.0.0.1', port, path: '/mcp', method, agent: false,
      headers: { ...headers, ...(data !== undefined ? { 'Content-Length': Buffer.byteLength(data) } : {}) } }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d) => { text += d; });
      res.on('end', () => {
        const out = { status: res.statusCode, headers: res.headers, text };
        if ((res.headers['content-type'] ?? '').startsWith('text/event-stream')) {
          out.events = text.split('\n\n').filter((e) => e.trim()).map((e) => {
            const ev = {};
            for (const line of e.split('\n')) {
              const i = line.indexOf(':');
              if (i <= 0) continue;
              ev[line.slice(0, i)] = line.slice(i + 1).replace(/^ /, '');
            }
            return ev;
          }).filter((ev) => 'data' in ev || 'id' in ev);
          const last = out.events.filter((ev) => ev.data).map((ev) => JSON.parse(ev.data)).find((m) => 'result' in m || 'error' in m);
          out.body = last;
        } else {
          try { out.body = JSON.parse(text); } catch { out.body = undefined; }
        }
        resolve(out);
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    if (data !== undefined) req.write(data);
    req.end();
  });
}

async function call(g, method, params, opts) {
  return send(g.port, request(method, params, opts));
}

function assertError(r, status, code, id, pattern) {
  assert.equal(r.status, status, r.text);
  assert.equal(r.body?.jsonrpc, '2.0', r.text);
  assert.equal(r.body.error?.code, code, r.text);
  assert.deepEqual(r.body.id, id, 'the error echoes the request id');
  if (pattern) assert.match(r.body.error.message, pattern);
  return r.body.error;
}

function assertResult(r) {
  assert.equal(r.status, 200, r.text);
  assert.equal(r.body?.error, undefined, r.text);
  assert.ok(r.body.result, r.text);
  return r.body.result;
}

test('server/discover: versions, capabilities, server info, result type and cache hints', async () => {
  const g = await gateway();
  const r = await call(g, 'server/discover');
  assert.equal(r.headers['mcp-session-id'], undefined, 'no session in this revision');
  const res = assertResult(r);
  assert.ok(res.supportedVersions.includes(V));
  assert.ok(res.supportedVersions.includes('2025-11-25'));
  assert.equal(typeof res.capabilities.tools, 'object');
  assert.equal(res._meta['io.modelcontextprotocol/serverInfo'].name.length > 0, true);
  assert.equal(typeof res._meta['io.modelcontextprotocol/serverInfo'].version, 'string');
  assert.equal(res.resultType, 'complete');
  assert.ok(Number.isInteger(res.ttlMs) && res.ttlMs >= 0);
  assert.ok(['public', 'private'].includes(res.cacheScope));

  // clientInfo is optional.
  const noInfo = await call(g, 'server/discover', {}, { rawParams: { _meta: { [META_VERSION]: V, [META_CAPS]: {} } } });
  assertResult(noInfo);
});

test('400 -32602 for _meta without protocolVersion or clientCapabilities, with the id echoed', async () => {
  const g = await gateway();
  for (const [id, params] of [[101, {}], [102, { _meta: { [META_CAPS]: {} } }], [104, { _meta: { [META_VERSION]: V } }],
    ['str-id', null]]) {
    const r = await call(g, 'server/discover', {}, { id, rawParams: params });
    assertError(r, 400, -32602, id);
  }
});

test('protocol version: header and _meta must agree (-32020); an unknown version in both is -32022', async () => {
  const g = await gateway();
  const mismatch = await call(g, 'server/discover', { _meta: { [META_VERSION]: 'v999.0.0' } }, { id: 302 });
  assertError(mismatch, 400, -32020, 302);

  const unknown = await call(g, 'server/discover', { _meta: { [META_VERSION]: 'v999.0.0' } },
    { id: 301, headers: { 'MCP-Protocol-Version': 'v999.0.0' } });
  const e = assertError(unknown, 400, -32022, 301);
  assert.equal(e.data.requested, 'v999.0.0');
  assert.ok(e.data.supported.includes(V));

  // Longer than any version the gateway could know: the same answers.
  const long = 'v' + '9'.repeat(40);
  const e2 = assertError(await call(g, 'tools/list', { _meta: { [META_VERSION]: long } },
    { id: 303, headers: { 'MCP-Protocol-Version': long } }), 400, -32022, 303);
  assert.equal(e2.data.requested, long);
  assertError(await call(g, 'tools/list', {}, { id: 304, headers: { 'MCP-Protocol-Version': long } }), 400, -32020, 304);

  // No header, no session, not initialize: the version is missing.
  const none = await call(g, 'tools/list', {}, { id: 305, headers: { 'MCP-Protocol-Version': null } });
  assertError(none, 400, -32020, 305, /MCP-Protocol-Version/);
});

test('methods that need a session do not exist: 404 -32601', async () => {
  const g = await gateway();
  let id = 500;
  for (const method of ['initialize', 'ping', 'logging/setLevel', 'resources/subscribe', 'resources/unsubscribe', 'unknown/method']) {
    const params = method === 'initialize'
      ? { protocolVersion: V, capabilities: {}, clientInfo: { name: 'x', version: '1' } }
      : method.startsWith('resources/') ? { uri: 'test://watched-resource' } : {};
    const r = await call(g, method, params, { id: ++id });
    assertError(r, 404, -32601, id);
  }
});

test('an initialize naming an unknown version is refused as before; a session id with the 2026 header is a mismatch', async () => {
  const g = await gateway();
  const init = { jsonrpc: '2.0', id: 1, method: 'initialize',
    params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'x', version: '1' } } };
  const base = { 'Content-Type': 'application/json', 'Accept': ACCEPT_BOTH };
  const bogus = await send(g.port, { headers: { ...base, 'MCP-Protocol-Version': 'bogus' }, body: init });
  assert.equal(bogus.status, 400);
  assert.equal(bogus.body.error.code, -32600);
  assert.match(bogus.body.error.message, /bogus/);

  const ok = await send(g.port, { headers: { ...base, 'MCP-Protocol-Version': '2025-11-25' }, body: init });
  assert.equal(ok.status, 200);
  const sid = ok.headers['mcp-session-id'];
  assert.ok(sid);
  const r = request('tools/list', {}, { headers: { 'Mcp-Session-Id': sid } });
  const mixed = await send(g.port, r);
  assert.equal(mixed.status, 400);
  assert.match(mixed.body.error.message, /2026-07-28/);
});

test('Mcp-Method must repeat the method exactly; header names are case-insensitive', async () => {
  const g = await gateway();
  assertError(await call(g, 'tools/list', {}, { id: 100, headers: { 'Mcp-Method': 'prompts/list' } }), 400, -32020, 100);
  assertError(await call(g, 'tools/list', {}, { id: 101, headers: { 'Mcp-Method': null } }), 400, -32020, 101, /Mcp-Method/);
  assertError(await call(g, 'tools/list', {}, { id: 102, headers: { 'Mcp-Method': 'TOOLS/LIST' } }), 400, -32020, 102);
  assertError(await call(g, 'tools/list', {}, { id: 103, headers: { 'Mcp-Method': 'tools/list/' } }), 400, -32020, 103);
  for (const name of ['mcp-method', 'MCP-METHOD']) {
    const list = assertResult(await call(g, 'tools/list', {}, { headers: { [name]: 'tools/list' } }));
    assert.ok(Array.isArray(list.tools));
  }
  // Optional whitespace around the value is not part of it.
  assertResult(await call(g, 'tools/list', {}, { headers: { 'Mcp-Method': ' \ttools/list  ' } }));
});

test('Mcp-Name must repeat params.name / params.uri when the body has one', async () => {
  const g = await gateway();
  const params = { name: 'test_simple_text', arguments: {} };
  assertError(await call(g, 'tools/call', params, { id: 200, headers: { 'Mcp-Name': 'wrong_tool_name' } }), 400, -32020, 200);
  assertError(await call(g, 'tools/call', params, { id: 201, headers: { 'Mcp-Name': null } }), 400, -32020, 201, /Mcp-Name/);
  assertError(await call(g, 'tools/call', params, { id: 202, headers: { 'Mcp-Name': 'TEST_SIMPLE_TEXT' } }), 400, -32020, 202);
  const padded = assertResult(await call(g, 'tools/call', params, { headers: { 'mcp-name': '  test_simple_text  ' } }));
  assert.equal(padded.resultType, 'complete');

  const read = assertResult(await call(g, 'resources/read', { uri: 'test://static-text' }));
  assert.equal(read.contents[0].uri, 'test://static-text');
  assertError(await call(g, 'resources/read', { uri: 'test://static-text' }, { id: 203, headers: { 'Mcp-Name': 'test://static-binary' } }),
    400, -32020, 203);
  assertError(await call(g, 'resources/read', { uri: 'test://static-text' }, { id: 204, headers: { 'Mcp-Name': null } }),
    400, -32020, 204);
  // A value a header cannot carry as it is may come Base64-encoded.
  const b64 = '=?base64?' + Buffer.from('test://static-text').toString('base64') + '?=';
  assertResult(await call(g, 'resources/read', { uri: 'test://static-text' }, { headers: { 'Mcp-Name': b64 } }));

  // Without params.name there is nothing to mirror: the server answers the bad params.
  const noName = await call(g, 'tools/call', { arguments: {} }, { id: 205 });
  assert.equal(noName.body.error.code, -32602);
  assert.equal(noName.body.id, 205);
});

test('Mcp-Param-<Name>: annotated arguments must be mirrored, literally or as =?base64?...?=', async () => {
  const g = await gateway();
  const tool = (await call(g, 'tools/list')).body.result.tools.find((t) => t.name === 'test_custom_header');
  assert.equal(tool.inputSchema.properties.value['x-mcp-header'], 'Value', 'the annotation is published');

  const withValue = (value, header, id) => call(g, 'tools/call', { name: 'test_custom_header', arguments: { value } },
    { id, headers: header === undefined ? {} : { 'Mcp-Param-Value': header } });
  const text = (r) => assertResult(r).content[0].text;

  assert.equal(text(await withValue('Hello', 'Hello')), 'value: Hello');
  assert.equal(text(await withValue('Hello', '=?base64?SGVsbG8=?=')), 'value: Hello');
  assert.equal(text(await withValue('héllo wörld', '=?base64?' + Buffer.from('héllo wörld').toString('base64') + '?=')),
    'value: héllo wörld');
  // Without the exact wrapper a value is literal.
  assert.equal(text(await withValue('SGVsbG8=', 'SGVsbG8=')), 'value: SGVsbG8=');
  assert.equal(text(await withValue('=?base64?SGVsbG8=', '=?base64?SGVsbG8=')), 'value: =?base64?SGVsbG8=');
  assert.equal(text(await call(g, 'tools/call', { name: 'test_custom_header', arguments: { value: 'Hello' } },
    { headers: { 'mcp-param-value': '  Hello ' } })), 'value: Hello');

  assertError(await withValue('Hello', '=?base64?SGVsbG8?=', 300), 400, -32020, 300, /Base64/);
  assertError(await withValue('Hello', '=?base64?SGVs!!!bG8=?=', 301), 400, -32020, 301, /Base64/);
  assertError(await withValue('Hello', '=?base64?SGVsbG8===?=', 302), 400, -32020, 302);
  assertError(await withValue('Hello', '=?base64?SGV sbG8=?=', 303), 400, -32020, 303);
  assertError(await withValue('test-value', undefined, 304), 400, -32020, 304, /Mcp-Param-Value/);
  assertError(await withValue('Hello', 'Goodbye', 305), 400, -32020, 305);
  assertError(await withValue('Hello', '=?base64?R29vZGJ5ZQ==?=', 306), 400, -32020, 306);
  assertError(await withValue('Hello', 'hello', 307), 400, -32020, 307);

  // An argument that is absent needs no header; the tool's own schema then speaks.
  const absent = await call(g, 'tools/call', { name: 'test_custom_header', arguments: {} }, { id: 308 });
  assert.equal(absent.status, 200);
  assert.equal(absent.body.result.isError, true);
});

test('results say their type; lists and reads carry cache hints', async () => {
  const g = await gateway();
  const status = assertResult(await call(g, 'tools/call', { name: 'gateway_status', arguments: {} }));
  assert.equal(status.resultType, 'complete');
  assert.ok(Array.isArray(status.content));
  for (const method of ['tools/list', 'prompts/list', 'resources/list', 'resources/templates/list']) {
    const res = assertResult(await call(g, method));
    assert.equal(res.resultType, 'complete', method);
    assert.ok(Number.isInteger(res.ttlMs) && res.ttlMs >= 0, method);
    assert.ok(['public', 'private'].includes(res.cacheScope), method);
  }
  const tools = assertResult(await call(g, 'tools/list')).tools;
  const again = assertResult(await call(g, 'tools/list')).tools;
  assert.deepEqual(again.map((t) => t.name), tools.map((t) => t.name), 'tools/list order is stable');
});

test('input-required: the client answers in a new request with requestState; tampering is refused', async () => {
  const g = await gateway();
  const name = 'test_input_required_result_elicitation';
  const first = assertResult(await call(g, 'tools/call', { name, arguments: {} }));
  assert.equal(first.resultType, 'input_required');
  assert.equal(first.inputRequests.user_name.method, 'elicitation/create');
  assert.equal(typeof first.requestState, 'string');

  const inputResponses = { user_name: { action: 'accept', content: { name: 'Alice' } } };
  const second = assertResult(await call(g, 'tools/call',
    { name, arguments: {}, inputResponses, requestState: first.requestState }));
  assert.equal(second.resultType, 'complete');
  assert.equal(second.content[0].text, 'Hello, Alice!');

  const s = first.requestState;
  const i = Math.floor(s.length / 2);
  const tampered = s.slice(0, i) + (s[i] === 'A' ? 'B' : 'A') + s.slice(i + 1);
  for (const requestState of [tampered, s + '-TAMPERED']) {
    const r = await call(g, 'tools/call', { name, arguments: {}, inputResponses, requestState }, { id: 700 });
    assert.ok(r.body.error, 'a tampered requestState is an error: ' + r.text);
    assert.equal(r.body.id, 700);
  }
});

test('a capability the client did not declare: 400 -32021 naming it', async () => {
  const g = await gateway();
  const r = await call(g, 'tools/call', { name: 'test_missing_capability', arguments: {} }, { id: 401, caps: {} });
  const e = assertError(r, 400, -32021, 401);
  assert.equal(typeof e.data.requiredCapabilities.sampling, 'object');
  // A progress token asks for a stream, but an error with its own status is plain JSON.
  const p = await call(g, 'tools/call', { name: 'test_missing_capability', arguments: {}, _meta: { progressToken: 'p' } },
    { id: 402, caps: {} });
  assert.match(p.headers['content-type'], /^application\/json/);
  assertError(p, 400, -32021, 402);
});

test('progress arrives on the SSE answer before the result, with no priming event', async () => {
  const g = await gateway();
  const r = await call(g, 'tools/call', { name: 'testkit_progress', arguments: { steps: 3, ms: 20 },
    _meta: { progressToken: 'tok-1' } }, { id: 800 });
  assert.equal(r.status, 200);
  assert.match(r.headers['content-type'], /^text\/event-stream/);
  const msgs = r.events.map((ev) => {
    assert.ok(ev.data && ev.data.trim(), 'every event carries a message (no priming event): ' + r.text);
    assert.equal(ev.retry, undefined);
    return JSON.parse(ev.data);
  });
  const progress = msgs.filter((m) => m.method === 'notifications/progress');
  assert.equal(progress.length, 3);
  for (const m of progress) assert.equal(m.params.progressToken, 'tok-1');
  assert.equal(msgs.at(-1).id, 800);
  assert.equal(msgs.at(-1).result.resultType, 'complete');
  assert.ok(msgs.findIndex((m) => m.id === 800) > msgs.findLastIndex((m) => m.method === 'notifications/progress'));
});

test('no batches, no GET streams, no DELETE in this revision', async () => {
  const g = await gateway();
  const r = request('tools/list');
  const batch = await send(g.port, { headers: r.headers, body: [r.body] });
  assert.equal(batch.status, 400);
  assert.equal(batch.body.error.code, -32600);

  for (const method of ['GET', 'DELETE']) {
    const res = await send(g.port, { method, headers: { Accept: 'text/event-stream', 'MCP-Protocol-Version': V } });
    assert.equal(res.status, 405, method);
    assert.equal(res.headers.allow, 'POST', method);
  }

  // A notification is accepted with 202 and no body.
  const n = await send(g.port, { headers: { ...r.headers, 'Mcp-Method': 'notifications/cancelled' },
    body: { jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: 1, _meta: meta() } } });
  assert.equal(n.status, 202);
  assert.equal(n.text, '');
});

test('Host, Origin, credentials and the body cap apply as for every request', async () => {
  const token = 'test-token-' + randomBytes(8).toString('hex');
  const g = await gateway({ tokens: [{ name: 'ci', sha256: createHash('sha256').update(token).digest('hex') }],
    http: { max_body_bytes: 4096 } });
  const auth = { Authorization: 'Bearer ' + token };
  const discover = (headers, id) => call(g, 'server/discover', {}, { id, headers });

  assert.equal((await discover({})).status, 401);
  assert.equal((await discover({ Authorization: 'Bearer nope' })).status, 401);
  assertResult(await discover(auth));

  const evil = await discover({ ...auth, Host: 'evil.example.com', Origin: 'http://evil.example.com' });
  assert.equal(evil.status, 403);
  assert.equal((await discover({ ...auth, Origin: 'http://evil.example.com' })).status, 403);
  const good = await discover({ ...auth, Host: '127.0.0.1:' + g.port, Origin: 'http://127.0.0.1:' + g.port });
  assert.equal(good.status, 200);

  const big = await call(g, 'tools/call', { name: 'test_custom_header', arguments: { value: 'x'.repeat(5000) } },
    { headers: { ...auth, 'Mcp-Param-Value': 'x'.repeat(5000) } });
  assert.equal(big.status, 413);
});

test('every gateway started above stops cleanly on SIGTERM', () =>
  assertAllStopCleanly(running, assert, 10));
