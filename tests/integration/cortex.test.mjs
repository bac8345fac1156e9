// The cortex_* task tools over MCP (stdio and HTTP), on every task store backend this tree has
// (dir; redis once common/taskstore_redis.c exists, against a redis-server of the test's own):
// every tool, the bad input a model may send, the worker's side played by build/bench/taskctl
// (claim, progress, hold for approval, finish, agents), and cortex://tasks/{id} subscriptions
// hearing each change. Also: a gateway with no config offers the tools on ./var/tasks (or
// $CORTEX_TASKS_DIR), and "tasks": {"enabled": false} turns them off.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { createServer } from 'node:net';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { GATEWAY, startHttp, httpSession, sseMessages, writeConfig, tmpDir, assertAllStopCleanly } from './lib.mjs';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const TASKCTL = process.env.CORTEX_TASKCTL_BIN || join(dirname(GATEWAY), 'bench/taskctl');
const CATEGORIES = ['development', 'security', 'infrastructure', 'inventory', 'cicd', 'general'];
const TOOLS = ['cortex_approve_task', 'cortex_cancel_task', 'cortex_create_task', 'cortex_get_metrics',
  'cortex_get_task_status', 'cortex_get_tasks', 'cortex_list_agents'];

const running = [];
const servers = [];
after(() => { running.forEach((g) => g.kill()); servers.forEach((s) => s.kill()); });

// ---- the worker's side ----

function taskctl(conf, ...args) {
  const r = spawnSync(TASKCTL, [JSON.stringify(conf), ...args.map((a) => (typeof a === 'string' ? a : JSON.stringify(a)))],
    { encoding: 'utf8', timeout: 20000 });
  const out = r.stdout.trim();
  return { code: r.status, out: out ? JSON.parse(out) : undefined, stderr: r.stderr };
}

function claim(conf, worker, ...categories) {
  const r = taskctl(conf, 'claim', worker, '0', ...categories);
  assert.equal(r.code, 0, 'claimed a task: ' + r.stderr);
  return r.out;
}

// ---- backends ----

async function freePort() {
  return new Promise((res) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => { const { port } = s.address(); s.close(() => res(port)); });
  });
}

async function startRedis({ dir = tmpDir(), port, args = [] } = {}) {
  port = port || await freePort();
  const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '',
    '--appendonly', 'yes', '--dir', dir, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  await new Promise((res, rej) => {
    child.stdout.on('data', (d) => { out += d; if (/Ready to accept connections/.test(out)) res(); });
    child.on('exit', (code) => rej(new Error('redis-server exited with ' + code + ': ' + out)));
    setTimeout(() => rej(new Error('redis-server did not start: ' + out)), 10000);
  });
  const exited = new Promise((res) => child.on('exit', res));
  const server = { child, port, dir, exited, kill() { if (child.exitCode === null) child.kill('SIGKILL'); } };
  servers.push(server);
  return server;
}

// Each backend gives a fresh, empty store's "tasks" config.
const backends = [{ name: 'dir', conf: async () => ({ store: 'dir', dir: tmpDir() }) }];
if (existsSync(join(root, 'common/taskstore_redis.c'))) {
  let redis;
  let n = 0;
  backends.push({
    name: 'redis',
    async conf() {
      redis = redis || await startRedis();
      n += 1; // keys of its own for each gateway
      return { store: 'redis', url: `redis://127.0.0.1:${redis.port}/0`, prefix: `cortex-test-${n}:` };
    },
  });
}

// ---- MCP clients: one shape over stdio and HTTP ----

// A gateway over stdio whose every stdout line goes to onMessage (lib's startStdio leaves a
// reader waiting forever, which would keep this file's process alive).
function spawnStdio(args, { env = {}, cwd } = {}) {
  const full = { ...process.env, ...env };
  for (const k of Object.keys(full)) if (full[k] === undefined) delete full[k]; // unset
  const child = spawn(GATEWAY, ['--stdio', ...args], { cwd, env: full, stdio: ['pipe', 'pipe', 'pipe'] });
  let buf = '';
  let stderr = '';
  const g = {
    child,
    exited: new Promise((res) => child.on('exit', (code, signal) => res({ code, signal }))),
    stderr: () => stderr,
    onMessage: () => {},
    send(o) { child.stdin.write(JSON.stringify(o) + '\n'); },
    kill() { if (child.exitCode === null) child.kill('SIGKILL'); },
  };
  child.stdout.setEncoding('utf8');
  child.stdout.on('data', (d) => {
    buf += d;
    let i;
    while ((i = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, i);
      buf = buf.slice(i + 1);
      g.onMessage(JSON.parse(line)); // anything but JSON on stdout fails the test
    }
  });
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (d) => { stderr += d; });
  running.push(g);
  return g;
}

