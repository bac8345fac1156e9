// The MCP server surface beyond tools, over stdio: resources, prompts, completion, logging,
// progress, requests to the client in the middle of a call, and cancellation.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { startStdio, writeConfig } from './lib.mjs';

const running = [];
after(() => running.forEach((g) => g.kill()));
const CONFIG = writeConfig({ adapters: { testkit: {} }, calls: { timeout_ms: 5000 } });

async function session(capabilities = {}) {
  const g = startStdio(['--config', CONFIG]);
  running.push(g);
  const r = await g.request('initialize', { protocolVersion: '2025-11-25', capabilities,
    clientInfo: { name: 'features', version: '1' } }, 0);
  g.send({ jsonrpc: '2.0', method: 'notifications/initialized' });
  return { g, caps: r.result.capabilities };
}

test('a withdrawn tool leaves tools/list and clients hear notifications/tools/list_changed', async () => {
  const { g, caps } = await session();
  assert.equal(caps.tools.listChanged, true);
  const names = async () => (await g.request('tools/list', {})).result.tools.map((t) => t.name);
  assert.ok((await names()).includes('testkit_fail'));
  g.send({ jsonrpc: '2.0', id: 'w1', method: 'tools/call', params: { name: 'testkit_withdraw', arguments: { tool: 'testkit_fail', available: false } } });
  const got = [await g.next(), await g.next()];
  assert.ok(got.some((m) => m.method === 'notifications/tools/list_changed'));
  assert.ok(got.some((m) => m.id === 'w1'));
  assert.ok(!(await names()).includes('testkit_fail'));
  let r = await g.request('tools/call', { name: 'testkit_fail' });
  assert.equal(r.error.code, -32602, 'a withdrawn tool is unknown');
  // Withdrawing twice changes nothing, so nothing is announced.
  r = await g.request('tools/call', { name: 'testkit_withdraw', arguments: { tool: 'testkit_fail', available: false } }, 'w2');
  assert.equal(r.id, 'w2');
  g.send({ jsonrpc: '2.0', id: 'w3', method: 'tools/call', params: { name: 'testkit_withdraw', arguments: { tool: 'testkit_fail', available: true } } });
  const back = [await g.next(), await g.next()];
  assert.ok(back.some((m) => m.method === 'notifications/tools/list_changed'));
  assert.ok((await names()).includes('testkit_fail'));
  r = await g.request('tools/call', { name: 'testkit_withdraw', arguments: { tool: 'no_such_tool', available: true } });
  assert.equal(r.result.isError, true);
  await g.close();
  assert.equal(g.pending(), 0);
});

test('withdrawn resources, templates and prompts leave their lists, with list_changed', async () => {
  const { g } = await session();
  const withdraw = async (args, method) => {
    g.send({ jsonrpc: '2.0', id: 'wd', method: 'tools/call', params: { name: 'testkit_withdraw', arguments: args } });
    const got = [await g.next(), await g.next()];
    assert.ok(got.some((m) => m.method === method), JSON.stringify(got));
    assert.ok(got.some((m) => m.id === 'wd'));
  };
  await withdraw({ resource: 'testkit://status', available: false }, 'notifications/resources/list_changed');
  let r = await g.request('resources/list', {});
  assert.deepEqual(r.result.resources, []);
  r = await g.request('resources/read', { uri: 'testkit://status' });
  assert.equal(r.error.code, -32002);
  await withdraw({ resource: 'testkit://items/{id}', available: false }, 'notifications/resources/list_changed');
  r = await g.request('resources/templates/list', {});
  // The task tools' template (on by default) stays.
  assert.deepEqual(r.result.resourceTemplates.map((x) => x.uriTemplate), ['cortex://tasks/{id}']);
  r = await g.request('resources/read', { uri: 'testkit://items/1' });
  assert.equal(r.error.code, -32002);
  await withdraw({ prompt: 'testkit_summary', available: false }, 'notifications/prompts/list_changed');
  r = await g.request('prompts/get', { name: 'testkit_summary', arguments: { topic: 'x' } });
  assert.equal(r.error.code, -32602);
  await withdraw({ prompt: 'testkit_summary', available: true }, 'notifications/prompts/list_changed');
  await withdraw({ resource: 'testkit://status', available: true }, 'notifications/resources/list_changed');
  r = await g.request('resources/read', { uri: 'testkit://status' });
  assert.equal(r.result.contents[0].text, 'healthy');
  r = await g.request('prompts/get', { name: 'testkit_summary', arguments: { topic: 'x' } });
  assert.ok(r.result.messages);
  await g.close();
});

