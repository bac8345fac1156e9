// Who may answer what: a question a call asks its client (elicitation, sampling) can only be
// answered by the session and token that were asked, and an input-required round's sealed
// state only continues the request it was issued for.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { startHttp, sseMessages, writeConfig } from './lib.mjs';

const running = [];
after(() => running.forEach((g) => g.kill()));
const sha = (s) => createHash('sha256').update(s).digest('hex');

async function gateway(extra = {}) {
  const g = startHttp(['--config', writeConfig({ adapters: { testkit: {} }, ...extra })]);
  running.push(g);
  return await g.ready;
}

async function sessionWith(url, token) {
  const headers = { 'Accept': 'application/json, text/event-stream', 'Content-Type': 'application/json',
    ...(token ? { Authorization: 'Bearer ' + token } : {}) };
  const init = await fetch(url, { method: 'POST', headers, body: JSON.stringify({ jsonrpc: '2.0', id: 0, method: 'initialize',
    params: { protocolVersion: '2025-11-25', capabilities: { elicitation: {} }, clientInfo: { name: 'sec', version: '1' } } }) });
  await init.json();
  return { ...headers, 'Mcp-Session-Id': init.headers.get('mcp-session-id'), 'MCP-Protocol-Version': '2025-11-25' };
}

test('only the session and token that were asked can answer an elicitation', async () => {
  const url = await gateway({ tokens: [{ name: 'alice', sha256: sha('alice-token') }, { name: 'mallory', sha256: sha('mallory-token') }] });
  const alice = await sessionWith(url, 'alice-token');
  const mallory = await sessionWith(url, 'mallory-token');
  const aliceOther = await sessionWith(url, 'alice-token');
  const call = await fetch(url, { method: 'POST', headers: alice, body: JSON.stringify({ jsonrpc: '2.0', id: 'q', method: 'tools/call',
    params: { name: 'testkit_ask', arguments: { question: 'Delete vm-100?' } } }) });
  const next = sseMessages(call);
  const ask = await next();
  assert.equal(ask.method, 'elicitation/create');
  assert.match(ask.id, /^cortex-[0-9a-f]{24}$/, 'request ids are random, not a counter');
  const forged = { jsonrpc: '2.0', id: ask.id, result: { action: 'accept', content: { answer: 'yes, says mallory' } } };
  // Another token, and another session of the same token: accepted as messages, ignored as answers.
  assert.equal((await fetch(url, { method: 'POST', headers: mallory, body: JSON.stringify(forged) })).status, 202);
  assert.equal((await fetch(url, { method: 'POST', headers: aliceOther, body: JSON.stringify(forged) })).status, 202);
  await new Promise((res) => setTimeout(res, 200));
  const real = { jsonrpc: '2.0', id: ask.id, result: { action: 'accept', content: { answer: 'no' } } };
  assert.equal((await fetch(url, { method: 'POST', headers: alice, body: JSON.stringify(real) })).status, 202);
  const answer = await next();
  assert.equal(answer.id, 'q');
  assert.equal(answer.result.content[0].text, 'no', 'only the asked session\'s answer counts');
});

test('request state continues only the request it was issued for', async () => {
  const url = await gateway();
  const base = { 'Content-Type': 'application/json', 'Accept': 'application/json, text/event-stream', 'MCP-Protocol-Version': '2026-07-28',
    'Mcp-Method': 'tools/call', 'Mcp-Name': 'testkit_ask' };
  const meta = { 'io.modelcontextprotocol/protocolVersion': '2026-07-28', 'io.modelcontextprotocol/clientCapabilities': { elicitation: {} } };
  const post = async (id, args, extra = {}) => (await fetch(url, { method: 'POST', headers: base,
    body: JSON.stringify({ jsonrpc: '2.0', id, method: 'tools/call', params: { name: 'testkit_ask', arguments: args, _meta: meta, ...extra } }) })).json();
  const r1 = await post(1, { question: 'Which colour?' });
  assert.equal(r1.result.resultType, 'input_required');
  assert.deepEqual(Object.keys(r1.result.inputRequests), ['r1']);
  const answers = { r1: { action: 'accept', content: { answer: 'blue' } } };
  // The same state with other arguments is refused: the answer was given to another question.
  const other = await post(2, { question: 'Which VM may I delete?' }, { inputResponses: answers, requestState: r1.result.requestState });
  assert.equal(other.error.code, -32602);
  const ok = await post(3, { question: 'Which colour?' }, { inputResponses: answers, requestState: r1.result.requestState });
  assert.equal(ok.result.resultType, 'complete');
  assert.equal(ok.result.content[0].text, 'blue');
});
