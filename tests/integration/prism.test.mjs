// Every Proxmox and Cloudflare tool against Prism mocking the backends' published OpenAPI
// descriptions (../shared/specs): Prism validates each request the adapters send, and a test
// fails if it reports any violation, or if a tool's request never reached it. The mocked
// answers are examples, not a backend's state: what is checked here is what Cortex sends.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { startStdio, writeConfig } from './lib.mjs';
import { PRISM, SPECS, running, startPrism, violations, callAll } from './prism-lib.mjs';

after(() => running.forEach((p) => p.kill('SIGKILL')));

// The specs live in ../shared/specs beside the project (CI lays them out the same way); a
// checkout without them cannot run these tests, and says so rather than passing quietly.
test('the published API descriptions and Prism are where the tests expect them', () => {
  assert.ok(existsSync(join(SPECS, 'proxmox-pve-subset-api2json.json')),
    `no API descriptions in ${SPECS}: put shared/ beside the project or set CORTEX_SPECS_DIR`);
  assert.ok(existsSync(PRISM), `no ${PRISM}: run npm ci in tests/`);
});

test('every Proxmox tool sends requests the Proxmox VE API description accepts', async () => {
  const prism = await startPrism('proxmox-pve-subset-api2json.json');
  const conf = writeConfig({ adapters: { proxmox: {
    url: prism.url, token_id: 'cortex@pve!gateway', token_secret: { env: 'PX_TOKEN_SECRET' },
    retries: 0, task_poll_ms: 50 } } });
  const g = startStdio(['--config', conf], { env: { PX_TOKEN_SECRET: 'prism-secret-value' } });
  running.push(g.child);
  await g.initialize();
  await callAll(g, [
    ['proxmox_list_nodes', {}],
    ['proxmox_get_node_status', { node: 'pve1' }],
    ['proxmox_list_vms', { status: 'running' }],
    ['proxmox_get_cluster_resources', { type: 'vm' }],
    ['proxmox_get_cluster_status', {}],
    ['proxmox_get_vm_status', { vmid: 101, node: 'pve1', type: 'qemu' }],
    ['proxmox_get_vm_status', { vmid: 200, node: 'pve1', type: 'lxc' }],
    ['proxmox_get_vm_config', { vmid: 101, node: 'pve1', type: 'qemu' }],
    ['proxmox_get_task_status', { upid: 'UPID:pve1:0000AAAA:0001BBBB:65000000:qmstart:101:root@pam:' }],
    ['proxmox_vm_action', { vmid: 101, node: 'pve1', type: 'qemu', action: 'start', wait: false }],
    ['proxmox_vm_action', { vmid: 101, node: 'pve1', type: 'qemu', action: 'reset', wait: false }],
    ['proxmox_vm_action', { vmid: 200, node: 'pve1', type: 'lxc', action: 'shutdown', wait: false }],
  ]);
  const log = prism.log();
  assert.deepEqual(violations(log), [], 'Prism found no request that breaks the description');
  for (const path of ['/api2/json/nodes', '/api2/json/nodes/pve1/status', '/api2/json/cluster/resources',
    '/api2/json/cluster/status', '/api2/json/nodes/pve1/qemu/101/status/current',
    '/api2/json/nodes/pve1/lxc/200/status/current', '/api2/json/nodes/pve1/qemu/101/config',
    '/api2/json/nodes/pve1/tasks/', '/api2/json/nodes/pve1/qemu/101/status/start',
    '/api2/json/nodes/pve1/qemu/101/status/reset', '/api2/json/nodes/pve1/lxc/200/status/shutdown']) {
    assert.ok(log.includes(path), `a request for ${path} reached Prism`);
  }
  assert.ok(!g.stderr().includes('prism-secret-value'), 'the token secret is never logged');
  await g.close();
});

test('every Cloudflare tool sends requests the Cloudflare API description accepts', async () => {
  const prism = await startPrism('cloudflare-zones-dns.json');
  const conf = writeConfig({ adapters: { cloudflare: {
    url: prism.url, api_token: { env: 'CF_API_TOKEN' }, retries: 0 } } });
  const g = startStdio(['--config', conf], { env: { CF_API_TOKEN: 'prism-cf-token-value' } });
  running.push(g.child);
  await g.initialize();
  const zone = '023e105f4ecef8ad9ca31a8372d0c353';
  const rec = '372e67954025e0ba6aaa6d586b9e0b59';
  await callAll(g, [
    ['cloudflare_list_zones', {}],
    ['cloudflare_list_zones', { name: 'example.com', status: 'active', page: 1, per_page: 20 }],
    ['cloudflare_get_dns', { zone_id: zone, type: 'A', page: 1 }],
    ['cloudflare_get_dns', { zone_id: zone, name: 'www.example.com', content: '192.0.2.1', page: 1 }],
    ['cloudflare_create_dns_record', { zone_id: zone, type: 'A', name: 'api.example.com', content: '192.0.2.10', ttl: 300, proxied: false }],
    ['cloudflare_create_dns_record', { zone_id: zone, type: 'MX', name: 'example.com', content: 'mx.example.com', priority: 10 }],
    ['cloudflare_update_dns_record', { zone_id: zone, record_id: rec, content: '192.0.2.11' }],
    ['cloudflare_delete_dns_record', { zone_id: zone, record_id: rec }],
  ]);
  const log = prism.log();
  assert.deepEqual(violations(log), [], 'Prism found no request that breaks the description');
  for (const path of ['/zones', `/zones/${zone}/dns_records`, `/zones/${zone}/dns_records/${rec}`, '/user/tokens/verify']) {
    assert.ok(log.includes(path), `a request for ${path} reached Prism`);
  }
  assert.ok(!g.stderr().includes('prism-cf-token-value'), 'the API token is never logged');
  await g.close();
});