test('initialize declares resources, prompts, logging and completions', async () => {
  const { g, caps } = await session();
  assert.deepEqual(caps.resources, { subscribe: true, listChanged: true });
  assert.equal(caps.prompts.listChanged, true);
  assert.ok(caps.prompts && caps.logging && caps.completions);
  await g.close();
});

test('resources: list, templates, read, not found', async () => {
  const { g } = await session();
  let r = await g.request('resources/list', {});
  assert.deepEqual(r.result.resources.map((x) => x.uri), ['testkit://status']);
  r = await g.request('resources/templates/list', {});
  assert.deepEqual(r.result.resourceTemplates.map((x) => x.uriTemplate), ['testkit://items/{id}', 'cortex://tasks/{id}']);
  r = await g.request('resources/read', { uri: 'testkit://status' });
  assert.deepEqual(r.result.contents, [{ uri: 'testkit://status', mimeType: 'text/plain', text: 'healthy' }]);
  r = await g.request('resources/read', { uri: 'testkit://items/vm-7' });
  assert.equal(JSON.parse(r.result.contents[0].text).id, 'vm-7');
  r = await g.request('resources/read', { uri: 'testkit://items/a/b' });
  assert.equal(r.error.code, -32002, 'a template variable never spans a slash');
  r = await g.request('resources/read', { uri: 'testkit://items/missing' });
  assert.equal(r.error.code, -32002);
  assert.equal(r.error.data.uri, 'testkit://items/missing');
  r = await g.request('resources/read', { uri: 'nosuch://x' });
  assert.equal(r.error.code, -32002);
  r = await g.request('resources/read', {});
  assert.equal(r.error.code, -32602);
  await g.close();
});

test('resources/subscribe: a changed resource is announced until unsubscribed', async () => {
  const { g } = await session();
  let r = await g.request('resources/subscribe', { uri: 'testkit://status' });
  assert.deepEqual(r.result, {});
  r = await g.request('resources/subscribe', { uri: 'nosuch://x' });
  assert.equal(r.error.code, -32002);
  g.send({ jsonrpc: '2.0', id: 't1', method: 'tools/call', params: { name: 'testkit_touch', arguments: { uri: 'testkit://status' } } });
  const first = await g.next();
  const second = await g.next();
  const note = [first, second].find((m) => m.method);
  assert.deepEqual(note, { jsonrpc: '2.0', method: 'notifications/resources/updated', params: { uri: 'testkit://status' } });
  assert.ok([first, second].some((m) => m.id === 't1'));
  // A resource nobody subscribed to is not announced.
  r = await g.request('tools/call', { name: 'testkit_touch', arguments: { uri: 'testkit://items/1' } }, 't2');
  assert.equal(r.id, 't2');
  r = await g.request('resources/unsubscribe', { uri: 'testkit://status' });
  assert.deepEqual(r.result, {});
  r = await g.request('tools/call', { name: 'testkit_touch', arguments: { uri: 'testkit://status' } }, 't3');
  assert.equal(r.id, 't3', 'no notification after unsubscribe');
  await g.close();
  assert.equal(g.pending(), 0);
});

test('prompts: list, get with arguments, missing argument, unknown prompt', async () => {
  const { g } = await session();
  let r = await g.request('prompts/list', {});
  assert.equal(r.result.prompts[0].name, 'testkit_summary');
  r = await g.request('prompts/get', { name: 'testkit_summary', arguments: { topic: 'DNS', tone: 'dry' } });
  assert.equal(r.result.messages[0].content.text, 'Summarise DNS in a tone that is dry.');
  r = await g.request('prompts/get', { name: 'testkit_summary', arguments: {} });
  assert.equal(r.error.code, -32602);
  assert.match(r.error.message, /topic/);
  r = await g.request('prompts/get', { name: 'testkit_summary', arguments: { topic: 7 } });
  assert.equal(r.error.code, -32602);
  r = await g.request('prompts/get', { name: 'nope' });
  assert.equal(r.error.code, -32602);
  await g.close();
});

test('completion/complete suggests values for a prompt argument', async () => {
  const { g } = await session();
  let r = await g.request('completion/complete', { ref: { type: 'ref/prompt', name: 'testkit_summary' },
    argument: { name: 'topic', value: 'be' } });
  assert.deepEqual(r.result.completion, { values: ['beta', 'betamax'], total: 2, hasMore: false });
  r = await g.request('completion/complete', { ref: { type: 'ref/prompt', name: 'nope' },
    argument: { name: 'topic', value: '' } });
  assert.equal(r.error.code, -32602);
  await g.close();
});

