// make demo (scripts/demo.sh): started as make starts it, waited for until "demo: ready"; real
// calls through the gateway it started (tools of all five adapters, the curl line it prints, a
// task the orchestrator runs with the simulator's scripted LLM); then SIGINT, after which every
// process it started has exited, its ports are free and its folder is gone.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { connect } from 'node:net';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SHIPPED, httpSession, startSim, writeConfig } from './lib.mjs';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const O = dirname(SHIPPED);

let demo;
let started = [];
// On a failure, stop what the demo started as Ctrl-C would, then make sure.
after(async () => {
  if (demo && demo.exitCode === null && demo.signalCode === null) {
    demo.kill('SIGTERM');
    await new Promise((r) => { const t = setTimeout(r, 15000); demo.on('exit', () => { clearTimeout(t); r(); }); });
  }
  for (const pid of started) if (alive(pid)) process.kill(pid, 'SIGKILL');
});

const alive = (pid) => {
  try { process.kill(pid, 0); return true; } catch (e) { return e.code !== 'ESRCH'; }
};
const portOpen = (port) => new Promise((res) => {
  const s = connect(port, '127.0.0.1');
  s.on('connect', () => { s.destroy(); res(true); });
  s.on('error', () => res(false));
});

test('make demo: ready, real tool calls and a task through what it started, and Ctrl-C stops all of it', async () => {
  const env = { ...process.env, CORTEX_DEMO_LISTEN: '127.0.0.1:0' };
  delete env.ANTHROPIC_API_KEY;
  delete env.OPENAI_BASE_URL;
  demo = spawn('bash', [join(root, 'scripts/demo.sh'), O], { stdio: ['ignore', 'pipe', 'pipe'], env });
  let out = '';
  let err = '';
  demo.stdout.setEncoding('utf8');
  demo.stderr.setEncoding('utf8');
  demo.stderr.on('data', (d) => { err += d; });
  const exited = new Promise((res) => demo.on('exit', (code, signal) => res({ code, signal })));
  await new Promise((res, rej) => {
    const t = setTimeout(() => rej(new Error('no "demo: ready" in 90 s: ' + out + err)), 90000);
    demo.stdout.on('data', (d) => { out += d; if (/^demo: ready$/m.test(out)) { clearTimeout(t); res(); } });
    exited.then(({ code }) => { clearTimeout(t); rej(new Error(`demo exited with ${code}: ${out}${err}`)); });
  });
  assert.match(out, /the orchestrator with the simulator's scripted LLM/);
  const url = /the gateway at (http:\/\/127\.0\.0\.1:(\d+)\/mcp)/.exec(out);
  const sim = /the simulator at http:\/\/127\.0\.0\.1:(\d+)/.exec(out);
  const pids = /pids: sim (\d+) gateway (\d+) orchestrator (\d+)/.exec(out).slice(1).map(Number);
  started = pids;
  const folder = /logs: (\S+)\/\{sim/.exec(out)[1];
  assert.ok(pids.every(alive));
  // The Claude Desktop entry it prints is JSON that launches this gateway over stdio.
  const desktop = JSON.parse(/^ {2}(\{"mcpServers"[\s\S]*?\}\}\})$/m.exec(out)[1]);
  const entry = desktop.mcpServers['cortex-demo'];
  assert.equal(entry.command, SHIPPED);
  assert.deepEqual(entry.args.slice(0, 2), ['--stdio', '--config']);
  assert.ok(entry.args[2].startsWith(folder + '/'));

  const mcp = await httpSession(url[1]);
  const list = await mcp.call('tools/list', {});
  const names = list.result.tools.map((t) => t.name);
  for (const n of ['proxmox_list_vms', 'cloudflare_list_zones', 'sandfly_list_hosts', 'unifi_list_devices', 'kubectl_get',
    'cortex_create_task', 'gateway_status']) assert.ok(names.includes(n), n);
  const call = async (name, args = {}) => {
    const r = await mcp.call('tools/call', { name, arguments: args });
    assert.ok(r.result && !r.result.isError, `${name}: ${JSON.stringify(r)}`);
    return r.result.structuredContent;
  };
  assert.ok(JSON.stringify(await call('proxmox_list_vms')).includes('web01'));
  assert.ok(JSON.stringify(await call('kubectl_get', { kind: 'pods' })).includes('multi'));
  assert.ok(JSON.stringify(await call('sandfly_list_hosts')).includes('legacy01'));
  assert.ok(JSON.stringify(await call('unifi_list_sites')).includes('default'));

  // The cortexctl lines it prints work as printed (the task one waits for the scripted LLM).
  const sh = /^ {2}(export CORTEX_GATEWAY_URL=\S+)\n((?: {2}\S*cortexctl .*\n)+)/m.exec(out);
  const lines = sh[2].trim().split('\n').map((l) => l.trim());
  assert.equal(lines.length, 6, sh[2]);
  for (const line of lines) {
    const r = spawnSync('bash', ['-c', `${sh[1]}; ${line}`], { encoding: 'utf8', timeout: 60000 });
    assert.equal(r.status, 0, `${line}: ${r.stdout}${r.stderr}`);
    if (/task create/.test(line)) assert.match(r.stdout + r.stderr, /completed/);
    if (/proxmox_list_vms/.test(line)) assert.match(r.stdout, /web01/);
  }

  // The curl line it prints works as printed.
  const curl = /^ {2}(curl -s [\s\S]*?\}\}\}')$/m.exec(out)[1].replace(/\\\n/g, ' ');
  const c = spawnSync('bash', ['-c', curl], { encoding: 'utf8', timeout: 30000 });
  assert.equal(c.status, 0, c.stderr);
  assert.ok(JSON.parse(c.stdout).result.structuredContent.zones.some((z) => z.name === 'example.com'), c.stdout);

  // A task, run by the orchestrator with the scripted LLM through the same gateway.
  const created = await call('cortex_create_task', { query: 'What VMs run on pve1?', category: 'infrastructure' });
  const id = created.id || created.task?.id || created.tasks?.[0]?.id;
  assert.ok(id, JSON.stringify(created));
  let task;
  for (let i = 0; i < 300; i++) {
    task = await call('cortex_get_task_status', { id });
    task = task.task || task;
    if (['completed', 'failed', 'cancelled'].includes(task.status)) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.equal(task.status, 'completed', JSON.stringify(task));
  assert.match(JSON.stringify(task.result), /web01/);

  // Ctrl-C: SIGINT to the script alone (a terminal sends it to the whole group; this is the
  // harder case: the script must stop its children itself).
  demo.kill('SIGINT');
  let timer;
  const { code, signal } = await Promise.race([exited,
    new Promise((r) => { timer = setTimeout(() => r({ code: 'timeout' }), 60000); })]);
  clearTimeout(timer);
  assert.equal(code, 0, `exit ${code}/${signal}: ${out}${err}`);
  assert.match(out, /demo: stopped/);
  assert.doesNotMatch(err, /exited with status|Sanitizer|runtime error/, err);
  for (const pid of pids) assert.ok(!alive(pid), `pid ${pid} exited`);
  assert.equal(await portOpen(Number(url[2])), false, 'the gateway port is free');
  assert.equal(await portOpen(Number(sim[1])), false, 'the simulator port is free');
  assert.ok(!existsSync(folder), `${folder} removed`);
});

