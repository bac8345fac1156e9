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

const CF_TOKEN = 'cfsim-token-0123456789abcdef0123456789abcdef';
const cfAuth = { Authorization: 'Bearer ' + CF_TOKEN };
const CF = shared.url + '/client/v4';
const ZONE = '023e105f4ecef8ad9ca31a8372d0c353';

async function cf(path, { method = 'GET', headers = cfAuth, body } = {}) {
  const r = await fetch(CF + path, {
    method, body: body === undefined ? undefined : JSON.stringify(body),
    headers: body === undefined ? headers : { ...headers, 'Content-Type': 'application/json' },
  });
  return { status: r.status, body: await r.json(), headers: r.headers };
}

test('cloudflare: a Bearer token is verified; a wrong or missing one gets the real error envelope', async () => {
  await reset();
  const v = await cf('/user/tokens/verify');
  assert.equal(v.status, 200);
  assert.equal(v.body.success, true);
  assert.equal(v.body.result.status, 'active');
  assert.match(v.body.result.id, /^[0-9a-f]{32}$/);

  const wrong = await cf('/zones', { headers: { Authorization: 'Bearer nope' } });
  assert.equal(wrong.status, 403);
  assert.deepEqual(wrong.body, { success: false, errors: [{ code: 10000, message: 'Authentication error' }], messages: [], result: null });
  const wrongVerify = await cf('/user/tokens/verify', { headers: { Authorization: 'Bearer nope' } });
  assert.equal(wrongVerify.status, 401);
  assert.equal(wrongVerify.body.errors[0].code, 1000);
  const none = await cf('/zones', { headers: {} });
  assert.equal(none.status, 400);
  assert.equal(none.body.errors[0].code, 9106);
});

test('cloudflare: zones filter by name and status, page with per_page 5-50, and unknown ids are refused', async () => {
  await reset();
  const all = await cf('/zones');
  assert.equal(all.status, 200);
  assert.deepEqual(all.body.result.map((z) => z.name), ['example.com', 'example.net']);
  assert.deepEqual(all.body.result_info, { page: 1, per_page: 20, count: 2, total_count: 2, total_pages: 1 });
  assert.deepEqual((await cf('/zones?status=pending')).body.result.map((z) => z.name), ['example.net']);
  assert.deepEqual((await cf('/zones?name=example.com')).body.result.map((z) => z.id), [ZONE]);
  assert.deepEqual((await cf('/zones?name=contains:.net')).body.result.map((z) => z.name), ['example.net']);
  const small = await cf('/zones?per_page=4');
  assert.equal(small.status, 400);
  assert.equal(small.body.success, false);
  assert.equal((await cf('/zones?per_page=51')).status, 400);
  assert.equal((await cf('/zones?per_page=5&page=2')).body.result.length, 0);

  const one = await cf('/zones/' + ZONE);
  assert.equal(one.body.result.name, 'example.com');
  const unknown = await cf('/zones/0123456789abcdef0123456789abcdef');
  assert.equal(unknown.status, 400);
  assert.equal(unknown.body.errors[0].code, 7003);
});

test('cloudflare: 120 DNS records come in pages that together hold each record once', async () => {
  await reset();
  const ids = new Set();
  const counts = [];
  for (let page = 1; page <= 3; page++) {
    const r = await cf(`/zones/${ZONE}/dns_records?per_page=50&page=${page}`);
    assert.equal(r.status, 200);
    assert.deepEqual(r.body.result_info, { page, per_page: 50, count: r.body.result.length, total_count: 120, total_pages: 3 });
    counts.push(r.body.result.length);
    r.body.result.forEach((rec) => ids.add(rec.id));
  }
  assert.deepEqual(counts, [50, 50, 20]);
  assert.equal(ids.size, 120);
  assert.ok([...ids].every((id) => /^[0-9a-f]{32}$/.test(id)));
  const past = await cf(`/zones/${ZONE}/dns_records?per_page=50&page=4`);
  assert.equal(past.body.result.length, 0);
  assert.equal((await cf(`/zones/${ZONE}/dns_records`)).body.result.length, 100, 'per_page defaults to 100');

  const mx = await cf(`/zones/${ZONE}/dns_records?type=MX`);
  assert.deepEqual(mx.body.result.map((r) => [r.name, r.content, r.priority]), [['example.com', 'mail.example.com', 10]]);
  const byName = await cf(`/zones/${ZONE}/dns_records?name=host007.example.com`);
  assert.deepEqual(byName.body.result.map((r) => r.content), ['10.0.0.7']);
  const byContent = await cf(`/zones/${ZONE}/dns_records?content=192.0.2.25`);
  assert.deepEqual(byContent.body.result.map((r) => r.name), ['mail.example.com']);
});

