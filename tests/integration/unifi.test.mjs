// The UniFi adapter against the simulator (build/cortex-sim, UniFi under /unifi) in its three
// forms: the Integration API (X-API-KEY), the legacy API through UniFi OS (/api/auth/login,
// TOKEN cookie, X-CSRF-Token on writes) and the classic controller (/api/login). Every tool in
// each, a restart that takes a device (and its clients) away and brings it back, sites and
// devices by id, name or MAC, a fresh login when the session expires, wrong credentials, every
// fault of the simulator, and no secret in anything the gateway writes.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startSim, startStdio, writeConfig } from './lib.mjs';

const running = [];
after(() => running.forEach((p) => p.kill()));

const API_KEY = 'sim-unifi-api-key-6f1d2c3b4a5e';
const PASSWORD = 'sim-unifi-password';

async function sim(unifi = { restart_ms: 700 }, args = []) {
  const s = startSim(['--config', writeConfig({ unifi }), ...args]);
  running.push(s);
  s.url = await s.ready;
  return s;
}

async function simCall(s, path, { method = 'GET', body } = {}) {
  const r = await fetch(s.url + path, { method, body: body && JSON.stringify(body) });
  return r.json();
}
const fault = (s, f) => simCall(s, '/_sim/faults', { method: 'POST', body: f });
const clearFaults = (s) => simCall(s, '/_sim/faults', { method: 'DELETE' });
const requests = async (s) => (await simCall(s, '/_sim/requests')).requests;

const MODES = {
  integration: (s) => ({ url: s.url + '/unifi', api_key: { env: 'UF_KEY' } }),
  unifi_os: (s) => ({ url: s.url + '/unifi/', mode: 'legacy', username: 'admin', password: { env: 'UF_PASSWORD' } }),
  classic: (s) => ({ url: s.url + '/unifi', mode: 'legacy', controller: 'classic', username: 'admin', password: { env: 'UF_PASSWORD' } }),
};
// Where each mode's device list lives below the simulator's root.
const DEVICE_PATH = {
  integration: /^\/unifi\/proxy\/network\/integration\/v1\/sites\/[0-9a-f-]{36}\/devices$/,
  unifi_os: /^\/unifi\/proxy\/network\/api\/s\/default\/stat\/device$/,
  classic: /^\/unifi\/api\/s\/default\/stat\/device$/,
};
const LOGIN_PATH = { unifi_os: '/unifi/api/auth/login', classic: '/unifi/api/login' };

const gateways = [];
async function gateway(unifi, { env = {}, calls = { timeout_ms: 8000 } } = {}) {
  const conf = writeConfig({ calls, adapters: { unifi } });
  const g = startStdio(['--config', conf], { env: { UF_KEY: API_KEY, UF_PASSWORD: PASSWORD, ...env } });
  running.push(g);
  gateways.push(g);
  await g.initialize();
  g.call = async (name, args = {}) => (await g.request('tools/call', { name, arguments: args })).result;
  return g;
}

const text = (r) => r.content.map((c) => c.text).join('\n');
const ok = (r, what) => { assert.equal(r.isError, undefined, `${what}: ${text(r)}`); return r.structuredContent; };
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function waitState(g, device, want, ms = 6000) {
  const until = Date.now() + ms;
  let last;
  while (Date.now() < until) {
    last = ok(await g.call('unifi_get_device_stats', { device }), 'stats').state;
    if (last === want) return;
    await sleep(100);
  }
  assert.fail(`${device} still ${last}, not ${want}`);
}

