// The Sandfly Security adapter against the simulator (build/cortex-sim): every tool, the
// token pair shared by all workers (one login for many concurrent calls, one refresh when the
// access token expires, a fresh login when the refresh token is refused), a wrong password,
// every fault kind, TLS (refused by default, ca_file, pin), and no password or token in what
// the gateway writes.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startSim, startStdio, writeConfig } from './lib.mjs';

const running = [];
after(() => running.forEach((p) => p.kill()));

const PASSWORD = 'sandfly-sim-password';
const WEB01 = '64a1f0c2b9e8d7a6c5b4e3f2';
const LEGACY01 = '64a1f0c2b9e8d7a6c5b4e3f4';

async function sim(args = []) {
  const s = startSim(args);
  running.push(s);
  s.url = await s.ready;
  return s;
}

// The simulator's control endpoints (and its sim-only /v4/_sim/expire); over HTTPS the
// simulator's own certificate is trusted.
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

const requests = async (s) => (await simCall(s, '/_sim/requests')).requests;
const count = async (s, path) => (await requests(s)).filter((r) => r.path === path).length;
const fault = (s, body) => simCall(s, '/_sim/faults', { method: 'POST', body });
const clearFaults = (s) => simCall(s, '/_sim/faults', { method: 'DELETE' });

async function gateway(sandfly, { calls = { timeout_ms: 8000 }, env = {} } = {}) {
  const conf = writeConfig({ calls, log: { level: 'debug' }, adapters: { sandfly } });
  const g = startStdio(['--config', conf], { env: { SF_PASSWORD: PASSWORD, ...env } });
  running.push(g);
  await g.initialize();
  g.call = async (name, args = {}) => (await g.request('tools/call', { name, arguments: args })).result;
  // Many calls at once: every request is sent before any answer is read.
  g.callAll = async (calls) => {
    calls.forEach(([name, args], i) => g.send({ jsonrpc: '2.0', id: 'c' + i, method: 'tools/call', params: { name, arguments: args ?? {} } }));
    const out = [];
    for (let i = 0; i < calls.length; i++) {
      const m = await g.next(15000);
      out[Number(m.id.slice(1))] = m.result;
    }
    return out;
  };
  return g;
}

// The adapter's health as gateway_status reports it, once the first check has run.
async function health(g) {
  for (let i = 0; i < 50; i++) {
    const st = (await g.call('gateway_status')).structuredContent;
    const a = st.adapters.find((x) => x.name === 'sandfly');
    if (a.health !== 'unknown') return a;
    await new Promise((r) => setTimeout(r, 100));
  }
  return null;
}

const conf = (s, extra = {}) => ({ url: s.url, username: 'admin', password: { env: 'SF_PASSWORD' }, ...extra });
const text = (r) => r.content.map((c) => c.text).join('\n');
const sc = (r) => {
  assert.equal(r.isError, undefined, text(r));
  assert.deepEqual(JSON.parse(text(r)), r.structuredContent, 'the same JSON as text');
  return r.structuredContent;
};

// Nothing secret in what the gateway wrote: the password, and the simulator's tokens (which
// all start "sfsim.").
function assertNoSecrets(g, password = PASSWORD) {
  assert.ok(!g.stderr().includes(password), 'the password is never logged');
  assert.ok(!/sfsim\.[ar]\./.test(g.stderr()), 'no access or refresh token is logged');
}