test('cloudflare: create, patch, overwrite and delete change the records a later read sees', async () => {
  await reset();
  const made = await cf(`/zones/${ZONE}/dns_records`, { method: 'POST', body: { type: 'A', name: 'api', content: '192.0.2.80', ttl: 300, comment: 'new' } });
  assert.equal(made.status, 200);
  const rec = made.body.result;
  assert.match(rec.id, /^[0-9a-f]{32}$/);
  assert.equal(rec.name, 'api.example.com');
  assert.equal((await cf(`/zones/${ZONE}/dns_records?per_page=5`)).body.result_info.total_count, 121);
  assert.equal((await cf(`/zones/${ZONE}/dns_records/${rec.id}`)).body.result.content, '192.0.2.80');

  const patched = await cf(`/zones/${ZONE}/dns_records/${rec.id}`, { method: 'PATCH', body: { content: '192.0.2.81' } });
  assert.equal(patched.status, 200);
  const read = (await cf(`/zones/${ZONE}/dns_records/${rec.id}`)).body.result;
  assert.equal(read.content, '192.0.2.81');
  assert.equal(read.ttl, 300, 'PATCH keeps what it was not given');
  assert.equal(read.comment, 'new');

  const put = await cf(`/zones/${ZONE}/dns_records/${rec.id}`, { method: 'PUT', body: { type: 'CNAME', name: 'api', content: 'example.com' } });
  assert.equal(put.status, 200);
  const over = (await cf(`/zones/${ZONE}/dns_records/${rec.id}`)).body.result;
  assert.deepEqual([over.type, over.content, over.ttl, over.comment], ['CNAME', 'example.com', 1, null]);

  const del = await cf(`/zones/${ZONE}/dns_records/${rec.id}`, { method: 'DELETE' });
  assert.deepEqual(del.body.result, { id: rec.id });
  const gone = await cf(`/zones/${ZONE}/dns_records/${rec.id}`);
  assert.equal(gone.status, 404);
  assert.equal(gone.body.errors[0].code, 81044);
  assert.equal((await cf(`/zones/${ZONE}/dns_records?per_page=5`)).body.result_info.total_count, 120);
});

test('cloudflare: invalid records get 1004 with the reason in error_chain; conflicts their own codes', async () => {
  await reset();
  const post = (body) => cf(`/zones/${ZONE}/dns_records`, { method: 'POST', body });
  const badIp = await post({ type: 'A', name: 'x', content: '192.0.2.300' });
  assert.equal(badIp.status, 400);
  assert.equal(badIp.body.errors[0].code, 1004);
  assert.equal(badIp.body.errors[0].error_chain[0].code, 9005);
  assert.equal(badIp.body.result, null);
  assert.equal((await post({ type: 'A', name: 'x', content: '192.0.2.1', ttl: 5 })).body.errors[0].error_chain[0].code, 9021);
  assert.equal((await post({ type: 'BOGUS', name: 'x', content: 'y' })).status, 400);
  assert.equal((await post({ type: 'MX', name: 'x', content: 'mail.example.com' })).status, 400, 'MX needs a priority');
  assert.equal((await post({ type: 'A', name: 'mail', content: '192.0.2.25' })).body.errors[0].code, 81058);
  assert.equal((await post({ type: 'A', name: 'www', content: '192.0.2.9' })).body.errors[0].code, 81053);
  const notJson = await fetch(`${CF}/zones/${ZONE}/dns_records`, { method: 'POST', headers: cfAuth, body: '{' });
  assert.equal(notJson.status, 400);
  assert.equal((await cf(`/zones/${ZONE}/dns_records?per_page=5`)).body.result_info.total_count, 120, 'nothing was added');
});

