// Every UniFi tool in Integration API mode against Prism mocking the published description
// (../shared/specs/unifi-integration-subset.json): Prism validates each request the adapter
// sends (paths, UUIDs, offset/limit, X-API-KEY, the action body), and the test fails on any
// violation it reports or on a request that never reached it. The answers are the
// description's examples, not a console's state: what is checked is what Cortex sends.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { startStdio, writeConfig } from './lib.mjs';
import { PRISM, SPECS, running, startPrism, violations, callAll } from './prism-lib.mjs';

after(() => running.forEach((p) => p.kill('SIGKILL')));

const SITE = '6b1d5c3e-2a4f-4e8d-9c7b-1f0a2e3d4c5b';
const DEVICE = '0f4a6c2e-8b1d-4e3f-a5c7-9d2b4f6e8a10';

test('the UniFi description and Prism are where the test expects them', () => {
  assert.ok(existsSync(join(SPECS, 'unifi-integration-subset.json')),
    `no API descriptions in ${SPECS}: put shared/ beside the project or set CORTEX_SPECS_DIR`);
  assert.ok(existsSync(PRISM), `no ${PRISM}: run npm ci in tests/`);
});

test('every UniFi tool sends requests the UniFi Network Integration API description accepts', async () => {
  const prism = await startPrism('unifi-integration-subset.json');
  const conf = writeConfig({ adapters: { unifi: { url: prism.url, api_key: { env: 'UF_KEY' }, retries: 0 } } });
  const g = startStdio(['--config', conf], { env: { UF_KEY: 'prism-unifi-key-value' } });
  running.push(g.child);
  await g.initialize();
  const out = await callAll(g, [
    ['unifi_list_sites', {}],
    ['unifi_list_devices', { site: SITE }],
    ['unifi_list_devices', { site: 'default', limit: 10 }],
    ['unifi_get_device_stats', { site: SITE, device: DEVICE }],
    ['unifi_get_device_stats', { site: SITE, device: '94:2a:6f:26:c6:ca' }],
    ['unifi_list_clients', { site: SITE, limit: 50 }],
    ['unifi_restart_device', { site: SITE, device: DEVICE }],
  ]);
  const log = prism.log();
  assert.deepEqual(violations(log), [], 'Prism found no request that breaks the description');
  const base = '/proxy/network/integration/v1';
  for (const path of [`${base}/sites`, `${base}/sites/${SITE}/devices`, `${base}/sites/${SITE}/devices/${DEVICE}`,
    `${base}/sites/${SITE}/devices/${DEVICE}/statistics/latest`, `${base}/sites/${SITE}/clients`,
    `${base}/sites/${SITE}/devices/${DEVICE}/actions`]) {
    assert.ok(log.includes(path), `a request for ${path} reached Prism`);
  }
  // The description's examples parse into the tools' answers.
  const stats = out[`unifi_get_device_stats${JSON.stringify({ site: SITE, device: DEVICE })}`];
  assert.equal(stats.isError, undefined, JSON.stringify(stats));
  assert.equal(typeof stats.structuredContent.state, 'string');
  const restart = out[`unifi_restart_device${JSON.stringify({ site: SITE, device: DEVICE })}`];
  assert.equal(restart.isError, undefined, JSON.stringify(restart));
  assert.equal(restart.structuredContent.accepted, true);
  const sites = out['unifi_list_sites{}'];
  assert.equal(sites.isError, undefined, JSON.stringify(sites));
  assert.ok(!g.stderr().includes('prism-unifi-key-value'), 'the API key is never logged');
  await g.close();
});