test('the read tools: hosts, one host by id, name or address, results filtered and paged', async () => {
  const s = await sim();
  const g = await gateway(conf(s));
  assert.equal((await health(g)).health, 'ok', 'the health check (GET /v4/version) passes');
  assert.ok((await requests(s)).some((r) => r.path === '/v4/version' && r.authorization));
  const hosts = sc(await g.call('sandfly_list_hosts'));
  assert.deepEqual(hosts.hosts.map((h) => h.hostname), ['web01', 'db01', 'legacy01']);
  assert.equal(hosts.more_results, false);
  const web = hosts.hosts[0];
  assert.equal(web.host_id, WEB01);
  assert.equal(web.ip, '192.0.2.11');
  assert.equal(web.results_alert, 2);
  assert.equal(web.os, 'Ubuntu 22.04.4 LTS');
  assert.equal(hosts.hosts[2].active, false);
  const page1 = sc(await g.call('sandfly_list_hosts', { limit: 2 }));
  assert.deepEqual([page1.count, page1.more_results], [2, true]);
  const page2 = sc(await g.call('sandfly_list_hosts', { limit: 2, page: 2 }));
  assert.deepEqual(page2.hosts.map((h) => h.hostname), ['legacy01']);

  for (const host of [WEB01, '1', 'web01', 'WEB01', '192.0.2.11']) {
    const h = sc(await g.call('sandfly_get_host', { host })).host;
    assert.equal(h.host_id, WEB01, host);
    assert.equal(h.results_total, 4);
    assert.equal(h.cpu_cores, 4);
  }
  const missing = await g.call('sandfly_get_host', { host: 'nosuchhost' });
  assert.equal(missing.isError, true);
  assert.match(text(missing), /no host with id, hostname or IP address 'nosuchhost'/);

  const alerts = sc(await g.call('sandfly_get_results', { status: 'alert' }));
  assert.deepEqual(alerts.results.map((r) => r.sandfly),
    ['file_hidden_binary_tmp', 'log_wtmp_tampered', 'process_running_deleted_bin'], 'newest first');
  assert.ok(alerts.results.every((r) => r.status === 'alert' && r.host_id && r.end_time && typeof r.severity === 'number'));
  assert.equal(alerts.total, 3);
  const db = sc(await g.call('sandfly_get_results', { hostname: 'db01' }));
  assert.equal(db.count, 3);
  assert.ok(db.results.every((r) => r.hostname === 'db01'));
  const byId = sc(await g.call('sandfly_get_results', { host_id: WEB01, type: 'file' }));
  assert.deepEqual(byId.results.map((r) => [r.sandfly, r.status]), [['file_hidden_binary_tmp', 'pass']]);
  const named = sc(await g.call('sandfly_get_results', { sandfly: 'process_running_deleted_bin' }));
  assert.deepEqual(named.results.map((r) => r.status).sort(), ['alert', 'error']);
  const since = sc(await g.call('sandfly_get_results', { since: '2024-05-03T08:15:02Z' }));
  assert.deepEqual(since.results.map((r) => r.end_time),
    ['2024-05-04T09:00:00Z', '2024-05-03T08:15:04Z', '2024-05-03T08:15:02Z']);
  const sinceDate = sc(await g.call('sandfly_get_results', { since: '2024-05-03' }));
  assert.equal(sinceDate.count, 4, 'a bare date is midnight UTC');
  const limited = sc(await g.call('sandfly_get_results', { limit: 2 }));
  assert.deepEqual([limited.count, limited.total, limited.more_results], [2, 2, true], 'total: the records in this page, as ScrollingResponse has it');
  const none = sc(await g.call('sandfly_get_results', { status: 'error', hostname: 'web01' }));
  assert.deepEqual([none.count, none.results, none.more_results], [0, [], false], 'no match is an empty list, not an error');
  const badSince = await g.call('sandfly_get_results', { since: 'yesterday' });
  assert.equal(badSince.isError, true, 'the input schema refuses a time that is not RFC 3339');
  await g.close();
  assertNoSecrets(g);
});

