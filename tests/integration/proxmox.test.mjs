// The Proxmox VE adapter against the simulator (build/cortex-sim): every tool, power actions
// that wait for their task, ticket authentication with CSRF on writes, the failures a model
// must be able to read (bad credentials, unknown guest, retries, a hanging backend), and TLS:
// refused by default, trusted through ca_file or a pinned fingerprint, and a wrong pin sends
// nothing at all.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { startSim, startStdio, tmpDir, writeConfig } from './lib.mjs';

const running = [];
after(() => running.forEach((p) => p.kill()));

const TOKEN_ID = 'root@pam!cortex';
const SECRET = '5e1f3c9a-2b7d-4e8f-9a61-0c3d5b7e9f12';

async function sim(args = []) {
  const s = startSim(args);
  running.push(s);
  s.url = await s.ready;
  return s;
}

// The simulator's control endpoints; over HTTPS the simulator's own certificate is trusted.
async function simCall(s, path, { method = 'GET', body } = {}) {
  if (!s.ca) {
    const r = await fetch(s.url + path, { method, body: body && JSON.stringify(body) });
    return r.json();
  }
  return new Promise((res, rej) => {
    const req = httpsRequest(s.url + path, { method, ca: s.ca }, (r) => {
      let data = '';
      r.on('data', (d) => { data += d; });
      r.on('end', () => res(JSON.parse(data)));
    });
    req.on('error', rej);
    req.end(body && JSON.stringify(body));
  });
}

async function gateway(proxmox, { calls = { timeout_ms: 8000 }, env = {} } = {}) {
  const conf = writeConfig({ calls, adapters: { proxmox } });
  const g = startStdio(['--config', conf], { env: { PX_SECRET: SECRET, PX_PASSWORD: 'sim-password', ...env } });
  running.push(g);
  await g.initialize();
  g.call = async (name, args = {}) => (await g.request('tools/call', { name, arguments: args })).result;
  return g;
}

const tokenConf = (s, extra = {}) => ({
  url: s.url, token_id: TOKEN_ID, token_secret: { env: 'PX_SECRET' }, task_poll_ms: 50, ...extra,
});

const text = (r) => r.content.map((c) => c.text).join('\n');

test('the read-only tools answer with the cluster as the API reports it', async () => {
  const s = await sim();
  const g = await gateway(tokenConf(s));
  const nodes = await g.call('proxmox_list_nodes');
  assert.deepEqual(nodes.structuredContent.nodes.map((n) => n.node), ['pve1', 'pve2']);
  assert.equal(JSON.parse(text(nodes)).nodes.length, 2, 'the same JSON as text');

  const vms = await g.call('proxmox_list_vms');
  assert.deepEqual(vms.structuredContent.vms.map((v) => v.vmid).sort(), [100, 101, 102, 103, 200, 201]);
  const running = await g.call('proxmox_list_vms', { status: 'running' });
  // A paused VM (102) is "running" to Proxmox; only its qmpstatus says paused.
  assert.deepEqual(running.structuredContent.vms.map((v) => v.vmid).sort(), [100, 102, 200]);
  const paused = await g.call('proxmox_get_vm_status', { vmid: 102 });
  assert.equal(paused.structuredContent.qmpstatus, 'paused');
  const lxc = await g.call('proxmox_list_vms', { type: 'lxc' });
  assert.ok(lxc.structuredContent.vms.every((v) => v.type === 'lxc'));

  const st = await g.call('proxmox_get_vm_status', { vmid: 101 });
  assert.equal(st.isError, undefined, text(st));
  assert.equal(st.structuredContent.status, 'stopped');
  assert.equal(st.structuredContent.type, 'qemu');
  const node = st.structuredContent.node;
  const ns = await g.call('proxmox_get_node_status', { node });
  assert.equal(ns.structuredContent.node, node);
  const cfg = await g.call('proxmox_get_vm_config', { vmid: 200 });
  assert.equal(cfg.structuredContent.type, 'lxc');
  assert.equal(typeof cfg.structuredContent.config, 'object');
  const res = await g.call('proxmox_get_cluster_resources', { type: 'node' });
  assert.ok(res.structuredContent.resources.length >= 2);
  const cs = await g.call('proxmox_get_cluster_status');
  assert.ok(Array.isArray(cs.structuredContent.nodes));

  const missing = await g.call('proxmox_get_vm_status', { vmid: 999 });
  assert.equal(missing.isError, true);
  assert.match(text(missing), /no VM or container with id 999/);
  await g.close();
});

