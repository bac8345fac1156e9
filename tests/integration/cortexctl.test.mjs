// cortexctl (build/cortexctl) against a live gateway with the backend simulator, and in --local
// mode with no gateway: every command, its table and --json output, key=value and --args
// arguments, the exit statuses (0 ok, 1 isError or a failed task, 2 usage, 3 connection or
// authentication), tokens kept off the command line and out of every output, a task created
// and followed to its end with the worker played by build/bench/taskctl, task watch hearing
// each change live through the task's subscribed resource, approve and deny, --help on every
// command and the bash completion.
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { writeFileSync, chmodSync, symlinkSync } from 'node:fs';
import { createServer } from 'node:net';
import { dirname, join } from 'node:path';
import { SHIPPED, startHttp, startSim, writeConfig, tmpDir } from './lib.mjs';

const CTL = process.env.CORTEXCTL_BIN || join(dirname(SHIPPED), 'cortexctl');
const TASKCTL = process.env.CORTEX_TASKCTL_BIN || join(dirname(SHIPPED), 'bench/taskctl');
const TOKEN = 'ctl-token-7f3a9c2e51d84b06';
const PX_SECRET = '5e1f3c9a-2b7d-4e8f-9a61-0c3d5b7e9f12';
const sha = (s) => createHash('sha256').update(s).digest('hex');

const running = [];
after(() => running.forEach((p) => p.kill()));

// One cortexctl run: resolves with its exit code and outputs. No token in the environment
// unless env gives one.
function ctl(args, { env = {}, input, timeoutMs = 30000 } = {}) {
  const full = { ...process.env, CORTEX_TOKEN: undefined, CORTEX_GATEWAY_URL: undefined, ...env };
  for (const k of Object.keys(full)) if (full[k] === undefined) delete full[k];
  return new Promise((res, rej) => {
    const child = spawn(CTL, args, { env: full, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    const t = setTimeout(() => { child.kill('SIGKILL'); rej(new Error(`cortexctl ${args.join(' ')} ran past ${timeoutMs} ms: ${stderr}`)); }, timeoutMs);
    child.stdout.on('data', (d) => { stdout += d; });
    child.stderr.on('data', (d) => { stderr += d; });
    child.on('exit', (code) => { clearTimeout(t); res({ code, stdout, stderr }); });
    // A command that exits before reading its input closes the pipe first: not a failure.
    child.stdin.on('error', () => {});
    child.stdin.end(input || '');
  });
}

// A long-running cortexctl whose stdout lines can be awaited one by one.
function ctlLive(args, { env = {} } = {}) {
  const full = { ...process.env, CORTEX_TOKEN: undefined, CORTEX_GATEWAY_URL: undefined, ...env };
  for (const k of Object.keys(full)) if (full[k] === undefined) delete full[k];
  const child = spawn(CTL, args, { env: full, stdio: ['ignore', 'pipe', 'pipe'] });
  const lines = [];
  const waiters = [];
  let buf = '';
  let stderr = '';
  child.stdout.setEncoding('utf8');
  child.stdout.on('data', (d) => {
    buf += d;
    let i;
    while ((i = buf.indexOf('\n')) >= 0) {
      lines.push(buf.slice(0, i));
      buf = buf.slice(i + 1);
      waiters.splice(0).forEach((w) => w());
    }
  });
  child.stderr.on('data', (d) => { stderr += d; });
  // 'close', not 'exit': the last of stdout may still be on its way when the process exits.
  const exited = new Promise((res) => child.on('close', (code) => res(code)));
  const p = {
    child, exited, lines, stderr: () => stderr,
    kill() { if (child.exitCode === null) child.kill('SIGKILL'); },
    // The first line from index `from` on that passes pred, within ms.
    async line(pred, from = 0, ms = 8000) {
      const end = Date.now() + ms;
      for (;;) {
        const i = lines.findIndex((l, k) => k >= from && pred(l));
        if (i >= 0) return { line: lines[i], index: i };
        if (Date.now() > end || child.exitCode !== null) {
          throw new Error(`no such line within ${ms} ms; lines: ${JSON.stringify(lines)}; stderr: ${stderr}`);
        }
        await new Promise((r) => { waiters.push(r); setTimeout(r, 100); });
      }
    },
  };
  running.push(p);
  return p;
}

function taskctl(conf, ...args) {
  const r = spawnSync(TASKCTL, [JSON.stringify(conf), ...args.map((a) => (typeof a === 'string' ? a : JSON.stringify(a)))],
    { encoding: 'utf8', timeout: 20000 });
  assert.equal(r.status, 0, `taskctl ${args[0]}: ${r.stderr}`);
  return r.stdout.trim() ? JSON.parse(r.stdout) : undefined;
}

async function closedPort() {
  return new Promise((res) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => { const { port } = s.address(); s.close(() => res(port)); });
  });
}

