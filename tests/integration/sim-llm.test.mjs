// The simulator's scripted LLM (tests/sim/llm.c) from its --config "llm" key and at run time:
// both APIs' reply shapes, turns chosen by the conversation, faults per turn with their
// headers and error envelopes, and a script that is wrong refused at start. The LLM client's
// own tests (tests/unit/test_llm*.c) drive the rest.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { startSim, writeConfig, assertAllStopCleanly } from './lib.mjs';

const running = [];
after(() => running.forEach((s) => s.kill()));

const KEY = 'sk-ant-test-from-config-0123';
const script = {
  llm: {
    api_key: KEY,
    openai_api_key: 'sk-openai-from-config',
    conversations: [{
      match: 'VMS-ON-PVE1',
      turns: [
        { tool_use: [{ name: 'proxmox_list_vms', input: { node: 'pve1' } }, { name: 'proxmox_list_vms', input: { node: 'pve2' } }],
          faults: [{ status: 529 }, { status: 429, headers: { 'retry-after-ms': '250', 'retry-after': '1' } }] },
        { text: 'pve1 runs web01.' },
      ],
    }],
  },
};

async function sim(args) {
  const s = startSim(args);
  running.push(s);
  s.url = await s.ready;
  return s;
}

const anthropic = (url, body, headers = {}) => fetch(url + '/v1/messages', {
  method: 'POST',
  headers: { 'x-api-key': KEY, 'anthropic-version': '2023-06-01', 'content-type': 'application/json', ...headers },
  body: JSON.stringify(body),
});

test('llm: the --config script answers the Messages API, faults first, with their envelopes and headers', async () => {
  const s = await sim(['--config', writeConfig(script)]);
  const body = { model: 'm', max_tokens: 100, messages: [{ role: 'user', content: 'VMS-ON-PVE1: what runs?' }] };
  const r1 = await anthropic(s.url, body);
  assert.equal(r1.status, 529);
  assert.deepEqual((await r1.json()).error, { type: 'overloaded_error', message: 'Overloaded' });
  const r2 = await anthropic(s.url, body);
  assert.equal(r2.status, 429);
  assert.equal(r2.headers.get('retry-after-ms'), '250');
  assert.equal(r2.headers.get('retry-after'), '1');
  assert.equal((await r2.json()).error.type, 'rate_limit_error');
  const r3 = await anthropic(s.url, body);
  assert.equal(r3.status, 200);
  const m = await r3.json();
  assert.equal(m.type, 'message');
  assert.equal(m.stop_reason, 'tool_use');
  assert.deepEqual(m.content.map((b) => b.id), ['toolu_sim_0_0_0', 'toolu_sim_0_0_1']);
  assert.deepEqual(m.content[1].input, { node: 'pve2' });
  assert.ok(m.usage.input_tokens > 0 && m.usage.output_tokens > 0);

  // The next turn only with every tool_use answered.
  const next = { ...body, messages: [...body.messages, { role: 'assistant', content: m.content },
    { role: 'user', content: [{ type: 'tool_result', tool_use_id: 'toolu_sim_0_0_0', content: 'web01' }] }] };
  const half = await anthropic(s.url, next);
  assert.equal(half.status, 400);
  assert.match((await half.json()).error.message, /toolu_sim_0_0_1/);
  next.messages[2].content.push({ type: 'tool_result', tool_use_id: 'toolu_sim_0_0_1', content: 'none', is_error: true });
  const done = await (await anthropic(s.url, next)).json();
  assert.equal(done.stop_reason, 'end_turn');
  assert.deepEqual(done.content, [{ type: 'text', text: 'pve1 runs web01.' }]);

  // What the conversation received, for tests to read.
  const state = await (await fetch(s.url + '/v1/_sim/llm')).json();
  assert.equal(state.script.conversations[0].requests.length, 4); // not the one refused
  assert.deepEqual(state.script.conversations[0].faults_used, { 0: 2 });
  await assertAllStopCleanly([s], assert);
});