for (const mode of Object.keys(MODES)) {
  test(`${mode}: every tool, sites and devices by id, name or MAC, a restart that goes and comes back`, async () => {
    const s = await sim();
    const g = await gateway(MODES[mode](s));

    const sites = ok(await g.call('unifi_list_sites'), 'sites');
    assert.deepEqual(sites.sites.map((x) => x.reference), ['default', 'branch']);
    assert.deepEqual(sites.sites.map((x) => x.name), ['Default', 'Branch Office']);
    assert.equal(JSON.parse(text(await g.call('unifi_list_sites'))).count, 2, 'the same JSON as text');
    const branch = sites.sites[1];

    const devs = ok(await g.call('unifi_list_devices'), 'devices');
    assert.equal(devs.site, 'default');
    assert.deepEqual(devs.devices.map((d) => d.name), ['Dream Machine', 'Core Switch', 'AP Office', 'AP Garage']);
    assert.deepEqual(devs.devices.map((d) => d.state), ['ONLINE', 'ONLINE', 'ONLINE', 'OFFLINE']);
    assert.equal(devs.total, 4);
    const sw = devs.devices[1];
    assert.equal(sw.mac, '74:ac:b9:14:00:02');
    assert.equal(sw.model, 'US24P250');
    for (const site of [branch.id, 'Branch Office', 'branch']) {
      const b = ok(await g.call('unifi_list_devices', { site }), `site ${site}`);
      assert.deepEqual(b.devices.map((d) => d.name), ['Branch Switch'], `site by ${site}`);
    }

    for (const device of [sw.id, sw.mac, '74-AC-B9-14-00-02', 'Core Switch', 'core switch']) {
      const st = ok(await g.call('unifi_get_device_stats', { device }), `stats of ${device}`);
      assert.equal(st.id, sw.id, `device by ${device}`);
      assert.equal(st.cpu_pct, 6);
      assert.equal(st.mem_pct, 38.4);
      assert.ok(st.uptime_s > 86000, 'uptime in seconds');
      assert.equal(st.uplink_tx_bps, 2350000);
    }

    const clients = ok(await g.call('unifi_list_clients'), 'clients');
    assert.deepEqual(clients.clients.map((c) => c.name).sort(), ['alice-laptop', 'bob-phone', 'living-room-tv', 'nas', 'printer']);
    assert.equal(clients.clients.find((c) => c.name === 'nas').type, 'WIRED');
    assert.equal(clients.clients.find((c) => c.name === 'bob-phone').type, 'WIRELESS');
    assert.equal(ok(await g.call('unifi_list_clients', { limit: 2 }), 'limit').count, 2);

    const r = ok(await g.call('unifi_restart_device', { device: 'AP Office' }), 'restart');
    assert.equal(r.accepted, true);
    assert.equal(r.state_before, 'ONLINE');
    assert.equal(r.mac, '74:ac:b9:14:00:03');
    const during = ok(await g.call('unifi_list_devices'), 'devices while restarting');
    assert.equal(during.devices.find((d) => d.name === 'AP Office').state, 'GETTING_READY');
    assert.deepEqual(ok(await g.call('unifi_list_clients'), 'clients').clients.map((c) => c.name).sort(), ['nas', 'printer'],
      'the access point\'s clients are gone while it restarts');
    await waitState(g, 'AP Office', 'ONLINE');
    const back = ok(await g.call('unifi_get_device_stats', { device: 'AP Office' }), 'stats after');
    assert.ok(back.uptime_s < 10, `uptime counts from the restart: ${back.uptime_s}`);
    assert.equal(ok(await g.call('unifi_list_clients'), 'clients').count, 5, 'and its clients are back');

    const offline = await g.call('unifi_restart_device', { device: 'AP Garage' });
    assert.equal(offline.isError, true, 'an offline device cannot be restarted');
    assert.match(text(offline), /400/);
    const nodev = await g.call('unifi_get_device_stats', { device: 'no-such-ap' });
    assert.equal(nodev.isError, true);
    assert.match(text(nodev), /no device 'no-such-ap' on site 'default'.*unifi_list_devices/);
    const nosite = await g.call('unifi_list_devices', { site: 'atlantis' });
    assert.equal(nosite.isError, true);
    assert.match(text(nosite), /no site 'atlantis'.*unifi_list_sites/);

    const log = await requests(s);
    assert.ok(log.some((q) => DEVICE_PATH[mode].test(q.path)), `the ${mode} paths were used`);
    if (mode === 'integration') {
      assert.ok(log.every((q) => q.headers.some((h) => h.toLowerCase() === 'x-api-key')), 'X-API-KEY on every request');
      assert.ok(!log.some((q) => q.path.includes('/api/')), 'no legacy request');
    } else {
      const logins = log.filter((q) => q.path === LOGIN_PATH[mode]);
      assert.ok(logins.length >= 1 && logins.length <= 2, `one login (the health check may race it): ${logins.length}`);
      assert.ok(!log.some((q) => q.path.includes('/integration/')), 'no Integration API request');
    }
    await g.close();
  });
}

test('integration: lists read every page of at most 200, up to the limit asked for', async () => {
  const s = await sim({ extra_clients: 300 });
  const g = await gateway(MODES.integration(s));
  const all = ok(await g.call('unifi_list_clients', { limit: 5000 }), 'clients');
  assert.equal(all.count, 305);
  assert.equal(all.total, 305);
  assert.equal(new Set(all.clients.map((c) => c.id)).size, 305, 'no client twice across pages');
  const pages = (await requests(s)).filter((q) => q.path.endsWith('/clients'));
  assert.deepEqual(pages.map((q) => [q.query.offset, q.query.limit]), [['0', '200'], ['200', '200']]);
  const some = ok(await g.call('unifi_list_clients', { limit: 250 }), 'clients');
  assert.equal(some.count, 250);
  assert.equal(some.total, 305);
  await g.close();
});