async function addFault(f, s = shared) {
  const r = await fetch(s.url + '/_sim/faults', { method: 'POST', body: JSON.stringify(f) });
  const body = await r.json();
  assert.equal(r.status, 200, JSON.stringify(body));
  return body;
}

test('faults: added latency is measured by the client; only for count requests and its method', async () => {
  await reset();
  await addFault({ method: 'GET', path: '/api2/json/version', kind: 'latency', latency_ms: 400, count: 1 });
  const post = await pve('/version', { method: 'POST' });
  assert.equal(post.status, 501, 'a POST is not matched by a GET fault');
  let t0 = Date.now();
  assert.equal((await pve('/version')).status, 200);
  assert.ok(Date.now() - t0 >= 380, `took ${Date.now() - t0} ms`);
  t0 = Date.now();
  await pve('/version');
  assert.ok(Date.now() - t0 < 300, 'the fault was spent');
});

test('faults: 429 carries Retry-After; "503 twice then OK" is scripted with a count', async () => {
  await reset();
  await addFault({ path: '/client/v4/zones*', kind: 'status', status: 429, retry_after: 7, count: 1 });
  const limited = await cf('/zones');
  assert.equal(limited.status, 429);
  assert.equal(limited.headers.get('retry-after'), '7');
  assert.equal(limited.body.success, false);
  assert.equal((await cf('/zones')).status, 200);

  await addFault({ path: '/api2/json/nodes', kind: 'status', status: 503, count: 2 });
  const seen = [];
  for (let i = 0; i < 3; i++) seen.push((await pve('/nodes')).status);
  assert.deepEqual(seen, [503, 503, 200]);
  const listed = await (await fetch(shared.url + '/_sim/faults')).json();
  const f = listed.faults.find((x) => x.status === 503);
  assert.equal(f.hits, 2);
  assert.equal(f.remaining, 0);

  await addFault([{ path: '/api2/json/cluster/status', kind: 'status', status: 500, count: 1 },
    { path: '/api2/json/cluster/resources', kind: 'status', status: 502, count: 1 }]);
  const e500 = await pve('/cluster/status');
  assert.equal(e500.status, 500);
  assert.deepEqual(e500.body, { data: null, message: 'Internal Server Error\n' });
  assert.equal((await pve('/cluster/resources')).status, 502);
});

test('faults: truncated JSON, invalid JSON and an oversized body reach the client as such', async () => {
  await reset();
  const whole = await (await fetch(PVE + '/nodes', { headers: pveAuth })).text();
  await addFault({ path: '/api2/json/nodes', kind: 'truncate', count: 1 });
  const cut = await fetch(PVE + '/nodes', { headers: pveAuth });
  assert.equal(cut.status, 200);
  const cutText = await cut.text();
  assert.ok(cutText.length < whole.length && whole.startsWith(cutText), 'a prefix of the real answer');
  assert.throws(() => JSON.parse(cutText));

  await addFault({ path: '/client/v4/zones', kind: 'invalid_json', count: 1 });
  const bad = await fetch(CF + '/zones', { headers: cfAuth });
  assert.equal(bad.status, 200);
  assert.match(bad.headers.get('content-type'), /application\/json/);
  await assert.rejects(bad.json(), SyntaxError);

  await addFault({ path: '/api2/json/version', kind: 'oversize', size_mib: 3, count: 1 });
  const big = await fetch(PVE + '/version', { headers: pveAuth });
  assert.equal(Number(big.headers.get('content-length')), 3 * 1024 * 1024 + 11);
  const text = await big.text();
  assert.equal(text.length, 3 * 1024 * 1024 + 11);
  assert.equal(JSON.parse(text).data.length, 3 * 1024 * 1024);
});