// Over stdio, replies are matched by id and everything else is a notification.
async function stdioClient(tasks, { env = {}, cwd, args } = {}) {
  const g = spawnStdio(args || ['--config', writeConfig({ tasks, calls: { timeout_ms: 20000 } })], { env, cwd });
  const replies = new Map();
  const notes = [];
  const waiters = [];
  let id = 1;
  g.exited.then(() => replies.forEach((f) => f({ error: { code: 0, message: 'the gateway exited: ' + g.stderr() } })));
  g.onMessage = (m) => {
    if (m.id !== undefined && replies.has(m.id)) { replies.get(m.id)(m); replies.delete(m.id); }
    else if (waiters.length) waiters.shift()(m);
    else notes.push(m);
  };
  const rpc = (method, params) => new Promise((res, rej) => {
    const n = id++;
    const t = setTimeout(() => rej(new Error(`no answer to ${method} in 30 s; stderr: ${g.stderr()}`)), 30000);
    replies.set(n, (m) => { clearTimeout(t); res(m); });
    g.send({ jsonrpc: '2.0', id: n, method, params });
  });
  const init = await rpc('initialize', { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'cortex-tests', version: '1' } });
  assert.ok(init.result, JSON.stringify(init));
  g.send({ jsonrpc: '2.0', method: 'notifications/initialized' });
  return {
    g, rpc,
    async call(name, args = {}) { return (await rpc('tools/call', { name, arguments: args })).result; },
    // The next notification, or 'timeout'.
    note(ms = 5000) {
      if (notes.length) return Promise.resolve(notes.shift());
      return new Promise((res) => {
        const w = (m) => { clearTimeout(t); res(m); };
        const t = setTimeout(() => { waiters.splice(waiters.indexOf(w), 1); res('timeout'); }, ms);
        waiters.push(w);
      });
    },
  };
}

// Over HTTP, a session; notifications come on its GET stream, opened by listen().
async function httpClient(tasks) {
  const g = startHttp(['--config', writeConfig({ tasks, calls: { timeout_ms: 20000 } })]);
  running.push(g);
  const url = await g.ready;
  const s = await httpSession(url);
  assert.equal(s.status, 200);
  await s.post({ jsonrpc: '2.0', method: 'notifications/initialized' });
  let stream = null;
  return {
    g,
    rpc: (method, params) => s.call(method, params),
    async call(name, args = {}) { return (await s.call('tools/call', { name, arguments: args })).result; },
    async listen() {
      const res = await fetch(url, { method: 'GET', headers: s.headers });
      assert.equal(res.status, 200);
      stream = sseMessages(res);
    },
    note(ms = 5000) { return stream(ms); },
  };
}

const ok = (r) => { assert.ok(r && !r.isError, JSON.stringify(r)); return r.structuredContent; };
const err = (r, re) => {
  assert.equal(r.isError, true, JSON.stringify(r));
  assert.match(r.content.map((c) => c.text).join('\n'), re);
};

// Notifications until one for uri arrives (others may come: several changes in a row).
async function updated(c, uri, ms = 5000) {
  const deadline = Date.now() + ms;
  for (;;) {
    const m = await c.note(Math.max(1, deadline - Date.now()));
    assert.notEqual(m, 'timeout', 'no notifications/resources/updated for ' + uri);
    assert.notEqual(m, null, 'the stream ended');
    if (m.method === 'notifications/resources/updated' && m.params.uri === uri) return;
  }
}

// Nothing more for uri within ms.
async function quiet(c, uri, ms) {
  const deadline = Date.now() + ms;
  for (;;) {
    const left = deadline - Date.now();
    if (left <= 0) return;
    const m = await c.note(left);
    if (m === 'timeout' || m === null) return;
    assert.ok(!(m.method === 'notifications/resources/updated' && m.params.uri === uri), 'an update after unsubscribing');
  }
}