test('UniFi OS: the CSRF token goes with writes, and a write without it is refused by the console', async () => {
  const s = await sim();
  const g = await gateway(MODES.unifi_os(s));
  ok(await g.call('unifi_restart_device', { device: 'Core Switch' }), 'restart');
  const post = (await requests(s)).find((q) => q.method === 'POST' && q.path.endsWith('/cmd/devmgr'));
  assert.ok(post.headers.map((h) => h.toLowerCase()).includes('x-csrf-token'), 'X-CSRF-Token on the write');
  assert.ok(post.headers.map((h) => h.toLowerCase()).includes('cookie'), 'and the session cookie');
  await g.close();
  // The console's own answer to a write without the token, as the adapter would report it.
  const login = await fetch(s.url + '/unifi/api/auth/login', { method: 'POST', headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ username: 'admin', password: PASSWORD }) });
  const cookie = login.headers.get('set-cookie').split(';')[0];
  const r = await fetch(s.url + '/unifi/proxy/network/api/s/default/cmd/devmgr', { method: 'POST',
    headers: { Cookie: cookie, 'Content-Type': 'application/json' }, body: JSON.stringify({ cmd: 'restart', mac: '74:ac:b9:14:00:02' }) });
  assert.equal(r.status, 403);
});

for (const mode of ['unifi_os', 'classic']) {
  test(`${mode}: an expired session or a 401 is met with one fresh login, unseen by the caller`, async () => {
    const s = await sim({ session_lifetime_s: 1, restart_ms: 300 });
    const g = await gateway(MODES[mode](s));
    ok(await g.call('unifi_list_devices'), 'first');
    await sleep(1300);
    ok(await g.call('unifi_list_devices'), 'after the session expired');
    ok(await g.call('unifi_restart_device', { device: 'Core Switch' }), 'a write with the new session');
    let logins = (await requests(s)).filter((q) => q.path === LOGIN_PATH[mode]).length;
    assert.ok(logins >= 2, `logged in again: ${logins}`);
    await simCall(s, '/_sim/requests', { method: 'DELETE' });
    await fault(s, { path: '/unifi/*stat/sta', kind: 'status', status: 401, count: 1 });
    ok(await g.call('unifi_list_clients'), 'after a 401');
    logins = (await requests(s)).filter((q) => q.path === LOGIN_PATH[mode]).length;
    assert.equal(logins, 1, 'one login after the 401');
    await simCall(s, '/_sim/requests', { method: 'DELETE' });
    ok(await g.call('unifi_restart_device', { device: 'Branch Switch', site: 'branch' }), 'restart');
    const post = (await requests(s)).find((q) => q.method === 'POST' && q.path.endsWith('/cmd/devmgr'));
    // UniFi OS sends its token in a header, the classic controller in a second Set-Cookie.
    assert.ok(post.headers.map((h) => h.toLowerCase()).includes('x-csrf-token'), 'the CSRF token on the write');
    // A session refused again right after a fresh login is an error, not a loop.
    await fault(s, { path: '/unifi/*stat/sta', kind: 'status', status: 401, count: 3 });
    const r = await g.call('unifi_list_clients');
    assert.equal(r.isError, true);
    assert.match(text(r), /401.*refused even after a fresh login/);
    await g.close();
  });
}

test('wrong credentials are said plainly, and no secret reaches a log line or an answer', async () => {
  const s = await sim();
  const bad = [
    [MODES.integration(s), { UF_KEY: 'wrong-api-key-123' }, /unifi answered 401.*api_key/, 'wrong-api-key-123'],
    [MODES.unifi_os(s), { UF_PASSWORD: 'wrong-password-os' }, /unifi answered 403.*Authentication failed.*username or password is wrong/, 'wrong-password-os'],
    [MODES.classic(s), { UF_PASSWORD: 'wrong-password-classic' }, /unifi answered 400.*api\.err\.Invalid.*username or password is wrong/, 'wrong-password-classic'],
  ];
  for (const [conf, env, want, secret] of bad) {
    const g = await gateway(conf, { env });
    const r = await g.call('unifi_list_sites');
    assert.equal(r.isError, true, JSON.stringify(r));
    assert.match(text(r), want);
    assert.ok(!text(r).includes(secret));
    await g.close();
    assert.ok(!g.stderr().includes(secret), `${secret} is not in stderr`);
  }
});