test('llm: Chat Completions with its Bearer key, tool_calls and its error shape', async () => {
  const s = await sim(['--config', writeConfig(script)]);
  const post = (headers, body) => fetch(s.url + '/v1/chat/completions', {
    method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });
  const body = { model: 'local', messages: [{ role: 'system', content: 's' }, { role: 'user', content: 'VMS-ON-PVE1' }] };
  const none = await post({}, body);
  assert.equal(none.status, 401);
  assert.equal((await none.json()).error.code, 'invalid_api_key');
  const wrong = await post({ Authorization: 'Bearer sk-openai-WRONG-key-xyz' }, body);
  assert.equal(wrong.status, 401);
  assert.doesNotMatch(JSON.stringify(await wrong.json()), /sk-openai-WRONG-key-xyz/);
  const auth = { Authorization: 'Bearer sk-openai-from-config' };
  assert.equal((await post(auth, body)).status, 529); // the turn's faults, in order
  assert.equal((await post(auth, body)).status, 429);
  const r = await (await post(auth, body)).json();
  assert.equal(r.object, 'chat.completion');
  assert.equal(r.choices[0].finish_reason, 'tool_calls');
  assert.deepEqual(r.choices[0].message.tool_calls.map((c) => [c.id, c.function.name, JSON.parse(c.function.arguments)]),
    [['call_sim_0_0_0', 'proxmox_list_vms', { node: 'pve1' }], ['call_sim_0_0_1', 'proxmox_list_vms', { node: 'pve2' }]]);
  const missing = await post(auth, { ...body, messages: [...body.messages, r.choices[0].message].concat([{ role: 'user', content: 'x' }]) });
  assert.equal(missing.status, 400);
  assert.match((await missing.json()).error.message, /did not have response messages: call_sim_0_0_0/);
  await assertAllStopCleanly([s], assert);
});

test('llm: the script can be replaced at run time, and a wrong one is refused', async () => {
  const s = await sim([]);
  const put = (v) => fetch(s.url + '/v1/_sim/llm', { method: 'PUT', body: JSON.stringify(v) });
  assert.equal((await put({ conversations: [{ match: 'X', turns: [{ txt: 'typo' }] }] })).status, 400);
  assert.equal((await put({ conversations: [{ match: 'X', turns: [{ text: 'hi', stop: 'max_tokens' }] }] })).status, 200);
  const r = await (await anthropic(s.url, { model: 'm', max_tokens: 5, messages: [{ role: 'user', content: 'X' }] },
    { 'x-api-key': 'sk-ant-sim-0123456789abcdef' })).json();
  assert.equal(r.stop_reason, 'max_tokens');
  // A text can carry what the tools returned, in either API's form.
  assert.equal((await put({ conversations: [{ match: 'ECHO', turns: [{ tool_use: [{ name: 't' }] }, { text: 'VMs: {{last_tool_result}}.' }] }] })).status, 200);
  const echo = await (await anthropic(s.url, { model: 'm', max_tokens: 5, messages: [
    { role: 'user', content: 'ECHO' },
    { role: 'assistant', content: [{ type: 'tool_use', id: 'toolu_sim_0_0_0', name: 't', input: {} }] },
    { role: 'user', content: [{ type: 'tool_result', tool_use_id: 'toolu_sim_0_0_0', content: [{ type: 'text', text: 'web01, db01' }] }] }] },
  { 'x-api-key': 'sk-ant-sim-0123456789abcdef' })).json();
  assert.equal(echo.content[0].text, 'VMs: web01, db01.');
  const echo2 = await (await fetch(s.url + '/v1/chat/completions', { method: 'POST', body: JSON.stringify({ model: 'm', messages: [
    { role: 'user', content: 'ECHO' },
    { role: 'assistant', content: null, tool_calls: [{ id: 'call_sim_0_0_0', type: 'function', function: { name: 't', arguments: '{}' } }] },
    { role: 'tool', tool_call_id: 'call_sim_0_0_0', content: 'web01' }] }) })).json();
  assert.equal(echo2.choices[0].message.content, 'VMs: web01.');
  const bad = startSim(['--config', writeConfig({ llm: { conversation: [] } })]);
  running.push(bad);
  await assert.rejects(bad.ready, /conversation/);
  await assertAllStopCleanly([s], assert);
});
