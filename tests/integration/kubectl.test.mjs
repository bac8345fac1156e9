// The Kubernetes adapter (kubectl_*) against the simulator (build/cortex-sim serving /api,
// /apis and /version): every tool, kinds resolved as kubectl resolves them (short names, CRDs
// found through discovery), server-side apply with field managers and conflicts, Status
// failures as sentences, every fault kind, and credentials: a kubeconfig with a token, a
// tokenFile (rotated), the CA as data or a file, insecure-skip-tls-verify, a named context, a
// ':' list of files, exec plugins refused, and in-cluster service accounts whose token
// rotates. Client certificates are tested in kubectl-tls.test.mjs.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { dirname, join } from 'node:path';
import { startSim, startStdio, tmpDir, writeConfig } from './lib.mjs';

const running = [];
after(() => running.forEach((p) => p.kill()));

export const TOKEN = 'k8ssim-token-0123456789abcdef';
const READONLY = 'k8ssim-readonly-token-0123456789';

async function sim(args = []) {
  const s = startSim(args);
  running.push(s);
  s.url = await s.ready;
  if (args.includes('--cert-out')) s.ca = readFileSync(args[args.indexOf('--cert-out') + 1]);
  return s;
}

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

const fault = (s, body) => simCall(s, '/_sim/faults', { method: 'POST', body });
const clearFaults = (s) => simCall(s, '/_sim/faults', { method: 'DELETE' });
const requests = async (s) => (await simCall(s, '/_sim/requests')).requests;

// A kubeconfig (YAML, as kubectl writes it) in a folder of its own; returns its path.
export function kubeconfig(text, dir = tmpDir()) {
  const p = join(dir, 'config');
  writeFileSync(p, text);
  return p;
}

const simConfig = (url, user = `token: ${TOKEN}`, extra = '') => `apiVersion: v1
kind: Config
current-context: sim
clusters:
- name: sim
  cluster:
    server: ${url}
${extra}
users:
- name: cortex
  user:
    ${user}
contexts:
- name: sim
  context:
    cluster: sim
    user: cortex
    namespace: default
`;

async function gateway(kubectl, { calls = { timeout_ms: 8000 }, env = {} } = {}) {
  const conf = writeConfig({ calls, adapters: { kubectl: { retries: 0, ...kubectl } } });
  const g = startStdio(['--config', conf], { env });
  running.push(g);
  await g.initialize();
  g.call = async (name, args = {}) => (await g.request('tools/call', { name, arguments: args })).result;
  // A clean stop, and nothing a sanitizer would say (under make check's ASan build).
  const close = g.close.bind(g);
  g.close = async () => {
    const { code } = await close();
    assert.equal(code, 0, g.stderr());
    assert.doesNotMatch(g.stderr(), /Sanitizer|runtime error/);
  };
  return g;
}

const text = (r) => r.content.map((c) => c.text).join('\n');
const ok = (r) => { assert.equal(r.isError, undefined, text(r)); return r.structuredContent; };
const names = (r) => ok(r).items.map((i) => i.name);