test('make demo with OPENAI_BASE_URL: the orchestrator asks that server, with the model of OPENAI_MODEL', async () => {
  const llm = startSim(['--config', writeConfig({ llm: { conversations: [
    { match: 'ping-openai', turns: [{ tool_use: [{ name: 'gateway_status', input: {} }] }, { text: 'pong from the local model' }] }] } })]);
  const llmUrl = await llm.ready;
  try {
    const env = { ...process.env, CORTEX_DEMO_LISTEN: '127.0.0.1:0', OPENAI_BASE_URL: llmUrl, OPENAI_MODEL: 'qwen-demo' };
    delete env.ANTHROPIC_API_KEY;
    demo = spawn('bash', [join(root, 'scripts/demo.sh'), O], { stdio: ['ignore', 'pipe', 'pipe'], env });
    let out = '';
    demo.stdout.setEncoding('utf8');
    const exited = new Promise((res) => demo.on('exit', (code) => res(code)));
    await new Promise((res, rej) => {
      demo.stdout.on('data', (d) => { out += d; if (/^demo: ready$/m.test(out)) res(); });
      exited.then((code) => rej(new Error(`demo exited with ${code}: ${out}`)));
    });
    started = /pids: sim (\d+) gateway (\d+) orchestrator (\d+)/.exec(out).slice(1).map(Number);
    assert.match(out, new RegExp(`the orchestrator with the OpenAI-compatible server at ${llmUrl} \\(OPENAI_BASE_URL\\), model qwen-demo`));
    const mcp = await httpSession(/the gateway at (http:\/\/\S+\/mcp)/.exec(out)[1]);
    const r = await mcp.call('tools/call', { name: 'cortex_create_task', arguments: { query: 'ping-openai', category: 'general' } });
    const sc = r.result.structuredContent;
    const id = sc.id || sc.task?.id || sc.tasks?.[0]?.id;
    let task;
    for (let i = 0; i < 300; i++) {
      const s = (await mcp.call('tools/call', { name: 'cortex_get_task_status', arguments: { id } })).result.structuredContent;
      task = s.task || s;
      if (['completed', 'failed', 'cancelled'].includes(task.status)) break;
      await new Promise((res) => setTimeout(res, 100));
    }
    assert.equal(task.status, 'completed', JSON.stringify(task));
    assert.match(JSON.stringify(task.result), /pong from the local model/);
    const script = (await (await fetch(llmUrl + '/v1/_sim/llm')).json()).script;
    const reqs = script.conversations[0].requests;
    assert.ok(reqs.length >= 2, JSON.stringify(reqs));
    for (const q of reqs) {
      assert.match(q.path, /\/chat\/completions$/);
      assert.equal(q.body.model, 'qwen-demo');
    }
    demo.kill('SIGINT');
    assert.equal(await exited, 0);
    for (const pid of started) assert.ok(!alive(pid), `pid ${pid} exited`);
  } finally {
    llm.child.kill('SIGTERM');
  }
});
