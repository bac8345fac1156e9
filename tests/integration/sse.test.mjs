// cortex-gateway's SSE streams over Streamable HTTP: a POST's answer that becomes a stream when
// the call talks to its client first (progress, log messages, requests to the client), event ids,
// the priming event and retry of 2025-11-25, resumption with Last-Event-ID, GET streams that take
// the session's pushed messages, and clients that hang up in the middle.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { assertAllStopCleanly, startHttp, writeConfig } from './lib.mjs';

const running = [];
after(() => running.forEach((g) => g.kill()));

async function gateway(config = {}, env = {}) {
  const cfg = writeConfig({ adapters: { testkit: {} }, ...config });
  const g = startHttp(['--config', cfg], { env });
  running.push(g);
  g.url = await g.ready;
  return g;
}

const JSON_HEADERS = { 'Accept': 'application/json, text/event-stream', 'Content-Type': 'application/json' };
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function post(url, body, headers = {}, signal) {
  return fetch(url, { method: 'POST', headers: { ...JSON_HEADERS, ...headers }, body: JSON.stringify(body), signal });
}

function get(url, headers, signal) {
  return fetch(url, { headers: { ...headers, Accept: 'text/event-stream' }, signal });
}

// initialize + notifications/initialized at version, with the given client capabilities.
async function session(url, { version = '2025-11-25', capabilities = {} } = {}) {
  const r = await post(url, { jsonrpc: '2.0', id: 0, method: 'initialize',
    params: { protocolVersion: version, capabilities, clientInfo: { name: 'sse-tests', version: '1' } } });
  assert.equal(r.status, 200, await r.clone().text());
  const body = await r.json();
  assert.equal(body.result.protocolVersion, version);
  const headers = { 'Mcp-Session-Id': r.headers.get('mcp-session-id'), 'MCP-Protocol-Version': version };
  assert.equal((await post(url, { jsonrpc: '2.0', method: 'notifications/initialized' }, headers)).status, 202);
  return { headers };
}

// An SSE parser over a fetch body, as the EventSource specification reads a stream: comments
// are kept apart, every dispatched event has { id, event, data, retry } (absent fields undefined).
function sse(res) {
  const reader = res.body.getReader();
  const dec = new TextDecoder();
  const queue = [];
  let buf = '';
  let ended = false;
  let pending = null;
  let cur = {};
  const comments = [];
  function parse() {
    let i;
    while ((i = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, i);
      buf = buf.slice(i + 1);
      if (line === '') {
        if (Object.keys(cur).length) queue.push(cur);
        cur = {};
      } else if (line.startsWith(':')) {
        comments.push(line);
      } else {
        const c = line.indexOf(':');
        const field = c < 0 ? line : line.slice(0, c);
        let value = c < 0 ? '' : line.slice(c + 1);
        if (value.startsWith(' ')) value = value.slice(1);
        if (field === 'data') cur.data = cur.data === undefined ? value : cur.data + '\n' + value;
        else if (field === 'retry') cur.retry = Number(value);
        else cur[field] = value;
      }
    }
  }
  return {
    comments,
    // The next event, or null when the stream ended; throws after timeoutMs.
    async next(timeoutMs = 5000) {
      const deadline = Date.now() + timeoutMs;
      while (!queue.length && !ended) {
        const left = deadline - Date.now();
        if (left <= 0) throw new Error('no event within ' + timeoutMs + ' ms');
        let timer;
        // A read that lost the race stays pending for the next call: its data is not lost.
        pending ??= reader.read();
        const chunk = await Promise.race([pending,
          new Promise((r) => { timer = setTimeout(() => r({ timeout: true }), left); })]);
        clearTimeout(timer);
        if (chunk.timeout) continue;
        pending = null;
        if (chunk.done) { ended = true; break; }
        buf += dec.decode(chunk.value, { stream: true });
        parse();
      }
      return queue.length ? queue.shift() : null;
    },
    // Every event until the stream ends.
    async rest(timeoutMs = 5000) {
      const out = [];
      for (let e; (e = await this.next(timeoutMs)) !== null;) out.push(e);
      return out;
    },
    // True when nothing arrives within ms (and the stream is still open).
    async quiet(ms) {
      try { return (await this.next(ms)) === undefined; } catch { return true; }
    },
    cancel() { return reader.cancel().catch(() => {}); },
  };
}