// ---- the default, and turning it off ----

test('a gateway with no config offers the cortex tools on ./var/tasks, or on $CORTEX_TASKS_DIR', async () => {
  const cwd = tmpDir();
  const env = { CORTEX_TASKS_DIR: undefined, CORTEX_CONFIG: undefined };
  const c = await stdioClient(null, { cwd, env, args: [] });
  const tools = (await c.rpc('tools/list', {})).result.tools;
  assert.deepEqual(tools.map((t) => t.name).filter((n) => n.startsWith('cortex_')).sort(), TOOLS);
  const made = ok(await c.call('cortex_create_task', { query: 'where do I live?' }));
  assert.equal(made.created, 1);
  const files = readdirSync(join(cwd, 'var/tasks'), { recursive: true }).map(String);
  assert.ok(files.some((f) => f.includes(made.ids[0])), 'the task is a file under ./var/tasks: ' + files.join(', '));

  // $CORTEX_TASKS_DIR names another folder.
  const there = tmpDir();
  const c2 = await stdioClient(null, { cwd, env: { CORTEX_TASKS_DIR: there, CORTEX_CONFIG: undefined }, args: [] });
  const id = ok(await c2.call('cortex_create_task', { query: 'and now?' })).ids[0];
  assert.ok(readdirSync(there, { recursive: true }).map(String).some((f) => f.includes(id)));
  assert.ok(!readdirSync(join(cwd, 'var/tasks'), { recursive: true }).map(String).some((f) => f.includes(id)));
});

test('"tasks": {"enabled": false} turns the tools off; a bad "tasks" object stops start-up, naming the key', () => {
  const check = (conf) => spawnSync(GATEWAY, ['--check-config', '--config', writeConfig(conf)], { encoding: 'utf8' });
  const on = check({ tasks: { dir: tmpDir() } });
  assert.equal(on.status, 0, on.stderr);
  const off = check({ tasks: { enabled: false } });
  assert.equal(off.status, 0, off.stderr);
  const count = (r) => Number(r.stdout.match(/(\d+) tool\(s\)/)[1]);
  assert.equal(count(on) - count(off), TOOLS.length);
  const list = spawnSync(GATEWAY, ['--stdio', '--config', writeConfig({ tasks: { enabled: false } })], {
    encoding: 'utf8',
    input: [{ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 't', version: '1' } } },
      { jsonrpc: '2.0', id: 2, method: 'tools/list' }].map((m) => JSON.stringify(m)).join('\n') + '\n',
  });
  const names = JSON.parse(list.stdout.trim().split('\n')[1]).result.tools.map((t) => t.name);
  assert.ok(names.length > 0 && !names.some((n) => n.startsWith('cortex_')), names.join(', '));

  for (const [conf, re] of [
    [{ tasks: { store: 'dir', bogus: 1 } }, /tasks.*bogus/],
    [{ tasks: { store: 'floppy' } }, /tasks.*floppy/],
    [{ tasks: { enabled: 'no' } }, /tasks\.enabled' must be true or false/],
    [{ tasks: [] }, /'tasks' must be an object/],
    [{ adapters: { cortex: {} } }, /adapters\.cortex'.*top-level "tasks" object/],
  ]) {
    const r = check(conf);
    assert.equal(r.status, 1, JSON.stringify(conf) + ': ' + r.stdout);
    assert.match(r.stderr, re);
  }
});