// ---- the gateway every remote test shares: Proxmox on the simulator, the task tools on a
// dir store, one bearer token ----

let url;
let tasks;
let gw;
const env = () => ({ CORTEX_GATEWAY_URL: url, CORTEX_TOKEN: TOKEN });

before(async () => {
  const sim = startSim();
  running.push(sim);
  const simUrl = await sim.ready;
  tasks = { store: 'dir', dir: tmpDir() };
  gw = startHttp(['--config', writeConfig({
    tokens: [{ name: 'ops', sha256: sha(TOKEN) }],
    calls: { timeout_ms: 20000 },
    tasks,
    adapters: { proxmox: { url: simUrl, token_id: 'root@pam!cortex', token_secret: { env: 'PX_SECRET' }, task_poll_ms: 50 } },
  })], { bin: SHIPPED, env: { PX_SECRET } });
  running.push(gw);
  url = await gw.ready;
});

// Nothing cortexctl or the gateway wrote holds the token.
function noToken(...texts) {
  for (const t of texts) assert.ok(!t.includes(TOKEN), 'the token leaked: ' + t);
}

test('tools: a table for people, the tools/list entries with --json', async () => {
  const r = await ctl(['tools'], { env: env() });
  assert.equal(r.code, 0, r.stderr);
  const lines = r.stdout.trim().split('\n');
  assert.match(lines[0], /^NAME\s+KIND\s+DESCRIPTION$/);
  const row = lines.find((l) => l.startsWith('proxmox_list_vms '));
  assert.ok(row, r.stdout);
  // Aligned: every row's KIND column starts where the header's does.
  const col = lines[0].indexOf('KIND');
  assert.ok(lines.slice(1).every((l) => /\S/.test(l[col]) && l[col - 1] === ' '), r.stdout);
  assert.match(row, /\bread\b/);
  assert.match(lines.find((l) => l.startsWith('cortex_cancel_task ')), /\bdestructive\b/);
  assert.ok(lines.every((l) => l.length <= 200), 'long descriptions are cut');
  assert.doesNotMatch(r.stdout, /\x1b\[/, 'no colour when stdout is not a terminal');

  const j = await ctl(['tools', '--json'], { env: env() });
  assert.equal(j.code, 0, j.stderr);
  const tools = JSON.parse(j.stdout);
  assert.ok(Array.isArray(tools));
  const names = tools.map((t) => t.name);
  for (const n of ['gateway_status', 'proxmox_list_vms', 'cortex_create_task', 'cortex_approve_task']) assert.ok(names.includes(n), n);
  assert.equal(tools.find((t) => t.name === 'proxmox_list_vms').annotations.readOnlyHint, true);
  assert.equal(lines.length - 1, tools.length, 'one row per tool');
  noToken(r.stdout, r.stderr, j.stderr, gw.stderr());
});

test('call: key=value words (JSON when they are JSON), --args as JSON, @file and stdin', async () => {
  let r = await ctl(['call', 'proxmox_list_vms', 'status=running'], { env: env() });
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(JSON.parse(r.stdout).vms.map((v) => v.vmid).sort(), [100, 102, 200]);

  // vmid=102 is the number 102; vmid='"102"' the string, which the schema refuses.
  r = await ctl(['call', 'proxmox_get_vm_status', 'vmid=102'], { env: env() });
  assert.equal(r.code, 0, r.stderr);
  assert.equal(JSON.parse(r.stdout).qmpstatus, 'paused');
  r = await ctl(['call', 'proxmox_get_vm_status', 'vmid="102"'], { env: env() });
  assert.equal(r.code, 1);
  assert.match(r.stderr, /vmid.*integer/);

  // A value that is not JSON is the string as typed, spaces and all.
  r = await ctl(['call', 'cortex_create_task', 'query=check the backups on pve1', 'priority=2', 'category=development'], { env: env() });
  assert.equal(r.code, 0, r.stderr);
  const made = JSON.parse(r.stdout);
  assert.equal(made.created, 1);
  assert.deepEqual([made.tasks[0].priority, made.tasks[0].category], [2, 'development']);
  r = await ctl(['call', 'cortex_get_task_status', `id=${made.ids[0]}`], { env: env() });
  assert.equal(JSON.parse(r.stdout).query, 'check the backups on pve1');

  // --args: literal, @file, stdin; key=value words win over it.
  r = await ctl(['call', 'proxmox_list_vms', '--args', '{"type": "lxc"}'], { env: env() });
  assert.equal(r.code, 0, r.stderr);
  const lxc = JSON.parse(r.stdout).vms;
  assert.ok(lxc.length > 0 && lxc.every((v) => v.type === 'lxc'), r.stdout);
  const file = join(tmpDir(), 'args.json');
  writeFileSync(file, JSON.stringify({ type: 'lxc', status: 'stopped' }));
  r = await ctl(['call', 'proxmox_list_vms', '--args', '@' + file], { env: env() });
  assert.ok(JSON.parse(r.stdout).vms.every((v) => v.type === 'lxc' && v.status === 'stopped'), r.stdout);
  r = await ctl(['call', 'proxmox_list_vms', '--args', '-', 'type=qemu'], { env: env(), input: '{"type": "lxc", "status": "running"}' });
  assert.equal(r.code, 0, r.stderr);
  const vms = JSON.parse(r.stdout).vms;
  assert.ok(vms.length > 0 && vms.every((v) => v.type === 'qemu' && v.status === 'running'), r.stdout);

  // --json: the whole CallToolResult, structuredContent and the same JSON as text.
  r = await ctl(['call', 'proxmox_list_nodes', '--json'], { env: env() });
  const full = JSON.parse(r.stdout);
  assert.deepEqual(full.structuredContent.nodes.map((n) => n.node), ['pve1', 'pve2']);
  assert.deepEqual(JSON.parse(full.content[0].text), full.structuredContent);
});

test('exit 1: the tool answered isError, its sentence on stderr (and the result with --json)', async () => {
  let r = await ctl(['call', 'cortex_get_task_status', 'id=task-mcp-1-nosuchtas'], { env: env() });
  assert.equal(r.code, 1);
  assert.equal(r.stdout, '');
  assert.match(r.stderr, /^cortexctl: no task 'task-mcp-1-nosuchtas'/);
  r = await ctl(['call', 'cortex_get_task_status', 'id=task-mcp-1-nosuchtas', '--json'], { env: env() });
  assert.equal(r.code, 1);
  assert.equal(JSON.parse(r.stdout).isError, true);
  r = await ctl(['task', 'show', 'task-mcp-1-nosuchtas'], { env: env() });
  assert.equal(r.code, 1);
  r = await ctl(['approve', 'task-mcp-1-nosuchtas'], { env: env() });
  assert.equal(r.code, 1, r.stderr);
});

test('exit 2: usage errors say what is wrong; a token on the command line is refused', async () => {
  const cases = [
    [[], /usage: cortexctl/],
    [['frobnicate'], /no command 'frobnicate'/],
    [['task'], /task needs a subcommand/],
    [['task', 'explode'], /task explode: no such subcommand/],
    [['call'], /call needs a tool's name/],
    [['call', 'proxmox_list_vms', 'status'], /'status' is not key=value/],
    [['call', 'proxmox_list_vms', '--args', '[1, 2]'], /must be a JSON object/],
    [['call', 'proxmox_list_vms', '--args', '{nope'], /not JSON/],
    [['call', 'proxmox_list_vms', '--args', '@/nonexistent/args.json'], /--args/],
    [['call', 'no_such_tool'], /unknown tool 'no_such_tool'/],
    [['task', 'list', '--wait'], /--wait is not an option of 'task list'/],
    [['task', 'create', '--priority', '9', 'q'], /--priority: '9' is not a number from 1 to 5/],
    [['task', 'create'], /one query/],
    [['task', 'show'], /one task id/],
    [['approve', 'task-x', '--deny'], /--deny needs --reason/],
    [['tools', 'extra'], /takes no arguments/],
    [['--bogus-flag', 'tools'], /unrecognized option|see cortexctl --help/],
    [['--config', '/tmp/x.json', 'tools'], /--config is the gateway config for --local/],
    [['--local', 'tools'], /--local needs --config/],
    [['completion', 'zsh'], /bash only/],
    [['--url', 'ftp://example.com/mcp', 'tools'], /must start with http/],
  ];
  for (const [args, re] of cases) {
    const r = await ctl(args, { env: env() });
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, re, args.join(' '));
  }
  const r = await ctl(['--token', TOKEN, 'tools'], { env: { CORTEX_GATEWAY_URL: url } });
  assert.equal(r.code, 2);
  assert.match(r.stderr, /--token is not accepted.*CORTEX_TOKEN.*--token-file/s);
  noToken(r.stdout, r.stderr);
});

test('exit 3: no gateway, a wrong or missing token; the token never shows', async () => {
  const port = await closedPort();
  let r = await ctl(['--url', `http://127.0.0.1:${port}/mcp`, 'tools'], { env: { CORTEX_TOKEN: TOKEN } });
  assert.equal(r.code, 3);
  assert.match(r.stderr, /unreachable/);
  noToken(r.stdout, r.stderr);

  const wrong = 'wrong-token-0123456789abcdef';
  r = await ctl(['status'], { env: { CORTEX_GATEWAY_URL: url, CORTEX_TOKEN: wrong } });
  assert.equal(r.code, 3);
  assert.match(r.stderr, /refused the bearer token \(401\)/);
  assert.ok(!r.stderr.includes(wrong) && !gw.stderr().includes(wrong), 'the wrong token leaked');
  r = await ctl(['status'], { env: { CORTEX_GATEWAY_URL: url } });
  assert.equal(r.code, 3);
  r = await ctl(['task', 'watch', 'task-mcp-1-nosuchtas'], { env: { CORTEX_GATEWAY_URL: url, CORTEX_TOKEN: wrong } });
  assert.equal(r.code, 3);

  // --token-file: the first line of the file, instead of $CORTEX_TOKEN.
  const dir = tmpDir();
  writeFileSync(join(dir, 'token'), TOKEN + '\n');
  chmodSync(join(dir, 'token'), 0o600);
  r = await ctl(['--url', url, '--token-file', join(dir, 'token'), 'status'], { env: { CORTEX_TOKEN: wrong } });
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stderr, '');
  chmodSync(join(dir, 'token'), 0o644);
  r = await ctl(['--url', url, '--token-file', join(dir, 'token'), 'status']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /warning: --token-file .* can be read by other users \(mode 0644\); chmod 600 it/);
  r = await ctl(['--url', url, '--token-file', join(dir, 'missing'), 'status']);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /--token-file.*missing/);
  noToken(r.stdout, r.stderr, gw.stderr());
});