test('a power action waits for its task, reports its exit status, and the guest changes', async () => {
  const s = await sim();
  const g = await gateway(tokenConf(s));
  const started = await g.call('proxmox_vm_action', { vmid: 101, action: 'start' });
  assert.equal(started.isError, undefined, text(started));
  assert.equal(started.structuredContent.exitstatus, 'OK');
  assert.match(started.structuredContent.upid, /^UPID:/);
  const st = await g.call('proxmox_get_vm_status', { vmid: 101 });
  assert.equal(st.structuredContent.status, 'running');
  const task = await g.call('proxmox_get_task_status', { upid: started.structuredContent.upid });
  assert.equal(task.structuredContent.status, 'stopped');
  assert.equal(task.structuredContent.exitstatus, 'OK');

  const again = await g.call('proxmox_vm_action', { vmid: 101, action: 'start' });
  assert.equal(again.isError, true, 'starting a running VM fails the way Proxmox says');
  assert.match(text(again), /already running/);
  const lxcReset = await g.call('proxmox_vm_action', { vmid: 200, action: 'reset' });
  assert.equal(lxcReset.isError, true);
  assert.match(text(lxcReset), /not an action for a container/);
  const nowait = await g.call('proxmox_vm_action', { vmid: 100, action: 'shutdown', wait: false });
  assert.equal(nowait.structuredContent.status, 'running');
  await g.close();
});

test('ticket authentication: one login, the CSRF token on writes, a wrong password said plainly', async () => {
  const s = await sim();
  const g = await gateway({ url: s.url, username: 'root@pam', password: { env: 'PX_PASSWORD' }, task_poll_ms: 50 });
  assert.equal((await g.call('proxmox_list_nodes')).isError, undefined);
  const act = await g.call('proxmox_vm_action', { vmid: 201, action: 'start' });
  assert.equal(act.isError, undefined, text(act));
  const log = (await simCall(s, '/_sim/requests')).requests;
  const logins = log.filter((r) => r.path.endsWith('/access/ticket'));
  assert.ok(logins.length >= 1 && logins.length <= 2, 'one login (the health check may race it)');
  const post = log.find((r) => r.method === 'POST' && r.path.endsWith('/status/start'));
  assert.ok(post.headers.map((h) => h.toLowerCase()).includes('csrfpreventiontoken'), 'CSRF on the write');
  await g.close();

  const bad = await gateway({ url: s.url, username: 'root@pam', password: { env: 'PX_PASSWORD' } },
    { env: { PX_PASSWORD: 'wrong-password' } });
  const r = await bad.call('proxmox_list_nodes');
  assert.equal(r.isError, true);
  assert.match(text(r), /401/);
  assert.match(text(r), /username or password is wrong/);
  assert.ok(!bad.child.stderr || !bad.stderr().includes('wrong-password'), 'the password is never logged');
  await bad.close();
});

test('failures the model can act on: a wrong token, retries after 503 and 429, a hanging backend', async () => {
  const s = await sim();
  const wrong = await gateway(tokenConf(s), { env: { PX_SECRET: 'not-the-secret' } });
  const r = await wrong.call('proxmox_list_nodes');
  assert.equal(r.isError, true);
  assert.match(text(r), /proxmox answered 401/);
  assert.match(text(r), /token_id and token_secret/);
  assert.ok(!text(r).includes('not-the-secret') && !wrong.stderr().includes('not-the-secret'));
  await wrong.close();

  const g = await gateway(tokenConf(s, { retries: 3 }), { calls: { timeout_ms: 3000, workers: 4 } });
  await simCall(s, '/_sim/faults', { method: 'POST', body: { method: 'GET', path: '/api2/json/nodes', kind: 'status', status: 503, count: 2 } });
  assert.equal((await g.call('proxmox_list_nodes')).isError, undefined, '503 twice, then answered');
  await simCall(s, '/_sim/faults', { method: 'DELETE' });
  await simCall(s, '/_sim/faults', { method: 'POST', body: { method: 'GET', path: '/api2/json/nodes', kind: 'status', status: 429, retry_after: 1, count: 1 } });
  let t0 = Date.now();
  assert.equal((await g.call('proxmox_list_nodes')).isError, undefined, '429 then answered');
  assert.ok(Date.now() - t0 >= 900, 'Retry-After was waited for');
  await simCall(s, '/_sim/faults', { method: 'DELETE' });

  // One backend request hangs past the call's deadline; other calls are answered meanwhile.
  await simCall(s, '/_sim/faults', { method: 'POST', body: { path: '/api2/json/cluster/status', kind: 'latency', latency_ms: 10000 } });
  g.send({ jsonrpc: '2.0', id: 'hang', method: 'tools/call', params: { name: 'proxmox_get_cluster_status', arguments: {} } });
  t0 = Date.now();
  const quick = await g.request('tools/call', { name: 'proxmox_list_nodes', arguments: {} }, 'quick');
  assert.equal(quick.id, 'quick', 'the other call was answered first');
  assert.ok(Date.now() - t0 < 2000);
  const hung = await g.next(8000);
  assert.equal(hung.id, 'hang');
  assert.equal(hung.result.isError, true);
  assert.match(text(hung.result), /did not (answer|finish) within/);
  assert.ok(Date.now() - t0 < 4500, 'the deadline bounded the hanging call');
  await g.close();
});

