// kubeconfig client certificates: against a TLS server that demands one (node:https with
// requestCert, standing in for an API server that refuses the handshake) and against the
// simulator started with --client-ca (which, like an API server, takes a verified certificate's
// CN as the user and answers 401 to anything else): the certificate and key as files (relative
// to the kubeconfig) or as client-certificate-data / client-key-data, a missing or untrusted
// certificate refused, and the key never in the gateway's log.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { createServer, request as httpsRequest } from 'node:https';
import { join } from 'node:path';
import { startSim, startStdio, tmpDir, writeConfig } from './lib.mjs';

const running = [];
after(() => running.forEach((p) => p.kill()));

function openssl(...args) {
  execFileSync('openssl', args, { stdio: 'ignore' });
}

// A CA, a server certificate for 127.0.0.1 and two client certificates, one signed by the CA.
function pki(dir) {
  const f = (n) => join(dir, n);
  openssl('req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes',
    '-keyout', f('ca.key'), '-out', f('ca.crt'), '-days', '1', '-subj', '/CN=sim-ca');
  writeFileSync(f('server.ext'), 'subjectAltName=IP:127.0.0.1\n');
  writeFileSync(f('client.ext'), 'extendedKeyUsage=clientAuth\n');
  for (const [name, cn, ext, signer] of [['server', '127.0.0.1', 'server.ext', 'ca'],
    ['client', 'cortex-admin', 'client.ext', 'ca'], ['rogue', 'rogue', 'client.ext', null]]) {
    openssl('req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes',
      '-keyout', f(`${name}.key`), '-out', f(`${name}.csr`), '-subj', `/CN=${cn}`);
    if (signer) {
      openssl('x509', '-req', '-in', f(`${name}.csr`), '-CA', f('ca.crt'), '-CAkey', f('ca.key'),
        '-CAcreateserial', '-out', f(`${name}.crt`), '-days', '1', '-extfile', f(ext));
    } else {
      openssl('x509', '-req', '-in', f(`${name}.csr`), '-signkey', f(`${name}.key`),
        '-out', f(`${name}.crt`), '-days', '1', '-extfile', f(ext));
    }
  }
  return f;
}

async function apiServer(f) {
  const seen = [];
  const srv = createServer({ key: readFileSync(f('server.key')), cert: readFileSync(f('server.crt')),
    ca: readFileSync(f('ca.crt')), requestCert: true, rejectUnauthorized: true }, (req, res) => {
    const cn = req.socket.getPeerCertificate().subject?.CN;
    seen.push({ path: req.url, cn, auth: req.headers.authorization });
    res.setHeader('Content-Type', 'application/json');
    res.end(JSON.stringify({ kind: 'PodList', apiVersion: 'v1', metadata: {},
      items: [{ metadata: { name: `hello-${cn}`, namespace: 'default' }, status: { phase: 'Running' } }] }));
  });
  await new Promise((r) => srv.listen(0, '127.0.0.1', r));
  running.push({ kill: () => srv.close() });
  return { url: `https://127.0.0.1:${srv.address().port}`, seen };
}

const b64 = (p) => readFileSync(p).toString('base64');

function config(url, user, dir) {
  const p = join(dir, 'config');
  writeFileSync(p, `apiVersion: v1
kind: Config
current-context: c
clusters:
- name: k
  cluster:
    server: ${url}
    certificate-authority: ca.crt
users:
- name: admin
  user:
${user}
contexts:
- name: c
  context: {cluster: k, user: admin}
`);
  return p;
}

async function call(kc) {
  const g = startStdio(['--config', writeConfig({ adapters: { kubectl: { kubeconfig: kc, retries: 0 } } })]);
  running.push(g);
  await g.initialize();
  const r = (await g.request('tools/call', { name: 'kubectl_get', arguments: { kind: 'pods' } })).result;
  await g.close();
  return { r, stderr: g.stderr() };
}

test('a client certificate from files or data authenticates; none or an untrusted one is refused', async () => {
  const dir = tmpDir();
  const f = pki(dir);
  const api = await apiServer(f);

  const files = await call(config(api.url, '    client-certificate: client.crt\n    client-key: client.key', dir));
  assert.equal(files.r.isError, undefined, JSON.stringify(files.r));
  assert.deepEqual(files.r.structuredContent.items.map((i) => i.name), ['hello-cortex-admin']);

  const data = await call(config(api.url, `    client-certificate-data: ${b64(f('client.crt'))}\n    client-key-data: ${b64(f('client.key'))}`, dir));
  assert.equal(data.r.isError, undefined, JSON.stringify(data.r));
  const n = api.seen.length;
  assert.equal(api.seen.filter((x) => x.path.startsWith('/api/v1/namespaces/default/pods')).length, 2);
  assert.ok(api.seen.every((s) => s.cn === 'cortex-admin' && s.auth === undefined), 'no bearer token without one');

  const none = await call(config(api.url, '    {}', dir));
  assert.equal(none.r.isError, true);
  assert.match(none.r.content[0].text, /kubernetes/);
  const rogue = await call(config(api.url, `    client-certificate-data: ${b64(f('rogue.crt'))}\n    client-key-data: ${b64(f('rogue.key'))}`, dir));
  assert.equal(rogue.r.isError, true);
  assert.equal(api.seen.length, n, 'neither reached the API (nor its health check)');

  const key = readFileSync(f('client.key'), 'utf8').split('\n')[1];
  for (const run of [files, data, none, rogue]) {
    assert.ok(!run.stderr.includes(key) && !run.stderr.includes(b64(f('client.key')).slice(0, 40)), 'no key material logged');
  }
});

test('the simulator takes a client certificate its client CA signed as the credentials', async () => {
  const dir = tmpDir();
  const f = pki(dir);
  const s = startSim(['--tls', '--cert-out', join(dir, 'sim.crt'), '--client-ca', f('ca.crt')]);
  running.push(s);
  const url = await s.ready;
  const kc = (user) => {
    const p = config(url, user, dir);
    writeFileSync(p, readFileSync(p, 'utf8').replace('certificate-authority: ca.crt', 'certificate-authority: sim.crt'));
    return p;
  };
  const good = await call(kc(`    client-certificate-data: ${b64(f('client.crt'))}\n    client-key-data: ${b64(f('client.key'))}`));
  assert.equal(good.r.isError, undefined, JSON.stringify(good.r));
  assert.deepEqual(good.r.structuredContent.items.map((i) => i.name), ['web-7d4b9c-abcde', 'web-7d4b9c-fghij', 'multi']);
  const rogue = await call(kc(`    client-certificate: rogue.crt\n    client-key: rogue.key`));
  assert.equal(rogue.r.isError, true);
  assert.match(rogue.r.content[0].text, /kubernetes answered 401 Unauthorized/);
  const none = await call(kc('    {}'));
  assert.match(none.r.content[0].text, /401 Unauthorized/);
  const log = await new Promise((res, rej) => {
    const req = httpsRequest(url + '/_sim/requests', { ca: readFileSync(join(dir, 'sim.crt')) }, (r) => {
      let d = '';
      r.on('data', (c) => { d += c; });
      r.on('end', () => res(JSON.parse(d).requests));
    });
    req.on('error', rej);
    req.end();
  });
  assert.ok(log.length >= 4 && log.every((r) => !r.authorization), 'no bearer token was sent');
});
