// Fault trial: the disk full under the directory task store and the audit file. A small tmpfs is
// mounted for the test (root only; skipped with a reason otherwise), the gateway keeps its task
// store and audit file there, and a filler file takes the rest of the space. While full: task
// writes answer isError with a sentence saying why, other calls are still answered, tasks
// acknowledged before are all there; every task file and audit line parses. When the filler goes,
// everything works again with nothing else done.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, rmSync, openSync, writeSync, closeSync } from 'node:fs';
import { join } from 'node:path';
import {
  FULL, isRoot, gatewayOn, freePort, writeConfig, tmpDir, httpSession, callTool, text, badLines, killAll,
} from './lib.mjs';

const mounts = [];
after(() => {
  killAll();
  for (const m of mounts) spawnSync('umount', ['-l', m]);
});

const ROUNDS = Number(process.env.CORTEX_FAULTS_DISK_ROUNDS || (FULL ? 10 : 2));

// Fills the file system under path until a write fails with ENOSPC; returns the filler's path.
function fill(dir) {
  const p = join(dir, 'filler');
  const fd = openSync(p, 'a');
  const chunk = Buffer.alloc(4096, 0x61);
  try {
    for (;;) writeSync(fd, chunk);
  } catch (e) {
    assert.equal(e.code, 'ENOSPC', e.message);
  }
  // and the last scraps, byte by byte
  try {
    for (;;) writeSync(fd, chunk.subarray(0, 1));
  } catch (e) {
    assert.equal(e.code, 'ENOSPC', e.message);
  }
  closeSync(fd);
  return p;
}

function taskFilesBad(dir) {
  const bad = [];
  for (const n of readdirSync(dir)) {
    if (!n.endsWith('.json') || n.startsWith('.')) continue;
    try { JSON.parse(readFileSync(join(dir, n), 'utf8')); } catch (e) { bad.push(n + ': ' + e.message); }
  }
  return bad;
}

test(`the disk full under the dir task store and the audit file, ${ROUNDS} times: isError with a reason, nothing acknowledged lost, recovery when space returns`,
  { skip: !isRoot && 'needs root to mount a small tmpfs (CI runs as root); run make test as root to include it' }, async () => {
    const mnt = tmpDir();
    const m = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=1m,mode=0700', 'tmpfs', mnt], { encoding: 'utf8' });
    if (m.status !== 0) {
      // A container without CAP_SYS_ADMIN: say so rather than pass silently.
      assert.fail('could not mount a tmpfs as root: ' + m.stderr);
    }
    mounts.push(mnt);
    const store = join(mnt, 'tasks');
    mkdirSync(store);
    const audit = join(mnt, 'audit.log');
    const tasks = { store: 'dir', dir: store };
    const g = await gatewayOn(await freePort(), writeConfig({ audit: { file: audit }, tasks }));
    const s = await httpSession(g.url);
    const acked = new Map(); // id -> query
    const create = (query) => callTool(s, 'cortex_create_task', { query, category: 'general' });

    for (let round = 0; round < ROUNDS; round++) {
      for (let i = 0; i < 5; i++) {
        const r = await create(`before full ${round}.${i}`);
        assert.equal(r.isError, undefined, text(r));
        acked.set(r.structuredContent.ids[0], `before full ${round}.${i}`);
      }
      const filler = fill(mnt);

      // Full: every write of a task fails with a sentence; nothing crashes or hangs.
      let refused = 0;
      for (let i = 0; i < 8; i++) {
        const r = await create(`while full ${round}.${i}`);
        if (r.isError) {
          refused++;
          if (refused === 1 && round === 0) console.log("# refused while full: " + text(r));
          assert.match(text(r), /No space left on device|unwritable|space/i, text(r));
        } else {
          // A task acknowledged while full must be there like any other.
          acked.set(r.structuredContent.ids[0], `while full ${round}.${i}`);
        }
      }
      assert.ok(refused > 0, 'with the disk full, creating tasks is refused');
      const someId = [...acked.keys()][0];
      const cancel = await callTool(s, 'cortex_cancel_task', { id: someId, reason: 'disk full trial' });
      if (round === 0) console.log('# cancel while full: ' + text(cancel).slice(0, 300));
      if (cancel.isError) assert.match(text(cancel), /No space left on device|unwritable|space|finished|cannot/i, text(cancel));
      else acked.set(someId, null); // cancelled for real: its status changes, it is still there
      // Reads and the gateway's own tools still answer (the audit line of each may be lost).
      for (let i = 0; i < 20; i++) {
        const st = await callTool(s, 'gateway_status');
        assert.equal(st.isError, undefined, text(st));
      }
      for (const id of acked.keys()) {
        const r = await callTool(s, 'cortex_get_task_status', { id });
        assert.equal(r.isError, undefined, `acknowledged task ${id} readable while full: ${text(r)}`);
      }
      assert.deepEqual(taskFilesBad(store), [], 'every task file parses while full');
      assert.deepEqual(badLines(readFileSync(audit, 'utf8')), [], 'every audit line parses while full');
      assert.match(g.stderr(), /audit/i, 'the lost audit lines are reported');

      // Space returns: writes work again at once.
      rmSync(filler);
      const r = await create(`after full ${round}`);
      assert.equal(r.isError, undefined, 'creating works again: ' + text(r));
      acked.set(r.structuredContent.ids[0], `after full ${round}`);
      const auditBefore = readFileSync(audit, 'utf8').split('\n').filter(Boolean).length;
      for (let i = 0; i < 5; i++) await callTool(s, 'gateway_status');
      const body = readFileSync(audit, 'utf8');
      assert.ok(body.split('\n').filter(Boolean).length >= auditBefore + 5, 'audit lines are written again');
      assert.deepEqual(badLines(body), [], 'every audit line parses after recovery');
    }

    // Nothing acknowledged was lost: each task is there with its query, in memory and on disk.
    for (const [id, query] of acked) {
      const r = await callTool(s, 'cortex_get_task_status', { id });
      assert.equal(r.isError, undefined, text(r));
      const t = r.structuredContent.task || r.structuredContent;
      if (query) assert.equal(t.query ?? t.title, query, JSON.stringify(t).slice(0, 300));
    }
    const files = readdirSync(store).filter((n) => n.endsWith('.json') && !n.startsWith('.'));
    assert.equal(files.length, acked.size, 'one file per acknowledged task, none more');
    assert.deepEqual(readdirSync(store).filter((n) => n.startsWith('.tmp.')), [], 'no temporaries left behind');
    // A fresh gateway reads the same store back.
    g.kill('SIGTERM');
    await g.exited;
    const h = await gatewayOn(await freePort(), writeConfig({ tasks }));
    const s2 = await httpSession(h.url);
    const all = (await callTool(s2, 'cortex_get_tasks', { limit: 500 })).structuredContent.tasks;
    assert.equal(all.length, acked.size);
    console.log(`# disk full: ${ROUNDS} rounds, ${acked.size} tasks acknowledged and all kept; audit ${readFileSync(audit, 'utf8').split('\n').filter(Boolean).length} lines, all parse`);
  });