test('faults: a connection dropped mid-body is an error for fetch; a trickle arrives whole but slowly', async () => {
  await reset();
  await addFault({ path: '/api2/json/nodes', kind: 'drop', after_bytes: 40, count: 1 });
  await assert.rejects(async () => {
    const r = await fetch(PVE + '/nodes', { headers: pveAuth });
    await r.text();
  });
  assert.equal((await pve('/nodes')).status, 200, 'the next request is served');

  const whole = await (await fetch(PVE + '/cluster/status', { headers: pveAuth })).text();
  await addFault({ path: '/api2/json/cluster/status', kind: 'trickle', bytes_per_sec: 1000, count: 1 });
  const t0 = Date.now();
  const slow = await (await fetch(PVE + '/cluster/status', { headers: pveAuth })).text();
  const took = Date.now() - t0;
  assert.equal(slow, whole);
  assert.ok(took >= whole.length * 0.8, `${whole.length} bytes at 1000 B/s took ${took} ms`);
});

test('control: the request log has names of headers, never values; bad faults are refused; reset restores state', async () => {
  await reset();
  await pve('/nodes', { headers: { ...pveAuth, 'X-Trace': 'abc' } });
  await cf('/zones', { headers: {} });
  const log = await (await fetch(shared.url + '/_sim/requests')).json();
  assert.equal(log.requests.length, 2, 'control requests are not logged');
  const [a, b] = log.requests;
  assert.deepEqual([a.method, a.path, a.authorization], ['GET', '/api2/json/nodes', true]);
  assert.ok(a.headers.map((h) => h.toLowerCase()).includes('x-trace'));
  assert.deepEqual([b.path, b.authorization], ['/client/v4/zones', false]);
  assert.doesNotMatch(JSON.stringify(log), /5e1f3c9a|abc/, 'no header values');
  await fetch(shared.url + '/_sim/requests', { method: 'DELETE' });
  assert.equal((await (await fetch(shared.url + '/_sim/requests')).json()).requests.length, 0);

  for (const f of [{ path: '/x', kind: 'nope' }, { kind: 'status', path: '/x', status: 200 }, { path: '/x' }, { path: '/x', kind: 'latency', latency_ms: 1, extra: 1 }]) {
    const r = await fetch(shared.url + '/_sim/faults', { method: 'POST', body: JSON.stringify(f) });
    assert.equal(r.status, 400, JSON.stringify(f));
  }
  await addFault({ path: '*', kind: 'status', status: 503 });
  assert.equal((await pve('/nodes')).status, 503);
  await fetch(shared.url + '/_sim/faults', { method: 'DELETE' });
  assert.equal((await pve('/nodes')).status, 200);

  const rec = (await cf(`/zones/${ZONE}/dns_records?type=TXT`)).body.result[0];
  await cf(`/zones/${ZONE}/dns_records/${rec.id}`, { method: 'DELETE' });
  await pve('/nodes/pve1/qemu/100/status/stop', { method: 'POST' });
  await reset();
  assert.equal((await cf(`/zones/${ZONE}/dns_records/${rec.id}`)).status, 200);
  assert.equal((await pve('/nodes/pve1/qemu/100/status/current')).body.data.status, 'running');
});

test('control: the request log keeps the newest --log-max requests, oldest first, after it wraps', async () => {
  const { spawnSync } = await import('node:child_process');
  const { SIM } = await import('./lib.mjs');
  for (const bad of ['0', '-3', 'ten', '1000001']) {
    const r = spawnSync(SIM, ['--listen', '127.0.0.1:0', '--log-max', bad], { encoding: 'utf8' });
    assert.equal(r.status, 2, bad);
    assert.match(r.stderr, /--log-max '.*' is not a number from 1 to 1000000/);
  }
  const s = await sim(['--log-max', '5']);
  const paths = async () =>
    (await (await fetch(s.url + '/_sim/requests')).json()).requests.map((e) => e.path + '?' + e.query.type);
  const get = async (i) => {
    const r = await fetch(s.url + '/api2/json/cluster/resources?type=t' + i, { headers: pveAuth });
    await r.arrayBuffer();
  };
  for (let i = 0; i < 3; i++) await get(i);
  assert.deepEqual(await paths(), [0, 1, 2].map((i) => '/api2/json/cluster/resources?t' + i));
  for (let i = 3; i < 13; i++) await get(i); // wraps twice over
  assert.deepEqual(await paths(), [8, 9, 10, 11, 12].map((i) => '/api2/json/cluster/resources?t' + i));
  await fetch(s.url + '/_sim/requests', { method: 'DELETE' });
  assert.deepEqual(await paths(), []);
  for (let i = 13; i < 20; i++) await get(i);
  assert.deepEqual(await paths(), [15, 16, 17, 18, 19].map((i) => '/api2/json/cluster/resources?t' + i));
  await fetch(s.url + '/_sim/reset', { method: 'POST' });
  assert.deepEqual(await paths(), []);
});

