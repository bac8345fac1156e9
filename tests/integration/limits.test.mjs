// The connection limit: past http.max_connections a new connection waits (libmicrohttpd stops
// accepting, so it stays in the listen backlog) and is served once a slot is free.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { startHttp, writeConfig } from './lib.mjs';

const running = [];
after(() => running.forEach((g) => g.kill()));

function open(port) {
  return new Promise((res, rej) => {
    const s = connect(port, '127.0.0.1', () => res(s));
    s.on('error', rej);
  });
}

// Sends a GET /healthz on socket s; resolves with the status line, or null when the server
// closes the connection without answering.
function probe(s) {
  return new Promise((res) => {
    let data = '';
    const done = () => res(data ? data.split('\r\n')[0] : null);
    s.setEncoding('utf8');
    s.on('data', (d) => { data += d; if (data.includes('\r\n\r\n')) { s.removeAllListeners('close'); done(); } });
    s.on('close', done);
    s.on('error', () => {});
    s.write('GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n');
  });
}

// One HTTP thread, and three that split the limit (2, 1, 1) and share the listening socket:
// the limit is the gateway's, however the threads took the connections.
for (const threads of [1, 3]) test(`connections past http.max_connections wait until a slot is free (${threads} HTTP thread${threads > 1 ? 's' : ''})`, async () => {
  const g = startHttp(['--config', writeConfig({ http: { max_connections: 4, threads } })]);
  running.push(g);
  const url = await g.ready;
  const port = Number(new URL(url).port);
  // Four idle connections take every slot (no request on them: MHD closes a connection
  // after answering /healthz, which would free the slot).
  const held = [];
  for (let i = 0; i < 4; i++) held.push(await open(port));
  await new Promise((res) => setTimeout(res, 200));
  const extra = await open(port);
  const answer = probe(extra);
  const early = await Promise.race([answer, new Promise((res) => setTimeout(() => res('waiting'), 500))]);
  assert.equal(early, 'waiting', 'the fifth connection is not served while four are held');
  held.pop().destroy();
  assert.equal(await answer, 'HTTP/1.1 200 OK', 'served once a slot is free');
  held.forEach((s) => s.destroy());
  g.child.kill('SIGTERM');
  assert.equal((await g.exited).code, 0);
});