test('a read-only token sees and calls the four reading tools only; an approval records the token that gave it', async () => {
  const sha = (t) => createHash('sha256').update(t).digest('hex');
  const tasks = { store: 'dir', dir: tmpDir() };
  const g = startHttp(['--config', writeConfig({ tasks, tokens: [
    { name: 'viewer', sha256: sha('viewer-t0ken'), read_only: true },
    { name: 'ops', sha256: sha('ops-t0ken') },
  ] })]);
  running.push(g);
  const url = await g.ready;
  const viewer = await httpSession(url, { token: 'viewer-t0ken' });
  const names = (await viewer.call('tools/list', {})).result.tools.map((t) => t.name).filter((n) => n.startsWith('cortex_'));
  assert.deepEqual(names.sort(), ['cortex_get_metrics', 'cortex_get_task_status', 'cortex_get_tasks', 'cortex_list_agents']);
  let r = await viewer.call('tools/call', { name: 'cortex_create_task', arguments: { query: 'x' } });
  err(r.result, /read-only/);
  const ops = await httpSession(url, { token: 'ops-t0ken' });
  const id = ok((await ops.call('tools/call', { name: 'cortex_create_task', arguments: { query: 'held one', category: 'security' } })).result).ids[0];
  assert.equal(claim(tasks, 'sec-1').id, id);
  assert.equal(taskctl(tasks, 'hold', id, 'sec-1', { tool: 'x_delete', arguments: {}, why: 'destructive' }).code, 0);
  r = await viewer.call('tools/call', { name: 'cortex_approve_task', arguments: { id, decision: 'approve' } });
  err(r.result, /read-only/);
  r = ok((await ops.call('tools/call', { name: 'cortex_approve_task', arguments: { id, decision: 'deny', reason: 'not today' } })).result);
  assert.deepEqual([r.status, r.approval.decision, r.approval.by, r.approval.reason], ['queued', 'denied', 'ops', 'not today']);
  r = ok((await viewer.call('tools/call', { name: 'cortex_get_task_status', arguments: { id } })).result);
  assert.equal(r.approval.by, 'ops');
});

// ---- every tool, on each backend, over each transport ----