test('sandfly_query: Sandfly filters as written, full results by id, Sandfly\'s own words on a bad filter', async () => {
  const s = await sim();
  const g = await gateway(conf(s));
  const severe = sc(await g.call('sandfly_query', {
    filter: { items: [{ field: 'data.severity', operator: '>=', value: 4 }, { field: 'header.tags', operator: 'contains', value: 'web' }], logicOperator: 'and' },
    sort: [{ field: 'data.end_time', sort: 'asc' }],
  }));
  assert.deepEqual(severe.results.map((r) => r['data.name']), ['process_running_deleted_bin', 'log_wtmp_tampered']);
  assert.equal(severe.results[0]['header.hostname'], 'web01', 'summary records as Sandfly sends them');
  const either = sc(await g.call('sandfly_query', {
    filter: { items: [{ field: 'data.status', operator: 'equals', value: 'error' }, { field: 'data.type', operator: 'equals', value: 'log' }], logicOperator: 'or' },
  }));
  assert.equal(either.count, 2);
  const full = sc(await g.call('sandfly_query', { result_ids: ['1001'], summary: false }));
  assert.equal(full.count, 1);
  assert.equal(full.results[0].data.name, 'process_running_deleted_bin');
  assert.match(full.results[0].data.results.explanation, /suspicious/);
  const newest = sc(await g.call('sandfly_query', { limit: 1 }));
  assert.equal(newest.results[0].id, '1008', 'no filter: the newest');
  assert.equal(newest.more_results, true);

  const bad = await g.call('sandfly_query', { filter: { items: [{ field: 'data.bogus', operator: 'equals', value: 'x' }], logicOperator: 'and' } });
  assert.equal(bad.isError, true);
  assert.match(text(bad), /sandfly answered 400/);
  assert.match(text(bad), /Unknown filter field: data\.bogus/);
  const badOp = await g.call('sandfly_query', { filter: { items: [{ field: 'data.end_time', operator: 'contains', value: '2024' }], logicOperator: 'and' } });
  assert.match(text(badOp), /Operator contains is not valid for field data\.end_time/);
  const both = await g.call('sandfly_query', { result_ids: ['1'], filter: { items: [], logicOperator: 'and' } });
  assert.equal(both.isError, true);
  assert.match(text(both), /either filter or result_ids/);
  await g.close();
});

test('sandfly_start_scan runs a scan whose results can then be found; refusals are Sandfly\'s sentences', async () => {
  const s = await sim();
  const g = await gateway(conf(s));
  const list = (await g.request('tools/list', {})).result.tools;
  const ann = Object.fromEntries(list.filter((t) => t.name.startsWith('sandfly_')).map((t) => [t.name, t.annotations]));
  assert.deepEqual(Object.keys(ann).sort(), ['sandfly_get_host', 'sandfly_get_results', 'sandfly_list_hosts', 'sandfly_query', 'sandfly_start_scan']);
  assert.equal(ann.sandfly_start_scan.readOnlyHint, false, 'a scan has side effects');
  assert.equal(ann.sandfly_start_scan.idempotentHint, false);
  assert.equal(ann.sandfly_start_scan.destructiveHint, false);
  for (const n of ['sandfly_get_host', 'sandfly_get_results', 'sandfly_list_hosts', 'sandfly_query']) assert.equal(ann[n].readOnlyHint, true, n);

  const started = sc(await g.call('sandfly_start_scan', { host_ids: [WEB01], sandflies: ['process_running_deleted_bin', 'log_wtmp_tampered'] }));
  assert.equal(started.accepted, true);
  assert.equal(started.status, 202);
  assert.match(started.data, /^sim-run-/);
  assert.match(started.requested_at, /^\d{4}-\d\d-\d\dT/);
  const scan = (await requests(s)).find((r) => r.path === '/v4/scan');
  assert.equal(scan.method, 'POST');
  const run = sc(await g.call('sandfly_query', { filter: { items: [{ field: 'header.run_id', operator: 'equals', value: started.data }], logicOperator: 'and' } }));
  assert.deepEqual(run.results.map((r) => [r['data.name'], r['data.status']]).sort(),
    [['log_wtmp_tampered', 'pass'], ['process_running_deleted_bin', 'alert']]);
  const fresh = sc(await g.call('sandfly_get_results', { host_id: WEB01, status: 'alert', since: started.requested_at.slice(0, 10) }));
  assert.ok(fresh.results.some((r) => r.run_id === started.data), 'the new alert is among the results since the scan');
  const host = sc(await g.call('sandfly_get_host', { host: 'web01' })).host;
  assert.equal(host.results_alert, 3, 'the host counts the new alert');

  const all = sc(await g.call('sandfly_start_scan', { host_ids: [WEB01] }));
  const ran = sc(await g.call('sandfly_query', { filter: { items: [{ field: 'header.run_id', operator: 'equals', value: all.data }], logicOperator: 'and' }, limit: 100 }));
  assert.equal(ran.count, 6, 'no list: every active sandfly (6 of 7)');

  const inactive = await g.call('sandfly_start_scan', { host_ids: [LEGACY01] });
  assert.equal(inactive.isError, true);
  assert.match(text(inactive), /sandfly answered 400.*legacy01 is not active/);
  const unknown = await g.call('sandfly_start_scan', { host_ids: [WEB01], sandflies: ['no_such_sandfly'] });
  assert.match(text(unknown), /Unknown sandfly: no_such_sandfly/);
  await g.close();
});