test('TLS: refused by default, trusted with ca_file or the fingerprint; a wrong pin sends no request', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'cortex-px-tls-'));
  const pem = join(dir, 'sim.pem');
  const s = await sim(['--tls', '--cert-out', pem]);
  assert.match(s.url, /^https:/);
  s.ca = readFileSync(pem, 'utf8');
  const fp = s.fingerprint();
  assert.match(fp, /^([0-9A-F]{2}:){31}[0-9A-F]{2}$/);

  const plain = await gateway(tokenConf(s));
  const refused = await plain.call('proxmox_list_nodes');
  assert.equal(refused.isError, true);
  assert.match(text(refused), /TLS|certificate/i);
  await plain.close();

  for (const extra of [{ ca_file: pem }, { fingerprint: fp }, { fingerprint: fp.replace(/:/g, '').toLowerCase() }]) {
    const g = await gateway(tokenConf(s, extra));
    const ok = await g.call('proxmox_list_nodes');
    assert.equal(ok.isError, undefined, JSON.stringify(extra) + ': ' + text(ok));
    await g.close();
  }

  await simCall(s, '/_sim/requests', { method: 'DELETE' });
  const wrongPin = fp.replace(/^[0-9A-F]{2}/, fp.startsWith('00') ? '11' : '00');
  const g = await gateway(tokenConf(s, { fingerprint: wrongPin }));
  const r = await g.call('proxmox_list_nodes');
  assert.equal(r.isError, true);
  assert.match(text(r), /certificate fingerprint mismatch/);
  await g.close();
  const log = (await simCall(s, '/_sim/requests')).requests;
  assert.deepEqual(log, [], 'no request, and so no token, reached the backend');
  assert.ok(readFileSync(pem, 'utf8').includes('BEGIN CERTIFICATE'));
});