test('status: the adapters and their health; --json parsed', async () => {
  const r = await ctl(['status'], { env: env() });
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^cortex-gateway \d+\.\d+\.\d+, up \d+s\n/);
  assert.match(r.stdout, /^ADAPTER\s+TOOLS\s+HEALTH/m);
  assert.match(r.stdout, /^proxmox\s+\d+\s+(ok|unknown|failing)/m);
  assert.match(r.stdout, /^cortex\s+7\s+/m);
  const j = await ctl(['status', '--json'], { env: env() });
  const st = JSON.parse(j.stdout);
  assert.deepEqual(st.adapters.map((a) => a.name).sort(), ['cortex', 'gateway', 'proxmox']);
  assert.ok(Number.isInteger(st.uptime_s));
});

test('task create, list and show; --json output parsed', async () => {
  let r = await ctl(['task', 'create', 'Rotate the TLS certificate on the edge proxy', '--category', 'security', '--priority', '1', '--title', 'rotate edge cert'], { env: env() });
  assert.equal(r.code, 0, r.stderr);
  const id = r.stdout.trim();
  assert.match(id, /^task-mcp-\d+-[a-z0-9]+$/);

  r = await ctl(['task', 'list', '--category', 'security'], { env: env() });
  assert.equal(r.code, 0, r.stderr);
  const lines = r.stdout.trim().split('\n');
  assert.match(lines[0], /^ID\s+STATUS\s+CATEGORY\s+PRI\s+CREATED\s+TITLE$/);
  assert.ok(lines.some((l) => l.startsWith(id) && /queued\s+security\s+1\s/.test(l) && l.endsWith('rotate edge cert')), r.stdout);

  r = await ctl(['task', 'list', '--status', 'queued', '--json', '--limit', '500'], { env: env() });
  const page = JSON.parse(r.stdout);
  assert.ok(page.tasks.some((t) => t.id === id && t.status === 'queued'));
  assert.ok(page.tasks.every((t) => t.status === 'queued'));
  r = await ctl(['task', 'list', '--status', 'completed', '--category', 'security', '--json'], { env: env() });
  assert.ok(!JSON.parse(r.stdout).tasks.some((t) => t.id === id));

  r = await ctl(['task', 'show', id], { env: env() });
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, new RegExp(`^id: +${id}$`, 'm'));
  assert.match(r.stdout, /^status: +queued$/m);
  assert.match(r.stdout, /^query: +Rotate the TLS certificate on the edge proxy$/m);
  r = await ctl(['task', 'show', id, '--json'], { env: env() });
  const t = JSON.parse(r.stdout);
  assert.deepEqual([t.id, t.priority, t.category, t.title], [id, 1, 'security', 'rotate edge cert']);

  r = await ctl(['task', 'create', 'json please', '--json'], { env: env() });
  const made = JSON.parse(r.stdout);
  assert.equal(made.created, 1);
  assert.equal(made.tasks[0].category, 'general');
});