test('tokens: one login for many concurrent calls, one refresh on 401, a fresh login when the refresh is refused', async () => {
  const s = await sim();
  const g = await gateway(conf(s), { calls: { timeout_ms: 10000, workers: 8 } });
  const batch = () => g.callAll(Array.from({ length: 16 }, (_, i) =>
    i % 2 ? ['sandfly_get_results', { status: 'alert' }] : ['sandfly_list_hosts', {}]));
  let out = await batch();
  assert.ok(out.every((r) => r.isError === undefined), JSON.stringify(out.find((r) => r.isError)));
  assert.equal(await count(s, '/v4/auth/login'), 1, '16 concurrent calls (and the health check) shared one login');
  const log = await requests(s);
  assert.ok(log.filter((r) => r.path !== '/v4/auth/login').every((r) => r.authorization), 'every API request carried the token');

  // Every access token expires: the first call to see the 401 refreshes; the others reuse it.
  await simCall(s, '/v4/_sim/expire', { method: 'POST', body: {} });
  out = await batch();
  assert.ok(out.every((r) => r.isError === undefined), JSON.stringify(out.find((r) => r.isError)));
  assert.equal(await count(s, '/v4/auth/login_refresh'), 1, 'one refresh for 16 refused calls');
  assert.equal(await count(s, '/v4/auth/login'), 1, 'and no new login');
  const refresh = (await requests(s)).find((r) => r.path === '/v4/auth/login_refresh');
  assert.equal(refresh.method, 'POST');
  assert.ok(refresh.authorization, 'the refresh token goes as Bearer');

  // Both tokens expire: the refresh is refused (401) and one fresh login follows.
  await simCall(s, '/v4/_sim/expire', { method: 'POST', body: { refresh: true } });
  out = await batch();
  assert.ok(out.every((r) => r.isError === undefined), JSON.stringify(out.find((r) => r.isError)));
  assert.equal(await count(s, '/v4/auth/login_refresh'), 2, 'one refused refresh');
  assert.equal(await count(s, '/v4/auth/login'), 2, 'then one fresh login for all 16 calls');

  // A refresh refused by an injected 401 (not only by expiry) also ends in a login.
  await simCall(s, '/v4/_sim/expire', { method: 'POST', body: {} });
  await fault(s, { method: 'POST', path: '/v4/auth/login_refresh', kind: 'status', status: 401, count: 1 });
  sc(await g.call('sandfly_list_hosts'));
  assert.equal(await count(s, '/v4/auth/login'), 3);

  // A server without /auth/login_refresh (404) is asked at /auth/refresh before a new login.
  await simCall(s, '/v4/_sim/expire', { method: 'POST', body: {} });
  await fault(s, { method: 'POST', path: '/v4/auth/login_refresh', kind: 'status', status: 404, count: 1 });
  sc(await g.call('sandfly_list_hosts'));
  const tail = (await requests(s)).map((r) => r.path).filter((p) => p.startsWith('/v4/auth/')).slice(-3);
  assert.deepEqual(tail, ['/v4/auth/login_refresh', '/v4/auth/refresh', '/v4/auth/login'],
    'login_refresh, then the older refresh path, then (this simulator serving neither) a login');
  await g.close();
  assertNoSecrets(g);
});