test('get: kinds, namespaces, selectors and pages', async () => {
  const s = await sim();
  const g = await gateway({ kubeconfig: kubeconfig(simConfig(s.url)) });
  const pods = await g.call('kubectl_get', { kind: 'po' });
  assert.deepEqual(names(pods), ['web-7d4b9c-abcde', 'web-7d4b9c-fghij', 'multi']);
  assert.deepEqual(JSON.parse(pods.content[0].text), pods.structuredContent, 'the same JSON as text');
  const web = pods.structuredContent.items[0];
  assert.equal(web.phase, 'Running');
  assert.equal(web.ready, '1/1');
  assert.equal(web.node, 'sim-node-1');
  assert.equal(pods.structuredContent.objects, undefined, 'objects only when asked for');

  assert.deepEqual(names(await g.call('kubectl_get', { kind: 'Pod', label_selector: 'app=web' })),
    ['web-7d4b9c-abcde', 'web-7d4b9c-fghij']);
  assert.deepEqual(names(await g.call('kubectl_get', { kind: 'pods', field_selector: 'metadata.name=multi' })), ['multi']);
  assert.deepEqual(names(await g.call('kubectl_get', { kind: 'pods', all_namespaces: true, label_selector: 'app=api' })), ['api-0']);
  assert.deepEqual(names(await g.call('kubectl_get', { kind: 'po', namespace: 'team-a' })), ['api-0']);

  const page1 = ok(await g.call('kubectl_get', { kind: 'pods', limit: 2 }));
  assert.equal(page1.count, 2);
  assert.ok(page1.continue, 'a continue token when more remain');
  const page2 = ok(await g.call('kubectl_get', { kind: 'pods', limit: 2, continue: page1.continue }));
  assert.deepEqual(page2.items.map((i) => i.name), ['multi']);
  assert.equal(page2.continue, undefined);

  const deploy = ok(await g.call('kubectl_get', { kind: 'deploy', name: 'web', full: true }));
  assert.equal(deploy.items[0].ready, '2/2');
  assert.equal(deploy.objects[0].spec.replicas, 2);
  assert.equal(deploy.objects[0].metadata.managedFields, undefined);
  assert.equal(ok(await g.call('kubectl_get', { kind: 'deployments.apps', name: 'web' })).apiVersion, 'apps/v1');
  const svc = ok(await g.call('kubectl_get', { kind: 'svc' }));
  assert.deepEqual(svc.items[0], { name: 'web', namespace: 'default', created: '2024-01-01T00:00:00Z', type: 'ClusterIP', clusterIP: '10.96.0.10', ports: '80/TCP' });
  assert.equal(ok(await g.call('kubectl_get', { kind: 'cm', name: 'app-config' })).items[0].dataKeys, 2);
  const ns = ok(await g.call('kubectl_get', { kind: 'ns', namespace: 'ignored-for-cluster-scope' }));
  assert.deepEqual(ns.items.map((i) => i.name), ['default', 'kube-system', 'team-a']);
  assert.equal(ns.items[0].phase, 'Active');
  assert.equal(ok(await g.call('kubectl_get', { kind: 'pods', full: true })).objects.length, 3);
  const ev = ok(await g.call('kubectl_get', { kind: 'ev', field_selector: 'type=Warning' }));
  assert.deepEqual(ev.items.map((e) => e.reason), ['BackOff']);

  const log = await requests(s);
  assert.ok(log.every((r) => r.authorization), 'every request carried the bearer token');
  assert.ok(log.some((r) => r.path === '/api/v1/namespaces/default/pods' && r.query.labelSelector === 'app=web'));
  assert.ok(log.some((r) => r.path === '/api/v1/pods'), 'all namespaces reads the cluster-wide list');
  assert.ok(log.some((r) => r.path === '/api/v1/namespaces/default/pods' && r.query.limit === '100'), 'pages of 100 by default');
  assert.ok(log.some((r) => r.path === '/api/v1/namespaces/default/pods' && r.query.limit === '20'), 'pages of 20 with full objects');
  assert.ok(log.some((r) => r.path === '/apis/apps/v1/namespaces/default/deployments/web' && r.query.limit === undefined));
  assert.ok(!log.some((r) => r.path === '/api' || r.path === '/apis'), 'well-known kinds need no discovery');
  // A well-known kind this server does not serve (no ingresses here), before discovery ran:
  // the API's 404, explained. (Once discovery has run, it answers for the server.)
  const ing = await g.call('kubectl_get', { kind: 'ing' });
  assert.match(text(ing), /404 Not Found to GET \/apis\/networking.k8s.io\/v1\/namespaces\/default\/ingresses: NotFound: the server could not find the requested resource; the API server does not serve this kind/);
  assert.ok(!g.stderr().includes(TOKEN), 'the token is never logged');
  await g.close();
});

test('discovery: a custom resource is found through aggregated discovery; unknown kinds are a sentence', async () => {
  const s = await sim();
  const g = await gateway({ kubeconfig: kubeconfig(simConfig(s.url)) });
  const wd = ok(await g.call('kubectl_get', { kind: 'wd' }));
  assert.deepEqual(wd.items.map((i) => i.name), ['w1']);
  assert.equal(wd.apiVersion, 'example.com/v1');
  assert.equal(wd.kind, 'Widget');
  const log = await requests(s);
  const disc = log.filter((r) => r.path === '/api' || r.path === '/apis');
  assert.equal(disc.length, 2, 'one discovery of /api and /apis');
  assert.ok(disc.every((r) => r.headers.includes('Accept')));
  assert.ok(!log.some((r) => r.path.startsWith('/apis/apps/v1') && r.path.split('/').length === 4),
    'aggregated discovery needs no request per group');
  assert.deepEqual(ok(await g.call('kubectl_get', { kind: 'widgets.example.com' })).items.map((i) => i.name), ['w1']);
  assert.equal(ok(await g.call('kubectl_get', { kind: 'Widget', name: 'w1', full: true })).objects[0].spec.size, 3);
  assert.equal(ok(await g.call('kubectl_get', { kind: 'crd' })).items[0].name, 'widgets.example.com');

  const unknown = await g.call('kubectl_get', { kind: 'frobnicators' });
  assert.equal(unknown.isError, true);
  assert.match(text(unknown), /does not serve a resource type 'frobnicators'/);
  await g.close();
});