test('task watch: each change arrives live (subscribed resource), approve and deny, exit 0 when it completes', async () => {
  const r = await ctl(['task', 'create', 'Restart the web tier', '--category', 'infrastructure'], { env: env() });
  const id = r.stdout.trim();
  const w = ctlLive(['task', 'watch', id, '--json'], { env: env() });
  const human = ctlLive(['task', 'watch', id], { env: env() });
  const parsed = (pred) => (l) => pred(JSON.parse(l));
  // Each step must show within 8 s; without notifications the watcher rereads only every 30 s.
  let at = (await w.line(parsed((t) => t.status === 'queued'))).index;
  await human.line((l) => /queued/.test(l));

  const claimed = taskctl(tasks, 'claim', 'infra-1', '0', 'infrastructure');
  assert.equal(claimed.id, id);
  at = (await w.line(parsed((t) => t.status === 'in_progress' && t.worker === 'infra-1'), at + 1)).index;

  taskctl(tasks, 'progress', id, 'infra-1', { iterations: 1, tools_used: ['proxmox_list_vms'], last_tool_used: 'proxmox_list_vms', current_action: 'draining node pve2' }, { messages: [] });
  at = (await w.line(parsed((t) => t.progress?.current_action === 'draining node pve2'), at + 1)).index;
  await human.line((l) => /in_progress\s+worker infra-1\s+step 1\s+draining node pve2/.test(l));

  taskctl(tasks, 'hold', id, 'infra-1', { tool: 'proxmox_stop_vm', arguments: { vmid: 101 }, why: 'stops a running VM' }, { messages: [] });
  at = (await w.line(parsed((t) => t.status === 'awaiting_approval'), at + 1)).index;
  await human.line((l) => /awaiting_approval.*awaiting approval to run proxmox_stop_vm/.test(l));
  let s = await ctl(['task', 'show', id], { env: env() });
  assert.match(s.stdout, /^approval: +the worker wants to run proxmox_stop_vm: stops a running VM$/m);

  // Denied, with a reason: queued again, the decision recorded.
  s = await ctl(['approve', id, '--deny', '--reason', 'not during business hours'], { env: env() });
  assert.equal(s.code, 0, s.stderr);
  assert.equal(s.stdout.trim(), `${id} denied; status now queued`);
  at = (await w.line(parsed((t) => t.status === 'queued' && t.approval?.decision === 'denied'), at + 1)).index;
  s = await ctl(['approve', id], { env: env() });
  assert.equal(s.code, 1, 'a task not awaiting approval cannot be approved');

  // Held again and approved (--json), then finished.
  taskctl(tasks, 'claim', 'infra-2', '0', 'infrastructure');
  taskctl(tasks, 'hold', id, 'infra-2', { tool: 'proxmox_stop_vm', arguments: { vmid: 101 }, why: 'stops a running VM' }, { messages: [] });
  at = (await w.line(parsed((t) => t.status === 'awaiting_approval' && t.approval.decision === null), at + 1)).index;
  s = await ctl(['approve', id, '--reason', 'go ahead', '--json'], { env: env() });
  assert.equal(s.code, 0, s.stderr);
  const ap = JSON.parse(s.stdout);
  assert.deepEqual([ap.id, ap.status, ap.approval.decision, ap.approval.reason, ap.approval.by], [id, 'queued', 'approved', 'go ahead', 'ops']);
  taskctl(tasks, 'claim', 'infra-3', '0', 'infrastructure');
  taskctl(tasks, 'finish', id, 'infra-3', 'completed', { summary: 'web tier restarted' });
  await w.line(parsed((t) => t.status === 'completed' && t.result.summary === 'web tier restarted'), at + 1);
  assert.equal(await w.exited, 0, w.stderr());
  await human.line((l) => /completed.*result: web tier restarted/.test(l));
  assert.equal(await human.exited, 0);
  assert.equal(w.stderr(), '', 'watched live, without falling back to polling');
  noToken(w.stderr(), human.stderr(), gw.stderr());
});