for (const backend of backends) {
  for (const transport of ['stdio', 'http']) {
    const client = async () => {
      const conf = await backend.conf();
      const c = transport === 'stdio' ? await stdioClient(conf) : await httpClient(conf);
      c.conf = conf;
      return c;
    };

    test(`${backend.name}/${transport}: tools/list describes the cortex tools with schemas and honest annotations`, async () => {
      const c = await client();
      const tools = (await c.rpc('tools/list', {})).result.tools.filter((t) => t.name.startsWith('cortex_'));
      assert.deepEqual(tools.map((t) => t.name).sort(), TOOLS);
      const hints = Object.fromEntries(tools.map((t) => [t.name, t.annotations]));
      for (const t of tools) {
        assert.ok(t.description.length > 80, t.name);
        assert.equal(t.outputSchema.type, 'object', t.name);
        assert.equal(t.inputSchema.additionalProperties, false, t.name);
        assert.equal(t.annotations.openWorldHint, false, t.name);
      }
      for (const n of ['cortex_get_tasks', 'cortex_get_task_status', 'cortex_list_agents', 'cortex_get_metrics'])
        assert.deepEqual([hints[n].readOnlyHint, hints[n].destructiveHint, hints[n].idempotentHint], [true, false, true], n);
      assert.deepEqual([hints.cortex_create_task.readOnlyHint, hints.cortex_create_task.destructiveHint, hints.cortex_create_task.idempotentHint], [false, false, false]);
      for (const n of ['cortex_approve_task', 'cortex_cancel_task'])
        assert.deepEqual([hints[n].readOnlyHint, hints[n].destructiveHint], [false, true], n);
      const tpl = (await c.rpc('resources/templates/list', {})).result.resourceTemplates;
      assert.ok(tpl.some((t) => t.uriTemplate === 'cortex://tasks/{id}'));
    });

    test(`${backend.name}/${transport}: create one task, then 19 in one call; read them back, filtered and paged`, async () => {
      const c = await client();
      const one = ok(await c.call('cortex_create_task', { query: 'What VMs run on pve1?', category: 'inventory', priority: 2, source: 'chat' }));
      assert.equal(one.created, 1);
      assert.match(one.ids[0], /^task-chat-\d{13}-[0-9a-z]{9}$/);
      assert.deepEqual(one.tasks[0], { ...one.tasks[0], id: one.ids[0], status: 'queued', category: 'inventory', priority: 2, source: 'chat', parent_id: null, title: 'What VMs run on pve1?', attempts: 0 });
      const st = ok(await c.call('cortex_get_task_status', { id: one.ids[0] }));
      assert.equal(st.query, 'What VMs run on pve1?');
      assert.equal(st.status, 'queued');
      assert.equal(st.type, 'user_query');
      assert.deepEqual(st.progress, { iterations: 0, tools_used: [], last_tool_used: null, current_action: null });
      assert.deepEqual([st.children, st.children_total, st.result, st.started_at, st.worker], [[], 0, null, null, null]);

      await new Promise((r) => setTimeout(r, 5)); // the batch is created later than the first task
      const batch = Array.from({ length: 19 }, (_, i) => ({ query: `check ${i}`, title: `t${i}`, category: CATEGORIES[i % 6], priority: (i % 5) + 1 }));
      const many = ok(await c.call('cortex_create_task', { tasks: batch }));
      assert.equal(many.created, 19);
      assert.equal(many.ids.length, 19);
      assert.equal(new Set(many.ids).size, 19);
      assert.deepEqual(many.tasks.map((t) => t.title), batch.map((b) => b.title));
      assert.ok(many.tasks.every((t) => t.source === 'mcp' && t.status === 'queued'));

      // Filters.
      let r = ok(await c.call('cortex_get_tasks', {}));
      assert.equal(r.tasks.length, 20);
      assert.equal(r.next_cursor, null);
      r = ok(await c.call('cortex_get_tasks', { category: 'security' }));
      assert.deepEqual(r.tasks.map((t) => t.title).sort(), ['t1', 't13', 't7']);
      r = ok(await c.call('cortex_get_tasks', { source: 'chat' }));
      assert.deepEqual(r.tasks.map((t) => t.id), [one.ids[0]]);
      r = ok(await c.call('cortex_get_tasks', { since: many.created_at }));
      assert.equal(r.tasks.length, 19);
      r = ok(await c.call('cortex_get_tasks', { since: '2999-01-01T00:00:00+02:00' }));
      assert.equal(r.tasks.length, 0);
      r = ok(await c.call('cortex_get_tasks', { status: 'completed' }));
      assert.equal(r.tasks.length, 0);

      // Pages of 6: every task once, newest first, then no cursor.
      const seen = [];
      let cursor;
      for (let page = 0; page < 10; page++) {
        r = ok(await c.call('cortex_get_tasks', { limit: 6, ...(cursor ? { cursor } : {}) }));
        seen.push(...r.tasks.map((t) => t.id));
        cursor = r.next_cursor;
        if (!cursor) break;
        assert.equal(r.tasks.length, 6);
      }
      assert.equal(seen.length, 20);
      assert.equal(new Set(seen).size, 20);
      assert.equal(seen[19], one.ids[0], 'the oldest last');

      // Completion of the resource template's id: the newest tasks' ids that start so.
      const done = await c.rpc('completion/complete', { ref: { type: 'ref/resource', uri: 'cortex://tasks/{id}' }, argument: { name: 'id', value: 'task-chat-' } });
      assert.deepEqual(done.result.completion.values, [one.ids[0]]);
      const all = await c.rpc('completion/complete', { ref: { type: 'ref/resource', uri: 'cortex://tasks/{id}' }, argument: { name: 'id', value: 'task-' } });
      assert.equal(all.result.completion.values.length, 20);

      err(await c.call('cortex_get_tasks', { cursor: 'garbage!' }), /cursor/);
      err(await c.call('cortex_get_tasks', { since: 'yesterday-ish' }), /since 'yesterday-ish' is not an RFC 3339 time/);
      err(await c.call('cortex_get_task_status', { id: 'task-mcp-1-nosuchtas' }), /no task 'task-mcp-1-nosuchtas'.*cortex_get_tasks/);
    });

    test(`${backend.name}/${transport}: bad input is refused with a sentence, and a refused batch creates nothing`, async () => {
      const c = await client();
      const parent = ok(await c.call('cortex_create_task', { query: 'parent' })).ids[0];
      err(await c.call('cortex_create_task', { query: 'x', category: 'astrology' }), /category/);
      err(await c.call('cortex_create_task', { query: 'x'.repeat(64 * 1024 + 1) }), /query/);
      err(await c.call('cortex_create_task', { query: '' }), /query/);
      err(await c.call('cortex_create_task', {}), /give query \(one task\) or tasks/);
      err(await c.call('cortex_create_task', { query: 'x', tasks: [{ query: 'y' }] }), /not both \('query' is set beside tasks\)/);
      err(await c.call('cortex_create_task', { query: 'x', priority: 9 }), /priority/);
      err(await c.call('cortex_create_task', { query: 'x', colour: 'red' }), /colour/);
      err(await c.call('cortex_create_task', { tasks: Array.from({ length: 10001 }, () => ({ query: 'q' })) }), /tasks.*10000/);
      // A batch with one unknown parent (index 3): none of it is created.
      const batch = Array.from({ length: 6 }, (_, i) => ({ query: `b${i}`, ...(i === 3 ? { parent_id: 'task-mcp-1-000000000' } : {}) }));
      err(await c.call('cortex_create_task', { tasks: batch }), /tasks\[3\].*parent/);
      assert.deepEqual(ok(await c.call('cortex_get_tasks', {})).tasks.map((t) => t.id), [parent]);
      err(await c.call('cortex_approve_task', { id: parent, decision: 'maybe' }), /decision/);
      err(await c.call('cortex_approve_task', { id: '../etc/passwd', decision: 'approve' }), /id/);
    });

    if (transport === 'stdio') {
      test(`${backend.name}/${transport}: a batch of 10,000, the limit, is created in one call; the answer lists 2,000 ids and says it cut them`, async () => {
        const c = await client();
        const r = ok(await c.call('cortex_create_task', { tasks: Array.from({ length: 10000 }, (_, i) => ({ query: `item ${i}`, source: 'bulk' })) }));
        assert.equal(r.created, 10000);
        assert.equal(r.ids.length, 2000);
        assert.equal(r.ids_truncated, true);
        assert.equal(r.tasks.length, 50);
        const m = ok(await c.call('cortex_get_metrics', {}));
        assert.equal(m.total, 10000);
        assert.equal(m.queue.queued.general, 10000);
        const page = ok(await c.call('cortex_get_tasks', { source: 'bulk', limit: 500 }));
        assert.equal(page.tasks.length, 500);
        assert.equal(typeof page.next_cursor, 'string');
      });
    }

    test(`${backend.name}/${transport}: a task's life seen through the tools and its subscribed resource`, async () => {
      const c = await client();
      if (c.listen) await c.listen();
      const id = ok(await c.call('cortex_create_task', { query: 'Restart the web tier', category: 'infrastructure', title: 'restart web' })).ids[0];
      const uri = 'cortex://tasks/' + id;
      let r = await c.rpc('resources/read', { uri });
      const stored = JSON.parse(r.result.contents[0].text);
      assert.equal(r.result.contents[0].mimeType, 'application/json');
      assert.deepEqual([stored.id, stored.status, stored.payload.query, stored.payload.category], [id, 'queued', 'Restart the web tier', 'infrastructure']);
      r = await c.rpc('resources/read', { uri: 'cortex://tasks/task-mcp-1-nosuchtas' });
      assert.equal(r.error.code, -32002);
      assert.deepEqual((await c.rpc('resources/subscribe', { uri })).result, {});

      // A worker of another process claims it: subscribers hear of it.
      const task = claim(c.conf, 'infrastructure-1', 'infrastructure');
      assert.equal(task.id, id);
      await updated(c, uri);
      let st = ok(await c.call('cortex_get_task_status', { id }));
      assert.deepEqual([st.status, st.worker, st.attempts], ['in_progress', 'infrastructure-1', 1]);
      assert.ok(st.started_at);

      // Progress, with the conversation saved: shown in the tools, never the conversation.
      const progress = { iterations: 2, tools_used: ['proxmox_list_vms'], last_tool_used: 'proxmox_list_vms', current_action: 'stopping vm 101' };
      assert.equal(taskctl(c.conf, 'progress', id, 'infrastructure-1', progress, { messages: ['secret-ish conversation'] }).code, 0);
      await updated(c, uri);
      st = ok(await c.call('cortex_get_task_status', { id }));
      assert.deepEqual(st.progress, progress);
      r = await c.rpc('resources/read', { uri });
      assert.doesNotMatch(r.result.contents[0].text, /secret-ish conversation/);
      assert.equal(JSON.parse(r.result.contents[0].text).metadata.current_action, 'stopping vm 101');
      r = ok(await c.call('cortex_get_tasks', { status: 'in_progress' }));
      assert.deepEqual(r.tasks.map((t) => [t.id, t.worker, t.current_action]), [[id, 'infrastructure-1', 'stopping vm 101']]);

      // A subtask, listed as a child.
      const child = ok(await c.call('cortex_create_task', { query: 'drain node 2', parent_id: id, source: 'infrastructure' })).ids[0];
      st = ok(await c.call('cortex_get_task_status', { id }));
      assert.deepEqual(st.children.map((t) => [t.id, t.parent_id]), [[child, id]]);
      assert.equal(st.children_total, 1);
      r = ok(await c.call('cortex_get_tasks', { parent_id: id }));
      assert.deepEqual(r.tasks.map((t) => t.id), [child]);

      // Finished with a result.
      assert.equal(taskctl(c.conf, 'finish', id, 'infrastructure-1', 'completed', { summary: 'restarted 3 VMs', details: 'vm 101, 102, 103' }).code, 0);
      await updated(c, uri);
      st = ok(await c.call('cortex_get_task_status', { id }));
      assert.equal(st.status, 'completed');
      assert.equal(st.result.summary, 'restarted 3 VMs');
      assert.ok(Number.isInteger(st.result.execution_time_ms) && st.result.execution_time_ms >= 0);
      assert.ok(st.finished_at);
      err(await c.call('cortex_cancel_task', { id }), /completed|finished/);
      const m = ok(await c.call('cortex_get_metrics', {}));
      assert.equal(m.queue.completed.infrastructure, 1);
      assert.equal(m.queue.queued.general, 1, JSON.stringify(m.queue)); // the subtask
      assert.ok(m.processing_ms.mean >= 0);

      // Unsubscribed: no more updates.
      assert.deepEqual((await c.rpc('resources/unsubscribe', { uri })).result, {});
      const c2 = claim(c.conf, 'general-1');
      assert.equal(c2.id, child);
      assert.equal(taskctl(c.conf, 'finish', child, 'general-1', 'completed', { summary: 'ok' }).code, 0);
      await quiet(c, uri, 300);
    });

    test(`${backend.name}/${transport}: approval held, denied without a reason refused, approved and recorded; cancellation`, async () => {
      const c = await client();
      const [a, b, q] = ok(await c.call('cortex_create_task', { tasks: [
        { query: 'delete the old VMs', category: 'infrastructure', priority: 1 },
        { query: 'patch the servers', category: 'security', priority: 1 },
        { query: 'later', category: 'general', priority: 5 },
      ] })).ids;
      assert.equal(claim(c.conf, 'infra-w', 'infrastructure').id, a);
      const pending = { tool: 'proxmox_vm_action', arguments: { vmid: 101, action: 'delete' }, why: 'destructive' };
      assert.equal(taskctl(c.conf, 'hold', a, 'infra-w', pending, { messages: [] }).code, 0);
      let st = ok(await c.call('cortex_get_task_status', { id: a }));
      assert.equal(st.status, 'awaiting_approval');
      assert.deepEqual(st.approval.pending, pending);
      assert.equal(ok(await c.call('cortex_get_metrics', {})).awaiting_approval, 1);

      err(await c.call('cortex_approve_task', { id: a, decision: 'deny' }), /give a reason to deny/);
      err(await c.call('cortex_approve_task', { id: b, decision: 'approve' }), /awaiting/);
      err(await c.call('cortex_approve_task', { id: 'task-mcp-1-nosuchtas', decision: 'approve' }), /no task/);
      const ap = ok(await c.call('cortex_approve_task', { id: a, decision: 'approve', reason: 'they are unused' }));
      assert.equal(ap.id, a);
      assert.equal(ap.status, 'queued');
      assert.deepEqual([ap.approval.decision, ap.approval.by, ap.approval.reason], ['approved', transport === 'stdio' ? 'stdio' : 'anonymous', 'they are unused']);
      assert.ok(ap.approval.at);
      err(await c.call('cortex_approve_task', { id: a, decision: 'approve' }), /awaiting/);
      assert.equal(ok(await c.call('cortex_get_metrics', {})).awaiting_approval, 0);

      // Cancel: a queued task at once; a running one at its worker's next step.
      let cn = ok(await c.call('cortex_cancel_task', { id: q, reason: 'not needed' }));
      assert.deepEqual(cn, { id: q, status: 'cancelled', cancel_requested: true });
      assert.equal(claim(c.conf, 'sec-w', 'security').id, b);
      cn = ok(await c.call('cortex_cancel_task', { id: b }));
      assert.deepEqual(cn, { id: b, status: 'in_progress', cancel_requested: true });
      const hb = taskctl(c.conf, 'heartbeat', b, 'sec-w');
      assert.equal(hb.code === 1 || hb.out?.cancel_requested === true, true, JSON.stringify(hb));
      err(await c.call('cortex_cancel_task', { id: q }), /cancelled|finished/);
      err(await c.call('cortex_cancel_task', { id: 'task-mcp-1-nosuchtas' }), /no task/);
    });

    test(`${backend.name}/${transport}: agents as the orchestrator reports them, filtered`, async () => {
      const c = await client();
      assert.deepEqual(ok(await c.call('cortex_list_agents', {})), { agents: [], count: 0 });
      const id = ok(await c.call('cortex_create_task', { query: 'scan', category: 'security' })).ids[0];
      for (const agent of [
        { id: 'security', kind: 'master', master: 'security', state: 'idle' },
        { id: 'security-1', kind: 'worker', master: 'security', state: 'busy', task_id: id },
        { id: 'general-1', kind: 'worker', master: 'general', state: 'idle' },
      ]) assert.equal(taskctl(c.conf, 'agent', agent).code, 0);
      let r = ok(await c.call('cortex_list_agents', {}));
      assert.equal(r.count, 3);
      const busy = r.agents.find((x) => x.id === 'security-1');
      assert.deepEqual([busy.kind, busy.master, busy.state, busy.task_id], ['worker', 'security', 'busy', id]);
      assert.ok(busy.heartbeat_at);
      r = ok(await c.call('cortex_list_agents', { state: 'busy' }));
      assert.deepEqual(r.agents.map((x) => x.id), ['security-1']);
      r = ok(await c.call('cortex_list_agents', { master: 'security' }));
      assert.deepEqual(r.agents.map((x) => x.id).sort(), ['security', 'security-1']);
    });
  }
}

