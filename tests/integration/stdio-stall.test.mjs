// Deadlines do not depend on a client reading: a desktop client that stops reading stdout
// (hung, or busy) must not stall the watchdog, so every other call still ends at its
// deadline and leaves its audit line, and the gateway still exits when stdin closes.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { startStdio, writeConfig } from './lib.mjs';

const running = [];
after(() => running.forEach((g) => g.kill()));

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

test('a client that stops reading stdout does not hold up other calls\' deadlines', async () => {
  const conf = writeConfig({ calls: { timeout_ms: 800, workers: 4 }, adapters: { testkit: {} } });
  const g = startStdio(['--config', conf]);
  running.push(g);
  await g.initialize();
  // Stop reading: the pipe and node's buffer fill with the first large answer.
  g.child.stdout.pause();
  g.send({ jsonrpc: '2.0', id: 'big', method: 'tools/call',
    params: { name: 'testkit_big', arguments: { bytes: 900000 } } });
  await sleep(300);
  // Two calls that run past their deadline, started apart: the watchdog must answer both.
  g.send({ jsonrpc: '2.0', id: 's1', method: 'tools/call',
    params: { name: 'testkit_sleep', arguments: { ms: 20000 } } });
  await sleep(200);
  g.send({ jsonrpc: '2.0', id: 's2', method: 'tools/call',
    params: { name: 'testkit_sleep', arguments: { ms: 20000 } } });
  const deadlineLines = () => g.stderr().split('\n')
    .filter((l) => l.includes('"testkit_sleep"') && l.includes('deadline of 800 ms passed'));
  const until = Date.now() + 6000;
  while (deadlineLines().length < 2 && Date.now() < until) await sleep(100);
  assert.equal(deadlineLines().length, 2,
    'both sleeping calls were answered at their deadline: ' + g.stderr());
  // Reading again delivers every answer, in full.
  g.child.stdout.resume();
  const got = {};
  for (let i = 0; i < 3; i++) { const m = await g.next(10000); got[m.id] = m; }
  assert.equal(got.big.result.content[0].text.length, 900000);
  for (const id of ['s1', 's2']) {
    assert.equal(got[id].result.isError, true);
    assert.match(got[id].result.content[0].text, /did not finish within 800 ms/);
  }
  assert.equal((await g.close()).code, 0);
});