test('task create --wait: follows the task a worker runs; exit 1 when it fails', async () => {
  const p = ctlLive(['task', 'create', 'Count the running VMs', '--category', 'inventory', '--wait'], { env: env() });
  const { line: id } = await p.line((l) => /^task-/.test(l));
  await p.line((l) => /queued/.test(l));
  assert.equal(taskctl(tasks, 'claim', 'inv-1', '0', 'inventory').id, id);
  await p.line((l) => /in_progress\s+worker inv-1/.test(l));
  taskctl(tasks, 'finish', id, 'inv-1', 'completed', { summary: '3 running' });
  await p.line((l) => /completed.*result: 3 running/.test(l));
  assert.equal(await p.exited, 0, p.stderr());

  // --json --wait prints the finished task alone; a failed task exits 1.
  const q = ctlLive(['task', 'create', 'Do the impossible', '--category', 'cicd', '--wait', '--json'], { env: env() });
  let claimed;
  for (let i = 0; i < 50 && !claimed; i++) {
    const r = spawnSync(TASKCTL, [JSON.stringify(tasks), 'claim', 'ci-1', '500', 'cicd'], { encoding: 'utf8' });
    if (r.status === 0) claimed = JSON.parse(r.stdout);
  }
  assert.ok(claimed, 'the task was queued');
  taskctl(tasks, 'finish', claimed.id, 'ci-1', 'failed', { summary: 'no runner available' });
  assert.equal(await q.exited, 1, q.stderr());
  const final = JSON.parse(q.lines.join('\n'));
  assert.deepEqual([final.id, final.status], [claimed.id, 'failed']);
});

