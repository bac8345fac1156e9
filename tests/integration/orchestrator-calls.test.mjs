// cortex-orchestrator: what the saved conversation says about each tool call (state.calls: the
// console's timings), and the tool list refreshed by notifications/tools/list_changed rather
// than by the cache's age. The world (orchestrator-lib.mjs) runs the test gateway here, whose
// testkit adapter sleeps, fails and withdraws tools on demand.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { GATEWAY, world, waitFor, stored, create, stopsCleanly, freePort } from './orchestrator-lib.mjs';

const TESTKIT = { adapters: { testkit: {} } };
const masters = (extra = {}) => ({
  masters: [{ name: 'general', system_prompt: 'You are the test master.', tools: ['testkit_*', 'cortex_*'], models: ['claude-test'], workers: 1, ...extra }],
});
const ISO_MS = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;

test('state.calls lists each gateway call in order with its start, duration and isError; a denied held call is marked and kept across the resume', async () => {
  const w = await world([{
    match: 'TIMED-CALLS',
    turns: [
      { tool_use: [{ name: 'testkit_sleep', input: { ms: 300 } }, { name: 'testkit_fail', input: {} }] },
      { tool_use: [{ name: 'testkit_delete', input: { target: 'db01' } }] },
      { text: 'done without deleting' },
    ],
  }], { bin: GATEWAY, gateway: TESTKIT, masters: masters() });
  const t0 = Date.now();
  const [id] = await create(w, { query: 'TIMED-CALLS', category: 'general' });
  await waitFor(w, id, ['awaiting_approval']);
  let calls = stored(w, id).metadata.state.calls;
  assert.equal(calls.length, 2, JSON.stringify(calls));
  const [sleep, fail] = calls;
  assert.equal(sleep.id, 'toolu_sim_0_0_0');
  assert.equal(sleep.tool, 'testkit_sleep');
  assert.ok(sleep.ms >= 300 && sleep.ms < 5000, 'the sleep took its 300 ms: ' + sleep.ms);
  assert.equal(sleep.is_error, false);
  assert.equal(fail.id, 'toolu_sim_0_0_1');
  assert.equal(fail.tool, 'testkit_fail');
  assert.equal(fail.is_error, true);
  assert.ok(fail.ms < sleep.ms, 'the failing call did not wait for the sleep: they ran at once');
  for (const c of calls) {
    assert.match(c.started_at, ISO_MS);
    const at = Date.parse(c.started_at);
    assert.ok(at >= t0 - 1000 && at <= Date.now(), c.started_at);
    assert.equal(c.denied, undefined);
  }
  assert.ok(Math.abs(Date.parse(sleep.started_at) - Date.parse(fail.started_at)) < 250, 'started together');

  const r = await w.call('cortex_approve_task', { id, decision: 'deny', reason: 'keep db01' });
  assert.ok(!r.isError, JSON.stringify(r));
  const t = await waitFor(w, id);
  assert.equal(t.status, 'completed', JSON.stringify(t));
  calls = stored(w, id).metadata.state.calls;
  assert.equal(calls.length, 3, 'the entries from before the hold survived the resume: ' + JSON.stringify(calls));
  assert.deepEqual(calls.slice(0, 2), [sleep, fail]);
  assert.equal(calls[2].id, 'toolu_sim_0_1_0');
  assert.equal(calls[2].tool, 'testkit_delete');
  assert.equal(calls[2].denied, true);
  assert.equal(calls[2].is_error, true);
  assert.equal(calls[2].ms, 0);
  assert.match(calls[2].started_at, ISO_MS);
  await stopsCleanly(w.orch);
});

test('notifications/tools/list_changed: the next task sees the new tool list well within tools_ttl_ms', async () => {
  const w = await world([{ match: 'LIST-', turns: [{ text: 'listed' }] }],
    { bin: GATEWAY, gateway: TESTKIT, masters: masters(), orchestrator: { tools_ttl_ms: 3600000 } });
  const toolsOf = async (i) => (await w.llm()).conversations[0].requests[i].body.tools.map((t) => t.name);
  const run = async (q) => {
    const [id] = await create(w, { query: q, category: 'general' });
    assert.equal((await waitFor(w, id)).status, 'completed');
  };
  await run('LIST-1');
  assert.ok((await toolsOf(0)).includes('testkit_sleep'));

  const t0 = Date.now();
  let r = await w.call('testkit_withdraw', { tool: 'testkit_sleep', available: false });
  assert.ok(!r.isError, JSON.stringify(r));
  await new Promise((res) => setTimeout(res, 300)); // the notification's way to the orchestrator
  await run('LIST-2');
  let names = await toolsOf(1);
  assert.ok(!names.includes('testkit_sleep'), 'withdrawn, and the orchestrator knew: ' + names.join(' '));
  assert.ok(names.includes('testkit_echo'));

  r = await w.call('testkit_withdraw', { tool: 'testkit_sleep', available: true });
  assert.ok(!r.isError, JSON.stringify(r));
  await new Promise((res) => setTimeout(res, 300));
  await run('LIST-3');
  names = await toolsOf(2);
  assert.ok(names.includes('testkit_sleep'), 'back again: ' + names.join(' '));
  assert.ok(Date.now() - t0 < 30000, 'all of it far within the hour of tools_ttl_ms');
  await stopsCleanly(w.orch);
});

test('the GET stream is opened again after a gateway restart (its session gone): list_changed still reaches the orchestrator', async () => {
  const listen = '127.0.0.1:' + await freePort();
  const w = await world([{ match: 'AGAIN-', turns: [{ text: 'listed' }] }],
    { bin: GATEWAY, gateway: TESTKIT, masters: masters(), orchestrator: { tools_ttl_ms: 3600000 }, listen });
  const toolsOf = async (i) => (await w.llm()).conversations[0].requests[i].body.tools.map((t) => t.name);
  const run = async (q) => {
    const [id] = await create(w, { query: q, category: 'general' });
    assert.equal((await waitFor(w, id)).status, 'completed');
  };
  await run('AGAIN-1');
  const count = (re) => (w.orch.stderr().match(re) || []).length;
  for (const n of [1, 2]) { // kill -9: a new session key, the orchestrator's session is gone
    await w.restartGateway();
    const t0 = Date.now();
    while (count(/GET stream is open again/g) < n && Date.now() - t0 < 10000) await new Promise((res) => setTimeout(res, 50));
    assert.equal(count(/GET stream is open again/g), n, 'reopened within 10 s: ' + w.orch.stderr());
    assert.equal(count(/GET stream .*trying again/g), n, 'each outage said once: ' + w.orch.stderr());
  }
  await run('AGAIN-2'); // lists the tools of the new gateway, then caches them for the hour
  assert.ok((await toolsOf(1)).includes('testkit_sleep'));
  const r = await w.call('testkit_withdraw', { tool: 'testkit_sleep', available: false });
  assert.ok(!r.isError, JSON.stringify(r));
  await new Promise((res) => setTimeout(res, 300));
  await run('AGAIN-3');
  assert.ok(!(await toolsOf(2)).includes('testkit_sleep'), 'the reopened stream carried list_changed');
  await stopsCleanly(w.orch);
});
