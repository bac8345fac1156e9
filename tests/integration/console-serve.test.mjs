// The console's files as the gateway serves them at / and /console/: the bytes of console/ on
// disk, their content types, the security headers a browser enforces, ETag/304, what other
// methods and paths get, no token needed but the Host still checked, console.enabled: false.
// And the Origin rule that lets the page call the API from the name it was loaded by.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import http from 'node:http';
import { join, resolve, dirname, extname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { assertAllStopCleanly, startHttp, writeConfig } from './lib.mjs';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const CONSOLE = join(root, 'console');
const running = [];
after(() => running.forEach((g) => g.kill()));

const TOKEN = 'console-serve-test-token-0123456789';
const SHA = createHash('sha256').update(TOKEN).digest('hex');

async function gateway(config = {}) {
  const cfg = writeConfig({ adapters: { testkit: {} }, tasks: { enabled: false }, ...config });
  const g = startHttp(['--config', cfg]);
  running.push(g);
  g.url = await g.ready;
  g.port = Number(new URL(g.url).port);
  return g;
}

// node:http, for a chosen Host and the raw bytes of a body.
function raw(port, { method = 'GET', path = '/', headers = {}, body } = {}) {
  return new Promise((res, rej) => {
    const req = http.request({ host: '127.0.0.1', port, method, path, headers, agent: false }, (r) => {
      const chunks = [];
      r.on('data', (d) => chunks.push(d));
      r.on('end', () => res({ status: r.statusCode, headers: r.headers, body: Buffer.concat(chunks) }));
      r.on('error', rej);
    });
    req.on('error', rej);
    req.end(body);
  });
}

const CSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
  "connect-src 'self'; font-src 'self'; manifest-src 'self'; base-uri 'none'; form-action 'none'; " +
  "frame-ancestors 'none'";

function assertConsoleHeaders(h, what) {
  assert.equal(h['content-security-policy'], CSP, what);
  assert.equal(h['x-content-type-options'], 'nosniff', what);
  assert.equal(h['referrer-policy'], 'no-referrer', what);
  assert.equal(h['x-frame-options'], 'DENY', what);
  assert.equal(h['cross-origin-opener-policy'], 'same-origin', what);
  assert.equal(h['cache-control'], 'no-cache', what);
}

const TYPES = {
  '.html': /^text\/html; charset=utf-8$/, '.css': /^text\/css; charset=utf-8$/,
  '.js': /^text\/javascript; charset=utf-8$/, '.mjs': /^text\/javascript; charset=utf-8$/,
  '.svg': /^image\/svg\+xml$/, '.png': /^image\/png$/, '.json': /^application\/json$/,
  '.ico': /^image\/x-icon$/, '.webmanifest': /^application\/manifest\+json$/,
  '.woff2': /^font\/woff2$/, '.txt': /^text\/plain; charset=utf-8$/,
};

// Every file the build embeds: console/*.EXT and console/*/*.EXT for the extensions above.
function consoleFiles() {
  const out = [];
  for (const e of readdirSync(CONSOLE, { withFileTypes: true })) {
    if (e.isFile() && TYPES[extname(e.name)]) out.push(e.name);
    if (e.isDirectory()) {
      for (const f of readdirSync(join(CONSOLE, e.name), { withFileTypes: true })) {
        if (f.isFile() && TYPES[extname(f.name)]) out.push(e.name + '/' + f.name);
      }
    }
  }
  return out;
}

test('every file under console/ is served at /console/NAME with its bytes, type and security headers', async () => {
  const g = await gateway();
  const files = consoleFiles();
  assert.ok(files.includes('index.html') && files.includes('console.css'), files.join(' '));
  for (const name of files) {
    const r = await raw(g.port, { path: '/console/' + name });
    assert.equal(r.status, 200, name);
    assert.ok(r.body.equals(readFileSync(join(CONSOLE, name))), `${name}: the bytes on disk`);
    assert.match(r.headers['content-type'], TYPES[extname(name)], name);
    assert.equal(Number(r.headers['content-length']), r.body.length, name);
    assert.match(r.headers.etag, /^"[0-9a-f]{16}"$/, name);
    assertConsoleHeaders(r.headers, name);
  }
});

test('GET / is console/index.html; HEAD answers the same headers without the body', async () => {
  const g = await gateway();
  const index = readFileSync(join(CONSOLE, 'index.html'));
  const r = await raw(g.port, { path: '/' });
  assert.equal(r.status, 200);
  assert.ok(r.body.equals(index));
  assert.match(r.headers['content-type'], /^text\/html; charset=utf-8$/);
  assertConsoleHeaders(r.headers, '/');
  const q = await raw(g.port, { path: '/?x=1' });
  assert.ok(q.body.equals(index), 'a query string does not change the file');

  for (const path of ['/', '/console/console.css']) {
    const get = await raw(g.port, { path });
    const head = await raw(g.port, { method: 'HEAD', path });
    assert.equal(head.status, 200, path);
    assert.equal(head.body.length, 0, path);
    assert.equal(head.headers['content-length'], get.headers['content-length'], path);
    assert.equal(head.headers['content-type'], get.headers['content-type'], path);
    assert.equal(head.headers.etag, get.headers.etag, path);
    assertConsoleHeaders(head.headers, 'HEAD ' + path);
  }
});

test('ETag from the content: If-None-Match with it is 304 without a body, another tag is 200', async () => {
  const g = await gateway();
  const a = await raw(g.port, { path: '/console/index.html' });
  const b = await raw(g.port, { path: '/console/console.css' });
  assert.notEqual(a.headers.etag, b.headers.etag, 'different bytes, different tags');
  assert.equal((await raw(g.port, { path: '/' })).headers.etag, a.headers.etag, '/ is index.html');
  for (const inm of [a.headers.etag, `W/${a.headers.etag}`, `"nope", ${a.headers.etag}`, '*']) {
    const r = await raw(g.port, { path: '/console/index.html', headers: { 'If-None-Match': inm } });
    assert.equal(r.status, 304, inm);
    assert.equal(r.body.length, 0, inm);
    assert.equal(r.headers.etag, a.headers.etag, inm);
    assertConsoleHeaders(r.headers, '304 ' + inm);
  }
  const other = await raw(g.port, { path: '/console/index.html', headers: { 'If-None-Match': b.headers.etag } });
  assert.equal(other.status, 200);
  assert.ok(other.body.equals(readFileSync(join(CONSOLE, 'index.html'))));
});

test('other methods are 405 with Allow: GET, HEAD; other paths under /console/ are 404', async () => {
  const g = await gateway();
  for (const method of ['POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS']) {
    for (const path of ['/', '/console/index.html']) {
      const r = await raw(g.port, { method, path, headers: { 'Content-Type': 'text/plain' }, body: 'x' });
      assert.equal(r.status, 405, `${method} ${path}`);
      assert.equal(r.headers.allow, 'GET, HEAD', `${method} ${path}`);
      assertConsoleHeaders(r.headers, `${method} ${path}`);
    }
  }
  for (const path of ['/console/', '/console/nope.js', '/console/index.html/', '/console/../gateway.json',
    '/console/INDEX.HTML', '/console//index.html', '/index.html']) {
    const r = await raw(g.port, { path });
    assert.equal(r.status, 404, path);
    assert.deepEqual(JSON.parse(r.body.toString()), { error: 'not found' }, path);
  }
  const r = await raw(g.port, { path: '/console/nope.js' });
  assertConsoleHeaders(r.headers, '404 under /console/');
});

test('no token needed for the files, while the API still wants one; a forged Host is refused', async () => {
  const g = await gateway({ tokens: [{ name: 'ci', sha256: SHA }] });
  assert.equal((await raw(g.port, { path: '/' })).status, 200);
  assert.equal((await raw(g.port, { path: '/console/console.css' })).status, 200);
  const api = await raw(g.port, { path: '/v1/tools' });
  assert.equal(api.status, 401, 'the API is not opened by the console');
  // The API's answers carry the safety headers too.
  assert.equal(api.headers['x-content-type-options'], 'nosniff');
  assert.equal(api.headers['referrer-policy'], 'no-referrer');
  assert.equal(api.headers['x-frame-options'], 'DENY');
  const ok = await raw(g.port, { path: '/v1/tools', headers: { Authorization: 'Bearer ' + TOKEN } });
  assert.equal(ok.status, 200);
  assert.equal(ok.headers['x-frame-options'], 'DENY');

  for (const host of ['evil.example', 'evil.example:' + g.port, '127.0.0.1.evil.example']) {
    for (const path of ['/', '/console/index.html']) {
      const r = await raw(g.port, { path, headers: { Host: host } });
      assert.equal(r.status, 403, `Host '${host}' ${path}`);
      assert.doesNotMatch(r.body.toString(), /<html/i, 'no console bytes');
    }
  }
  assert.match(g.stderr(), /403 from 127\.0\.0\.1: Host 'evil\.example' is not a loopback name/);
  assert.match(g.stderr(), new RegExp(`console at http://127\\.0\\.0\\.1:${g.port}/`));
});

test('console.enabled: false: / and /console/ are 404 as any unknown path, whatever the method or Host', async () => {
  const g = await gateway({ console: { enabled: false } });
  for (const [method, path] of [['GET', '/'], ['HEAD', '/'], ['POST', '/'], ['GET', '/console/index.html'],
    ['GET', '/console/console.css'], ['DELETE', '/console/index.html']]) {
    const r = await raw(g.port, { method, path });
    assert.equal(r.status, 404, `${method} ${path}`);
    assert.equal(r.headers['content-security-policy'], undefined, `${method} ${path}`);
    if (method !== 'HEAD') assert.deepEqual(JSON.parse(r.body.toString()), { error: 'not found' });
  }
  assert.equal((await raw(g.port, { path: '/', headers: { Host: 'evil.example' } })).status, 404);
  assert.doesNotMatch(g.stderr(), /console at/);
  // The rest of the gateway is unchanged.
  assert.equal((await raw(g.port, { path: '/healthz' })).status, 200);
  assert.equal((await raw(g.port, { path: '/v1/tools' })).status, 200);
});

test('console.enabled must be a boolean', async () => {
  const cfg = writeConfig({ console: { enabled: 'yes' } });
  const g = startHttp(['--config', cfg]);
  g.ready.catch(() => {});
  const { code } = await g.exited;
  assert.notEqual(code, 0);
  assert.match(g.stderr(), /console\.enabled/);
  const cfg2 = writeConfig({ console: { enable: true } });
  const g2 = startHttp(['--config', cfg2]);
  g2.ready.catch(() => {});
  assert.notEqual((await g2.exited).code, 0);
  assert.match(g2.stderr(), /console\.enable/);
});

// The page's fetches carry Origin: http://HOST:PORT, its own origin. Reached by a name other than
// loopback (a DNS alias in http.allowed_hosts), that Origin equals the Host and is accepted;
// another host's origin, or an Origin that differs from the Host in port or scheme-less form,
// is refused.
test('an Origin equal to the request\'s Host is accepted on the API; another origin is refused', async () => {
  const g = await gateway({ tokens: [{ name: 'ci', sha256: SHA }],
    http: { allowed_hosts: ['cortex.example.test:8443', 'alias.example.test'] } });
  const auth = { Authorization: 'Bearer ' + TOKEN };
  const call = (host, origin, method = 'GET', path = '/v1/tools', body) => raw(g.port, {
    method, path, body,
    headers: { ...auth, Host: host, ...(origin ? { Origin: origin } : {}),
      ...(body ? { 'Content-Type': 'application/json' } : {}) },
  });

  // The console itself, loaded through the alias.
  assert.equal((await call('cortex.example.test:8443', null, 'GET', '/')).status, 200);
  for (const origin of ['http://cortex.example.test:8443', 'https://cortex.example.test:8443',
    'HTTP://CORTEX.EXAMPLE.TEST:8443']) {
    const r = await call('cortex.example.test:8443', origin);
    assert.equal(r.status, 200, `${origin}: ${r.body}`);
  }
  const post = await call('cortex.example.test:8443', 'http://cortex.example.test:8443', 'POST',
    '/v1/tools/testkit_echo', JSON.stringify({ text: 'same origin' }));
  assert.equal(post.status, 200, post.body.toString());
  assert.match(post.body.toString(), /same origin/);
  assert.equal((await call('alias.example.test', 'http://alias.example.test')).status, 200);

  for (const [host, origin] of [
    ['cortex.example.test:8443', 'http://evil.example'],
    ['cortex.example.test:8443', 'http://evil.example:8443'],
    ['cortex.example.test:8443', 'http://cortex.example.test'],       // port differs
    ['cortex.example.test:8443', 'http://cortex.example.test:8444'],
    ['cortex.example.test:8443', 'http://alias.example.test'],        // allowed as Host, not this Host
    ['alias.example.test', 'http://alias.example.test:80'],
    ['cortex.example.test:8443', 'http://cortex.example.test:8443/'], // not an origin
    ['cortex.example.test:8443', 'cortex.example.test:8443'],
    ['cortex.example.test:8443', 'null'],
  ]) {
    const r = await call(host, origin);
    assert.equal(r.status, 403, `Host ${host}, Origin ${origin}`);
    assert.match(r.body.toString(), /Origin is not a loopback origin, the request's Host, or in http\.allowed_origins/);
  }
  // The Host policy comes first: an Origin cannot vouch for a Host that is not allowed.
  const rebound = await call('evil.example', 'http://evil.example');
  assert.equal(rebound.status, 403);
  assert.match(rebound.body.toString(), /Host header is not a loopback name/);
  // The same holds on /mcp.
  const init = await raw(g.port, { method: 'POST', path: '/mcp', body: JSON.stringify({ jsonrpc: '2.0', id: 1,
    method: 'initialize', params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 't', version: '1' } } }),
  headers: { ...auth, Host: 'cortex.example.test:8443', Origin: 'http://cortex.example.test:8443',
    'Content-Type': 'application/json', Accept: 'application/json, text/event-stream' } });
  assert.equal(init.status, 200, init.body.toString());
  const foreign = await raw(g.port, { method: 'POST', path: '/mcp', body: '{}',
    headers: { ...auth, Host: 'cortex.example.test:8443', Origin: 'http://evil.example',
      'Content-Type': 'application/json', Accept: 'application/json, text/event-stream' } });
  assert.equal(foreign.status, 403);
});

test('all gateways stop cleanly', async () => {
  await assertAllStopCleanly(running, assert);
});
