// The REST routes for scripts (/v1/...) and their OpenAPI 3.1 description: the description
// validates, and every answer in these tests is checked against it (status documented for the
// operation, body valid against its schema: routes-lib.mjs). Calls go through the same
// dispatch as tools/call: the same tokens, allow-patterns and read-only rules, the same schema
// checks, deadlines and audit lines (marked "via":"rest"). Failures come back as HTTP errors a
// script can branch on (400, 403, 404, 405, 413), a tool's own failure as 200 with isError.
// Task events stream a task until it ends.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { compileErrors, validate as validateOpenAPI } from '@readme/openapi-parser';
import { assertAllStopCleanly, sseMessages, startHttp, tmpDir, writeConfig } from './lib.mjs';
import { OPENAPI, checkAnswer, rest, scrape, value } from './routes-lib.mjs';

const running = [];
after(() => running.forEach((p) => p.kill()));

const sha = (s) => createHash('sha256').update(s).digest('hex');
const OPS = 'ops-rest-token-5b9e';
const VIEWER = 'viewer-rest-token-c4a1';
const ECHO = 'echo-rest-token-0d77';

async function gateway(extra = {}) {
  const dir = tmpDir();
  const conf = {
    tokens: [
      { name: 'ops', sha256: sha(OPS) },
      { name: 'viewer', sha256: sha(VIEWER), read_only: true },
      { name: 'echo-only', sha256: sha(ECHO), allow: ['testkit_echo'] },
    ],
    adapters: { testkit: {} },
    calls: { timeout_ms: 1500 },
    audit: { file: join(dir, 'audit.log') },
    tasks: { store: 'dir', dir: join(dir, 'tasks'), fsync: false },
    ...extra,
  };
  const g = startHttp(['--config', writeConfig(conf)]);
  running.push(g);
  g.url = await g.ready;
  g.base = g.url.replace(/\/mcp$/, '');
  g.audit = () => readFileSync(conf.audit.file, 'utf8').trim().split('\n').filter(Boolean).map((l) => JSON.parse(l));
  return g;
}

test('the OpenAPI description validates as OpenAPI 3.1, and the gateway serves it as built', async () => {
  const v = await validateOpenAPI(structuredClone(OPENAPI));
  assert.equal(v.valid, true, v.valid ? '' : compileErrors(v));
  assert.equal(v.specification, 'OpenAPI');
  assert.deepEqual(v.warnings, []);
  assert.equal(OPENAPI.openapi, '3.1.0');
  // The validator is not a formality: a broken description fails it.
  const broken = structuredClone(OPENAPI);
  broken.paths['/v1/tools'].get.responses['200'].content['application/json'].schema = { $ref: '#/components/schemas/Nope' };
  assert.equal((await validateOpenAPI(broken)).valid, false);
  const g = await gateway();
  const r = await rest(g.base, 'GET', '/v1/openapi.json', { token: OPS });
  assert.equal(r.status, 200);
  assert.deepEqual(r.body, OPENAPI);
  assert.equal((await rest(g.base, 'GET', '/v1/openapi.json')).status, 401, 'behind the token like every /v1 route');
  // Every route of the gateway's REST surface is described.
  for (const p of ['/v1/tools', '/v1/tools/{name}', '/v1/tasks', '/v1/tasks/{id}', '/v1/tasks/{id}/events', '/v1/events', '/v1/openapi.json', '/metrics', '/readyz'])
    assert.ok(OPENAPI.paths[p], `${p} is described`);
});