const ID = /^([0-9a-f]+)-(\d+)$/;
function idParts(id) {
  const m = ID.exec(id);
  assert.ok(m, 'event id <stream>-<seq>: ' + id);
  return { stream: m[1], seq: Number(m[2]) };
}

function progressCall(id, steps, ms, token = 'tok-' + id) {
  return { jsonrpc: '2.0', id, method: 'tools/call',
    params: { name: 'testkit_progress', arguments: { steps, ms }, _meta: { progressToken: token } } };
}

test('2025-11-25: POST and GET streams start with a priming event (id, empty data, retry); 2025-06-18: no priming', async () => {
  const g = await gateway();
  for (const version of ['2025-11-25', '2025-06-18']) {
    const s = await session(g.url, { version });
    const r = await post(g.url, progressCall(1, 3, 20), s.headers);
    assert.equal(r.status, 200);
    assert.match(r.headers.get('content-type'), /^text\/event-stream/);
    assert.equal(r.headers.get('cache-control'), 'no-cache');
    const events = await sse(r).rest();
    if (version === '2025-11-25') {
      const p = events.shift();
      assert.equal(p.data, '', 'priming event: empty data');
      assert.ok(p.retry > 0, 'priming event carries retry: ' + JSON.stringify(p));
      assert.equal(idParts(p.id).seq, 0);
      assert.equal(p.event, undefined);
    }
    const msgs = events.map((e) => JSON.parse(e.data));
    assert.deepEqual(msgs.map((m) => m.method ?? 'result'),
      ['notifications/progress', 'notifications/progress', 'notifications/progress', 'result'], version);
    assert.ok(events.every((e) => e.event === 'message' && e.retry === undefined));
    const ids = events.map((e) => idParts(e.id));
    assert.ok(ids.every((x) => x.stream === ids[0].stream), 'one stream');
    assert.deepEqual(ids.map((x) => x.seq), [1, 2, 3, 4]);

    const ctl = new AbortController();
    const st = await get(g.url, s.headers, ctl.signal);
    assert.equal(st.status, 200);
    const rd = sse(st);
    if (version === '2025-11-25') {
      const p = await rd.next();
      assert.equal(p.data, '');
      assert.ok(p.retry > 0);
      assert.equal(idParts(p.id).seq, 0);
      assert.notEqual(idParts(p.id).stream, ids[0].stream, 'each stream has its own id');
    } else {
      assert.ok(await rd.quiet(300), 'no event on an idle 2025-06-18 stream');
    }
    assert.deepEqual(rd.comments, [': cortex stream open']);
    ctl.abort();
  }
});

test('progress notifications arrive on the POST stream as they happen, before the result', async () => {
  const g = await gateway();
  const s = await session(g.url);
  const t0 = Date.now();
  const r = await post(g.url, progressCall('p', 3, 300, 'tok-p'), s.headers);
  const rd = sse(r);
  assert.equal((await rd.next()).data, '', 'priming');
  const first = await rd.next();
  const firstAt = Date.now() - t0;
  const m1 = JSON.parse(first.data);
  assert.equal(m1.method, 'notifications/progress');
  assert.deepEqual(m1.params, { progressToken: 'tok-p', progress: 1, total: 3, message: 'step 1 of 3' });
  const rest = (await rd.rest()).map((e) => JSON.parse(e.data));
  const doneAt = Date.now() - t0;
  assert.deepEqual(rest.map((m) => m.params?.progress ?? 'result'), [2, 3, 'result']);
  assert.equal(rest[2].id, 'p');
  assert.equal(rest[2].result.content[0].text, 'counted 3 steps');
  // Streamed, not held back until the end: the first step came ~600 ms before the answer.
  assert.ok(doneAt - firstAt >= 400, `first progress at ${firstAt} ms, answer at ${doneAt} ms`);
});

