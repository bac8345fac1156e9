// An ended session stays ended across a restart of the gateway when http.ended_sessions_file
// is set: sessions are sealed ids valid for as long as the session key is the same, so a
// DELETE must be remembered on disk, written before the 204 (a kill -9 right after it loses
// nothing), read back at start (a line cut short by a crash skipped), and a file that is not
// one of ended sessions refused.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { appendFileSync, readFileSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { GATEWAY, httpSession, startHttp, writeConfig, tmpDir } from './lib.mjs';

const running = [];
after(() => running.forEach((g) => g.kill()));

const A = 'token-alice-restart-0123456789';
const B = 'token-bob-restart-0123456789ab';
const hash = (t) => createHash('sha256').update(t).digest('hex');

function config(dir, { file = true, extra = {} } = {}) {
  const key = join(dir, 'session-key');
  writeFileSync(key, randomBytes(48).toString('base64'), { mode: 0o600, flag: 'a' });
  return writeConfig({
    adapters: { testkit: {} },
    http: { session_key: { file: key }, max_ended_sessions: 16, ...(file ? { ended_sessions_file: join(dir, 'ended-sessions') } : {}), ...extra },
    tokens: [{ name: 'alice', sha256: hash(A) }, { name: 'bob', sha256: hash(B) }],
  });
}

async function start(conf) {
  const g = startHttp(['--config', conf]);
  running.push(g);
  return { g, url: await g.ready };
}

async function stop(g, signal = 'SIGTERM') {
  g.child.kill(signal);
  const { code, signal: sig } = await g.exited;
  if (signal === 'SIGTERM') assert.equal(code, 0, g.stderr());
  else assert.equal(sig, signal);
}

// A session's status at the gateway at url (it may have been made at another start).
async function ping(url, s) {
  return (await fetch(url, { method: 'POST', headers: s.headers, body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'ping' }) })).status;
}

async function end(url, s) {
  return (await fetch(url, { method: 'DELETE', headers: s.headers })).status;
}

test('ended sessions stay ended after a restart, a kill -9 right after the DELETE included; the others live on', async () => {
  const dir = tmpDir();
  const conf = config(dir);
  let { g, url } = await start(conf);
  assert.match(g.stderr(), /ended sessions are kept in '.*ended-sessions' \(0 listed now\)/);
  const bobKept = await httpSession(url, { token: B });
  const bobEnded = await httpSession(url, { token: B });
  assert.equal(await end(url, bobEnded), 204);
  const aliceOld = await httpSession(url, { token: A });
  await new Promise((r) => setTimeout(r, 1100)); // the next second: see revoke.test.mjs
  const aliceEnded = [];
  for (let i = 0; i < 20; i++) { // past her bound of 16: her older sessions all end at once
    const s = await httpSession(url, { token: A });
    assert.equal(await end(url, s), 204);
    aliceEnded.push(s);
  }
  assert.equal(await ping(url, aliceOld), 404);
  const aliceNew = await httpSession(url, { token: A });
  await stop(g);

  ({ g, url } = await start(conf));
  assert.equal(await ping(url, bobEnded), 404, 'an ended session never comes back');
  for (const s of aliceEnded) assert.equal(await ping(url, s), 404);
  assert.equal(await ping(url, aliceOld), 404, "her 'not before' was kept too");
  assert.equal(await ping(url, bobKept), 200, 'a session nobody ended outlives the restart');
  assert.equal(await ping(url, aliceNew), 200);

  // The 204 comes after the end was written: a kill -9 at once loses nothing.
  assert.equal(await end(url, bobKept), 204);
  await stop(g, 'SIGKILL');
  ({ g, url } = await start(conf));
  assert.equal(await ping(url, bobKept), 404);
  assert.equal(await ping(url, aliceNew), 200);
  // The file is rewritten at start with only what still needs listing.
  const lines = readFileSync(join(dir, 'ended-sessions'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  const nb = lines.find((l) => l.sub === 'alice' && l.not_before > 0)?.not_before;
  assert.ok(nb, JSON.stringify(lines));
  assert.equal(lines.filter((l) => l.not_before).length, 1, 'one "not before" line for her');
  assert.ok(lines.every((l) => l.not_before || (l.expires > Date.now() / 1000 && (l.sub !== 'alice' || l.issued >= nb))),
    'only entries still needed: none expired, none covered by her "not before"');
  assert.ok(lines.length < 24, `${lines.length} lines after the rewrite (24 were appended)`);
  assert.ok(lines.some((l) => l.sub === 'bob' && /^[0-9a-f]{16}$/.test(l.fp) && l.expires > l.issued));
  await stop(g);
  assert.ok(![A, B].some((t) => g.stderr().includes(t) || readFileSync(join(dir, 'ended-sessions'), 'utf8').includes(t)), 'no token in the log or the file');
});

test('without http.ended_sessions_file the same restart forgets the DELETE (the documented default)', async () => {
  const conf = config(tmpDir(), { file: false });
  let { g, url } = await start(conf);
  const s = await httpSession(url, { token: B });
  assert.equal(await end(url, s), 204);
  assert.equal(await ping(url, s), 404);
  await stop(g);
  ({ g, url } = await start(conf));
  assert.equal(await ping(url, s), 200);
  await stop(g);
});

test('a line cut short by a crash is skipped with a warning; a file that is not ours, or a folder that does not exist, is refused', async () => {
  const dir = tmpDir();
  const conf = config(dir);
  let { g, url } = await start(conf);
  const s = await httpSession(url, { token: A });
  assert.equal(await end(url, s), 204);
  await stop(g);
  appendFileSync(join(dir, 'ended-sessions'), '{"expires":99999999999,"fp":"00ab');
  ({ g, url } = await start(conf));
  assert.match(g.stderr(), /1 damaged line\(s\) in '.*ended-sessions' skipped/);
  assert.equal(await ping(url, s), 404);
  await stop(g);

  const other = tmpDir();
  writeFileSync(join(other, 'ended-sessions'), 'root:x:0:0:root:/root:/bin/bash\ndaemon:x:1:1::/:/bin/sh\n');
  const bad = config(other);
  const r = spawnSync(GATEWAY, ['--config', bad, '--listen', '127.0.0.1:0'], { encoding: 'utf8', timeout: 20000 });
  assert.equal(r.status, 1, r.stderr);
  assert.match(r.stderr, /http\.ended_sessions_file: '.*ended-sessions' is not a file of ended sessions \(2 line\(s\), none readable\)/);
  assert.equal(readFileSync(join(other, 'ended-sessions'), 'utf8').split('\n')[0], 'root:x:0:0:root:/root:/bin/bash', 'left as it was');

  const nowhere = config(tmpDir(), { extra: { ended_sessions_file: '/nonexistent-cortex/ended' } });
  const c = spawnSync(GATEWAY, ['--check-config', '--config', nowhere], { encoding: 'utf8', timeout: 20000 });
  assert.equal(c.status, 1, c.stdout + c.stderr);
  assert.match(c.stderr, /http\.ended_sessions_file: could not create ended-sessions file '\/nonexistent-cortex\/ended': directory '\/nonexistent-cortex' does not exist/);
});