test('GET /v1/tools lists what the token may call; POST /v1/tools/{name} is tools/call with the same rules', async () => {
  const g = await gateway();
  const all = await rest(g.base, 'GET', '/v1/tools', { token: OPS });
  assert.equal(all.status, 200);
  const names = all.body.tools.map((t) => t.name);
  for (const n of ['gateway_status', 'testkit_echo', 'testkit_delete', 'cortex_create_task']) assert.ok(names.includes(n), n);
  const only = await rest(g.base, 'GET', '/v1/tools', { token: ECHO });
  assert.deepEqual(only.body.tools.map((t) => t.name), ['testkit_echo']);
  const viewer = await rest(g.base, 'GET', '/v1/tools', { token: VIEWER });
  assert.ok(!viewer.body.tools.some((t) => t.name === 'testkit_delete'), 'a read-only token sees no destructive tool');
  assert.equal((await rest(g.base, 'GET', '/v1/tools')).status, 401);
  assert.equal((await rest(g.base, 'GET', '/v1/tools', { token: 'not-a-token' })).status, 401);

  const ok = await rest(g.base, 'POST', '/v1/tools/testkit_echo', { token: OPS, body: { text: 'hello' } });
  assert.equal(ok.status, 200);
  assert.equal(ok.body.isError, undefined);
  assert.match(ok.body.content[0].text, /hello/);
  const empty = await rest(g.base, 'POST', '/v1/tools/gateway_status', { token: OPS, raw: '' });
  assert.equal(empty.status, 200, 'an empty body is {}');
  assert.ok(empty.body.structuredContent, 'structuredContent as over MCP');
  const failed = await rest(g.base, 'POST', '/v1/tools/testkit_fail', { token: OPS, body: {} });
  assert.equal(failed.status, 200, "a tool's own failure is 200 with isError");
  assert.equal(failed.body.isError, true);
  const late = await rest(g.base, 'POST', '/v1/tools/testkit_sleep', { token: OPS, body: { ms: 4000 } });
  assert.equal(late.status, 200);
  assert.equal(late.body.isError, true);
  assert.match(late.body.content[0].text, /did not finish within 1500 ms/);

  // What the caller got wrong.
  const notJson = await rest(g.base, 'POST', '/v1/tools/testkit_echo', { token: OPS, raw: '{"text": ' });
  assert.equal(notJson.status, 400);
  assert.match(notJson.body.error.message, /not JSON/);
  const arr = await rest(g.base, 'POST', '/v1/tools/testkit_echo', { token: OPS, raw: '["hi"]' });
  assert.equal(arr.status, 400);
  assert.match(arr.body.error.message, /JSON object/);
  const bad = await rest(g.base, 'POST', '/v1/tools/testkit_echo', { token: OPS, body: { text: 5 } });
  assert.equal(bad.status, 400);
  assert.match(bad.body.error.message, /invalid arguments for 'testkit_echo': arguments\.text: must be a string/);
  const unknown = await rest(g.base, 'POST', '/v1/tools/testkit_nope', { token: OPS, body: {} });
  assert.equal(unknown.status, 404);
  assert.match(unknown.body.error.message, /unknown tool 'testkit_nope'; GET \/v1\/tools lists/);
  const refused = await rest(g.base, 'POST', '/v1/tools/testkit_delete', { token: VIEWER, body: { target: 'x' } });
  assert.equal(refused.status, 403);
  assert.match(refused.body.error.message, /refused: token 'viewer'/);
  const glob = await rest(g.base, 'POST', '/v1/tools/gateway_status', { token: ECHO, body: {} });
  assert.equal(glob.status, 403);
  const get = await rest(g.base, 'GET', '/v1/tools/testkit_echo', { token: OPS });
  assert.equal(get.status, 405);
  assert.equal(get.headers.get('allow'), 'POST');
  const put = await rest(g.base, 'PUT', '/v1/tools', { token: OPS });
  assert.equal(put.status, 405);
  const form = await rest(g.base, 'POST', '/v1/tools/testkit_echo', { token: OPS, raw: '{"text":"x"}', headers: { 'Content-Type': 'text/plain' } });
  assert.equal(form.status, 415, 'a body must be application/json');
  const big = await rest(g.base, 'POST', '/v1/tools/testkit_echo', { token: OPS, raw: JSON.stringify({ text: 'x'.repeat(1536 * 1024) }) });
  assert.equal(big.status, 413);
  // Without Content-Length (chunked) the cap holds all the same.
  const chunks = [new TextEncoder().encode('{"text":"'), new Uint8Array(1536 * 1024).fill(120), new TextEncoder().encode('"}')];
  const chunked = await fetch(g.base + '/v1/tools/testkit_echo', {
    method: 'POST', duplex: 'half',
    headers: { Authorization: 'Bearer ' + OPS, 'Content-Type': 'application/json' },
    body: new ReadableStream({ pull(c) { const next = chunks.shift(); if (next) c.enqueue(next); else c.close(); } }),
  });
  assert.equal(chunked.status, 413);
  checkAnswer('POST', '/v1/tools/testkit_echo', 413, chunked.headers.get('content-type'), await chunked.json());
  for (const p of ['/v1/', '/v1/nothing', '/v1/tools/a/b', '/v1/tasks/x/y'])
    assert.equal((await rest(g.base, 'GET', p, { token: OPS })).status, 404, p);

  // The audit log: one line per call that named a known tool, marked as REST.
  const lines = g.audit();
  const rows = lines.map((l) => [l.tool, l.outcome, l.caller, l.via]);
  for (const want of [
    ['testkit_echo', 'ok', 'ops', 'rest'],
    ['testkit_fail', 'isError', 'ops', 'rest'],
    ['testkit_sleep', 'isError', 'ops', 'rest'],
    ['testkit_echo', 'isError', 'ops', 'rest'],
    ['testkit_delete', 'refused', 'viewer', 'rest'],
    ['gateway_status', 'refused', 'echo-only', 'rest'],
  ]) assert.ok(rows.some((r) => JSON.stringify(r) === JSON.stringify(want)), JSON.stringify(want) + ' in ' + JSON.stringify(rows));
  assert.ok(!rows.some((r) => r[0] === 'testkit_nope'), 'unknown tools are not audited');
  for (const t of [OPS, VIEWER, ECHO]) {
    assert.ok(!g.stderr().includes(t), 'no token in the log');
    assert.ok(!JSON.stringify(lines).includes(t), 'no token in the audit');
  }
});