test('progress notifications precede the result and carry the token', async () => {
  const { g } = await session();
  g.send({ jsonrpc: '2.0', id: 'p', method: 'tools/call',
    params: { name: 'testkit_progress', arguments: { steps: 3 }, _meta: { progressToken: 'tok-1' } } });
  const seen = [];
  for (;;) {
    const m = await g.next();
    if (m.id === 'p') { assert.equal(m.result.content[0].text, 'counted 3 steps'); break; }
    seen.push(m);
  }
  assert.deepEqual(seen.map((m) => [m.method, m.params.progressToken, m.params.progress, m.params.total]),
    [1, 2, 3].map((i) => ['notifications/progress', 'tok-1', i, 3]));
  // Without a token there are no notifications at all.
  const r = await g.request('tools/call', { name: 'testkit_progress', arguments: { steps: 2 } });
  assert.equal(r.result.content[0].text, 'counted 2 steps');
  await g.close();
});

test('logging/setLevel filters notifications/message', async () => {
  const { g } = await session();
  let r = await g.request('logging/setLevel', { level: 'loud' });
  assert.equal(r.error.code, -32602);
  r = await g.request('logging/setLevel', { level: 'warning' });
  assert.deepEqual(r.result, {});
  r = await g.request('tools/call', { name: 'testkit_log', arguments: { level: 'info', message: 'quiet' } });
  assert.equal(r.result.content[0].text, 'logged', 'info is below warning: no notification first');
  g.send({ jsonrpc: '2.0', id: 'l', method: 'tools/call', params: { name: 'testkit_log', arguments: { level: 'error', message: 'loud' } } });
  const note = await g.next();
  assert.deepEqual(note.params, { level: 'error', data: 'loud', logger: 'testkit' });
  assert.equal((await g.next()).id, 'l');
  await g.close();
});

test('elicitation and sampling: the call asks the client and uses its answer', async () => {
  const { g } = await session({ elicitation: {}, sampling: {} });
  g.send({ jsonrpc: '2.0', id: 'a', method: 'tools/call', params: { name: 'testkit_ask', arguments: { question: 'Which node?' } } });
  let ask = await g.next();
  assert.equal(ask.method, 'elicitation/create');
  assert.equal(ask.params.message, 'Which node?');
  g.send({ jsonrpc: '2.0', id: ask.id, result: { action: 'accept', content: { answer: 'pve-2' } } });
  let r = await g.next();
  assert.equal(r.id, 'a');
  assert.equal(r.result.content[0].text, 'pve-2');

  g.send({ jsonrpc: '2.0', id: 's', method: 'tools/call', params: { name: 'testkit_sample', arguments: { prompt: 'hi' } } });
  ask = await g.next();
  assert.equal(ask.method, 'sampling/createMessage');
  assert.equal(ask.params.messages[0].content.text, 'hi');
  g.send({ jsonrpc: '2.0', id: ask.id, error: { code: -1, message: 'user declined' } });
  r = await g.next();
  assert.equal(r.result.isError, true);
  assert.match(r.result.content[0].text, /user declined/);
  await g.close();
});

test('a client without the capability is never asked', async () => {
  const { g } = await session();
  const r = await g.request('tools/call', { name: 'testkit_ask', arguments: { question: 'x' } });
  assert.equal(r.result.isError, true);
  assert.match(r.result.content[0].text, /did not declare the 'elicitation' capability/);
  await g.close();
});

test('notifications/cancelled stops a call: no answer for it, and the worker is free again', async () => {
  const { g } = await session();
  g.send({ jsonrpc: '2.0', id: 'slow', method: 'tools/call', params: { name: 'testkit_sleep', arguments: { ms: 4000 } } });
  await new Promise((res) => setTimeout(res, 100));
  const t0 = Date.now();
  g.send({ jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: 'slow', reason: 'user' } });
  const r = await g.request('tools/call', { name: 'testkit_echo', arguments: { text: 'after' } }, 'next');
  assert.equal(r.id, 'next', 'the cancelled call is never answered');
  assert.ok(Date.now() - t0 < 2000);
  // Cancelling something unknown or finished is harmless.
  g.send({ jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: 'never-was' } });
  assert.equal((await g.request('ping', undefined, 'pong')).id, 'pong');
  const { code } = await g.close();
  assert.equal(code, 0);
  assert.equal(g.pending(), 0);
});