test('a backend that answers badly is a sentence, never a crash: invalid or cut JSON, a dropped connection, an oversized body', async () => {
  const s = await sim();
  const g = await gateway(tokenConf(s, { retries: 0 }));
  const cases = [
    [{ kind: 'invalid_json' }, /not Proxmox's JSON envelope/],
    [{ kind: 'truncate' }, /not Proxmox's JSON envelope|connection|answer/i],
    [{ kind: 'drop' }, /failed: .*partial|connection|closed|empty/i],
    [{ kind: 'oversize', size_mib: 10 }, /more than \d+ bytes/],
  ];
  for (const [fault, want] of cases) {
    await simCall(s, '/_sim/faults', { method: 'DELETE' });
    await simCall(s, '/_sim/faults', { method: 'POST', body: { method: 'GET', path: '/api2/json/nodes', ...fault } });
    const r = await g.call('proxmox_list_nodes');
    assert.equal(r.isError, true, fault.kind + ': ' + JSON.stringify(r));
    assert.match(text(r), want, fault.kind);
  }
  await simCall(s, '/_sim/faults', { method: 'DELETE' });
  assert.equal((await g.call('proxmox_list_nodes')).isError, undefined, 'and the next call works');
  await g.close();
});

test('an expired ticket is renewed with a fresh login, without the caller noticing', async () => {
  const s = await sim(['--config', writeConfig({ proxmox: { ticket_lifetime_s: 1 } })]);
  const g = await gateway({ url: s.url, username: 'root@pam', password: { env: 'PX_PASSWORD' } });
  assert.equal((await g.call('proxmox_list_nodes')).isError, undefined);
  await new Promise((r) => setTimeout(r, 1500));
  const again = await g.call('proxmox_list_nodes');
  assert.equal(again.isError, undefined, text(again));
  const logins = (await simCall(s, '/_sim/requests')).requests.filter((r) => r.path.endsWith('/access/ticket'));
  assert.ok(logins.length >= 2, 'a second login after the first ticket expired');
});

test('a cancelled call closes its backend connection within 100 ms: the only worker is free again', async () => {
  const s = await sim();
  const g = await gateway(tokenConf(s), { calls: { timeout_ms: 20000, workers: 1 } });
  await simCall(s, '/_sim/faults', { method: 'POST', body: { path: '/api2/json/cluster/status', kind: 'latency', latency_ms: 15000 } });
  g.send({ jsonrpc: '2.0', id: 'slow', method: 'tools/call', params: { name: 'proxmox_get_cluster_status', arguments: {} } });
  await new Promise((r) => setTimeout(r, 300));
  const t0 = Date.now();
  g.send({ jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: 'slow', reason: 'test' } });
  const next = await g.request('tools/call', { name: 'proxmox_list_nodes', arguments: {} }, 'next');
  assert.equal(next.id, 'next', 'the cancelled call is never answered');
  assert.equal(next.result.isError, undefined);
  assert.ok(Date.now() - t0 < 1000, `the single worker was free within ${Date.now() - t0} ms, not after the 15 s backend delay`);
  // The simulator saw the gateway hang up during its delay; both clocks are this machine's.
  const slow = (await simCall(s, '/_sim/requests')).requests.find((r) => r.path === '/api2/json/cluster/status');
  assert.ok(slow && slow.client_closed_at_ms, 'the backend connection was closed during the delay: ' + JSON.stringify(slow));
  const closedIn = slow.client_closed_at_ms - t0;
  assert.ok(closedIn < 100, `the backend connection closed ${closedIn} ms after the cancellation`);
  await g.close();
});

test('the one-GET tools wait on the backend I/O thread: a slow backend holds no worker, every call is answered and audited', async () => {
  const s = await sim();
  const audit = join(tmpDir(), 'audit.log');
  const conf = writeConfig({ calls: { timeout_ms: 8000, workers: 1 }, audit: { file: audit },
    adapters: { proxmox: tokenConf(s) } });
  const g = startStdio(['--config', conf], { env: { PX_SECRET: SECRET } });
  running.push(g);
  await g.initialize();
  await simCall(s, '/_sim/faults', { method: 'POST', body: { path: '/api2/json/cluster/resources', kind: 'latency', latency_ms: 1000 } });
  const t0 = Date.now();
  for (let i = 0; i < 6; i++)
    g.send({ jsonrpc: '2.0', id: `vms${i}`, method: 'tools/call', params: { name: 'proxmox_list_vms', arguments: { type: 'lxc' } } });
  // A tool without a fast path still finds the one worker free.
  const cfg = await g.request('tools/call', { name: 'proxmox_get_vm_config', arguments: { vmid: 100, node: 'pve1', type: 'qemu' } }, 'cfg');
  assert.equal(cfg.id, 'cfg', 'answered before the slow calls');
  assert.equal(cfg.result.isError, undefined, text(cfg.result));
  assert.ok(Date.now() - t0 < 800, `the worker was free at once (${Date.now() - t0} ms)`);
  const ids = new Set();
  for (let i = 0; i < 6; i++) {
    const m = await g.next(5000);
    ids.add(m.id);
    assert.equal(m.result.isError, undefined, text(m.result));
    assert.deepEqual(m.result.structuredContent.vms.map((v) => v.vmid).sort(), [200, 201]);
    assert.equal(m.result.structuredContent.count, 2);
  }
  assert.equal(ids.size, 6);
  const took = Date.now() - t0;
  assert.ok(took >= 950 && took < 2500, `six 1 s requests waited together: ${took} ms, not six seconds`);
  await g.close();
  const lines = readFileSync(audit, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  const vmsLines = lines.filter((l) => l.tool === 'proxmox_list_vms');
  assert.equal(vmsLines.length, 6, 'one audit line per call');
  assert.ok(vmsLines.every((l) => l.outcome === 'ok' && l.duration_ms >= 900 && l.arguments.type === 'lxc'), JSON.stringify(vmsLines[0]));
  assert.ok(!readFileSync(audit, 'utf8').includes(SECRET), 'no token in the audit log');
});

test('a slow trickle is read to the end within the deadline, and cut off with a sentence past it', async () => {
  const s = await sim();
  // The adapter's own timeout (one backend request) is shorter than the call's deadline.
  const g = await gateway(tokenConf(s, { retries: 0, timeout_ms: 1000 }), { calls: { timeout_ms: 5000 } });
  // /nodes is a few hundred bytes: at 2,000 bytes a second it arrives whole in time.
  await simCall(s, '/_sim/faults', { method: 'POST', body: { path: '/api2/json/nodes', kind: 'trickle', bytes_per_sec: 2000, count: 1 } });
  const t0 = Date.now();
  const ok = await g.call('proxmox_list_nodes');
  assert.equal(ok.isError, undefined, text(ok));
  assert.ok(ok.structuredContent.nodes.length > 0);
  assert.ok(Date.now() - t0 >= 80, 'the answer really trickled in');
  // At 20 bytes a second it cannot arrive within the 1 s the adapter allows a request.
  await simCall(s, '/_sim/faults', { method: 'POST', body: { path: '/api2/json/nodes', kind: 'trickle', bytes_per_sec: 20, count: 1 } });
  const t1 = Date.now();
  const late = await g.call('proxmox_list_nodes');
  assert.equal(late.isError, true);
  assert.match(text(late), /proxmox at 127.0.0.1:\d+ did not answer within 1000 ms/);
  assert.ok(Date.now() - t1 < 3000, `cut off near the 1 s limit, after ${Date.now() - t1} ms`);
  await g.close();
});

test('insecure_skip_verify: accepted with a warning at start and in gateway_status', async () => {
  const s = await sim(['--tls']);
  const g = await gateway(tokenConf(s, { insecure_skip_verify: true }));
  const ok = await g.call('proxmox_list_nodes');
  assert.equal(ok.isError, undefined, text(ok));
  assert.match(g.stderr(), /NOT VERIFIED \(insecure_skip_verify\)/);
  const st = (await g.call('gateway_status')).structuredContent;
  const px = st.adapters.find((a) => a.name === 'proxmox');
  assert.match(px.tls, /NOT VERIFIED/);
  assert.equal(px.warnings.length, 1);
  assert.match(px.warnings[0], /NOT VERIFIED.*set ca_file or fingerprint/);
  await g.close();
  const verified = await gateway(tokenConf(s, { fingerprint: s.fingerprint() }));
  const st2 = (await verified.call('gateway_status')).structuredContent;
  const px2 = st2.adapters.find((a) => a.name === 'proxmox');
  assert.match(px2.tls, /pinned/);
  assert.equal(px2.warnings, undefined, 'no warning when the certificate is checked');
  await verified.close();
});

test('relative paths in the adapter config (a secret file, ca_file) are read next to the config file', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'cortex-px-rel-'));
  const pem = join(dir, 'issued.pem');
  const s = await sim(['--tls', '--cert-out', pem]);
  const conf = writeConfig({ calls: { timeout_ms: 8000 }, adapters: { proxmox: {
    url: s.url, token_id: TOKEN_ID, token_secret: { file: 'secrets/pve-token' }, ca_file: 'sim.pem' } } });
  const confDir = dirname(conf);
  mkdirSync(join(confDir, 'secrets'), { mode: 0o700 });
  writeFileSync(join(confDir, 'secrets', 'pve-token'), SECRET + '\n', { mode: 0o600 });
  copyFileSync(pem, join(confDir, 'sim.pem'));
  // The gateway runs from the repository, not from the config's folder.
  const g = startStdio(['--config', conf]);
  running.push(g);
  await g.initialize();
  const r = (await g.request('tools/call', { name: 'proxmox_list_nodes', arguments: {} })).result;
  assert.equal(r.isError, undefined, text(r) + g.stderr());
  assert.ok(!g.stderr().includes(SECRET), 'the secret read from the file is never logged');
  await g.close();
});