test('tasks: create, list with filters, read one, 404 for an unknown one, the same policy', async () => {
  const g = await gateway();
  const created = await rest(g.base, 'POST', '/v1/tasks', { token: OPS, body: { query: 'check the backups', category: 'infrastructure', priority: 2 } });
  assert.equal(created.status, 201);
  const id = created.body.structuredContent.ids[0];
  assert.match(id, /^task-/);
  const batch = await rest(g.base, 'POST', '/v1/tasks', { token: OPS, body: { tasks: [{ query: 'a' }, { query: 'b', category: 'security' }] } });
  assert.equal(batch.status, 201);
  assert.equal(batch.body.structuredContent.created, 2);
  const invalid = await rest(g.base, 'POST', '/v1/tasks', { token: OPS, body: { query: 'x', category: 'cooking' } });
  assert.equal(invalid.status, 400);
  const nothing = await rest(g.base, 'POST', '/v1/tasks', { token: OPS, body: {} });
  assert.equal(nothing.status, 200, 'the tool says what is missing');
  assert.equal(nothing.body.isError, true);
  assert.match(nothing.body.content[0].text, /give query/);
  const ro = await rest(g.base, 'POST', '/v1/tasks', { token: VIEWER, body: { query: 'x' } });
  assert.equal(ro.status, 403, 'a read-only token creates no task');

  const list = await rest(g.base, 'GET', '/v1/tasks', { token: OPS });
  assert.equal(list.status, 200);
  assert.equal(list.body.structuredContent.tasks.length, 3);
  const sec = await rest(g.base, 'GET', '/v1/tasks?category=security', { token: VIEWER });
  assert.deepEqual(sec.body.structuredContent.tasks.map((t) => t.category), ['security']);
  const page = await rest(g.base, 'GET', '/v1/tasks?limit=2&status=queued', { token: OPS });
  assert.equal(page.body.structuredContent.tasks.length, 2);
  const cursor = page.body.structuredContent.next_cursor;
  assert.ok(cursor);
  const next = await rest(g.base, 'GET', '/v1/tasks?limit=2&cursor=' + encodeURIComponent(cursor), { token: OPS });
  assert.equal(next.body.structuredContent.tasks.length, 1);
  for (const q of ['limit=abc', 'limit=0', 'status=done', 'bogus=1']) {
    const r = await rest(g.base, 'GET', '/v1/tasks?' + q, { token: OPS });
    assert.equal(r.status, 400, q);
  }

  const one = await rest(g.base, 'GET', '/v1/tasks/' + id, { token: VIEWER });
  assert.equal(one.status, 200);
  assert.equal(one.body.structuredContent.id, id);
  assert.equal(one.body.structuredContent.category, 'infrastructure');
  const missing = await rest(g.base, 'GET', '/v1/tasks/task-none-1', { token: OPS });
  assert.equal(missing.status, 404);
  assert.match(missing.body.error.message, /no task 'task-none-1'/);
  const badId = await rest(g.base, 'GET', '/v1/tasks/' + encodeURIComponent('bad id!'), { token: OPS });
  assert.equal(badId.status, 400, 'an id the schema refuses');
  assert.equal((await rest(g.base, 'DELETE', '/v1/tasks/' + id, { token: OPS })).status, 405);
  const readers = g.audit().filter((l) => l.tool === 'cortex_get_tasks');
  assert.ok(readers.length >= 4 && readers.every((l) => l.via === 'rest'));
});