test('a wrong password is said plainly, never logged, and does not become a login per call', async () => {
  const s = await sim();
  const wrong = 'not-the-sandfly-password';
  const g = await gateway(conf(s), { env: { SF_PASSWORD: wrong }, calls: { timeout_ms: 8000, workers: 4 } });
  const out = await g.callAll(Array.from({ length: 8 }, () => ['sandfly_list_hosts', {}]));
  for (const r of out) {
    assert.equal(r.isError, true);
    assert.match(text(r), /sandfly answered 401/);
    assert.match(text(r), /Invalid username or password/);
    assert.match(text(r), /username or password is wrong/);
    assert.ok(!text(r).includes(wrong));
  }
  assert.ok(await count(s, '/v4/auth/login') <= 2, 'waiting calls reuse the failed login\'s answer');
  const h = await health(g);
  assert.equal(h.health, 'failing');
  assert.match(h.detail, /401/);
  assert.ok(!h.detail.includes(wrong));
  await g.close();
  assertNoSecrets(g, wrong);

  const bad = startStdio(['--config', writeConfig({ adapters: { sandfly: { url: s.url, username: 'admin' } } })]);
  running.push(bad);
  const { code } = await bad.exited;
  assert.notEqual(code, 0, 'no password: the gateway refuses to start');
  assert.match(bad.stderr(), /password/);
});

test('faults: retried where safe, sentences otherwise, and the next call works', async () => {
  const s = await sim();
  const g = await gateway(conf(s, { retries: 2 }), { calls: { timeout_ms: 3000, workers: 4 } });
  sc(await g.call('sandfly_list_hosts'));

  await fault(s, { method: 'GET', path: '/v4/hosts', kind: 'status', status: 503, count: 2 });
  sc(await g.call('sandfly_list_hosts'));
  await fault(s, { method: 'POST', path: '/v4/results', kind: 'status', status: 502, count: 1 });
  sc(await g.call('sandfly_get_results'));
  await fault(s, { method: 'POST', path: '/v4/results', kind: 'status', status: 429, retry_after: 1, count: 1 });
  const t0 = Date.now();
  sc(await g.call('sandfly_query', {}));
  assert.ok(Date.now() - t0 >= 900, 'Retry-After was waited for');

  // A scan is not repeated behind the caller's back.
  await simCall(s, '/_sim/requests', { method: 'DELETE' });
  await fault(s, { method: 'POST', path: '/v4/scan', kind: 'status', status: 503, count: 1 });
  const scan = await g.call('sandfly_start_scan', { host_ids: [WEB01] });
  assert.equal(scan.isError, true);
  assert.match(text(scan), /sandfly answered 503/);
  assert.equal(await count(s, '/v4/scan'), 1, 'POST /scan was sent once');
  await clearFaults(s);

  await fault(s, { method: 'GET', path: '/v4/hosts/*', kind: 'status', status: 403, count: 1 });
  const forbidden = await g.call('sandfly_get_host', { host: WEB01 });
  assert.match(text(forbidden), /403.*lacks the role/);
  await clearFaults(s);

  const cases = [
    [{ kind: 'invalid_json' }, /not JSON/],
    [{ kind: 'truncate' }, /not JSON|connection|answer/i],
    [{ kind: 'drop' }, /partial|connection|closed|empty/i],
    [{ kind: 'oversize', size_mib: 10 }, /more than \d+ bytes/],
    [{ kind: 'status', status: 500 }, /sandfly answered 500/],
  ];
  for (const [f, want] of cases) {
    await clearFaults(s);
    await fault(s, { method: 'GET', path: '/v4/hosts', ...f });
    const r = await g.call('sandfly_list_hosts');
    assert.equal(r.isError, true, f.kind + ': ' + JSON.stringify(r));
    assert.match(text(r), want, f.kind);
  }
  await clearFaults(s);
  await fault(s, { method: 'POST', path: '/v4/auth/login', kind: 'status', status: 503 });
  await simCall(s, '/v4/_sim/expire', { method: 'POST', body: { refresh: true } });
  const down = await g.call('sandfly_list_hosts');
  assert.equal(down.isError, true, 'the login itself failing is a sentence too');
  assert.match(text(down), /sandfly answered 503 .*POST \/auth\/login/);
  await clearFaults(s);

  // A body that trickles in slower than the deadline allows.
  await fault(s, { method: 'GET', path: '/v4/hosts', kind: 'trickle', bytes_per_sec: 200 });
  const slow = await g.call('sandfly_list_hosts');
  assert.equal(slow.isError, true);
  assert.match(text(slow), /did not (answer|finish) within/);
  await clearFaults(s);

  // One backend request hangs past the call's deadline; another call is answered meanwhile.
  await fault(s, { path: '/v4/results', kind: 'latency', latency_ms: 10000 });
  g.send({ jsonrpc: '2.0', id: 'hang', method: 'tools/call', params: { name: 'sandfly_get_results', arguments: {} } });
  const t1 = Date.now();
  const quick = await g.request('tools/call', { name: 'sandfly_list_hosts', arguments: {} }, 'quick');
  assert.equal(quick.id, 'quick');
  assert.equal(quick.result.isError, undefined, text(quick.result));
  const hung = await g.next(8000);
  assert.equal(hung.id, 'hang');
  assert.equal(hung.result.isError, true);
  assert.match(text(hung.result), /did not (answer|finish) within/);
  assert.ok(Date.now() - t1 < 4500, 'the deadline bounded the hanging call');
  await clearFaults(s);
  sc(await g.call('sandfly_list_hosts'));
  await g.close();
  assertNoSecrets(g);
});