test('--local: the adapters of a config run in-process, with no gateway', async () => {
  const dir = tmpDir();
  const conf = writeConfig({ tasks: { store: 'dir', dir } });
  const local = (...a) => ctl(['--local', '--config', conf, ...a]);
  let r = await local('tools', '--json');
  assert.equal(r.code, 0, r.stderr);
  assert.ok(JSON.parse(r.stdout).some((t) => t.name === 'cortex_create_task'));
  r = await local('task', 'create', 'local task', '--category', 'general');
  assert.equal(r.code, 0, r.stderr);
  const id = r.stdout.trim();
  r = await local('task', 'list', '--json');
  assert.deepEqual(JSON.parse(r.stdout).tasks.map((t) => t.id), [id]);
  r = await local('call', 'cortex_get_task_status', `id=${id}`);
  assert.equal(JSON.parse(r.stdout).status, 'queued');
  r = await local('call', 'cortex_get_task_status', 'id=task-mcp-1-nosuchtas');
  assert.equal(r.code, 1);
  r = await local('call', 'no_such_tool');
  assert.equal(r.code, 2);
  r = await local('call', 'cortex_create_task', 'query="q"', 'priority="high"');
  assert.equal(r.code, 1, 'the gateway\'s schema check runs in-process too');
  assert.match(r.stderr, /priority/);
  r = await local('status', '--json');
  assert.deepEqual(JSON.parse(r.stdout).adapters.map((a) => a.name).sort(), ['cortex', 'gateway']);
  assert.equal(r.stderr, '', 'no log lines without --verbose');

  // task watch polls in-process: a worker's changes still show, and it ends with the task.
  const w = ctlLive(['--local', '--config', conf, 'task', 'watch', id, '--json']);
  await w.line((l) => JSON.parse(l).status === 'queued');
  taskctl({ store: 'dir', dir }, 'claim', 'gen-1', '0');
  await w.line((l) => JSON.parse(l).status === 'in_progress');
  taskctl({ store: 'dir', dir }, 'finish', id, 'gen-1', 'cancelled', {});
  assert.equal(await w.exited, 1, 'a cancelled task exits 1');

  r = await ctl(['--local', '--config', join(dir, 'missing.json'), 'tools']);
  assert.equal(r.code, 3);
  assert.match(r.stderr, /missing\.json/);
  r = await ctl(['--local', '--config', writeConfig({ adapters: { nosuch: {} } }), 'tools']);
  assert.equal(r.code, 3);
  assert.match(r.stderr, /adapters\.nosuch/);
});