test('config: mode, controller and credentials that do not fit are refused at start, naming the key', async () => {
  const s = await sim();
  const cases = [
    [{ ...MODES.integration(s), username: 'admin' }, /'username' and 'password' are for mode "legacy"/],
    [{ ...MODES.unifi_os(s), api_key: { env: 'UF_KEY' } }, /'api_key' is for mode "integration"/],
    [{ ...MODES.integration(s), mode: 'modern' }, /'mode' must be/],
    [{ ...MODES.integration(s), controller: 'cloud' }, /'controller' must be/],
    [{ ...MODES.integration(s), password: 'inline' }, /are for mode "legacy"/],
    [{ ...MODES.unifi_os(s), password: 'inline-password' }, /password/],
    [{ ...MODES.integration(s), colour: 'blue' }, /unknown key 'colour'/],
    [{ url: 'ftp://x', api_key: { env: 'UF_KEY' } }, /'url' must be/],
  ];
  for (const [conf, want] of cases) {
    const g = startStdio(['--check-config', '--config', writeConfig({ adapters: { unifi: conf } })],
      { env: { UF_KEY: API_KEY, UF_PASSWORD: PASSWORD } });
    running.push(g);
    const { code } = await g.exited;
    assert.notEqual(code, 0, JSON.stringify(conf));
    assert.match(g.stderr(), want);
    assert.ok(!g.stderr().includes('inline-password'));
  }
});