test('TLS: refused by default, trusted with ca_file or the fingerprint; a wrong pin sends no password', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'cortex-sf-tls-'));
  const pem = join(dir, 'sim.pem');
  const s = await sim(['--tls', '--cert-out', pem]);
  s.ca = readFileSync(pem, 'utf8');
  const fp = s.fingerprint();

  const plain = await gateway(conf(s));
  const refused = await plain.call('sandfly_list_hosts');
  assert.equal(refused.isError, true);
  assert.match(text(refused), /TLS|certificate/i);
  await plain.close();

  for (const extra of [{ ca_file: pem }, { fingerprint: fp }, { insecure_skip_verify: true }]) {
    const g = await gateway(conf(s, extra));
    sc(await g.call('sandfly_list_hosts'));
    const sf = (await g.call('gateway_status')).structuredContent.adapters.find((a) => a.name === 'sandfly');
    await g.close();
    if (extra.insecure_skip_verify) {
      assert.match(g.stderr(), /insecure_skip_verify/i, 'skipping verification is warned about');
      assert.match(sf.warnings[0], /NOT VERIFIED/, 'and gateway_status says so');
    } else {
      assert.equal(sf.warnings, undefined);
      assert.match(sf.tls, extra.ca_file ? /ca_file/ : /pinned/);
    }
  }

  await simCall(s, '/_sim/requests', { method: 'DELETE' });
  const wrongPin = fp.replace(/^[0-9A-F]{2}/, fp.startsWith('00') ? '11' : '00');
  const g = await gateway(conf(s, { fingerprint: wrongPin }));
  const r = await g.call('sandfly_list_hosts');
  assert.match(text(r), /certificate fingerprint mismatch/);
  await g.close();
  assert.deepEqual(await requests(s), [], 'no request, and so no password, reached the backend');
});

test('tokens expire on their own (access_ttl_ms): the next call refreshes, and logs in again once the refresh token has expired too', async () => {
  const s = await sim(['--config', writeConfig({ sandfly: { access_ttl_ms: 400, refresh_ttl_ms: 1500 } })]);
  const g = await gateway(conf(s));
  sc(await g.call('sandfly_list_hosts'));
  const logins = await count(s, '/v4/auth/login');
  await new Promise((r) => setTimeout(r, 600));
  sc(await g.call('sandfly_get_results', { limit: 1 }));
  assert.ok(await count(s, '/v4/auth/login_refresh') >= 1, 'the expired access token was refreshed');
  assert.equal(await count(s, '/v4/auth/login'), logins, 'without a new login');
  await new Promise((r) => setTimeout(r, 1700));
  sc(await g.call('sandfly_get_results', { limit: 1 }));
  assert.ok(await count(s, '/v4/auth/login') > logins, 'an expired refresh token ends in a fresh login');
  await g.close();
  assertNoSecrets(g);
});

