// manifests/: every overlay rendered with `kubectl kustomize` (Debian's kubectl 1.20 on a fresh
// machine, or $KUBECTL), every rendered object validated against the Kubernetes OpenAPI schema
// (kubernetes-models; the ServiceMonitor against the Prometheus Operator's CRD schema from
// @kubernetes-models/prometheus-operator) and searched for fields the schema does not have
// (k8s-fields.mjs), the security settings read from each container, the RBAC, policies and
// budgets checked, the masters ConfigMap compared with manifests/examples/masters.json, the
// gateway config of each overlay run through `cortex-gateway --check-config` and the
// orchestrator started, with the files their pods would have.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';
import { SHIPPED, tmpDir } from './lib.mjs';
import { unknownFields } from './k8s-fields.mjs';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const KUBECTL = process.env.KUBECTL || 'kubectl';
const M = join(root, 'manifests');
const ORCH = process.env.CORTEX_ORCHESTRATOR_BIN || join(dirname(SHIPPED), 'cortex-orchestrator');

// The namespaces each overlay lets the Kubernetes adapter write in.
const OVERLAYS = { lab: ['cortex'], ha: ['cortex', 'staging'] };

function render(dir) {
  const r = spawnSync(KUBECTL, ['kustomize', dir], { encoding: 'utf8', timeout: 60000 });
  assert.equal(r.error, undefined, `${KUBECTL} could not be run (scripts/deps.sh test installs Debian's kubernetes-client): ${r.error}`);
  assert.equal(r.status, 0, `kubectl kustomize ${dir}: ${r.stderr}`);
  const docs = parseAllDocuments(r.stdout);
  for (const d of docs) assert.deepEqual(d.errors, [], `YAML of ${dir}`);
  return docs.map((d) => d.toJS()).filter((o) => o);
}

const rendered = {};
function objects(overlay) {
  if (!rendered[overlay]) rendered[overlay] = render(join(M, 'overlays', overlay));
  return rendered[overlay];
}
const secretTemplates = () => render(join(M, 'secrets'));

const find = (objs, kind, name, ns) => objs.find((o) => o.kind === kind && o.metadata.name === name &&
  (ns === undefined || o.metadata.namespace === ns));
const workloads = (objs) => objs.filter((o) => ['Deployment', 'StatefulSet', 'DaemonSet'].includes(o.kind));
const matches = (sel, labels) => Object.entries(sel.matchLabels || {}).every(([k, v]) => labels[k] === v) &&
  (sel.matchExpressions || []).every((e) => e.operator === 'In' && e.values.includes(labels[e.key]));
// A ConfigMap by the name the manifests use, whatever hash suffix kustomize gave it.
const configMap = (objs, name) => {
  const cms = objs.filter((o) => o.kind === 'ConfigMap' && (o.metadata.name === name || o.metadata.name.startsWith(name + '-')));
  assert.equal(cms.length, 1, `one ConfigMap ${name}`);
  return cms[0];
};

// The kubernetes-models module of an object's kind (the Prometheus Operator's for its CRDs).
function modelPath(o) {
  const [group, version] = o.apiVersion.includes('/') ? o.apiVersion.split('/') : ['', o.apiVersion];
  if (group === 'monitoring.coreos.com') return `@kubernetes-models/prometheus-operator/${group}/${version}/${o.kind}`;
  return `kubernetes-models/${group ? `${group}/${version}` : version}/${o.kind}`;
}
const model = async (o) => (await import(modelPath(o)))[o.kind];