test('a request to the client travels on the POST stream and its answer completes the call', async () => {
  const g = await gateway();
  const s = await session(g.url, { capabilities: { elicitation: {} } });
  const r = await post(g.url, { jsonrpc: '2.0', id: 7, method: 'tools/call',
    params: { name: 'testkit_ask', arguments: { question: 'colour?' } } }, s.headers);
  assert.match(r.headers.get('content-type'), /^text\/event-stream/);
  const rd = sse(r);
  assert.equal((await rd.next()).data, '');
  const ask = JSON.parse((await rd.next()).data);
  assert.equal(ask.method, 'elicitation/create');
  assert.ok(ask.id !== undefined);
  const ack = await post(g.url, { jsonrpc: '2.0', id: ask.id,
    result: { action: 'accept', content: { answer: 'blue' } } }, s.headers);
  assert.equal(ack.status, 202);
  const events = await rd.rest();
  assert.equal(events.length, 1, 'the answer, then the stream ends');
  const res = JSON.parse(events[0].data);
  assert.equal(res.id, 7);
  assert.match(JSON.stringify(res.result), /blue/);
});

test('Last-Event-ID: a dropped POST stream resumes on a GET with the events after that id, then the answer', async () => {
  const g = await gateway();
  const s = await session(g.url);
  for (const waitForEnd of [false, true]) {
    const ctl = new AbortController();
    const r = await post(g.url, progressCall('r', 5, 150), s.headers, ctl.signal);
    const rd = sse(r);
    await rd.next(); // priming
    const seen = await rd.next();
    assert.equal(JSON.parse(seen.data).params.progress, 1);
    ctl.abort(); // the connection breaks mid-call
    // Resumed while the call still runs, or after it has answered into the void.
    if (waitForEnd) await sleep(1200);
    const g2 = await get(g.url, { ...s.headers, 'Last-Event-ID': seen.id });
    assert.equal(g2.status, 200);
    assert.match(g2.headers.get('content-type'), /^text\/event-stream/);
    const events = await sse(g2).rest();
    const msgs = events.map((e) => JSON.parse(e.data));
    assert.deepEqual(msgs.map((m) => m.params?.progress ?? 'result'), [2, 3, 4, 5, 'result'],
      'nothing lost, nothing twice (waitForEnd ' + waitForEnd + ')');
    assert.equal(msgs[4].id, 'r');
    const { stream, seq } = idParts(seen.id);
    assert.deepEqual(events.map((e) => idParts(e.id)), [1, 2, 3, 4, 5].map((k) => ({ stream, seq: seq + k })),
      'the same stream, numbered on');
  }
});

test('Last-Event-ID of another session, or one this gateway never issued, opens a fresh stream', async () => {
  const g = await gateway();
  const a = await session(g.url);
  const b = await session(g.url);
  const r = await post(g.url, progressCall('a', 2, 10), a.headers);
  const events = await sse(r).rest();
  const aid = events[0].id; // A's priming event
  for (const last of [aid, 'ffffffffffff-3', 'garbage', '']) {
    const ctl = new AbortController();
    const st = await get(g.url, { ...b.headers, 'Last-Event-ID': last }, ctl.signal);
    assert.equal(st.status, 200, 'not 404: the session itself is fine (' + last + ')');
    const rd = sse(st);
    const p = await rd.next();
    assert.equal(p.data, '', 'a new stream starts with its priming event');
    assert.notEqual(idParts(p.id).stream, idParts(aid).stream);
    assert.ok(await rd.quiet(300), 'none of A\'s events are replayed to B');
    assert.deepEqual(rd.comments, [': cortex stream open']);
    ctl.abort();
  }
});

test('a GET stream resumed with Last-Event-ID is the same stream and counts once toward the limit', async () => {
  const g = await gateway();
  const s = await session(g.url);
  const ctls = [];
  let first;
  for (let i = 0; i < 4; i++) {
    const ctl = new AbortController();
    const st = await get(g.url, s.headers, ctl.signal);
    assert.equal(st.status, 200);
    const p = await sse(st).next();
    if (i === 0) first = p.id;
    ctls.push(ctl);
  }
  // Its client reconnects stream 1 while the old connection still looks open: it takes over.
  const again = await get(g.url, { ...s.headers, 'Last-Event-ID': first });
  assert.equal(again.status, 200);
  const rd = sse(again);
  assert.ok(await rd.quiet(200));
  assert.deepEqual(rd.comments, [': cortex stream resumed']);
  assert.equal((await get(g.url, s.headers)).status, 429, 'still four streams');
  ctls.forEach((c) => c.abort());
  await rd.cancel();
});