test('the simulator checks what Sandfly checks: token kinds, login bodies, search bodies', async () => {
  const s = await sim();
  const post = async (path, body, token) => {
    const r = await fetch(s.url + path, { method: 'POST', body: typeof body === 'string' ? body : JSON.stringify(body),
      headers: { 'Content-Type': 'application/json', ...(token ? { Authorization: 'Bearer ' + token } : {}) } });
    return { status: r.status, body: await r.json() };
  };
  assert.equal((await post('/v4/auth/login', 'not json')).status, 400);
  assert.equal((await post('/v4/auth/login', { username: 'admin' })).status, 400);
  const bad = await post('/v4/auth/login', { username: 'admin', password: 'nope' });
  assert.deepEqual([bad.status, bad.body.status, bad.body.detail], [401, 401, 'Invalid username or password']);
  const { body: pair } = await post('/v4/auth/login', { username: 'admin', password: PASSWORD });
  assert.ok(pair.access_token && pair.refresh_token);
  assert.equal((await post('/v4/auth/login_refresh', {}, pair.access_token)).status, 401, 'an access token does not refresh');
  const hosts = await fetch(s.url + '/v4/hosts', { headers: { Authorization: 'Bearer ' + pair.refresh_token } });
  assert.equal(hosts.status, 401, 'a refresh token does not open the API');
  assert.equal((await fetch(s.url + '/v4/hosts')).status, 401, 'nor does no token');
  const renewed = await post('/v4/auth/login_refresh', {}, pair.refresh_token);
  assert.equal(renewed.status, 200);
  assert.notEqual(renewed.body.access_token, pair.access_token);

  const t = renewed.body.access_token;
  for (const [body, want] of [
    [{ filter: { items: [] } }, /logicOperator/],
    [{ filter: { items: [], logicOperator: 'and' }, result_ids: ['1'] }, /mutually exclusive/],
    [{ sort: [{ field: 'data.end_time', sort: 'up' }] }, /asc or desc/],
    [{ sort: [{ field: 'data.tags', sort: 'asc' }] }, /unsortable/],
    [{ size: 0 }, /size/],
    [{ filter: { items: [{ field: 'data.end_time', operator: 'after', value: 'soon' }], logicOperator: 'and' } }, /Invalid value/],
    [{ filter: { items: [{ columnField: 'data.status', operatorValue: 'equals', value: 'alert' }], logicOperator: 'and' } }, /field and an operator/],
    [{ bogus: 1 }, /unknown key/],
  ]) {
    const r = await post('/v4/results', body, t);
    assert.equal(r.status, 400, JSON.stringify(body));
    assert.match(r.body.detail, want, JSON.stringify(body));
  }
  const none = await post('/v4/results', { filter: { items: [{ field: 'header.hostname', operator: 'equals', value: 'zzz' }], logicOperator: 'and' } }, t);
  assert.deepEqual([none.status, none.body.detail], [404, 'No results found']);
  const notEq = await post('/v4/results', { summary: true, filter: { items: [{ field: 'header.tags', operator: 'notContains', value: 'prod' }], logicOperator: 'and' } }, t);
  assert.deepEqual(notEq.body.data.map((r) => r['header.hostname']), ['legacy01']);
  const one = await fetch(s.url + '/v4/results/1004', { headers: { Authorization: 'Bearer ' + t } });
  assert.equal((await one.json()).data.name, 'file_hidden_binary_tmp');
  assert.equal((await fetch(s.url + '/v4/results/99', { headers: { Authorization: 'Bearer ' + t } })).status, 404);
  assert.equal((await fetch(s.url + '/v4/hosts/2', { headers: { Authorization: 'Bearer ' + t } })).status, 200, 'a host by sequence id');
});