test('config: faults from --config apply from the start and again after a reset; unknown keys fail', async () => {
  const s = await sim(['--config', writeConfig({
    proxmox: { task_ms: 0 },
    faults: [{ path: '/api2/json/version', kind: 'status', status: 503, count: 1 }],
  })]);
  const base = s.url + '/api2/json';
  assert.equal((await pve('/version', { base })).status, 503);
  assert.equal((await pve('/version', { base })).status, 200);
  await reset(s);
  assert.equal((await pve('/version', { base })).status, 503);
  const start = await pve('/nodes/pve1/qemu/101/status/start', { base, method: 'POST' });
  assert.equal((await pve(`/nodes/pve1/tasks/${encodeURIComponent(start.body.data)}/status`, { base })).body.data.exitstatus, 'OK', 'task_ms 0 finishes at once');

  const bad = startSim(['--config', writeConfig({ proxmox: { nodez: [] } })]);
  running.push(bad);
  bad.ready.catch(() => {});
  const { code } = await bad.exited;
  assert.equal(code, 1);
  assert.match(bad.stderr(), /proxmox\.nodez/);
});

test('listen: only loopback addresses; --help names the default credentials and the control endpoints', async () => {
  const { spawnSync } = await import('node:child_process');
  const { SIM } = await import('./lib.mjs');
  const wide = spawnSync(SIM, ['--listen', '0.0.0.0:0'], { encoding: 'utf8' });
  assert.equal(wide.status, 2);
  assert.match(wide.stderr, /loopback/);
  const help = spawnSync(SIM, ['--help'], { encoding: 'utf8' });
  assert.equal(help.status, 0);
  for (const s of [PVE_TOKEN.slice('PVEAPIToken='.length), 'sim-password', CF_TOKEN, '/_sim/faults', '/_sim/requests', '/_sim/reset', 'bytes_per_sec'])
    assert.ok(help.stdout.includes(s), s);
});

test('tls: HTTPS with a fresh certificate whose printed fingerprint is the PEM\'s SHA-256', async () => {
  const { X509Certificate } = await import('node:crypto');
  const { readFileSync } = await import('node:fs');
  const https = await import('node:https');
  const { tmpDir } = await import('./lib.mjs');
  const pemPath = tmpDir() + '/sim.pem';
  const s = await sim(['--tls', '--cert-out', pemPath]);
  assert.match(s.url, /^https:\/\/127\.0\.0\.1:\d+$/);
  const pem = readFileSync(pemPath, 'utf8');
  const cert = new X509Certificate(pem);
  assert.match(s.fingerprint(), /^([0-9A-F]{2}:){31}[0-9A-F]{2}$/);
  assert.equal(s.fingerprint(), cert.fingerprint256);
  assert.match(cert.subjectAltName, /IP Address:127\.0\.0\.1/);
  assert.match(cert.subjectAltName, /DNS:localhost/);

  // Trusting only that PEM, the connection verifies (name and chain) and carries that certificate.
  const got = await new Promise((res, rej) => {
    const req = https.get(s.url + '/api2/json/version', { ca: pem, headers: pveAuth }, (r) => {
      const fp = r.socket.getPeerCertificate().fingerprint256;
      let body = '';
      r.on('data', (d) => { body += d; });
      r.on('end', () => res({ status: r.statusCode, body, fp }));
    });
    req.on('error', rej);
  });
  assert.equal(got.status, 200);
  assert.equal(JSON.parse(got.body).data.release, '8.2');
  assert.equal(got.fp, s.fingerprint());
  // Without it, the self-signed certificate is refused.
  await assert.rejects(fetch(s.url + '/api2/json/version'));
});

test('every simulator stops cleanly on SIGTERM', async () => {
  await assertAllStopCleanly(running, assert, 2);
});
