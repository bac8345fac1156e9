// Fault trial: Redis killed (-9) and restarted on the same port under a running orchestrator
// fleet (two orchestrators, the gateway, all on the Redis task store; redis-server on loopback
// with appendonly and appendfsync always, as the README advises). While Redis is down, task
// writes answer isError with a sentence; the fleet stays up and carries on once Redis is back;
// every task acknowledged completes once.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  FULL, haveRedis, orchWorld, assertNotDoubled, startOrch, startRedis, freePort, tmpDir, text, sleep, killAll, FINISHED,
} from './lib.mjs';

after(killAll);

const ROUNDS = Number(process.env.CORTEX_FAULTS_REDIS_ROUNDS || (FULL ? 10 : 2));

test(`Redis killed and restarted under an orchestrator fleet, ${ROUNDS} times: the fleet carries on, no acknowledged task lost or doubled`,
  { skip: !haveRedis && 'no redis-server on this machine (scripts/deps.sh test installs it)' }, async () => {
    const port = await freePort();
    const data = tmpDir();
    const redisArgs = ['--appendonly', 'yes', '--appendfsync', 'always', '--dir', data];
    let redis = await startRedis(port, redisArgs);
    const tasks = { store: 'redis', url: `redis://127.0.0.1:${port}/0`, prefix: 'faults:', lease_ms: 1500, timeout_ms: 1000 };
    const w = await orchWorld([
      { match: 'R-QUICK', turns: [{ text: 'quick answer' }] },
      { match: 'R-CALL', turns: [{ tool_use: [{ name: 'proxmox_get_cluster_status', input: {} }] }, { text: 'one call done' }] },
    ], tasks);
    // A second orchestrator: the fleet.
    const second = startOrch(w.orchConf, w.orchEnv);
    await second.ready;
    const fleet = [w.orch, second];
    const acked = new Map(); // id -> expected summary
    const queries = new Map(); // id -> [query, model turns]
    let refusedWhileDown = 0;
    const messages = new Set();

    for (let round = 0; round < ROUNDS; round++) {
      await w.sim.post('/_sim/faults', { path: '/api2/json/cluster/status', kind: 'latency', latency_ms: 800, count: 3 });
      const specs = [0, 1, 2, 3].map((i) => ({ query: `${i % 2 ? 'R-CALL' : 'R-QUICK'} ${round}.${i}`, category: 'general' }));
      const ids = await w.create(specs);
      ids.forEach((id, i) => { acked.set(id, i % 2 ? 'one call done' : 'quick answer'); queries.set(id, [specs[i].query, i % 2 ? 2 : 1]); });
      await sleep(200 + Math.floor(Math.random() * 400));
      redis.kill('SIGKILL');
      await redis.exited;
      // Down: creating a task is refused with a sentence, nothing hangs past the timeout.
      for (let i = 0; i < 3; i++) {
        const t0 = Date.now();
        const r = await w.call('cortex_create_task', { query: `R-QUICK down ${round}.${i}`, category: 'general' });
        assert.ok(Date.now() - t0 < 10000, 'answered within the store timeout');
        if (r.isError) {
          refusedWhileDown++;
          messages.add(text(r).replace(/\d+/g, 'N'));
          assert.match(text(r), /redis|task store|unavailable|connect/i, text(r));
        } else {
          // Acknowledged with Redis down would be a lie unless it is there once Redis is back.
          acked.set(r.structuredContent.ids[0], 'quick answer');
          queries.set(r.structuredContent.ids[0], [`R-QUICK down ${round}.${i}`, 1]);
        }
      }
      await sleep(500 + Math.floor(Math.random() * 1000));
      for (const o of fleet) assert.ok(o.alive(), 'the orchestrator stays up while Redis is down: ' + o.stderr().slice(-1500));
      redis = await startRedis(port, redisArgs);
      // Back: writes work again without restarting anything.
      const t0 = Date.now();
      let back;
      while (Date.now() - t0 < 15000) {
        back = await w.call('cortex_create_task', { query: `R-QUICK back ${round}`, category: 'general' });
        if (!back.isError) break;
        await sleep(200);
      }
      assert.ok(!back.isError, 'the gateway writes again once Redis is back: ' + text(back));
      acked.set(back.structuredContent.ids[0], 'quick answer');
      queries.set(back.structuredContent.ids[0], [`R-QUICK back ${round}`, 1]);
    }
    assert.ok(refusedWhileDown > 0, 'writes were refused while Redis was down');
    const done = await w.waitAll([...acked.keys()], FINISHED, 90000);
    for (const t of done) {
      assert.equal(t.status, 'completed', JSON.stringify(t).slice(0, 800));
      assert.equal(t.result.summary, acked.get(t.id), `task ${t.id} has its own answer`);
    }
    await assertNotDoubled(w, done, queries, assert);
    const all = (await w.call('cortex_get_tasks', { limit: 500 })).structuredContent.tasks;
    assert.equal(all.length, acked.size, 'no task lost or added');
    for (const o of fleet) assert.ok(o.alive(), 'the fleet is still up');
    const workers = new Set(done.map((t) => t.worker?.split('.')[0] + '@' + t.worker?.split('.').slice(1).join('.')));
    console.log(`# redis restart: ${ROUNDS} kills of Redis, ${acked.size} tasks acknowledged, all completed once (${workers.size} workers); ${refusedWhileDown} writes refused while down: ${[...messages].join(' / ').slice(0, 400)}`);
    for (const o of fleet) {
      o.kill('SIGTERM');
      const { code } = await o.exited;
      assert.equal(code, 0, o.stderr().slice(-2000));
    }
  });