for (const overlay of Object.keys(OVERLAYS)) {
  test(`${overlay}: kubectl kustomize renders it, and every object validates against its OpenAPI schema, with no unknown field`, async () => {
    const objs = objects(overlay);
    assert.ok(objs.length >= 20, `${objs.length} objects`);
    const kinds = new Set(objs.map((o) => o.kind));
    for (const k of ['Namespace', 'ServiceAccount', 'ClusterRole', 'ClusterRoleBinding', 'Role', 'RoleBinding', 'ConfigMap',
      'Deployment', 'Service', 'NetworkPolicy', 'PodDisruptionBudget', 'ServiceMonitor']) {
      assert.ok(kinds.has(k), `${overlay} has a ${k}`);
    }
    for (const o of objs) {
      const Model = await model(o);
      assert.ok(Model, `a schema for ${o.apiVersion} ${o.kind}`);
      assert.doesNotThrow(() => new Model(o).validate(), (e) => `${o.kind}/${o.metadata.name}: ${e.message}`);
      // The schema leaves objects open: a misspelt field would pass it, and the API server drop it.
      assert.deepEqual(unknownFields(o, modelPath(o)), [], `${o.kind}/${o.metadata.name}: fields the schema does not have`);
    }
    // The namespaces: Cortex in cortex-system, the workspace cortex.
    for (const ns of ['cortex', 'cortex-system']) assert.ok(find(objs, 'Namespace', ns), ns);
    for (const o of objs) {
      if (['Namespace', 'ClusterRole', 'ClusterRoleBinding'].includes(o.kind)) continue;
      assert.ok(o.metadata.namespace, `${o.kind}/${o.metadata.name} names its namespace`);
    }
  });

  test(`${overlay}: the schema check is real (a wrong type, a missing field and a misspelt field are found)`, async () => {
    const d = structuredClone(find(objects(overlay), 'Deployment', 'cortex-gateway'));
    const Model = await model(d);
    d.spec.template.spec.containers[0].securityContext.runAsNonRoot = 'yes';
    assert.throws(() => new Model(d).validate(), /runAsNonRoot must be boolean/);
    const sm = structuredClone(find(objects(overlay), 'ServiceMonitor', 'cortex-gateway'));
    sm.spec.endpoints[0].interval = 'often';
    const SM = await model(sm);
    assert.throws(() => new SM(sm).validate(), /interval/);
    const pdb = structuredClone(find(objects(overlay), 'PodDisruptionBudget', 'cortex-gateway'));
    delete pdb.spec.selector;
    pdb.spec.maxUnavailable = [1];
    const PDB = await model(pdb);
    assert.throws(() => new PDB(pdb).validate(), /maxUnavailable/);
    // A misspelt field, which the schema alone lets through, is found.
    const typo = structuredClone(find(objects(overlay), 'Deployment', 'cortex-gateway'));
    typo.spec.template.spec.containers[0].securityContext.readOnlyRootFileSystem = true;
    const vi = typo.spec.template.spec.volumes.findIndex((v) => v.configMap);
    typo.spec.template.spec.volumes[vi].configMap.itemz = [];
    assert.doesNotThrow(() => new Model(typo).validate());
    assert.deepEqual(unknownFields(typo, modelPath(typo)), [
      'Deployment.spec.template.spec.containers[0].securityContext.readOnlyRootFileSystem',
      `Deployment.spec.template.spec.volumes[${vi}].configMap.itemz`]);
    sm.spec.endpoints[0].interval = '30s';
    sm.spec.endpoints[0].pathh = '/metrics';
    assert.deepEqual(unknownFields(sm, modelPath(sm)), ['ServiceMonitor.spec.endpoints[0].pathh']);
  });

  test(`${overlay}: every container runs non-root, read-only, without privileges, seccomp RuntimeDefault, with requests and limits`, () => {
    const ws = workloads(objects(overlay));
    assert.ok(ws.length >= 2);
    for (const w of ws) {
      const pod = w.spec.template.spec;
      const psc = pod.securityContext || {};
      for (const c of [...(pod.initContainers || []), ...pod.containers]) {
        const where = `${w.kind}/${w.metadata.name} container ${c.name}`;
        const sc = c.securityContext || {};
        assert.equal(sc.runAsNonRoot ?? psc.runAsNonRoot, true, `${where}: runAsNonRoot`);
        const uid = sc.runAsUser ?? psc.runAsUser;
        assert.ok(Number.isInteger(uid) && uid > 0, `${where}: a non-zero runAsUser (${uid})`);
        assert.equal(sc.readOnlyRootFilesystem, true, `${where}: readOnlyRootFilesystem`);
        assert.equal(sc.allowPrivilegeEscalation, false, `${where}: allowPrivilegeEscalation`);
        assert.notEqual(sc.privileged, true, `${where}: privileged`);
        assert.deepEqual(sc.capabilities?.drop, ['ALL'], `${where}: capabilities drop ALL`);
        assert.equal(sc.capabilities?.add, undefined, `${where}: no capability added`);
        assert.equal((sc.seccompProfile ?? psc.seccompProfile)?.type, 'RuntimeDefault', `${where}: seccomp`);
        for (const r of ['requests', 'limits']) {
          for (const k of ['cpu', 'memory']) assert.ok(c.resources?.[r]?.[k], `${where}: resources.${r}.${k}`);
        }
      }
      assert.notEqual(pod.hostNetwork, true);
      assert.notEqual(pod.hostPID, true);
      assert.notEqual(pod.hostIPC, true);
      // What the namespace's Pod Security level "restricted" allows besides the above.
      for (const v of pod.volumes || []) {
        assert.ok(['configMap', 'secret', 'emptyDir', 'persistentVolumeClaim', 'projected'].some((k) => v[k]), `volume ${v.name} of ${w.metadata.name}`);
      }
      for (const c of pod.containers) for (const p of c.ports || []) assert.equal(p.hostPort, undefined);
    }
  });

  test(`${overlay}: the gateway: 2 replicas sharing the session key Secret, /healthz and /readyz probes, a Service`, () => {
    const objs = objects(overlay);
    const gw = find(objs, 'Deployment', 'cortex-gateway', 'cortex-system');
    assert.equal(gw.spec.replicas, 2);
    const pod = gw.spec.template.spec;
    const c = pod.containers.find((x) => x.name === 'gateway');
    assert.equal(c.livenessProbe.httpGet.path, '/healthz');
    assert.equal(c.readinessProbe.httpGet.path, '/readyz');
    const port = c.ports.find((p) => p.name === c.livenessProbe.httpGet.port);
    assert.equal(port.containerPort, 8080);
    const secretVol = pod.volumes.find((v) => v.secret?.secretName === 'cortex-gateway');
    assert.ok(c.volumeMounts.find((m) => m.name === secretVol.name && m.mountPath === '/etc/cortex/secrets'));
    const conf = JSON.parse(configMap(objs, 'cortex-config').data['gateway.json']);
    assert.deepEqual(conf.http.session_key, { file: '/etc/cortex/secrets/session-key' });
    assert.equal(conf.listen, '0.0.0.0:8080');
    assert.ok(conf.tokens.length >= 1);
    const svc = find(objs, 'Service', 'cortex-gateway', 'cortex-system');
    assert.ok(matches(svc.spec.selector ? { matchLabels: svc.spec.selector } : {}, gw.spec.template.metadata.labels));
    assert.equal(svc.spec.ports[0].targetPort, 'http');
    // The orchestrator reaches the gateway by the Service's name, which the gateway accepts as Host.
    const oconf = JSON.parse(configMap(objs, 'cortex-config').data['orchestrator.json']);
    const host = new URL(oconf.orchestrator.gateway_url).hostname;
    assert.match(host, /^cortex-gateway\.cortex-system/);
    assert.ok(conf.http.allowed_hosts.includes(host), host);
    // Both open the same task store.
    assert.deepEqual(oconf.tasks, conf.tasks);
    const orch = find(objs, 'Deployment', 'cortex-orchestrator', 'cortex-system');
    assert.equal(orch.spec.replicas, overlay === 'ha' ? 3 : 1);
    assert.equal(conf.tasks.store, overlay === 'ha' ? 'redis' : 'dir');
    assert.equal(find(objs, 'Namespace', 'cortex-system').metadata.labels['pod-security.kubernetes.io/enforce'], 'restricted');
    if (overlay === 'ha') {
      // The store's URL is the Redis Service; Redis keeps an append-only file, fsynced on every write.
      const svcR = find(objs, 'Service', 'cortex-redis', 'cortex-system');
      const u = new URL(conf.tasks.url);
      assert.equal(u.hostname, 'cortex-redis.cortex-system.svc');
      assert.equal(Number(u.port), svcR.spec.ports[0].port);
      const redis = find(objs, 'StatefulSet', 'cortex-redis').spec.template.spec.containers[0];
      assert.equal(redis.args[redis.args.indexOf('--appendonly') + 1], 'yes');
      assert.equal(redis.args[redis.args.indexOf('--appendfsync') + 1], 'always');
      assert.equal(redis.args[redis.args.indexOf('--requirepass') + 1], '$(REDIS_PASSWORD)');
      assert.deepEqual(redis.env.find((e) => e.name === 'REDIS_PASSWORD').valueFrom.secretKeyRef, { name: 'cortex-redis', key: 'password' });
      assert.ok(matches({ matchLabels: svcR.spec.selector }, find(objs, 'StatefulSet', 'cortex-redis').spec.template.metadata.labels));
    } else {
      const pvc = find(objs, 'PersistentVolumeClaim', 'cortex-tasks', 'cortex-system');
      for (const d of [gw, orch]) {
        const pod = d.spec.template.spec;
        const vol = pod.volumes.find((v) => v.persistentVolumeClaim?.claimName === pvc.metadata.name);
        assert.equal(pod.containers[0].volumeMounts.find((m) => m.name === vol.name).mountPath, conf.tasks.dir);
      }
    }
  });

  test(`${overlay}: the masters ConfigMap is manifests/examples/masters.json`, () => {
    const objs = objects(overlay);
    const cm = configMap(objs, 'cortex-masters');
    const file = readFileSync(join(M, 'examples/masters.json'), 'utf8');
    assert.equal(cm.data['masters.json'], file);
    assert.deepEqual(JSON.parse(cm.data['masters.json']), JSON.parse(file));
    const orch = find(objs, 'Deployment', 'cortex-orchestrator');
    const oconf = JSON.parse(configMap(objs, 'cortex-config').data['orchestrator.json']);
    const vol = orch.spec.template.spec.volumes.find((v) => v.configMap?.name === cm.metadata.name);
    const mount = orch.spec.template.spec.containers[0].volumeMounts.find((m) => m.name === vol.name);
    assert.equal(oconf.orchestrator.masters, `${mount.mountPath}/masters.json`);
  });

  test(`${overlay}: RBAC: read cluster-wide without Secrets, writes only by Roles in ${OVERLAYS[overlay].join(', ')}`, () => {
    const objs = objects(overlay);
    const sa = { kind: 'ServiceAccount', name: 'cortex-gateway', namespace: 'cortex-system' };
    for (const cr of objs.filter((o) => o.kind === 'ClusterRole')) {
      for (const r of cr.rules) {
        for (const v of r.verbs) assert.ok(['get', 'list', 'watch'].includes(v), `ClusterRole ${cr.metadata.name}: verb ${v}`);
        for (const res of r.resources || []) {
          assert.notEqual(res, '*', `ClusterRole ${cr.metadata.name}: no wildcard resource`);
          assert.notEqual(res, 'secrets', `ClusterRole ${cr.metadata.name} reads no Secret`);
        }
        assert.ok(!(r.apiGroups || []).includes('*'));
      }
    }
    const crb = objs.filter((o) => o.kind === 'ClusterRoleBinding');
    assert.deepEqual(crb.map((b) => b.roleRef.name), ['cortex-read']);
    assert.deepEqual(crb[0].subjects, [sa]);
    const roles = objs.filter((o) => o.kind === 'Role');
    assert.deepEqual(roles.map((r) => r.metadata.namespace).sort(), [...OVERLAYS[overlay]].sort());
    for (const role of roles) {
      const verbs = new Set(role.rules.flatMap((r) => r.verbs));
      for (const v of ['create', 'patch', 'delete']) assert.ok(verbs.has(v), `Role in ${role.metadata.namespace} may ${v}`);
      for (const r of role.rules) {
        for (const res of r.resources) {
          assert.ok(!['*', 'secrets', 'pods/exec', 'pods/attach', 'serviceaccounts/token'].includes(res), `Role may not write ${res}`);
        }
        assert.ok(!r.apiGroups.some((g) => g === '*' || g === 'rbac.authorization.k8s.io'));
      }
      const rb = objs.find((o) => o.kind === 'RoleBinding' && o.metadata.namespace === role.metadata.namespace);
      assert.deepEqual(rb.roleRef, { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: role.metadata.name });
      assert.deepEqual(rb.subjects, [sa]);
    }
    assert.equal(objs.filter((o) => o.kind === 'RoleBinding').length, roles.length);
    // Only the gateway mounts a service-account token.
    for (const w of workloads(objs)) {
      const pod = w.spec.template.spec;
      if (w.metadata.name === 'cortex-gateway') assert.equal(pod.serviceAccountName, 'cortex-gateway');
      else assert.equal(pod.automountServiceAccountToken, false, w.metadata.name);
    }
  });

  test(`${overlay}: NetworkPolicies deny by default and select every pod; budgets cover every workload; the ServiceMonitor finds /metrics`, () => {
    const objs = objects(overlay);
    const nps = objs.filter((o) => o.kind === 'NetworkPolicy');
    const deny = nps.find((p) => Object.keys(p.spec.podSelector).length === 0);
    assert.ok(deny, 'a default-deny policy');
    assert.deepEqual(deny.spec.policyTypes.sort(), ['Egress', 'Ingress']);
    assert.equal(deny.spec.ingress, undefined);
    assert.equal(deny.spec.egress, undefined);
    const pdbs = objs.filter((o) => o.kind === 'PodDisruptionBudget');
    for (const w of workloads(objs)) {
      const labels = w.spec.template.metadata.labels;
      const own = nps.filter((p) => p !== deny && matches(p.spec.podSelector, labels));
      assert.ok(own.length >= 1, `a NetworkPolicy of its own for ${w.metadata.name}`);
      assert.ok(own.some((p) => (p.spec.egress || []).some((e) => (e.ports || []).some((x) => x.port === 53))) ||
        w.metadata.name === 'cortex-redis', `${w.metadata.name} may resolve names`);
      assert.ok(pdbs.some((p) => matches(p.spec.selector, labels)), `a PodDisruptionBudget for ${w.metadata.name}`);
    }
    // The orchestrator takes no connection; the gateway takes them on its port only.
    const onp = nps.find((p) => p.metadata.name === 'cortex-orchestrator');
    assert.deepEqual(onp.spec.ingress, []);
    const gnp = nps.find((p) => p.metadata.name === 'cortex-gateway');
    assert.deepEqual(gnp.spec.ingress.flatMap((i) => i.ports.map((p) => p.port)), [8080]);
    if (overlay === 'ha') {
      const rnp = nps.find((p) => p.metadata.name === 'cortex-redis');
      assert.deepEqual(rnp.spec.egress, []);
      assert.deepEqual(rnp.spec.ingress[0].from[0].podSelector.matchExpressions[0].values.sort(), ['cortex-gateway', 'cortex-orchestrator']);
    }
    const sm = find(objs, 'ServiceMonitor', 'cortex-gateway');
    const svc = find(objs, 'Service', 'cortex-gateway');
    assert.ok(matches(sm.spec.selector, svc.metadata.labels));
    assert.deepEqual(sm.spec.namespaceSelector.matchNames, [svc.metadata.namespace]);
    assert.equal(sm.spec.endpoints[0].path, '/metrics');
    assert.ok(svc.spec.ports.some((p) => p.name === sm.spec.endpoints[0].port));
    // /metrics takes a token as /mcp does: Prometheus has one of its own, which may call no tool.
    const auth = sm.spec.endpoints[0].authorization;
    assert.equal(auth.type, 'Bearer');
    const tmpl = secretTemplates().find((x) => x.metadata.name === auth.credentials.name);
    assert.ok(tmpl && auth.credentials.key in tmpl.stringData && tmpl.metadata.namespace === sm.metadata.namespace);
    const prom = JSON.parse(configMap(objs, 'cortex-config').data['gateway.json']).tokens.find((t) => t.name === 'prometheus');
    assert.deepEqual(prom.allow, []);
    assert.equal(prom.read_only, true);
  });

  test(`${overlay}: every Secret the pods read is in manifests/secrets, with every key, and no value`, () => {
    const objs = objects(overlay);
    const templates = secretTemplates();
    for (const s of templates) {
      assert.equal(s.kind, 'Secret');
      assert.equal(s.data, undefined);
      for (const [k, v] of Object.entries(s.stringData)) assert.equal(v, '', `${s.metadata.name}.${k} has no value`);
    }
    assert.equal(objs.filter((o) => o.kind === 'Secret').length, 0, 'no Secret in an overlay (applying one never overwrites them)');
    const keysOf = (name) => Object.keys(templates.find((s) => s.metadata.name === name)?.stringData || {});
    let refs = 0;
    for (const w of workloads(objs)) {
      const pod = w.spec.template.spec;
      for (const v of pod.volumes || []) {
        if (!v.secret) continue;
        assert.ok(keysOf(v.secret.secretName).length, `template of Secret ${v.secret.secretName}`);
        for (const i of v.secret.items || []) assert.ok(keysOf(v.secret.secretName).includes(i.key));
        refs++;
      }
      for (const c of pod.containers) {
        for (const e of c.env || []) {
          const ref = e.valueFrom?.secretKeyRef;
          if (!ref) continue;
          assert.ok(keysOf(ref.name).includes(ref.key), `Secret ${ref.name} key ${ref.key}`);
          refs++;
        }
      }
    }
    assert.ok(refs >= (overlay === 'ha' ? 6 : 3), `${refs} references`);
    // Every template is read by something: a pod, or the ServiceMonitor.
    const used = new Set([...JSON.stringify(objs).matchAll(/"(?:secretName|name)":"(cortex-[a-z]+)"/g)].map((m) => m[1]));
    for (const t of templates) {
      if (overlay === 'lab' && t.metadata.name === 'cortex-redis') continue;
      assert.ok(used.has(t.metadata.name), `${t.metadata.name} is used`);
    }
  });

  test(`${overlay}: cortex-gateway --check-config accepts the ConfigMap's gateway.json with the files its pod mounts`, () => {
    const { fs, placed, moved } = layout(objects(overlay), 'cortex-gateway', 'gateway', 'gateway.json');
    assert.ok(moved >= 2, `${moved} paths`);
    // The one addition: the service-account folder the kubelet mounts.
    const sa = join(fs, 'serviceaccount');
    mkdirSync(sa);
    writeFileSync(join(sa, 'token'), 'sa-token-for-the-test');
    writeFileSync(join(sa, 'namespace'), 'cortex-system');
    const ca = spawnSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes',
      '-subj', '/CN=kubernetes', '-days', '1', '-keyout', join(sa, 'ca.key'), '-out', join(sa, 'ca.crt')], { encoding: 'utf8' });
    assert.equal(ca.status, 0, ca.stderr);
    placed.adapters.kubectl.service_account_dir = sa;
    const path = join(fs, '/etc/cortex/config/gateway.json');
    writeFileSync(path, JSON.stringify(placed));
    const env = { ...process.env, KUBERNETES_SERVICE_HOST: '10.43.0.1', KUBERNETES_SERVICE_PORT: '443' };
    const r = spawnSync(SHIPPED, ['--check-config', '--config', path], { encoding: 'utf8', timeout: 30000, env });
    assert.equal(r.status, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /^config ok: \d+ adapter\(s\)/m);
    assert.match(r.stdout, /^listen: 0\.0\.0\.0:8080 /m);
    assert.match(r.stdout, /^auth: on, 3 bearer token\(s\)/m);
    assert.match(r.stderr, overlay === 'ha' ? /task store redis cortex-redis\.cortex-system\.svc:6379/ : /task store dir/);
    // And the check is real: without the Secret's file the same config is refused.
    const noKey = structuredClone(placed);
    noKey.http.session_key.file += '.missing';
    writeFileSync(path, JSON.stringify(noKey));
    const bad = spawnSync(SHIPPED, ['--check-config', '--config', path], { encoding: 'utf8', timeout: 30000, env });
    assert.equal(bad.status, 1);
    assert.match(bad.stderr, /session_key/);
  });

  test(`${overlay}: cortex-orchestrator starts on the ConfigMap's orchestrator.json and the masters ConfigMap, and stops cleanly on SIGINT + SIGTERM`, async () => {
    const { fs, placed, moved } = layout(objects(overlay), 'cortex-orchestrator', 'orchestrator', 'orchestrator.json');
    assert.ok(moved >= (overlay === 'ha' ? 2 : 2), `${moved} paths`);
    const path = join(fs, '/etc/cortex/config/orchestrator.json');
    writeFileSync(path, JSON.stringify(placed));
    const child = spawn(ORCH, ['--config', path], { stdio: ['ignore', 'ignore', 'pipe'],
      env: { ...process.env, CORTEX_TOKEN: 'test-token', ANTHROPIC_API_KEY: 'sk-ant-test' } });
    let stderr = '';
    child.stderr.setEncoding('utf8');
    const exited = new Promise((res) => child.on('exit', (code, signal) => res({ code, signal })));
    try {
      await new Promise((res, rej) => {
        const t = setTimeout(() => rej(new Error('not started in 20 s: ' + stderr)), 20000);
        child.stderr.on('data', (d) => { stderr += d; if (/cortex-orchestrator \S+: 6 masters, 18 workers/.test(stderr)) { clearTimeout(t); res(); } });
        exited.then(({ code }) => { clearTimeout(t); rej(new Error(`exited with ${code}: ${stderr}`)); });
      });
      assert.match(stderr, /gateway http:\/\/cortex-gateway\.cortex-system\.svc:8080\/mcp/);
      assert.ok(!stderr.includes('test-token') && !stderr.includes('sk-ant-test'));
      // SIGTERM at once, before it waits for signals: every thread has it blocked (the task
      // store's, started before, too), so it still stops cleanly.
    } finally {
      // A terminal's Ctrl-C and a supervisor's SIGTERM at once: one starts the clean stop, the
      // other must not end it (no thread may take a stop signal but the one waiting for them).
      child.kill('SIGINT');
      child.kill('SIGTERM');
    }
    assert.deepEqual(await exited, { code: 0, signal: null }, stderr);
  });
}

