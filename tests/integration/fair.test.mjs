// Fair connections: one client (a token, else a peer address) holds at most its share of
// connections and GET streams; past it, 429 with Retry-After and a closed connection, never a
// hang, so /healthz and other clients are always served. GET streams end after
// http.stream_max_lifetime_s and resume with Last-Event-ID, losing nothing.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { createHash } from 'node:crypto';
import { startHttp, writeConfig } from './lib.mjs';

const running = [];
after(() => running.forEach((g) => g.kill()));

const ALICE = 'token-alice-fair-0123456789ab';
const BOB = 'token-bob-fair-0123456789abcd';
const hash = (t) => createHash('sha256').update(t).digest('hex');
const JSON_HEADERS = { Accept: 'application/json, text/event-stream', 'Content-Type': 'application/json' };
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function gateway(http) {
  const g = startHttp(['--config', writeConfig({
    adapters: { testkit: {} }, http,
    tokens: [{ name: 'alice', sha256: hash(ALICE) }, { name: 'bob', sha256: hash(BOB) }],
  })]);
  running.push(g);
  g.url = await g.ready;
  g.port = Number(new URL(g.url).port);
  return g;
}

async function session(url, token) {
  const r = await fetch(url, { method: 'POST', headers: { ...JSON_HEADERS, Authorization: 'Bearer ' + token },
    body: JSON.stringify({ jsonrpc: '2.0', id: 0, method: 'initialize',
      params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'fair', version: '1' } } }) });
  assert.equal(r.status, 200);
  await r.text();
  return { Authorization: 'Bearer ' + token, 'Mcp-Session-Id': r.headers.get('mcp-session-id'),
    'MCP-Protocol-Version': '2025-11-25' };
}

// The time /healthz takes to answer, on a connection of its own.
async function healthz(port) {
  const t0 = Date.now();
  const r = await raw(port, 'GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n', 5000);
  assert.equal(r.status, 200, 'healthz: ' + r.text);
  return Date.now() - t0;
}

// One request on a new socket; resolves with the status once the head is in (the socket is
// kept open unless close), or status 0 after wait ms.
function raw(port, text, wait = 3000, keep = false) {
  return new Promise((res) => {
    const s = connect(port, '127.0.0.1');
    let data = '';
    const done = (status) => { clearTimeout(timer); res({ status, text: data, socket: s, headers: data.split('\r\n\r\n')[0] }); if (!keep) s.destroy(); };
    const timer = setTimeout(() => done(0), wait);
    s.setEncoding('latin1');
    s.on('data', (d) => {
      data += d;
      const m = data.match(/^HTTP\/1\.1 (\d+)/);
      if (m && data.includes('\r\n\r\n')) done(Number(m[1]));
    });
    s.on('error', () => {});
    s.write(text);
  });
}

test('one token opening stream after stream gets 429 past its share; /healthz and other tokens are served', async () => {
  const g = await gateway({ max_streams_per_client: 16, max_connections_per_client: 48, max_connections: 200 });
  const sessions = [];
  for (let i = 0; i < 30; i++) sessions.push(await session(g.url, ALICE));
  const ctl = new AbortController();
  const attempts = [];
  for (const h of sessions)
    for (let k = 0; k < 4; k++)
      attempts.push(fetch(g.url, { headers: { ...h, Accept: 'text/event-stream' }, signal: ctl.signal })
        .then((r) => ({ status: r.status, retry: r.headers.get('retry-after'), conn: r.headers.get('connection'),
          body: r.status === 200 ? null : r.text() })));
  const got = await Promise.all(attempts);
  const ok = got.filter((r) => r.status === 200).length;
  const refused = got.filter((r) => r.status === 429);
  assert.equal(ok, 16, 'streams held: ' + ok + ' ' + JSON.stringify(got.filter((r) => r.status !== 200 && r.status !== 429)));
  assert.equal(refused.length, 120 - 16);
  for (const r of refused) {
    assert.equal(r.retry, '1');
    assert.match(await r.body, /http\.max_streams_per_client/);
  }
  // While Alice holds her streams: probes answer at once, Bob is served.
  const lat = [];
  for (let i = 0; i < 5; i++) lat.push(await healthz(g.port));
  assert.ok(Math.max(...lat) < 2000, `/healthz took ${lat} ms`);
  const bob = await session(g.url, BOB);
  const ping = await fetch(g.url, { method: 'POST', headers: { ...JSON_HEADERS, ...bob },
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'ping' }) });
  assert.equal(ping.status, 200);
  const bobStream = await fetch(g.url, { headers: { ...bob, Accept: 'text/event-stream' }, signal: ctl.signal });
  assert.equal(bobStream.status, 200);
  // The refusals are counted in /metrics.
  const metrics = await (await fetch(g.url.replace('/mcp', '/metrics'), { headers: { Authorization: 'Bearer ' + BOB } })).text();
  assert.match(metrics, /^cortex_http_refused_total\{reason="streams"\} 104$/m);
  assert.match(metrics, /^cortex_http_refused_total\{reason="connections"\} 0$/m);
  console.log(`# stream attack: ${ok} streams held, ${refused.length} refused with 429; /healthz ${Math.max(...lat)} ms at most`);
  ctl.abort();
  // Once Alice's streams close, her share is free again: a 429 first (the gateway notices the
  // hang-ups then), and the retry Retry-After asks for succeeds.
  let again;
  for (let i = 0; i < 10; i++) {
    again = await fetch(g.url, { headers: { ...sessions[0], Accept: 'text/event-stream' } });
    if (again.status !== 429) break;
    await again.text();
    await sleep(1000 * Number(again.headers.get('retry-after')));
  }
  assert.equal(again.status, 200);
  await again.body.cancel();
});