test('discovery: a server without aggregated discovery is read group by group', async () => {
  const dir = tmpDir();
  const conf = join(dir, 'sim.json');
  writeFileSync(conf, JSON.stringify({ kubernetes: { legacy_discovery: true } }));
  const s = await sim(['--config', conf]);
  const g = await gateway({ kubeconfig: kubeconfig(simConfig(s.url)) });
  assert.deepEqual(ok(await g.call('kubectl_get', { kind: 'widget' })).items.map((i) => i.name), ['w1']);
  const paths = (await requests(s)).map((r) => r.path);
  for (const p of ['/api', '/api/v1', '/apis', '/apis/apps/v1', '/apis/example.com/v1']) {
    assert.ok(paths.includes(p), `discovery read ${p}`);
  }
  // Cached: another custom kind lookup that hits needs no discovery; a miss looks again (at
  // most every few seconds).
  await simCall(s, '/_sim/requests', { method: 'DELETE' });
  ok(await g.call('kubectl_get', { kind: 'wd' }));
  assert.ok(!(await requests(s)).some((r) => r.path === '/api'), 'the cached discovery answered');
  assert.equal((await g.call('kubectl_get', { kind: 'frobs' })).isError, true);
  assert.ok(!(await requests(s)).some((r) => r.path === '/api'), 'a miss right after discovery does not run it again');
  await new Promise((r) => setTimeout(r, 5300));
  assert.equal((await g.call('kubectl_get', { kind: 'frobs' })).isError, true);
  assert.ok((await requests(s)).some((r) => r.path === '/api'), 'a later miss runs discovery again');
  await g.close();
});

test('describe: the object, its conditions and its events', async () => {
  const s = await sim();
  const g = await gateway({ kubeconfig: kubeconfig(simConfig(s.url)) });
  const d = ok(await g.call('kubectl_describe', { kind: 'pod', name: 'multi' }));
  assert.equal(d.kind, 'Pod');
  assert.equal(d.summary.name, 'multi');
  assert.deepEqual(d.conditions.map((c) => c.type), ['Ready']);
  assert.deepEqual(d.events.map((e) => e.reason), ['BackOff']);
  assert.match(d.events[0].message, /sidecar/);
  assert.equal(d.object.spec.containers.length, 2);
  const dep = ok(await g.call('kubectl_describe', { kind: 'deployment', name: 'web' }));
  assert.deepEqual(dep.events.map((e) => e.reason), ['ScalingReplicaSet']);
  assert.ok(dep.conditions.some((c) => c.type === 'Available' && c.status === 'True'));
  const ev = (await requests(s)).find((r) => r.path.endsWith('/events'));
  assert.match(ev.query.fieldSelector, /involvedObject.name=multi/);
  // Events the credentials may not read do not hide the object.
  await fault(s, { path: '/api/v1/namespaces/default/events', kind: 'status', status: 403 });
  const noev = ok(await g.call('kubectl_describe', { kind: 'pod', name: 'multi' }));
  assert.equal(noev.events, undefined);
  assert.match(noev.eventsError, /403 Forbidden/);
  assert.equal(noev.object.metadata.name, 'multi');
  await clearFaults(s);
  const missing = await g.call('kubectl_describe', { kind: 'pod', name: 'nope' });
  assert.equal(missing.isError, true);
  assert.match(text(missing), /kubernetes answered 404 Not Found to GET \/api\/v1\/namespaces\/default\/pods\/nope: NotFound: pods "nope" not found/);
  await g.close();
});

test('logs: one container, a named one, tail and previous; several containers need a name', async () => {
  const s = await sim();
  const g = await gateway({ kubeconfig: kubeconfig(simConfig(s.url)) });
  const one = ok(await g.call('kubectl_logs', { name: 'web-7d4b9c-abcde' }));
  assert.equal(one.container, 'web');
  assert.equal(one.log, 'GET / 200\nGET /healthz 200\nGET /a 404\n');
  assert.equal(one.truncated, false);
  const multi = await g.call('kubectl_logs', { name: 'multi' });
  assert.equal(multi.isError, true);
  assert.match(text(multi), /pod 'multi' has 2 containers; name one with 'container': app, sidecar/);
  const wrong = await g.call('kubectl_logs', { name: 'multi', container: 'db' });
  assert.match(text(wrong), /has no container 'db'; its containers: app, sidecar/);
  assert.equal(ok(await g.call('kubectl_logs', { name: 'multi', container: 'app', tail_lines: 1 })).log, 'app ready\n');
  assert.equal(ok(await g.call('kubectl_logs', { name: 'multi', container: 'sidecar', previous: true })).log, 'panic: sidecar crashed\n');
  const cut = ok(await g.call('kubectl_logs', { name: 'web-7d4b9c-abcde', limit_bytes: 5 }));
  assert.equal(cut.log, 'GET /');
  assert.equal(cut.truncated, true);
  const noprev = await g.call('kubectl_logs', { name: 'web-7d4b9c-abcde', previous: true });
  assert.match(text(noprev), /400 Bad Request.*previous terminated container/);
  const q = (await requests(s)).filter((r) => r.path.endsWith('/log')).map((r) => r.query);
  assert.ok(q.some((x) => x.container === 'app' && x.tailLines === '1'));
  assert.ok(q.some((x) => x.previous === 'true'));
  assert.ok(q.every((x) => Number(x.limitBytes) <= 131072), 'a log is capped below the gateway\'s output limit by default');
  await g.close();
});

