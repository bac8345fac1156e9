// Strict HTTP framing, checked by the gateway itself (libmicrohttpd 0.9.75 is lax here): a
// header that must appear once appearing twice, Content-Length beside Transfer-Encoding (the
// request-smuggling pair), an unknown Transfer-Encoding, and a chunked body past
// http.max_body_bytes each get a prompt 4xx/5xx answer, never a hang or a silent reset.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { startHttp, writeConfig } from './lib.mjs';

const running = [];
after(() => running.forEach((g) => g.kill()));

let g;
async function gateway() {
  if (g) return g;
  g = startHttp(['--config', writeConfig({ adapters: { testkit: {} }, http: { max_body_bytes: 65536 } })]);
  running.push(g);
  g.url = await g.ready;
  g.port = Number(new URL(g.url).port);
  return g;
}

// Sends raw bytes; resolves with { status, text, closed, ms }: the first status line, what came
// back, whether the server closed the connection, and how long the answer took. Gives up after
// `wait` ms (status 0).
function raw(port, chunks, wait = 4000) {
  return new Promise((res) => {
    const t0 = Date.now();
    const s = connect(port, '127.0.0.1');
    let data = '';
    let done = false;
    const finish = (closed) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      const m = data.match(/^HTTP\/1\.1 (\d+)/);
      res({ status: m ? Number(m[1]) : 0, text: data, closed, ms: Date.now() - t0 });
      s.destroy();
    };
    const timer = setTimeout(() => finish(false), wait);
    s.setEncoding('latin1');
    s.on('data', (d) => { data += d; });
    s.on('close', () => finish(true));
    s.on('error', () => finish(true));
    (async () => {
      for (const c of chunks) {
        if (done) return;
        s.write(typeof c === 'string' ? Buffer.from(c, 'latin1') : c);
        await new Promise((r) => setImmediate(r));
      }
    })();
  });
}

const BODY = JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'initialize',
  params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 't', version: '1' } } });

function head(extra, { cl = true } = {}) {
  return 'POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n' +
    'Accept: application/json, text/event-stream\r\n' + extra +
    (cl ? `Content-Length: ${Buffer.byteLength(BODY)}\r\n` : '') + '\r\n';
}

test('a well-formed request still works (the checks below are not over-eager)', async () => {
  const { port } = await gateway();
  const r = await raw(port, [head('Connection: close\r\n') + BODY]);
  assert.equal(r.status, 200, r.text);
  // Lax but harmless forms: no space after the colon, bare LF line ends, a query string.
  const lax = await raw(port, ['GET /healthz HTTP/1.1\nHost:127.0.0.1\nX-Trace:abc\nX-Pad: \t  padded \t\nConnection: close\n\n']);
  assert.equal(lax.status, 200, lax.text);
  const q = await raw(port, ['GET /healthz?probe=a%20b HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n']);
  assert.equal(q.status, 200, q.text);
});

test('a header that must come once, twice, is 400', async () => {
  const { port } = await gateway();
  const dups = [
    'Host: 127.0.0.1\r\n',
    'Origin: http://127.0.0.1\r\nOrigin: http://127.0.0.1\r\n',
    `Content-Length: ${Buffer.byteLength(BODY)}\r\n`,
    'Authorization: Bearer a\r\nAuthorization: Bearer b\r\n',
    'Mcp-Session-Id: a\r\nmcp-session-id: b\r\n',
    'MCP-Protocol-Version: 2025-11-25\r\nMCP-Protocol-Version: 2025-06-18\r\n',
  ];
  for (const d of dups) {
    const r = await raw(port, [head(d) + BODY]);
    assert.equal(r.status, 400, `${JSON.stringify(d)}: ${r.text}`);
    assert.match(r.text, /more than one '[A-Za-z-]+' header/i);
  }
});

test('Content-Length with Transfer-Encoding is 400 and the connection is closed', async () => {
  const { port } = await gateway();
  const chunked = `${Buffer.byteLength(BODY).toString(16)}\r\n${BODY}\r\n0\r\n\r\n`;
  const r = await raw(port, [head('Transfer-Encoding: chunked\r\n') + chunked]);
  assert.equal(r.status, 400, r.text);
  assert.match(r.text, /Content-Length and Transfer-Encoding/);
  assert.ok(r.closed, 'the connection is closed');
});

test('an unknown Transfer-Encoding is answered at once', async () => {
  const { port } = await gateway();
  const r = await raw(port, [head('Transfer-Encoding: gzip, chunked\r\n', { cl: false }) + 'abc']);
  assert.ok(r.status === 501 || r.status === 400, r.text);
  assert.ok(r.ms < 2000, `answered after ${r.ms} ms`);
  const r2 = await raw(port, [head('Transfer-Encoding: identity\r\n', { cl: false })]);
  assert.ok(r2.status === 501 || r2.status === 400, r2.text);
  assert.ok(r2.ms < 2000, `answered after ${r2.ms} ms`);
});

test('a chunked body past http.max_body_bytes gets 413, not a reset', async () => {
  const { port } = await gateway();
  const chunk = 'x'.repeat(16384);
  const parts = [head('Transfer-Encoding: chunked\r\n', { cl: false })];
  for (let i = 0; i < 192; i++) parts.push(`${chunk.length.toString(16)}\r\n${chunk}\r\n`); // 3 MiB
  parts.push('0\r\n\r\n');
  const r = await raw(port, parts);
  assert.equal(r.status, 413, r.text.slice(0, 300));
  assert.match(r.text, /payload too large/);
  // A chunked body within the cap is served.
  const ok = await raw(port, [head('Transfer-Encoding: chunked\r\nConnection: close\r\n', { cl: false }) +
    `${Buffer.byteLength(BODY).toString(16)}\r\n${BODY}\r\n0\r\n\r\n`]);
  assert.equal(ok.status, 200, ok.text);
});