// Behind a proxy that keeps its connections to the gateway open and sends every client's
// requests over them, a connection first used by one client carries another's requests next.
test('a GET stream counts against the client that opens it, not the one that opened its connection', async () => {
  const g = await gateway({ max_streams_per_client: 2 });
  const [a1, a2, b] = [await session(g.url, ALICE), await session(g.url, ALICE), await session(g.url, BOB)];
  const ctl = new AbortController();
  for (const h of [a1, a2]) {
    const r = await fetch(g.url, { headers: { ...h, Accept: 'text/event-stream' }, signal: ctl.signal });
    assert.equal(r.status, 200); // Alice now holds her share of streams
  }
  // One connection: Alice's ping first (the connection is hers), then Bob's GET stream.
  const s = connect(g.port, '127.0.0.1');
  s.setEncoding('latin1');
  let data = '';
  s.on('data', (d) => { data += d; });
  const head = (h) => Object.entries(h).map(([k, v]) => `${k}: ${v}\r\n`).join('');
  const body = JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'ping' });
  s.write(`POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\n${head({ ...JSON_HEADERS, ...a1 })}Content-Length: ${body.length}\r\n\r\n${body}`);
  for (let i = 0; i < 200 && !/\r\n\r\n[\s\S]*"result"/.test(data); i++) await sleep(10);
  assert.match(data, /^HTTP\/1\.1 200/, data);
  data = '';
  s.write(`GET /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\n${head({ ...b, Accept: 'text/event-stream' })}\r\n`);
  for (let i = 0; i < 200 && !/\r\n\r\n/.test(data); i++) await sleep(10);
  assert.match(data, /^HTTP\/1\.1 200/, "Bob's stream on the connection Alice opened: " + data.slice(0, 300));
  s.destroy();
  // Alice herself is still held to her share, on any connection.
  const third = await fetch(g.url, { headers: { ...a1, Accept: 'text/event-stream' }, signal: ctl.signal });
  assert.equal(third.status, 429);
  ctl.abort();
});

test('one token holding connections gets 429 and a closed connection past its share', async () => {
  const g = await gateway({ max_connections_per_client: 20, max_connections: 100 });
  const alice = await session(g.url, ALICE);
  const bob = await session(g.url, BOB);
  const body = JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'ping' });
  const req = (h) => 'POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n' +
    'Accept: application/json, text/event-stream\r\n' +
    Object.entries(h).map(([k, v]) => `${k}: ${v}\r\n`).join('') +
    `Content-Length: ${body.length}\r\n\r\n${body}`;
  // Each ping is answered and its connection kept alive: it is held.
  const held = [];
  for (let i = 0; i < 35; i++) held.push(await raw(g.port, req(alice), 3000, true));
  const statuses = held.map((r) => r.status);
  // 20 in all, less the keep-alive connection fetch kept from creating the session.
  const ok = statuses.filter((s) => s === 200).length;
  assert.ok(ok >= 18 && ok <= 20, statuses.join(','));
  const refused = held.filter((r) => r.status === 429);
  assert.equal(refused.length, 35 - ok);
  for (const r of refused) {
    assert.match(r.headers, /Retry-After: 1/i);
    assert.match(r.headers, /Connection: close/i);
  }
  assert.ok((await healthz(g.port)) < 2000);
  assert.equal((await raw(g.port, req(bob))).status, 200, 'Bob is served');
  held.forEach((r) => r.socket.destroy());
  await sleep(300);
  assert.equal((await raw(g.port, req(alice))).status, 200, 'Alice is served again once she lets go');
});

test('a GET stream ends after http.stream_max_lifetime_s and resumes with Last-Event-ID, losing nothing', async () => {
  const g = await gateway({ stream_max_lifetime_s: 2 });
  const h = await session(g.url, ALICE);
  const post = (body) => fetch(g.url, { method: 'POST', headers: { ...JSON_HEADERS, ...h }, body: JSON.stringify(body) }).then((r) => r.json());
  assert.deepEqual((await post({ jsonrpc: '2.0', id: 1, method: 'resources/subscribe', params: { uri: 'testkit://status' } })).result, {});
  const t0 = Date.now();
  const st = await fetch(g.url, { headers: { ...h, Accept: 'text/event-stream' } });
  assert.equal(st.status, 200);
  const text = await st.text(); // to its end: the server ends it at the lifetime
  const took = Date.now() - t0;
  assert.ok(took >= 1500 && took < 8000, `the stream lasted ${took} ms`);
  const ids = [...text.matchAll(/^id: (\S+)$/gm)].map((m) => m[1]);
  assert.ok(ids.length >= 1, text);
  // An update while no stream is open is kept for the session's stream.
  const touch = await post({ jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name: 'testkit_touch', arguments: { uri: 'testkit://status' } } });
  assert.ok(touch.result && !touch.result.isError);
  const ctl = new AbortController();
  const again = await fetch(g.url, { headers: { ...h, Accept: 'text/event-stream', 'Last-Event-ID': ids.at(-1) }, signal: ctl.signal });
  assert.equal(again.status, 200);
  const reader = again.body.getReader();
  let buf = '';
  const until = Date.now() + 5000;
  while (!buf.includes('notifications/resources/updated') && Date.now() < until) {
    const { value, done } = await reader.read();
    if (done) break;
    buf += new TextDecoder().decode(value);
  }
  assert.match(buf, /notifications\/resources\/updated/);
  ctl.abort();
});