const MANIFEST = `# two objects, as kubectl takes them
apiVersion: v1
kind: ConfigMap
metadata:
  name: settings
data:
  replicas: "3"
  enabled: "true"
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: api
  namespace: team-a
spec:
  replicas: 3
  selector:
    matchLabels: {app: api}
  template:
    metadata:
      labels: {app: api}
    spec:
      containers:
      - name: api
        image: api:3
        env:
        - {name: DEBUG, value: "false"}
`;

test('apply: server-side, one result per object, YAML scalars kept, dry run, conflicts and force', async () => {
  const s = await sim();
  const g = await gateway({ kubeconfig: kubeconfig(simConfig(s.url)) });
  const dry = ok(await g.call('kubectl_apply', { manifest: MANIFEST, dry_run: true }));
  assert.equal(dry.applied, 2);
  assert.equal((await g.call('kubectl_get', { kind: 'cm', name: 'settings' })).isError, true, 'dry run stored nothing');

  const r = ok(await g.call('kubectl_apply', { manifest: MANIFEST }));
  assert.deepEqual(r.results.map((x) => [x.kind, x.name, x.namespace, x.action]),
    [['ConfigMap', 'settings', 'default', 'created'], ['Deployment', 'api', 'team-a', 'created']]);
  assert.equal(r.failed, 0);
  const cm = ok(await g.call('kubectl_get', { kind: 'cm', name: 'settings', full: true })).objects[0];
  assert.deepEqual(cm.data, { replicas: '3', enabled: 'true' }, 'quoted scalars stay strings');
  const api = ok(await g.call('kubectl_get', { kind: 'deploy', name: 'api', namespace: 'team-a', full: true })).objects[0];
  assert.equal(api.spec.replicas, 3, 'a plain integer is a number');
  assert.equal(api.spec.template.spec.containers[0].env[0].value, 'false');
  const applies = (await requests(s)).filter((x) => x.method === 'PATCH');
  assert.ok(applies.every((x) => x.query.fieldManager === 'cortex' && x.headers.includes('Content-Type')));
  assert.ok(applies.some((x) => x.query.dryRun === 'All'));

  const again = ok(await g.call('kubectl_apply', { manifest: MANIFEST.replace('image: api:3', 'image: api:4') }));
  assert.deepEqual(again.results.map((x) => x.action), ['configured', 'configured']);
  assert.notEqual(again.results[1].resourceVersion, r.results[1].resourceVersion, 'the change bumped resourceVersion');
  assert.equal(again.results[0].resourceVersion, r.results[0].resourceVersion, 'an unchanged object keeps it');

  // The seeded deployment's replicas belong to another field manager.
  const web = `apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 5
`;
  const conflict = await g.call('kubectl_apply', { manifest: web });
  assert.equal(conflict.isError, true);
  assert.match(text(conflict), /1 of 1 objects were not applied.*409 Conflict.*Conflict: Apply failed with 1 conflict: conflict with "kubectl-client-side-apply": \.spec\.replicas; .*force: true/s);
  assert.equal(conflict.structuredContent.results[0].name, 'web');
  const forced = ok(await g.call('kubectl_apply', { manifest: web, force: true }));
  assert.equal(forced.results[0].action, 'configured');
  assert.equal(ok(await g.call('kubectl_get', { kind: 'deploy', name: 'web' })).items[0].desired, 5);

  const mixed = await g.call('kubectl_apply', { manifest: `${web}---\napiVersion: v1\nkind: Widgetz\nmetadata: {name: x}\n---\nkind: ConfigMap\n` });
  assert.equal(mixed.isError, true);
  assert.deepEqual(mixed.structuredContent.results.map((x) => x.error ? 'error' : x.action), ['configured', 'error', 'error']);
  assert.match(mixed.structuredContent.results[2].error, /apiVersion, kind and metadata.name/);
  const list = JSON.stringify({ apiVersion: 'v1', kind: 'List', items: [
    { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'j1' }, data: { n: '1' } },
    { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'j2', namespace: 'team-a' }, data: { on: 'yes' } }] });
  const js = ok(await g.call('kubectl_apply', { manifest: list }));
  assert.deepEqual(js.results.map((x) => [x.name, x.namespace, x.action]), [['j1', 'default', 'created'], ['j2', 'team-a', 'created']]);
  assert.equal(ok(await g.call('kubectl_get', { kind: 'cm', name: 'j2', namespace: 'team-a', full: true })).objects[0].data.on, 'yes',
    'a JSON string stays a string');
  const bad = await g.call('kubectl_apply', { manifest: 'a: [unclosed' });
  assert.match(text(bad), /not valid YAML or JSON: line \d+ column \d+: did not find expected/);
  const wrongNs = await g.call('kubectl_apply', { manifest: MANIFEST, namespace: 'default' });
  assert.match(wrongNs.structuredContent.results[1].error, /says namespace 'team-a' but the call asks for 'default'/);
  const noNs = await g.call('kubectl_apply', { manifest: MANIFEST.split('---')[0], namespace: 'ghost' });
  assert.match(text(noNs), /404 Not Found.*namespaces "ghost" not found/);
  await g.close();
});