if (backends.some((b) => b.name === 'redis')) {
  test('redis: a password from the environment, never logged; Redis down: isError "task store unreachable", then back without a restart, nothing lost', async () => {
    const password = 'rEd1s-pw-' + Math.random().toString(36).slice(2);
    let redis = await startRedis({ args: ['--requirepass', password] });
    const conf = { store: 'redis', url: `redis://127.0.0.1:${redis.port}/0`, password: { env: 'CX_TEST_REDIS_PW' } };
    const c = await stdioClient(conf, { env: { CX_TEST_REDIS_PW: password } });
    const ids = ok(await c.call('cortex_create_task', { tasks: [{ query: 'before the outage' }, { query: 'also before' }] })).ids;

    // Stopped (cleanly: the append-only file has what was acknowledged).
    redis.child.kill('SIGTERM');
    await redis.exited;
    for (const [tool, args] of [['cortex_create_task', { query: 'during' }], ['cortex_get_tasks', {}],
      ['cortex_get_task_status', { id: ids[0] }], ['cortex_get_metrics', {}], ['cortex_list_agents', {}],
      ['cortex_cancel_task', { id: ids[1] }], ['cortex_approve_task', { id: ids[1], decision: 'approve' }]])
      err(await c.call(tool, args), /task store unreachable/);
    const r = await c.rpc('resources/read', { uri: 'cortex://tasks/' + ids[0] });
    assert.match(r.error.message, /task store unreachable/);

    // Back on the same port and data: the same gateway answers again, with both tasks.
    redis = await startRedis({ dir: redis.dir, port: redis.port, args: ['--requirepass', password] });
    let list;
    for (let i = 0; i < 100; i++) {
      list = await c.call('cortex_get_tasks', {});
      if (!list.isError) break;
      await new Promise((res) => setTimeout(res, 100));
    }
    assert.deepEqual(ok(list).tasks.map((t) => t.id).sort(), [...ids].sort());
    ok(await c.call('cortex_create_task', { query: 'after' }));
    assert.doesNotMatch(c.g.stderr(), new RegExp(password));

    // A wrong password stops start-up with a sentence that quotes neither password.
    const bad = spawnSync(GATEWAY, ['--check-config', '--config', writeConfig({ tasks: conf })],
      { encoding: 'utf8', env: { ...process.env, CX_TEST_REDIS_PW: 'not-' + password } });
    assert.equal(bad.status, 1);
    assert.match(bad.stderr, /config 'tasks': task store refused the credentials .*check tasks\.password/);
    assert.doesNotMatch(bad.stderr + bad.stdout, new RegExp(password));
  });
}

test('every gateway of this file stops cleanly', async () => {
  await assertAllStopCleanly(running, assert);
});