for (const mode of Object.keys(MODES)) {
  test(`${mode}: every fault of the simulator is a sentence or a retry, never a crash`, async () => {
    const s = await sim();
    const g = await gateway({ ...MODES[mode](s), retries: 2, timeout_ms: 1500 }, { calls: { timeout_ms: 3000, workers: 4 } });
    ok(await g.call('unifi_list_devices'), 'warm');
    const path = mode === 'integration' ? '/unifi/*/devices' : '/unifi/*stat/device';
    const cases = [
      [{ kind: 'status', status: 503, count: 2 }, null],
      [{ kind: 'status', status: 429, retry_after: 1, count: 1 }, null],
      [{ kind: 'latency', latency_ms: 300, count: 1 }, null],
      [{ kind: 'trickle', bytes_per_sec: 100000, count: 1 }, null],
      [{ kind: 'status', status: 500 }, /unifi answered 500/],
      [{ kind: 'invalid_json' }, /not JSON|not the legacy API's/],
      [{ kind: 'truncate' }, /not JSON|not the legacy API's/],
      [{ kind: 'drop' }, /connection|partial|closed|empty/i],
      [{ kind: 'oversize', size_mib: 10 }, /more than \d+ bytes/],
      [{ kind: 'latency', latency_ms: 5000 }, /did not (answer|finish) within/],
      [{ kind: 'trickle', bytes_per_sec: 20 }, /did not (answer|finish) within/],
    ];
    for (const [f, want] of cases) {
      await clearFaults(s);
      await fault(s, { method: 'GET', path, ...f });
      const t0 = Date.now();
      const r = await g.call('unifi_list_devices');
      if (!want) {
        assert.equal(r.isError, undefined, `${JSON.stringify(f)}: ${text(r)}`);
        if (f.retry_after) assert.ok(Date.now() - t0 >= 900, 'Retry-After was waited for');
      } else {
        assert.equal(r.isError, true, `${JSON.stringify(f)}: ${JSON.stringify(r)}`);
        assert.match(text(r), want, JSON.stringify(f));
      }
      const [entry] = (await simCall(s, '/_sim/faults')).faults;
      assert.ok(entry.hits >= 1, `the fault ${JSON.stringify(f)} was met`);
    }
    await clearFaults(s);
    ok(await g.call('unifi_list_devices'), 'and the next call works');
    // A write is never retried: a 503 on the restart is reported, and the device is not restarted twice.
    const write = mode === 'integration' ? '/unifi/*/actions' : '/unifi/*/cmd/devmgr';
    await fault(s, { method: 'POST', path: write, kind: 'status', status: 503, count: 1 });
    const r = await g.call('unifi_restart_device', { device: 'Core Switch' });
    assert.equal(r.isError, true);
    assert.match(text(r), /unifi answered 503/);
    assert.equal((await requests(s)).filter((q) => q.method === 'POST' && !q.path.endsWith('login')).length, 1);
    await g.close();
  });
}

for (const mode of ['unifi_os', 'classic']) {
  test(`${mode}: workers share one session, and a login the console fails is a sentence`, async () => {
    const s = await sim();
    const g = await gateway(MODES[mode](s), { calls: { timeout_ms: 8000, workers: 4 } });
    const ids = ['a', 'b', 'c', 'd', 'e', 'f'];
    ids.forEach((id) => g.send({ jsonrpc: '2.0', id, method: 'tools/call', params: { name: 'unifi_list_clients', arguments: {} } }));
    for (let i = 0; i < ids.length; i++) {
      const m = await g.next();
      assert.equal(m.result.isError, undefined, JSON.stringify(m));
    }
    assert.equal((await requests(s)).filter((q) => q.path === LOGIN_PATH[mode]).length, 1, 'one login for every worker');
    await g.close();

    // Before the gateway starts, so that its first health check cannot log in either.
    await fault(s, { method: 'POST', path: LOGIN_PATH[mode], kind: 'status', status: 503 });
    const fresh = await gateway(MODES[mode](s));
    const r = await fresh.call('unifi_list_sites');
    assert.equal(r.isError, true);
    assert.match(text(r), /unifi answered 503 .* to POST \/api\/(auth\/)?login/);
    await clearFaults(s);
    ok(await fresh.call('unifi_list_sites'), 'the next call logs in');
    await fresh.close();
  });
}

async function health(g) {
  for (let i = 0; i < 100; i++) {
    const st = (await g.call('gateway_status')).structuredContent;
    const a = st.adapters.find((x) => x.name === 'unifi');
    if (a.health !== 'unknown') return a;
    await sleep(50);
  }
  assert.fail('no health check ran');
}

test('health: ok when the console answers and takes the credentials, failing with the reason when not', async () => {
  const s = await sim();
  for (const mode of Object.keys(MODES)) {
    const g = await gateway(MODES[mode](s));
    assert.equal((await health(g)).health, 'ok', mode);
    await g.close();
  }
  const g = await gateway(MODES.integration(s), { env: { UF_KEY: 'not-the-key' } });
  const h = await health(g);
  assert.equal(h.health, 'failing');
  assert.match(h.detail, /401.*api_key/);
  await g.close();
  const down = await gateway({ ...MODES.unifi_os(s), url: 'http://127.0.0.1:1/unifi' });
  const d = await health(down);
  assert.equal(d.health, 'failing');
  assert.match(d.detail, /could not connect to unifi/);
  await down.close();
});

test('TLS: refused by default, trusted with ca_file or the fingerprint; a wrong pin is refused', async () => {
  const pem = join(mkdtempSync(join(tmpdir(), 'cortex-uf-tls-')), 'sim.pem');
  const s = await sim(undefined, ['--tls', '--cert-out', pem]);
  const fp = s.fingerprint();
  const plain = await gateway(MODES.integration(s));
  const refused = await plain.call('unifi_list_sites');
  assert.equal(refused.isError, true);
  assert.match(text(refused), /TLS|certificate/i);
  await plain.close();
  for (const extra of [{ ca_file: pem }, { fingerprint: fp }]) {
    const g = await gateway({ ...MODES.unifi_os(s), ...extra });
    ok(await g.call('unifi_list_sites'), JSON.stringify(extra));
    await g.close();
  }
  const wrongPin = fp.replace(/^[0-9A-F]{2}/, fp.startsWith('00') ? '11' : '00');
  const g = await gateway({ ...MODES.unifi_os(s), fingerprint: wrongPin });
  const r = await g.call('unifi_list_sites');
  assert.equal(r.isError, true);
  assert.match(text(r), /certificate fingerprint mismatch/);
  await g.close();
});

test('every gateway stopped cleanly, and no secret, cookie or CSRF token is in anything it wrote to stderr', async () => {
  assert.ok(gateways.length >= 8);
  for (const g of gateways) {
    const { code, signal } = await g.exited;
    assert.equal(signal, null, g.stderr());
    assert.equal(code, 0, g.stderr());
    assert.doesNotMatch(g.stderr(), /Sanitizer|runtime error/, g.stderr());
    const err = g.stderr();
    for (const secret of [API_KEY, PASSWORD, 'TOKEN=', 'unifises=', 'csrf_token=', 'X-CSRF-Token:']) {
      assert.ok(!err.includes(secret), `${secret} in stderr: ${err}`);
    }
  }
});