test('delete, scale, rollout restart and status change the cluster as kubectl would', async () => {
  const s = await sim();
  const g = await gateway({ kubeconfig: kubeconfig(simConfig(s.url)) });
  const dry = ok(await g.call('kubectl_delete', { kind: 'cm', name: 'app-config', dry_run: true }));
  assert.equal(dry.dryRun, true);
  ok(await g.call('kubectl_get', { kind: 'cm', name: 'app-config' }));
  const del = ok(await g.call('kubectl_delete', { kind: 'configmap', name: 'app-config' }));
  assert.deepEqual([del.deleted, del.pending], [true, false]);
  const gone = await g.call('kubectl_get', { kind: 'cm', name: 'app-config' });
  assert.match(text(gone), /NotFound: configmaps "app-config" not found/);
  const again = await g.call('kubectl_delete', { kind: 'configmap', name: 'app-config' });
  assert.equal(again.isError, true);
  const fg = ok(await g.call('kubectl_delete', { kind: 'deploy', name: 'stuck', propagation_policy: 'Foreground' }));
  assert.equal(fg.pending, true, 'foreground deletion waits for dependents');
  assert.ok((await requests(s)).some((r) => r.method === 'DELETE' && r.query.propagationPolicy === 'Foreground'));

  const sc = ok(await g.call('kubectl_scale', { name: 'web', replicas: 4 }));
  assert.deepEqual([sc.kind, sc.replicas, sc.previous], ['Deployment', 4, 2]);
  assert.equal(ok(await g.call('kubectl_scale', { name: 'web', replicas: 1, dry_run: true })).replicas, 1);
  assert.equal(ok(await g.call('kubectl_get', { kind: 'deploy', name: 'web', full: true })).objects[0].spec.replicas, 4);
  const noscale = await g.call('kubectl_scale', { kind: 'cm', name: 'x', replicas: 1 });
  assert.match(text(noscale), /ConfigMap cannot be scaled/);
  const scales = (await requests(s)).filter((r) => r.path.endsWith('/scale'));
  assert.ok(scales.some((r) => r.method === 'PATCH') && scales.some((r) => r.method === 'GET'));

  const rs = ok(await g.call('kubectl_rollout_restart', { name: 'web' }));
  assert.match(rs.restartedAt, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
  const tmpl = ok(await g.call('kubectl_get', { kind: 'deploy', name: 'web', full: true })).objects[0].spec.template;
  assert.equal(tmpl.metadata.annotations['kubectl.kubernetes.io/restartedAt'], rs.restartedAt);
  const st = ok(await g.call('kubectl_rollout_status', { name: 'web' }));
  assert.equal(st.done, false);
  assert.match(st.message, /Waiting for deployment "web" rollout to finish: \d out of 4 new replicas have been updated/);
  const waited = ok(await g.call('kubectl_rollout_status', { name: 'web', wait: true, timeout_seconds: 30 }));
  assert.equal(waited.done, true);
  assert.equal(waited.message, 'deployment "web" successfully rolled out');
  const notwl = await g.call('kubectl_rollout_status', { kind: 'svc', name: 'web' });
  assert.match(text(notwl), /Service has no rollout/);
  await g.close();

  const s2 = await sim();
  const g2 = await gateway({ kubeconfig: kubeconfig(simConfig(s2.url)) });
  const stuck = await g2.call('kubectl_rollout_status', { name: 'stuck' });
  assert.equal(stuck.isError, true);
  assert.match(text(stuck), /deployment "stuck" exceeded its progress deadline/);
  await g2.close();
});

test('Status failures are sentences: a wrong token (401), RBAC (403), and never the token itself', async () => {
  const s = await sim();
  const wrong = await gateway({ kubeconfig: kubeconfig(simConfig(s.url, 'token: not-the-token-4242')) });
  const r = await wrong.call('kubectl_get', { kind: 'pods' });
  assert.equal(r.isError, true);
  assert.match(text(r), /kubernetes answered 401 Unauthorized to GET \/api\/v1\/namespaces\/default\/pods: Unauthorized: Unauthorized; the API server refused the credentials/);
  assert.ok(!text(r).includes('not-the-token-4242') && !wrong.stderr().includes('not-the-token-4242'));
  await wrong.close();
  const ro = await gateway({ kubeconfig: kubeconfig(simConfig(s.url, `token: ${READONLY}`)) });
  ok(await ro.call('kubectl_get', { kind: 'pods' }));
  const f = await ro.call('kubectl_scale', { name: 'web', replicas: 3 });
  assert.match(text(f), /403 Forbidden.*Forbidden: deployments.apps "web" is forbidden: .*cannot PATCH resource "deployments".*RBAC/);
  assert.ok(!ro.stderr().includes(READONLY));
  await ro.close();
});

test('faults: retried 503 and 429, a hanging API server bounded, bad bodies said plainly', async () => {
  const s = await sim();
  const g = await gateway({ kubeconfig: kubeconfig(simConfig(s.url)), retries: 3 }, { calls: { timeout_ms: 3000, workers: 4 } });
  const path = '/api/v1/namespaces/default/pods';
  await fault(s, { method: 'GET', path, kind: 'status', status: 503, count: 2 });
  ok(await g.call('kubectl_get', { kind: 'pods' }));
  await clearFaults(s);
  await fault(s, { method: 'GET', path, kind: 'status', status: 429, retry_after: 1, count: 1 });
  let t0 = Date.now();
  ok(await g.call('kubectl_get', { kind: 'pods' }));
  assert.ok(Date.now() - t0 >= 900, 'Retry-After was waited for');
  await clearFaults(s);
  await fault(s, { method: 'GET', path, kind: 'status', status: 500 });
  const st = await g.call('kubectl_get', { kind: 'pods' });
  assert.match(text(st), /kubernetes answered 500 Internal Server Error to GET .*: InternalError: Internal Server Error/);
  await clearFaults(s);

  for (const [f, want] of [
    [{ kind: 'invalid_json' }, /not a JSON object/],
    [{ kind: 'truncate' }, /not a JSON object|broke/],
    [{ kind: 'drop' }, /broke|failed/],
    [{ kind: 'oversize', size_mib: 12 }, /more than \d+ bytes/],
  ]) {
    await clearFaults(s);
    await fault(s, { method: 'GET', path, ...f });
    const r = await g.call('kubectl_get', { kind: 'pods' });
    assert.equal(r.isError, true, JSON.stringify(f));
    assert.match(text(r), want, JSON.stringify(f));
  }
  await clearFaults(s);
  ok(await g.call('kubectl_get', { kind: 'pods' }));

  await fault(s, { path: '/apis/apps/v1/namespaces/default/deployments/web', kind: 'latency', latency_ms: 10000 });
  g.send({ jsonrpc: '2.0', id: 'hang', method: 'tools/call', params: { name: 'kubectl_get', arguments: { kind: 'deploy', name: 'web' } } });
  t0 = Date.now();
  const quick = await g.request('tools/call', { name: 'kubectl_get', arguments: { kind: 'svc' } }, 'quick');
  assert.equal(quick.id, 'quick', 'the other call was answered first');
  const hung = await g.next(8000);
  assert.equal(hung.id, 'hang');
  assert.match(text(hung.result), /did not (answer|finish) within/);
  assert.ok(Date.now() - t0 < 4500, 'the deadline bounded the hanging call');
  await clearFaults(s);
  await fault(s, { method: 'GET', path, kind: 'trickle', bytes_per_sec: 200 });
  const slow = await g.call('kubectl_get', { kind: 'pods' });
  assert.match(text(slow), /did not (answer|finish) within/);
  await g.close();
});

test('kubeconfig: CA as data or file, insecure-skip-tls-verify, TLS refused without them', async () => {
  const dir = tmpDir();
  const s = await sim(['--tls', '--cert-out', join(dir, 'ca.crt')]);
  const caData = Buffer.from(s.ca).toString('base64');
  const none = await gateway({ kubeconfig: kubeconfig(simConfig(s.url)) });
  assert.match(text(await none.call('kubectl_get', { kind: 'pods' })), /kubernetes: TLS: /);
  await none.close();
  const withData = await gateway({ kubeconfig: kubeconfig(simConfig(s.url, `token: ${TOKEN}`, `    certificate-authority-data: ${caData}`)) });
  assert.equal(names(await withData.call('kubectl_get', { kind: 'pods' })).length, 3);
  await withData.close();
  // A relative path is relative to the kubeconfig's own folder.
  const withFile = await gateway({ kubeconfig: kubeconfig(simConfig(s.url, `token: ${TOKEN}`, '    certificate-authority: ca.crt'), dir) });
  assert.equal(names(await withFile.call('kubectl_get', { kind: 'pods' })).length, 3);
  await withFile.close();
  const insecure = await gateway({ kubeconfig: kubeconfig(simConfig(s.url, `token: ${TOKEN}`, '    insecure-skip-tls-verify: true')) });
  assert.equal(names(await insecure.call('kubectl_get', { kind: 'pods' })).length, 3);
  assert.match(insecure.stderr(), /NOT VERIFIED/);
  await insecure.close();
});

test('kubeconfig: a tokenFile is read again on every request, so a rotated token is used at once', async () => {
  const s = await sim();
  const dir = tmpDir();
  writeFileSync(join(dir, 'token'), TOKEN + '\n');
  const g = await gateway({ kubeconfig: kubeconfig(simConfig(s.url, 'tokenFile: token'), dir) });
  ok(await g.call('kubectl_get', { kind: 'pods' }));
  writeFileSync(join(dir, 'token'), 'rotated-but-not-accepted\n');
  assert.match(text(await g.call('kubectl_get', { kind: 'pods' })), /401 Unauthorized/);
  writeFileSync(join(dir, 'token'), READONLY + '\n');
  ok(await g.call('kubectl_get', { kind: 'pods' }));
  assert.match(text(await g.call('kubectl_scale', { name: 'web', replicas: 1 })), /403 Forbidden/, 'the new token is the one used');
  assert.ok(![TOKEN, READONLY, 'rotated-but-not-accepted'].some((t) => g.stderr().includes(t)));
  await g.close();
});

test('kubeconfig: a named context, a \':\' list of files merged as kubectl merges them, $KUBECONFIG', async () => {
  const s = await sim();
  const dir = tmpDir();
  const first = kubeconfig(`apiVersion: v1
kind: Config
current-context: dead
contexts:
- name: dead
  context: {cluster: dead, user: cortex}
- name: work
  context: {cluster: sim, user: cortex, namespace: team-a}
clusters:
- name: dead
  cluster: {server: "http://127.0.0.1:9"}
`, dir);
  const second = join(tmpDir(), 'second');
  writeFileSync(second, `apiVersion: v1
kind: Config
current-context: ignored-the-first-file-sets-it
clusters:
- name: sim
  cluster: {server: "${s.url}"}
- name: dead
  cluster: {server: "http://127.0.0.1:1"}
users:
- name: cortex
  user: {token: ${TOKEN}}
`);
  const list = `${join(dir, 'missing')}:${first}:${second}`;
  const cur = await gateway({ kubeconfig: list });
  assert.match(text(await cur.call('kubectl_get', { kind: 'pods' })), /could not connect to kubernetes at 127.0.0.1:9/,
    'the first file sets current-context and the dead cluster');
  await cur.close();
  const named = await gateway({ kubeconfig: list, context: 'work' });
  assert.deepEqual(names(await named.call('kubectl_get', { kind: 'pods' })), ['api-0'], "the context's namespace is the default");
  await named.close();
  const env = await gateway({ context: 'work' }, { env: { KUBECONFIG: list } });
  assert.deepEqual(names(await env.call('kubectl_get', { kind: 'pods' })), ['api-0']);
  await env.close();
});

async function startFails(kubectl, env = {}) {
  const conf = writeConfig({ adapters: { kubectl } });
  const g = startStdio(['--config', conf], { env });
  running.push(g);
  const { code } = await g.exited;
  assert.notEqual(code, 0);
  return g.stderr();
}

test('exec and auth-provider plugins, unknown contexts and keys are refused at start, saying why', async () => {
  const exec = kubeconfig(simConfig('https://127.0.0.1:6443', `exec:
      apiVersion: client.authentication.k8s.io/v1
      command: aws-iam-authenticator
      args: [token, -i, cluster]`));
  assert.match(await startFails({ kubeconfig: exec }), /user 'cortex' gets its credentials from an exec plugin \('aws-iam-authenticator'\), which Cortex does not run/);
  const ap = kubeconfig(simConfig('https://127.0.0.1:6443', 'auth-provider: {name: gcp}'));
  assert.match(await startFails({ kubeconfig: ap }), /auth-provider/);
  assert.match(await startFails({ kubeconfig: exec, context: 'nope' }), /the kubeconfig has no context 'nope'/);
  assert.match(await startFails({ kubeconfig: exec, colour: 'blue' }), /unknown key 'colour'/);
  assert.match(await startFails({ kubeconfig: join(tmpDir(), 'none') }), /no kubeconfig file found/);
  assert.match(await startFails({ in_cluster: true, service_account_dir: tmpDir() }, { KUBERNETES_SERVICE_HOST: '' }), /KUBERNETES_SERVICE_HOST/);
});

test('in cluster: the service account token (re-read as it rotates), its CA and its namespace', async () => {
  const sa = tmpDir();
  const s = await sim(['--tls', '--cert-out', join(sa, 'ca.crt')]);
  writeFileSync(join(sa, 'token'), TOKEN);
  writeFileSync(join(sa, 'namespace'), 'team-a');
  const port = new URL(s.url).port;
  const g = await gateway({ in_cluster: true, service_account_dir: sa },
    { env: { KUBERNETES_SERVICE_HOST: '127.0.0.1', KUBERNETES_SERVICE_PORT: port } });
  assert.deepEqual(names(await g.call('kubectl_get', { kind: 'pods' })), ['api-0'], "the pod's namespace is the default");
  writeFileSync(join(sa, 'token'), 'expired-token');
  assert.match(text(await g.call('kubectl_get', { kind: 'pods' })), /401 Unauthorized/);
  writeFileSync(join(sa, 'token'), TOKEN);
  ok(await g.call('kubectl_get', { kind: 'pods' }));
  assert.ok(!g.stderr().includes(TOKEN));
  await g.close();
});

test('the simulator answers failures with Status objects, as the API server does', async () => {
  const s = await sim();
  const req = async (method, path, { token = TOKEN, body, type = 'application/json' } = {}) => {
    const r = await fetch(s.url + path, { method, body, headers: { ...(token ? { Authorization: `Bearer ${token}` } : {}), 'Content-Type': type } });
    return { status: r.status, body: await r.json() };
  };
  const expect = (r, code, reason, msg) => {
    assert.equal(r.status, code);
    assert.equal(r.body.kind, 'Status');
    assert.equal(r.body.status, 'Failure');
    assert.equal(r.body.code, code);
    assert.equal(r.body.reason, reason);
    if (msg) assert.match(r.body.message, msg);
  };
  expect(await req('GET', '/api/v1/pods', { token: null }), 401, 'Unauthorized');
  expect(await req('GET', '/api/v1/namespaces/default/pods/none'), 404, 'NotFound', /pods "none" not found/);
  expect(await req('GET', '/apis/apps/v1/namespaces/default/frobs'), 404, 'NotFound');
  const cm = JSON.stringify({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'app-config' } });
  expect(await req('POST', '/api/v1/namespaces/default/configmaps', { body: cm }), 409, 'AlreadyExists', /configmaps "app-config" already exists/);
  expect(await req('DELETE', '/api/v1/namespaces/default/configmaps/app-config', { token: READONLY }), 403, 'Forbidden', /cannot DELETE resource "configmaps"/);
  expect(await req('PATCH', '/api/v1/namespaces/default/configmaps/app-config', { body: cm }), 415, 'UnsupportedMediaType');
  expect(await req('PATCH', '/api/v1/namespaces/default/configmaps/app-config', { body: cm, type: 'application/apply-patch+yaml' }), 422, 'Invalid', /fieldManager: Required value/);
  expect(await req('GET', '/api/v1/pods?labelSelector=%3D%3D'), 400, 'BadRequest');
  expect(await req('GET', '/api/v1/pods?fieldSelector=spec.secret%3Dx'), 400, 'BadRequest', /field label not supported/);
  const created = await req('POST', '/api/v1/namespaces/default/configmaps', { body: JSON.stringify({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'new' } }) });
  assert.equal(created.status, 201);
  assert.ok(Number(created.body.metadata.resourceVersion) > 0);
  const stale = JSON.stringify({ ...created.body, metadata: { ...created.body.metadata, resourceVersion: '1' } });
  expect(await req('PUT', '/api/v1/namespaces/default/configmaps/new', { body: stale }), 409, 'Conflict', /the object has been modified/);
  const apis = await req('GET', '/apis');
  assert.equal(apis.body.kind, 'APIGroupList');
  assert.deepEqual(apis.body.groups.map((g) => g.name), ['apps', 'apiextensions.k8s.io', 'example.com']);
});