// The files a container of the overlay would see, under a scratch folder: its ConfigMaps'
// files, its Secrets' keys (random values, as an operator would make them, from the templates),
// empty folders for its other volumes. Every absolute path in the config file `name` (in
// /etc/cortex/config) must be inside one of its mounts; `placed` is the config with those paths
// moved under the folder.
function layout(objs, deployment, container, name) {
  const templates = secretTemplates();
  const pod = find(objs, 'Deployment', deployment).spec.template.spec;
  const c = pod.containers.find((x) => x.name === container);
  const fs = tmpDir();
  for (const m of c.volumeMounts) {
    const v = pod.volumes.find((x) => x.name === m.name);
    const dir = join(fs, m.mountPath);
    mkdirSync(dir, { recursive: true });
    if (v.configMap) {
      const cm = objs.find((o) => o.kind === 'ConfigMap' && o.metadata.name === v.configMap.name);
      for (const [k, text] of Object.entries(cm.data)) writeFileSync(join(dir, k), text);
    } else if (v.secret) {
      const s = templates.find((x) => x.metadata.name === v.secret.secretName);
      const items = v.secret.items || Object.keys(s.stringData).map((k) => ({ key: k, path: k }));
      for (const i of items) writeFileSync(join(dir, i.path), randomBytes(48).toString('base64'), { mode: 0o600 });
    }
  }
  const mounts = c.volumeMounts.map((m) => m.mountPath);
  let moved = 0;
  const move = (v) => {
    if (typeof v === 'string' && v.startsWith('/')) {
      assert.ok(mounts.some((m) => v.startsWith(m + '/') || v === m), `${v} is in a volume ${deployment} mounts`);
      moved++;
      return join(fs, v);
    }
    if (Array.isArray(v)) return v.map(move);
    if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, move(x)]));
    return v;
  };
  const placed = move(JSON.parse(readFileSync(join(fs, '/etc/cortex/config', name), 'utf8')));
  return { fs, placed, moved };
}