test('--help on every command and subcommand: what it does, its flags, an example', async () => {
  const cmds = [[], ['tools'], ['call'], ['status'], ['approve'], ['task'], ['task', 'create'], ['task', 'list'],
    ['task', 'show'], ['task', 'watch'], ['completion']];
  for (const c of cmds) {
    for (const args of [[...c, '--help'], ['help', ...c]]) {
      const r = await ctl(args);
      assert.equal(r.code, 0, args.join(' '));
      assert.match(r.stdout, new RegExp(`^usage: cortexctl ${c.join(' ')}`), args.join(' '));
      assert.match(r.stdout, /example/, args.join(' '));
    }
  }
  const top = await ctl(['--help']);
  for (const flag of ['--url', '--token-file', '--local', '--config', '--json', 'CORTEX_GATEWAY_URL', 'CORTEX_TOKEN', 'exit status']) {
    assert.ok(top.stdout.includes(flag), flag);
  }
  assert.match((await ctl(['call', '--help'])).stdout, /key=value.*JSON/s);
  assert.match((await ctl(['--version'])).stdout, /^cortexctl \d+\.\d+\.\d+$/m);
});

test('bash completion: cortexctl completion bash registers it and completes commands and flags', async () => {
  let r = spawnSync('bash', ['-c', `source <("${CTL}" completion bash); complete -p cortexctl`], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /complete -F _cortexctl cortexctl/);
  const complete = (line) => {
    const words = line.split(' ');
    const script = `source <("${CTL}" completion bash); COMP_WORDS=(${words.map((w) => `'${w}'`).join(' ')}); COMP_CWORD=${words.length - 1}; _cortexctl; echo "\${COMPREPLY[*]}"`;
    const out = spawnSync('bash', ['-c', script], { encoding: 'utf8' });
    assert.equal(out.status, 0, out.stderr);
    return out.stdout.trim().split(/\s+/);
  };
  assert.deepEqual(complete('cortexctl ta'), ['task']);
  assert.deepEqual(complete('cortexctl task '), ['create', 'list', 'show', 'watch', '--url', '--token-file', '--local', '--config', '--json', '--timeout', '--verbose', '--help', '--version']);
  assert.deepEqual(complete('cortexctl task create --w'), ['--wait']);
  assert.deepEqual(complete('cortexctl task list --status aw'), ['awaiting_approval']);
  assert.deepEqual(complete('cortexctl --url http://x task create --category sec'), ['security']);
  assert.deepEqual(complete('cortexctl approve task-1 --d'), ['--deny']);
  // call's tool names come from the gateway the line names (here --local with a config).
  const conf = writeConfig({ tasks: { store: 'dir', dir: tmpDir() } });
  const bin = tmpDir();
  symlinkSync(CTL, join(bin, 'cortexctl'));
  const withPath = (line) => {
    const words = line.split(' ');
    const script = `source <(cortexctl completion bash); COMP_WORDS=(${words.map((w) => `'${w}'`).join(' ')}); COMP_CWORD=${words.length - 1}; _cortexctl; echo "\${COMPREPLY[*]}"`;
    const out = spawnSync('bash', ['-c', script], { encoding: 'utf8', env: { ...process.env, PATH: bin + ':' + process.env.PATH } });
    assert.equal(out.status, 0, out.stderr);
    return out.stdout.trim().split(/\s+/).sort();
  };
  assert.deepEqual(withPath(`cortexctl --local --config ${conf} call cortex_get`), ['cortex_get_metrics', 'cortex_get_task_status', 'cortex_get_tasks']);
  assert.deepEqual(withPath(`cortexctl --local --config ${conf} call gateway_status --j`), ['--json']);
  r = await ctl(['completion', 'bash']);
  assert.equal(r.code, 0);
  assert.match(r.stdout, /^complete -F _cortexctl cortexctl$/m);
});