test('kubeconfig: a relative "kubeconfig" path is read next to the gateway\'s config file', async () => {
  const s = startSim([]);
  running.push(s);
  const url = await s.ready;
  const conf = writeConfig({ calls: { timeout_ms: 8000 }, adapters: { kubectl: { retries: 0, kubeconfig: 'kube/config' } } });
  const confDir = dirname(conf);
  mkdirSync(join(confDir, 'kube'));
  writeFileSync(join(confDir, 'kube', 'config'), simConfig(url));
  const g = startStdio(['--config', conf]); // run from the repository, not from confDir
  running.push(g);
  await g.initialize();
  const r = (await g.request('tools/call', { name: 'kubectl_get', arguments: { kind: 'ns' } })).result;
  assert.equal(r.isError, undefined, text(r) + g.stderr());
  await g.close();
});

test('apply: the audit line records what was applied, never the manifest (a Secret\'s data stays out)', async () => {
  const s = await sim();
  const audit = join(tmpDir(), 'audit.log');
  const conf = writeConfig({ calls: { timeout_ms: 8000 }, audit: { file: audit },
    adapters: { kubectl: { retries: 0, kubeconfig: kubeconfig(simConfig(s.url)) } } });
  const g = startStdio(['--config', conf]);
  running.push(g);
  await g.initialize();
  const manifest = 'apiVersion: v1\nkind: Secret\nmetadata:\n  name: db-creds\n  namespace: default\n' +
    'stringData:\n  hunter: s3cr3t-pa55w0rd-in-a-manifest\n';
  // The simulator serves no Secrets, so the object fails; what the audit keeps is the point.
  const r = (await g.request('tools/call', { name: 'kubectl_apply', arguments: { manifest, dry_run: true } })).result;
  assert.ok(r.content.length > 0);
  await g.close();
  const lines = readFileSync(audit, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  const line = lines.find((l) => l.tool === 'kubectl_apply');
  assert.ok(line, 'the call was audited');
  assert.ok(!JSON.stringify(lines).includes('s3cr3t-pa55w0rd'), 'no secret value in the audit log');
  assert.deepEqual(line.arguments.manifest.objects, [{ kind: 'Secret', name: 'db-creds', namespace: 'default' }]);
  assert.equal(line.arguments.manifest.bytes, manifest.length);
  assert.match(line.arguments.manifest.sha256, /^[0-9a-f]{64}$/);
  assert.equal(line.arguments.dry_run, true);
  assert.ok(!g.stderr().includes('s3cr3t-pa55w0rd'));
});
