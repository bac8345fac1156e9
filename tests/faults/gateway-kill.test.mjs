// Fault trial: kill -9 of the gateway under load, restarted on the same port with the same
// http.session_key. Clients see their connections fail while it is down, then carry on with the
// session ids they already hold; every line of the audit file parses (none half-written).
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  FULL, sim, gatewayOn, freePort, writeConfig, tmpDir, httpSession, callTool, text, badLines, sleep,
  killAll,
} from './lib.mjs';

after(killAll);

const ROUNDS = Number(process.env.CORTEX_FAULTS_GATEWAY_KILLS || (FULL ? 20 : 3));
const CLIENTS = 16;
const SECRET = '5e1f3c9a-2b7d-4e8f-9a61-0c3d5b7e9f12';

test(`kill -9 of the gateway under load, ${ROUNDS} times: sessions survive the restart, no audit line half-written`, async () => {
  const s = await sim();
  const dir = tmpDir();
  const keyFile = join(dir, 'session-key');
  writeFileSync(keyFile, randomBytes(32).toString('base64'), { mode: 0o600 });
  const audit = join(dir, 'audit.log');
  const conf = (key) => writeConfig({
    http: { session_key: { file: key } },
    audit: { file: audit },
    calls: { timeout_ms: 8000 },
    adapters: { proxmox: { url: s.url, token_id: 'root@pam!cortex', token_secret: { env: 'PX_SECRET' }, retries: 0 } },
  });
  const config = conf(keyFile);
  const env = { PX_SECRET: SECRET };
  const port = await freePort();
  let g = await gatewayOn(port, config, { env });
  const sessions = await Promise.all(Array.from({ length: CLIENTS }, () => httpSession(g.url)));
  for (const x of sessions) assert.ok(x.sid, 'a session id');

  // Each client calls in a loop: a tool with a backend request and arguments (so audit lines are
  // long) or the gateway's own; answers while the gateway is up must be right, failures while it
  // is down must be transport errors, never a wrong answer.
  const stats = { ok: 0, down: 0, wrong: [] };
  let stop = false;
  const loops = sessions.map(async (x, i) => {
    while (!stop) {
      try {
        const r = i % 2 ? await callTool(x, 'proxmox_list_vms', { node: 'pve1' })
          : await callTool(x, 'proxmox_get_vm_status', { vmid: 100 });
        const good = i % 2 ? JSON.stringify(r.structuredContent || {}).includes('web01')
          : r.structuredContent?.status === 'running';
        if (r.isError || !good) stats.wrong.push(text(r));
        else stats.ok++;
      } catch (e) {
        if (e instanceof SyntaxError) stats.wrong.push('not JSON: ' + e.message);
        else stats.down++;
        await sleep(50);
      }
    }
  });

  // One client also holds a GET stream, which each kill cuts and the client opens again.
  const streamHeaders = { ...sessions[0].headers, Accept: 'text/event-stream' };
  delete streamHeaders['Content-Type'];
  const openStream = async () => {
    const ctl = new AbortController();
    const r = await fetch(g.url, { headers: streamHeaders, signal: ctl.signal });
    return { r, ctl };
  };
  let stream = await openStream();
  assert.equal(stream.r.status, 200, 'the GET stream opens');
  let streamsReopened = 0;
  for (let round = 0; round < ROUNDS; round++) {
    const before = stats.ok;
    await sleep(600 + Math.floor(Math.random() * 600));
    assert.ok(stats.ok > before, `round ${round}: calls were answered before the kill`);
    g.kill('SIGKILL');
    await g.exited;
    await sleep(100 + Math.floor(Math.random() * 300));
    g = await gatewayOn(port, config, { env });
    const after = stats.ok;
    const t0 = Date.now();
    while (stats.ok < after + CLIENTS && Date.now() - t0 < 15000) await sleep(50);
    assert.ok(stats.ok >= after + CLIENTS, `round ${round}: clients carried on after the restart (${stats.ok - after} calls)`);
    // The old stream died with the gateway: reading it ends or fails; the same session opens
    // a new one on the new gateway.
    await stream.r.body.getReader().read().then(() => {}, () => {});
    stream.ctl.abort();
    stream = await openStream();
    assert.equal(stream.r.status, 200, `round ${round}: the GET stream opens again with the old session`);
    streamsReopened++;
  }
  stream.ctl.abort();
  stop = true;
  await Promise.all(loops);
  assert.deepEqual(stats.wrong, [], 'no wrong answer, ever');
  assert.ok(stats.down > 0, 'the kills were felt by the clients');

  // The sessions from before every kill still work, each of them, on the last gateway.
  for (const x of sessions) {
    const r = await callTool(x, 'proxmox_list_nodes');
    assert.equal(r.isError, undefined, text(r));
  }
  // Control: a gateway with another key refuses them (so the check above could fail).
  const other = join(dir, 'other-key');
  writeFileSync(other, randomBytes(32).toString('base64'), { mode: 0o600 });
  const h = await gatewayOn(await freePort(), conf(other), { env });
  const refused = await fetch(h.url, { method: 'POST', headers: sessions[0].headers,
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'proxmox_list_nodes', arguments: {} } }) });
  assert.equal(refused.status, 404, 'another key: the session is unknown');

  g.kill('SIGKILL');
  await g.exited;
  const body = readFileSync(audit, 'utf8');
  const lines = body.split('\n').filter(Boolean);
  assert.ok(lines.length >= stats.ok * 0.9, `${lines.length} audit lines for ${stats.ok} answered calls`);
  assert.deepEqual(badLines(body), [], 'every audit line parses');
  assert.ok(body.endsWith('\n'), 'the file ends with a whole line');
  assert.doesNotMatch(body + g.stderr(), new RegExp(SECRET));
  console.log(`# gateway kill -9: ${ROUNDS} kills, ${stats.ok} calls answered, ${stats.down} failed while down, ${lines.length} audit lines, all parse; the GET stream reopened ${streamsReopened} times`);
});
