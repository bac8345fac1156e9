// Fault trial: kill -9 of the orchestrator at random points (the scripted LLM from cortex-sim,
// the dir task store), restarted each time. After every kill every task file in the store
// parses; at the end every task created is there once, completed once, with its own answer.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { FULL, orchWorld, tmpDir, sleep, killAll, taskctl, assertNotDoubled } from './lib.mjs';

after(killAll);

const KILLS = Number(process.env.CORTEX_FAULTS_ORCH_KILLS || (FULL ? 100 : 6));

// Every task file of a dir store, parsed; the names of those that do not parse.
function unreadable(dir) {
  const bad = [];
  for (const name of readdirSync(dir)) {
    if (!name.endsWith('.json') || name.startsWith('.')) continue;
    try {
      const t = JSON.parse(readFileSync(join(dir, name), 'utf8'));
      if (t.id + '.json' !== name || typeof t.status !== 'string') bad.push(name + ': ' + JSON.stringify(t).slice(0, 200));
    } catch (e) {
      bad.push(name + ': ' + e.message);
    }
  }
  return bad;
}

let knownDefect = null;

test(`kill -9 of the orchestrator at random points, ${KILLS} times: no task lost, none doubled, no task file unreadable`, async () => {
  const dir = tmpDir();
  // The kills are the trial's, not the tasks': a task caught by three kills in a row would fail
  // for good at the default max_attempts (3, the poison-task guard), so allow the most.
  const tasks = { store: 'dir', dir, fsync: false, lease_ms: 1000, max_attempts: 100 };
  // Three shapes of task: an answer straight away, one tool call, two tool calls in turn; the
  // answer names the task's own query, so a task given another's answer shows.
  // (A conversation per shape and round: the simulator keeps the last 64 requests of each.)
  const script = [];
  for (let round = 0; round < KILLS; round++) {
    script.push({ match: `QUICK-${round}.`, turns: [{ text: 'quick answer' }] },
      { match: `ONE-CALL-${round}.`, turns: [{ tool_use: [{ name: 'proxmox_get_cluster_status', input: {} }] }, { text: 'one call done' }] },
      { match: `TWO-CALLS-${round}.`, turns: [{ tool_use: [{ name: 'proxmox_list_nodes', input: {} }] },
        { tool_use: [{ name: 'proxmox_list_vms', input: { node: 'pve1' } }] }, { text: 'two calls done' }] });
  }
  const w = await orchWorld(script, tasks);
  const shapes = [['QUICK-', 'quick answer'], ['ONE-CALL-', 'one call done'], ['TWO-CALLS-', 'two calls done']];
  const created = new Map(); // id -> expected summary
  const queries = new Map(); // id -> [query, model turns it takes]
  let killsInFlight = 0;
  for (let round = 0; round < KILLS; round++) {
    // Some rounds make the backend slow, so kills land during tool calls too; the first one
    // always, so its one-call task stays in progress long enough to be seen there (a task
    // without a slow call can go from queued to completed between two looks 50 ms apart).
    if (round % 3 === 1 || round === 0) {
      await w.sim.post('/_sim/faults', { path: '/api2/json/cluster/status', kind: 'latency', latency_ms: 400 + Math.floor(Math.random() * 800), count: 2 });
    }
    const specs = Array.from({ length: 3 }, (_, i) => {
      const [prefix] = shapes[(round + i) % 3];
      return { query: `${prefix}${round}.${i}`, category: ['infrastructure', 'inventory', 'general'][i] };
    });
    const ids = await w.create(specs);
    ids.forEach((id, i) => { created.set(id, shapes[(round + i) % 3][1]); queries.set(id, [specs[i].query, (round + i) % 3 + 1]); });
    // A random moment; the first round waits for a task in progress, so at least one kill
    // lands in the middle of a task however the others fall.
    let st;
    if (round === 0) {
      for (let k = 0; k < 100; k++) {
        st = await Promise.all(ids.map((id) => w.status(id)));
        if (st.some((t) => t.status === 'in_progress')) break;
        await sleep(50);
      }
    } else {
      await sleep(Math.floor(Math.random() * 1200));
      st = await Promise.all(ids.map((id) => w.status(id)));
    }
    if (st.some((t) => t.status === 'in_progress')) killsInFlight++;
    w.orch.kill('SIGKILL');
    await w.orch.exited;
    assert.deepEqual(unreadable(dir), [], `round ${round}: every task file parses after the kill`);
    await w.start();
    // Every tenth round (and the last), let the backlog drain so the store does not pile up.
    if (round % 10 === 9 || round === KILLS - 1) await w.waitAll([...created.keys()], undefined, 120000);
  }
  const done = await w.waitAll([...created.keys()], undefined, 120000);
  // A task whose saved conversation already ended in the model's final answer when the kill
  // came used to be resumed by asking the model again with that answer as the last message (a
  // prefill): the scripted model refuses such a request, so the task failed. Counted here and
  // held to zero by the test below; every other task must complete.
  const resumedAfterAnswer = [];
  for (const t of done) {
    if (t.status === 'failed' && /script has no more turns/.test(t.result?.error || '')) {
      resumedAfterAnswer.push(t);
      continue;
    }
    assert.equal(t.status, 'completed', JSON.stringify(t));
    assert.equal(t.result.summary, created.get(t.id), `task ${t.id} has its own answer`);
  }
  if (resumedAfterAnswer.length) {
    const conv = (await w.llm()).conversations.flatMap((c) => c.requests)
      .filter((r) => JSON.stringify(r.body.messages[0]).includes(resumedAfterAnswer[0].query));
    knownDefect = `${resumedAfterAnswer.length} of ${created.size} tasks (${resumedAfterAnswer.map((t) => t.query).join(', ')}); the requests for ${resumedAfterAnswer[0].query}: ` +
      conv.map((r) => r.body.messages.map((m) => m.role + (Array.isArray(m.content) ? '[' + m.content.map((b) => b.type).join(',') + ']' : '')).join(' ')).join(' | ');
    console.log('# resumed after the final answer: ' + knownDefect);
  }
  // None lost, none doubled: the store holds exactly the tasks created.
  const all = [];
  for (let cursor; ;) {
    const page = (await w.call('cortex_get_tasks', { limit: 500, ...(cursor ? { cursor } : {}) })).structuredContent;
    all.push(...page.tasks);
    cursor = page.next_cursor;
    if (typeof cursor !== 'string') break;
  }
  assert.equal(all.length, created.size, 'no task lost or added');
  assert.deepEqual(all.map((t) => t.id).sort(), [...created.keys()].sort());
  const files = readdirSync(dir).filter((n) => n.endsWith('.json') && !n.startsWith('.'));
  assert.equal(files.length, created.size, 'one file per task');
  assert.deepEqual(unreadable(dir), []);
  // The stored record of a sample (through the worker's side of the store) agrees with what
  // the gateway showed.
  for (const t of done.slice(-3)) {
    const r = taskctl(tasks, 'get', t.id);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(JSON.parse(r.stdout).status, t.status);
  }
  // Never run twice at once: the model was asked about each task at most its turns times its
  // attempts.
  await assertNotDoubled(w, done, queries, assert);
  const retried = done.filter((t) => t.attempts >= 2).length;
  assert.ok(killsInFlight > 0, 'some kills hit tasks in flight');
  console.log(`# orchestrator kill -9: ${KILLS} kills (${killsInFlight} with tasks in progress), ${created.size} tasks, none lost or doubled, ${created.size - resumedAfterAnswer.length} completed, ${resumedAfterAnswer.length} failed by the resume defect; ${retried} needed a second attempt`);
  w.orch.kill('SIGTERM');
  const { code } = await w.orch.exited;
  assert.equal(code, 0, w.orch.stderr());
});

// Fixed in orchestrator/loop.c (saved_answer): a resumed task whose conversation ends with the
// model's final answer finishes with it.
test('a task killed after the model\'s final answer was saved completes with it on resume', () => {
  assert.equal(knownDefect, null, knownDefect);
});
