// The Cloudflare adapter against the simulator (build/cortex-sim): zones and every page of a
// zone's DNS records, records that are really created, changed and deleted, Cloudflare's own
// error codes in the sentence the model reads, a wrong token, and a 429 retried after
// Retry-After.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startSim, startStdio, writeConfig } from './lib.mjs';

const running = [];
after(() => running.forEach((p) => p.kill()));

const TOKEN = 'cfsim-token-0123456789abcdef0123456789abcdef';
const ZONE = '023e105f4ecef8ad9ca31a8372d0c353';

async function sim(args = []) {
  const s = startSim(args);
  running.push(s);
  s.url = await s.ready;
  return s;
}

async function gateway(s, token = TOKEN, extra = {}) {
  const conf = writeConfig({ calls: { timeout_ms: 8000 }, adapters: { cloudflare: {
    url: s.url + '/client/v4', api_token: { env: 'CF_TOKEN' }, retries: 2, ...extra } } });
  const g = startStdio(['--config', conf], { env: { CF_TOKEN: token } });
  running.push(g);
  await g.initialize();
  g.call = async (name, args = {}) => (await g.request('tools/call', { name, arguments: args })).result;
  return g;
}

const text = (r) => r.content.map((c) => c.text).join('\n');

test('zones and every page of DNS records; one page when asked', async () => {
  const s = await sim();
  const g = await gateway(s);
  const zones = await g.call('cloudflare_list_zones');
  assert.equal(zones.isError, undefined, text(zones));
  assert.deepEqual(zones.structuredContent.zones.map((z) => z.name).sort(), ['example.com', 'example.net']);
  const active = await g.call('cloudflare_list_zones', { status: 'active' });
  assert.deepEqual(active.structuredContent.zones.map((z) => z.name), ['example.com']);

  const all = await g.call('cloudflare_get_dns', { zone: 'example.com' });
  assert.equal(all.isError, undefined, text(all));
  assert.equal(all.structuredContent.zone_id, ZONE, 'the zone found by its name');
  assert.equal(all.structuredContent.count, 120, 'every page read');
  assert.equal(all.structuredContent.total, 120);
  const page = await g.call('cloudflare_get_dns', { zone_id: ZONE, page: 2, per_page: 50 });
  assert.equal(page.structuredContent.count, 50);
  const ids = new Set(all.structuredContent.records.map((r) => r.id));
  assert.equal(ids.size, 120, 'no record twice across pages');
  const unknown = await g.call('cloudflare_get_dns', { zone: 'nosuch.example' });
  assert.equal(unknown.isError, true);
  assert.match(text(unknown), /no zone named 'nosuch.example'/);
  await g.close();
});

test('a record is created, changed and deleted for real; Cloudflare\'s error codes reach the model', async () => {
  const s = await sim();
  const g = await gateway(s);
  const made = await g.call('cloudflare_create_dns_record', { zone_id: ZONE, type: 'A', name: 'cortex-test.example.com', content: '192.0.2.55', ttl: 300 });
  assert.equal(made.isError, undefined, text(made));
  const id = made.structuredContent.id;
  assert.match(id, /^[0-9a-f]{32}$/);
  let found = await g.call('cloudflare_get_dns', { zone_id: ZONE, name: 'cortex-test.example.com' });
  assert.deepEqual(found.structuredContent.records.map((r) => r.content), ['192.0.2.55']);

  const changed = await g.call('cloudflare_update_dns_record', { zone_id: ZONE, record_id: id, content: '192.0.2.56' });
  assert.equal(changed.structuredContent.content, '192.0.2.56');
  assert.equal(changed.structuredContent.name, 'cortex-test.example.com', 'fields not given stay');
  const nothing = await g.call('cloudflare_update_dns_record', { zone_id: ZONE, record_id: id });
  assert.equal(nothing.isError, true);

  const gone = await g.call('cloudflare_delete_dns_record', { zone_id: ZONE, record_id: id });
  assert.equal(gone.structuredContent.deleted, true);
  found = await g.call('cloudflare_get_dns', { zone_id: ZONE, name: 'cortex-test.example.com' });
  assert.equal(found.structuredContent.count, 0);
  const twice = await g.call('cloudflare_delete_dns_record', { zone_id: ZONE, record_id: id });
  assert.equal(twice.isError, true);
  assert.match(text(twice), /404/);

  const bad = await g.call('cloudflare_create_dns_record', { zone_id: ZONE, type: 'A', name: 'bad.example.com', content: 'not-an-address' });
  assert.equal(bad.isError, true);
  assert.match(text(bad), /code \d+/, 'Cloudflare\'s error code is quoted');
  await g.close();
});

test('a wrong token is said plainly and never logged; a 429 is retried after Retry-After', async () => {
  const s = await sim();
  const wrong = await gateway(s, 'not-the-cloudflare-token');
  const r = await wrong.call('cloudflare_list_zones');
  assert.equal(r.isError, true);
  assert.match(text(r), /cloudflare answered 40[13]/);
  assert.match(text(r), /API token/);
  assert.ok(!text(r).includes('not-the-cloudflare-token') && !wrong.stderr().includes('not-the-cloudflare-token'));
  await wrong.close();

  const g = await gateway(s);
  await fetch(s.url + '/_sim/faults', { method: 'POST', body: JSON.stringify({ method: 'GET', path: '/client/v4/zones', kind: 'status', status: 429, retry_after: 1, count: 1 }) });
  const t0 = Date.now();
  const ok = await g.call('cloudflare_list_zones');
  assert.equal(ok.isError, undefined, text(ok));
  assert.ok(Date.now() - t0 >= 900, 'Retry-After was waited for');
  await g.close();
});

test("TLS: the simulator's self-signed certificate is refused, then trusted by ca_file or its pin", async () => {
  const pem = join(mkdtempSync(join(tmpdir(), 'cortex-cf-tls-')), 'sim.pem');
  const s = await sim(['--tls', '--cert-out', pem]);
  const refused = await gateway(s);
  const r = await refused.call('cloudflare_list_zones');
  assert.equal(r.isError, true);
  assert.match(text(r), /TLS|certificate/i);
  await refused.close();
  for (const extra of [{ ca_file: pem }, { fingerprint: s.fingerprint() }]) {
    const g = await gateway(s, TOKEN, extra);
    const ok = await g.call('cloudflare_list_zones');
    assert.equal(ok.isError, undefined, JSON.stringify(extra) + ': ' + text(ok));
    await g.close();
  }
});