test('tasks are 404 when the task tools are disabled', async () => {
  const g = await gateway({ tasks: { enabled: false } });
  const r = await rest(g.base, 'GET', '/v1/tasks', { token: OPS });
  assert.equal(r.status, 404);
  assert.match(r.body.error.message, /unknown tool 'cortex_get_tasks'/);
});

// Opens the events of a task; checks the answer's status and type against the description.
async function events(g, id, token = OPS, signal) {
  const res = await fetch(`${g.base}/v1/tasks/${id}/events`, { headers: { Authorization: 'Bearer ' + token }, signal });
  const ctype = res.headers.get('content-type');
  if (res.status !== 200) {
    checkAnswer('GET', `/v1/tasks/${id}/events`, res.status, ctype, await res.json());
    return { status: res.status };
  }
  checkAnswer('GET', `/v1/tasks/${id}/events`, 200, ctype, '');
  return { status: 200, next: sseMessages(res), res };
}

test('task events: the task at once, each change, and the end; 404 for an unknown task', async () => {
  const g = await gateway();
  const id = (await rest(g.base, 'POST', '/v1/tasks', { token: OPS, body: { query: 'watch me' } })).body.structuredContent.ids[0];
  const ev = await events(g, id, VIEWER);
  assert.equal(ev.status, 200);
  const first = await ev.next(5000);
  assert.equal(first.id, id);
  assert.equal(first.status, 'queued');
  assert.equal(await ev.next(500), 'timeout', 'nothing while nothing changes');
  assert.equal(value(await scrape(g.base, OPS), 'cortex_http_streams_open', { kind: 'task_events' }), 1);
  const cancel = await rest(g.base, 'POST', '/v1/tools/cortex_cancel_task', { token: OPS, body: { id, reason: 'test over' } });
  assert.equal(cancel.status, 200);
  const last = await ev.next(5000);
  assert.equal(last.status, 'cancelled');
  assert.equal(await ev.next(5000), null, 'the stream ends with the task');
  assert.equal(value(await scrape(g.base, OPS), 'cortex_http_streams_open', { kind: 'task_events' }), 0);

  // A finished task: one event, then the end.
  const done = await events(g, id);
  assert.equal((await done.next(5000)).status, 'cancelled');
  assert.equal(await done.next(5000), null);

  assert.equal((await events(g, 'task-none-2')).status, 404);
  assert.equal((await events(g, id, ECHO)).status, 403, 'reading the task needs a token that may');
  const res = await fetch(`${g.base}/v1/tasks/${id}/events`);
  assert.equal(res.status, 401);
  const reads = g.audit().filter((l) => l.tool === 'cortex_get_task_status' && l.caller === 'viewer');
  assert.ok(reads.length >= 2 && reads.every((l) => l.via === 'rest'), 'each read is audited');

  // A client that leaves early: the stream is dropped at the next change; others go on.
  const id2 = (await rest(g.base, 'POST', '/v1/tasks', { token: OPS, body: { query: 'left alone' } })).body.structuredContent.ids[0];
  const ac = new AbortController();
  const gone = await events(g, id2, OPS, ac.signal);
  assert.equal((await gone.next(5000)).status, 'queued');
  ac.abort();
  const stay = await events(g, id2);
  assert.equal((await stay.next(5000)).status, 'queued');
  await rest(g.base, 'POST', '/v1/tools/cortex_cancel_task', { token: OPS, body: { id: id2 } });
  assert.equal((await stay.next(5000)).status, 'cancelled');
  assert.equal(await stay.next(5000), null);

  // A stream still open when the gateway stops ends with it.
  const id3 = (await rest(g.base, 'POST', '/v1/tasks', { token: OPS, body: { query: 'open at shutdown' } })).body.structuredContent.ids[0];
  const open = await events(g, id3);
  assert.equal((await open.next(5000)).status, 'queued');
  g.child.kill('SIGTERM');
  // The stream ends at shutdown: cleanly, or cut when the listener stops first (as GET /mcp
  // streams are), never left hanging.
  const end = await open.next(8000).catch((e) => e.message);
  assert.ok(end === null || end === 'terminated', `the stream ends at shutdown: ${end}`);
  const { code } = await g.exited;
  assert.equal(code, 0, g.stderr());
  assert.doesNotMatch(g.stderr(), /Sanitizer|runtime error|still wait/);
});

test('every gateway stops cleanly', async () => {
  await assertAllStopCleanly(running, assert);
});