test('task watch falls back to reading the task every second when the gateway will not stream, and still follows it to its end', async () => {
  // A gateway that lets a client hold one stream; a task-event stream of this token holds it,
  // so task watch's GET /mcp is refused (429) and it polls.
  const dir = tmpDir();
  const store = { store: 'dir', dir };
  const g = startHttp(['--config', writeConfig({
    tokens: [{ name: 'ops', sha256: sha(TOKEN) }],
    http: { max_streams_per_client: 1 },
    tasks: store,
  })], { bin: SHIPPED });
  running.push(g);
  const gurl = await g.ready;
  const genv = { CORTEX_GATEWAY_URL: gurl, CORTEX_TOKEN: TOKEN };
  const other = (await ctl(['task', 'create', 'held open by a stream'], { env: genv })).stdout.trim();
  const id = (await ctl(['task', 'create', 'followed by polling', '--category', 'cicd'], { env: genv })).stdout.trim();
  assert.match(id, /^task-/);
  const holder = new AbortController();
  const held = await fetch(new URL(`/v1/tasks/${other}/events`, gurl), {
    headers: { authorization: `Bearer ${TOKEN}` }, signal: holder.signal,
  });
  assert.equal(held.status, 200);
  try {
    const w = ctlLive(['task', 'watch', id, '--json'], { env: genv });
    await w.line((l) => JSON.parse(l).status === 'queued');
    assert.equal(taskctl(store, 'claim', 'ci-1', '0', 'cicd').id, id);
    await w.line((l) => JSON.parse(l).status === 'in_progress', 0, 5000);
    taskctl(store, 'finish', id, 'ci-1', 'completed', { summary: 'pipeline green' });
    await w.line((l) => JSON.parse(l).result?.summary === 'pipeline green', 0, 5000);
    assert.equal(await w.exited, 0, w.stderr());
    assert.match(w.stderr(), /live updates unavailable \(.*\); checking every 1 s/);
    noToken(w.stderr(), g.stderr());
  } finally {
    holder.abort();
  }
});

test('Ctrl-C stops task watch at once with status 130, the task going on, and ends its session at the gateway', async () => {
  const ended = async () => {
    const r = await fetch(new URL('/metrics', url), { headers: { authorization: `Bearer ${TOKEN}` } });
    assert.equal(r.status, 200);
    return Number((await r.text()).match(/^cortex_sessions_ended_total (\d+)$/m)[1]);
  };
  const id = (await ctl(['task', 'create', 'watched, then left', '--category', 'security'], { env: env() })).stdout.trim();
  const before = await ended();
  for (const sig of ['SIGINT', 'SIGTERM']) {
    const w = ctlLive(['task', 'watch', id], { env: env() });
    await w.line((l) => /queued/.test(l));
    const t0 = Date.now();
    w.child.kill(sig);
    assert.equal(await w.exited, 130, w.stderr());
    assert.ok(Date.now() - t0 < 3000, `${sig}: stopped after ${Date.now() - t0} ms`);
    assert.match(w.stderr(), new RegExp(`stopped watching task ${id} \\(it goes on`));
  }
  assert.equal(await ended(), before + 2, 'each watcher ended its session (DELETE) on the way out');
  const s = await ctl(['task', 'show', id, '--json'], { env: env() });
  assert.equal(JSON.parse(s.stdout).status, 'queued', 'the task itself is untouched');
});
