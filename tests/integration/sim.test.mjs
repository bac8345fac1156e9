// The backend simulator (build/cortex-sim) behaves as the published APIs say: auth, envelopes,
// state that changes, paging, and every scripted fault is what a client sees.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { startSim, writeConfig, assertAllStopCleanly } from './lib.mjs';

const running = [];
after(() => running.forEach((s) => s.kill()));

async function sim(args = []) {
  const s = startSim(args);
  running.push(s);
  s.url = await s.ready;
  return s;
}

const PVE_TOKEN = 'PVEAPIToken=root@pam!cortex=5e1f3c9a-2b7d-4e8f-9a61-0c3d5b7e9f12';
const pveAuth = { Authorization: PVE_TOKEN };

const shared = await sim();
const PVE = shared.url + '/api2/json';

async function reset(s = shared) {
  const r = await fetch(s.url + '/_sim/reset', { method: 'POST' });
  assert.equal(r.status, 200);
}

async function pve(path, { method = 'GET', headers = pveAuth, body, base = PVE } = {}) {
  const r = await fetch(base + path, { method, headers, body });
  return { status: r.status, body: await r.json(), headers: r.headers };
}

async function waitTask(node, upid, { base = PVE, headers = pveAuth } = {}) {
  for (let i = 0; i < 100; i++) {
    const t = await pve(`/nodes/${node}/tasks/${encodeURIComponent(upid)}/status`, { base, headers });
    assert.equal(t.status, 200, JSON.stringify(t.body));
    if (t.body.data.status === 'stopped') return t.body.data;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error('task never finished: ' + upid);
}

test('proxmox: an API token is checked against the configured one; 401 bodies as Proxmox sends them', async () => {
  await reset();
  const ok = await pve('/nodes');
  assert.equal(ok.status, 200);
  assert.deepEqual(ok.body.data.map((n) => n.node), ['pve1', 'pve2']);
  assert.ok(ok.body.data.every((n) => n.status === 'online' && Number.isInteger(n.maxmem)));

  const wrong = await pve('/nodes', { headers: { Authorization: PVE_TOKEN.replace(/.$/, '3') } });
  assert.equal(wrong.status, 401);
  assert.deepEqual(wrong.body, { data: null, message: 'invalid token value!\n' });
  const otherId = await pve('/nodes', { headers: { Authorization: PVE_TOKEN.replace('!cortex', '!other') } });
  assert.equal(otherId.status, 401);
  const none = await pve('/nodes', { headers: {} });
  assert.equal(none.status, 401);
  assert.deepEqual(none.body, { data: null, message: 'No ticket\n' });
});

async function login(base = PVE, { json = false, password = 'sim-password' } = {}) {
  const body = json ? JSON.stringify({ username: 'root@pam', password })
    : new URLSearchParams({ username: 'root@pam', password }).toString();
  return pve('/access/ticket', {
    base, method: 'POST', body,
    headers: { 'Content-Type': json ? 'application/json' : 'application/x-www-form-urlencoded' },
  });
}

test('proxmox: a ticket reads; a write needs its CSRFPreventionToken; a wrong password gets 401', async () => {
  await reset();
  const bad = await login(PVE, { password: 'nope' });
  assert.equal(bad.status, 401);
  assert.deepEqual(bad.body, { data: null, message: 'authentication failure\n' });

  const t = await login(PVE, { json: true });
  assert.equal(t.status, 200);
  assert.equal(t.body.data.username, 'root@pam');
  assert.match(t.body.data.ticket, /^PVE:root@pam:[0-9A-F]{8}::/);
  assert.match(t.body.data.CSRFPreventionToken, /^[0-9A-F]{8}:/);
  const form = await login(PVE);
  assert.equal(form.status, 200);

  const cookie = { Cookie: 'PVEAuthCookie=' + encodeURIComponent(t.body.data.ticket) };
  const read = await pve('/nodes/pve1/qemu', { headers: cookie });
  assert.equal(read.status, 200);
  assert.ok(read.body.data.some((g) => g.vmid === 100));

  const noCsrf = await pve('/nodes/pve1/qemu/101/status/start', { method: 'POST', headers: cookie });
  assert.equal(noCsrf.status, 401);
  assert.deepEqual(noCsrf.body, { data: null, message: 'Permission denied - invalid csrf token\n' });
  const wrongCsrf = await pve('/nodes/pve1/qemu/101/status/start', {
    method: 'POST', headers: { ...cookie, CSRFPreventionToken: form.body.data.CSRFPreventionToken } });
  assert.equal(wrongCsrf.status, 401);
  const withCsrf = await pve('/nodes/pve1/qemu/101/status/start', {
    method: 'POST', headers: { ...cookie, CSRFPreventionToken: t.body.data.CSRFPreventionToken } });
  assert.equal(withCsrf.status, 200);
  assert.match(withCsrf.body.data, /^UPID:pve1:.*:qmstart:101:root@pam:$/);
});

test('proxmox: a ticket expires after ticket_lifetime_s', async () => {
  const s = await sim(['--config', writeConfig({ proxmox: { ticket_lifetime_s: 0.4 } })]);
  const base = s.url + '/api2/json';
  const t = await login(base);
  const cookie = { Cookie: 'PVEAuthCookie=' + t.body.data.ticket };
  assert.equal((await pve('/nodes', { base, headers: cookie })).status, 200);
  await new Promise((r) => setTimeout(r, 600));
  const late = await pve('/nodes', { base, headers: cookie });
  assert.equal(late.status, 401);
  assert.match(late.body.message, /invalid PVE ticket/);
});

test('proxmox: a VM start returns a UPID and the VM runs only once its task has finished', async () => {
  await reset();
  const before = await pve('/nodes/pve1/qemu/101/status/current');
  assert.equal(before.body.data.status, 'stopped');
  const start = await pve('/nodes/pve1/qemu/101/status/start', { method: 'POST' });
  assert.equal(start.status, 200);
  const upid = start.body.data;
  assert.match(upid, /^UPID:pve1:[0-9A-F]{8}:[0-9A-F]{8}:[0-9A-F]{8}:qmstart:101:root@pam!cortex:$/);

  const during = await pve('/nodes/pve1/qemu/101/status/current');
  assert.equal(during.body.data.status, 'stopped', 'the guest changed before its task finished');
  const task = await pve(`/nodes/pve1/tasks/${encodeURIComponent(upid)}/status`);
  assert.equal(task.body.data.status, 'running');
  assert.equal(task.body.data.exitstatus, undefined);

  const done = await waitTask('pve1', upid);
  assert.equal(done.exitstatus, 'OK');
  assert.equal(done.type, 'qmstart');
  assert.equal(done.id, '101');
  const afterStart = await pve('/nodes/pve1/qemu/101/status/current');
  assert.equal(afterStart.body.data.status, 'running');
  assert.equal(afterStart.body.data.qmpstatus, 'running');
  const listed = await pve('/cluster/resources?type=vm');
  assert.equal(listed.body.data.find((g) => g.vmid === 101).status, 'running');

  // Starting it again is a task that fails, as the worker finds it running.
  const again = await pve('/nodes/pve1/qemu/101/status/start', { method: 'POST' });
  assert.equal(again.status, 200);
  assert.equal((await waitTask('pve1', again.body.data)).exitstatus, 'VM 101 already running');
});

test('proxmox: suspend pauses, stop stops; actions that make no sense fail as Proxmox fails them', async () => {
  await reset();
  const s = await pve('/nodes/pve1/qemu/100/status/suspend', { method: 'POST' });
  assert.equal((await waitTask('pve1', s.body.data)).exitstatus, 'OK');
  assert.equal((await pve('/nodes/pve1/qemu/100/status/current')).body.data.qmpstatus, 'paused');
  const stop = await pve('/nodes/pve1/qemu/100/status/stop', { method: 'POST' });
  await waitTask('pve1', stop.body.data);
  assert.equal((await pve('/nodes/pve1/qemu/100/status/current')).body.data.status, 'stopped');

  const reboot = await pve('/nodes/pve1/qemu/101/status/reboot', { method: 'POST' });
  assert.equal(reboot.status, 500);
  assert.deepEqual(reboot.body, { data: null, message: 'VM 101 not running\n' });
  const ctStart = await pve('/nodes/pve1/lxc/200/status/start', { method: 'POST' });
  assert.equal(ctStart.status, 500);
  assert.equal(ctStart.body.message, 'CT 200 already running\n');
  const ctSuspend = await pve('/nodes/pve1/lxc/200/status/suspend', { method: 'POST' });
  assert.equal(ctSuspend.status, 501, 'the spec has no suspend for containers');
  const ctStop = await pve('/nodes/pve1/lxc/200/status/shutdown', { method: 'POST' });
  assert.match(ctStop.body.data, /:vzshutdown:200:/);
  await waitTask('pve1', ctStop.body.data);
  assert.equal((await pve('/nodes/pve1/lxc/200/status/current')).body.data.status, 'stopped');
});

test('proxmox: unknown nodes, guests and tasks get Proxmox errors; bad parameters a 400', async () => {
  await reset();
  const vm = await pve('/nodes/pve1/qemu/999/status/current');
  assert.equal(vm.status, 500);
  assert.equal(vm.body.message, "Configuration file 'nodes/pve1/qemu-server/999.conf' does not exist\n");
  const wrongNode = await pve('/nodes/pve2/qemu/100/config');
  assert.equal(wrongNode.status, 500);
  const ct = await pve('/nodes/pve1/lxc/100/config');
  assert.equal(ct.body.message, "Configuration file 'nodes/pve1/lxc/100.conf' does not exist\n");
  const node = await pve('/nodes/pve9/qemu');
  assert.equal(node.status, 500);
  assert.match(node.body.message, /hostname lookup 'pve9' failed/);
  const vmid = await pve('/nodes/pve1/qemu/abc/status/current');
  assert.equal(vmid.status, 400);
  assert.equal(vmid.body.message, 'Parameter verification failed.\n');
  assert.ok(vmid.body.errors.vmid);
  const task = await pve('/nodes/pve1/tasks/' + encodeURIComponent('UPID:pve1:00000001:00000001:00000001:qmstart:100:root@pam:') + '/status');
  assert.equal(task.status, 400);
  assert.equal(task.body.errors.upid, 'no such task');
  const type = await pve('/cluster/resources?type=bogus');
  assert.equal(type.status, 400);
  assert.ok(type.body.errors.type);
});

test('proxmox: configs, node status, cluster status and resources by type', async () => {
  await reset();
  const cfg = await pve('/nodes/pve1/qemu/100/config');
  assert.equal(cfg.body.data.name, 'web01');
  assert.match(cfg.body.data.digest, /^[0-9a-f]{40}$/);
  const ctCfg = await pve('/nodes/pve1/lxc/200/config');
  assert.equal(ctCfg.body.data.hostname, 'dns01');
  const st = await pve('/nodes/pve2/status');
  assert.equal(st.body.data.cpuinfo.cpus, 4);
  const cs = await pve('/cluster/status');
  assert.equal(cs.body.data[0].type, 'cluster');
  assert.equal(cs.body.data.filter((e) => e.type === 'node').length, 2);
  const vms = await pve('/cluster/resources?type=vm');
  assert.ok(vms.body.data.length >= 6);
  assert.ok(vms.body.data.every((r) => r.type === 'qemu' || r.type === 'lxc'));
  const nodes = await pve('/cluster/resources?type=node');
  assert.deepEqual(nodes.body.data.map((r) => r.id), ['node/pve1', 'node/pve2']);
  const storage = await pve('/cluster/resources?type=storage');
  assert.ok(storage.body.data.every((r) => r.type === 'storage'));
  const lxc = await pve('/nodes/pve2/lxc');
  assert.deepEqual(lxc.body.data.map((g) => g.vmid), [201]);
});

test('every simulator stops cleanly on SIGTERM', async () => {
  await assertAllStopCleanly(running, assert, 2);
});