test('messages pushed to a session go to its GET streams, each message on exactly one', async () => {
  const g = await gateway();
  const s = await session(g.url);
  const readers = [];
  for (let i = 0; i < 3; i++) {
    const rd = sse(await get(g.url, s.headers));
    assert.equal((await rd.next()).data, '');
    readers.push(rd);
  }
  // Session-level messages: the server pushes notifications/resources/updated to a session
  // subscribed to a resource when the resource changes (the test kit's testkit_touch changes it).
  const sub = await (await post(g.url, { jsonrpc: '2.0', id: 1, method: 'resources/subscribe',
    params: { uri: 'testkit://status' } }, s.headers)).json();
  assert.deepEqual(sub.result, {});
  const n = 6;
  for (let i = 0; i < n; i++) {
    const t = await (await post(g.url, { jsonrpc: '2.0', id: 10 + i, method: 'tools/call',
      params: { name: 'testkit_touch', arguments: { uri: 'testkit://status' } } }, s.headers)).json();
    assert.ok(t.result && t.result.isError !== true, JSON.stringify(t));
  }
  const got = [];
  for (const rd of readers) {
    const mine = [];
    for (;;) {
      let e;
      try { e = await rd.next(500); } catch { break; }
      mine.push(JSON.parse(e.data));
    }
    got.push(mine);
  }
  const all = got.flat();
  assert.equal(all.length, n, 'each message once, on one stream: ' + JSON.stringify(got));
  assert.ok(all.every((m) => m.method === 'notifications/resources/updated' && m.params.uri === 'testkit://status'));
  assert.ok(got.every((mine) => mine.length > 0), 'every open stream takes its turn');
  readers.forEach((rd) => rd.cancel());
});

test('DELETE of the session ends its open streams', async () => {
  const g = await gateway();
  const s = await session(g.url);
  const rd = sse(await get(g.url, s.headers));
  await rd.next();
  assert.equal((await fetch(g.url, { method: 'DELETE', headers: s.headers })).status, 204);
  assert.equal(await rd.next(3000), null, 'the stream ended');
});

test('clients that hang up mid-stream: the gateway stays healthy and frees everything at exit', async () => {
  const g = await gateway();
  const s = await session(g.url);
  const old = await session(g.url, { version: '2025-06-18' });
  // POST streams dropped right after their first event, GET streams dropped at once, and a
  // resumption dropped in turn; the calls run on and answer into the void.
  await Promise.all(Array.from({ length: 6 }, async (_, i) => {
    const ctl = new AbortController();
    const r = await post(g.url, progressCall('d' + i, 4, 100), i % 2 ? old.headers : s.headers, ctl.signal);
    const rd = sse(r);
    const e = await rd.next();
    ctl.abort();
    if (i % 2 === 0) {
      const c2 = new AbortController();
      const st = await get(g.url, { ...s.headers, 'Last-Event-ID': e.id }, c2.signal);
      await sse(st).next();
      c2.abort();
    }
  }));
  for (let i = 0; i < 4; i++) {
    const ctl = new AbortController();
    await get(g.url, s.headers, ctl.signal);
    ctl.abort();
  }
  // A question nobody will answer: the client left with the stream.
  const ask = await session(g.url, { capabilities: { elicitation: {} } });
  const ctl = new AbortController();
  const r = await post(g.url, { jsonrpc: '2.0', id: 1, method: 'tools/call',
    params: { name: 'testkit_ask', arguments: { question: '?' } } }, ask.headers, ctl.signal);
  await sse(r).next();
  ctl.abort();
  await sleep(700);
  // Still serving, the fast path still plain JSON.
  const ok = await post(g.url, { jsonrpc: '2.0', id: 2, method: 'tools/call',
    params: { name: 'testkit_echo', arguments: { text: 'alive' } } }, s.headers);
  assert.match(ok.headers.get('content-type'), /^application\/json/);
  assert.equal((await ok.json()).result.structuredContent.text, 'alive');
  g.child.kill('SIGTERM');
  const { code, signal } = await g.exited;
  assert.equal(signal, null, g.stderr());
  assert.equal(code, 0, g.stderr());
  assert.doesNotMatch(g.stderr(), /Sanitizer|runtime error|still wait|abort/i, g.stderr());
});

// Last: under ASan (CORTEX_GATEWAY_BIN pointing at a sanitizer build) a leak or a use after
// free in any test above shows here.
test('every gateway started above stops cleanly on SIGTERM', () =>
  assertAllStopCleanly(running, assert, 0));