test('the Kubernetes adapter in the overlays runs in-cluster with the gateway\'s service account', () => {
  for (const overlay of Object.keys(OVERLAYS)) {
    const conf = JSON.parse(configMap(objects(overlay), 'cortex-config').data['gateway.json']);
    assert.equal(conf.adapters.kubectl.in_cluster, true);
    assert.ok(OVERLAYS[overlay].includes(conf.adapters.kubectl.namespace), 'its default namespace is writable');
  }
});

test('cortex containers of both overlays run one image', () => {
  for (const overlay of Object.keys(OVERLAYS)) {
    const images = new Set(workloads(objects(overlay)).filter((w) => w.metadata.name !== 'cortex-redis')
      .flatMap((w) => w.spec.template.spec.containers.map((c) => c.image)));
    assert.deepEqual([...images], ['cortex:0.1.0']);
  }
});

test('docs/DEPLOY.md creates exactly the Secrets and keys the templates have, and names files that exist', () => {
  const doc = readFileSync(join(root, 'docs/DEPLOY.md'), 'utf8');
  const made = {};
  for (const m of doc.matchAll(/create secret generic (\S+)((?:\s*\\?\n?\s*--from-literal=[\w-]+=\S+)+)/g)) {
    made[m[1]] = [...m[2].matchAll(/--from-literal=([\w-]+)=/g)].map((k) => k[1]).sort();
  }
  const templates = Object.fromEntries(secretTemplates().map((s) => [s.metadata.name, Object.keys(s.stringData).sort()]));
  assert.deepEqual(made, templates);
  for (const [, p] of doc.matchAll(/`((?:manifests|scripts|docs)\/[\w./-]+)`/g)) {
    assert.ok(existsSync(join(root, p.replace(/\/$/, ''))), `${p} exists`);
  }
});
