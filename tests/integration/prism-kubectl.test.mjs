// Every Kubernetes tool against Prism mocking ../shared/specs/k8s-core-apps-subset.json: Prism
// validates each request the adapter sends (paths, query parameters, content types of the
// patches), and a test fails on any violation it reports or if a tool's request never reached
// it. The description has no discovery endpoints, so only the kinds the adapter knows without
// discovery are used here; the answers are Prism's examples, not a cluster's state.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startStdio, tmpDir, writeConfig } from './lib.mjs';
import { PRISM, SPECS, running, startPrism, violations, callAll } from './prism-lib.mjs';

after(() => running.forEach((p) => p.kill('SIGKILL')));

test('the Kubernetes API description and Prism are where the tests expect them', () => {
  assert.ok(existsSync(join(SPECS, 'k8s-core-apps-subset.json')),
    `no API descriptions in ${SPECS}: put shared/ beside the project or set CORTEX_SPECS_DIR`);
  assert.ok(existsSync(PRISM), `no ${PRISM}: run npm ci in tests/`);
});

test('every Kubernetes tool sends requests the Kubernetes API description accepts', async () => {
  const prism = await startPrism('k8s-core-apps-subset.json');
  const dir = tmpDir();
  const kc = join(dir, 'config');
  writeFileSync(kc, `apiVersion: v1
kind: Config
current-context: prism
clusters:
- name: prism
  cluster: {server: "${prism.url}"}
users:
- name: cortex
  user: {token: prism-k8s-token-value}
contexts:
- name: prism
  context: {cluster: prism, user: cortex, namespace: default}
`);
  const conf = writeConfig({ adapters: { kubectl: { kubeconfig: kc, retries: 0 } } });
  const g = startStdio(['--config', conf]);
  running.push(g.child);
  await g.initialize();
  const manifest = `apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec: {containers: [{name: web, image: "nginx:1.25"}]}
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: default}
spec: {ports: [{port: 80}]}
`;
  const out = await callAll(g, [
    ['kubectl_get', { kind: 'po' }],
    ['kubectl_get', { kind: 'pods', all_namespaces: true, label_selector: 'app=web', limit: 5 }],
    ['kubectl_get', { kind: 'pods', field_selector: 'status.phase=Running', continue: 'abc' }],
    ['kubectl_get', { kind: 'deploy', name: 'web' }],
    ['kubectl_get', { kind: 'deployments', all_namespaces: true }],
    ['kubectl_get', { kind: 'svc' }],
    ['kubectl_get', { kind: 'svc', all_namespaces: true }],
    ['kubectl_get', { kind: 'ns' }],
    ['kubectl_get', { kind: 'ev' }],
    ['kubectl_describe', { kind: 'pod', name: 'web-1' }],
    ['kubectl_describe', { kind: 'deployment', name: 'web', namespace: 'team-a' }],
    // Prism's example pod has one container named "string".
    ['kubectl_logs', { name: 'web-1' }],
    ['kubectl_logs', { name: 'web-1', container: 'string', tail_lines: 10, since_seconds: 60, previous: true, limit_bytes: 1000 }],
    ['kubectl_apply', { manifest }],
    ['kubectl_apply', { manifest, force: true, dry_run: true }],
    ['kubectl_delete', { kind: 'pod', name: 'web-1', propagation_policy: 'Background', grace_period_seconds: 0 }],
    ['kubectl_delete', { kind: 'deploy', name: 'web', dry_run: true }],
    ['kubectl_delete', { kind: 'svc', name: 'web' }],
    ['kubectl_scale', { name: 'web', replicas: 3 }],
    ['kubectl_scale', { name: 'web', replicas: 0, dry_run: true }],
    ['kubectl_rollout_restart', { name: 'web' }],
    ['kubectl_rollout_status', { name: 'web' }],
  ]);
  const log = prism.log();
  if (process.env.K8S_DEBUG) for (const [k, r] of Object.entries(out)) console.log(k, r.isError ? r.content[r.content.length - 1].text : 'ok');
  assert.deepEqual(violations(log), [], 'Prism found no request that breaks the description');
  for (const path of ['/api/v1/namespaces/default/pods', '/api/v1/pods', '/apis/apps/v1/namespaces/default/deployments/web',
    '/apis/apps/v1/deployments', '/api/v1/services', '/api/v1/namespaces', '/api/v1/namespaces/default/events',
    '/api/v1/namespaces/default/pods/web-1/log', '/apis/apps/v1/namespaces/default/deployments/web/scale',
    '/api/v1/namespaces/default/services/web', '/apis/apps/v1/namespaces/team-a/deployments/web']) {
    assert.ok(log.includes(path), `a request for ${path} reached Prism`);
  }
  const results = Object.values(out);
  assert.ok(results.filter((r) => !r.isError).length === results.length, 'every call succeeded against the examples: ' +
    JSON.stringify(results.filter((r) => r.isError).map((r) => r.content[0].text)));
  assert.ok(!g.stderr().includes('prism-k8s-token-value'), 'the token is never logged');
  await g.close();
});
