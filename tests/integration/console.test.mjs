// The web console in a real browser (Debian's chromium, headless, driven by playwright-core)
// against the gateway that serves it, the orchestrator with the simulator's scripted LLM, and
// the backend simulator (console-lib.mjs). One page goes through it all as a person would:
// sign in, ask, watch, approve and deny, try tools, read the status, on a phone and in the
// dark; no console message, page error or CSP violation may happen along the way. Screenshots
// of each page go to build/artifacts/console/.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { NO_TOOLS_TOKEN, TOKEN, browser, contrast, shot, until, world } from './console-lib.mjs';
import { stopsCleanly } from './orchestrator-lib.mjs';
import { startHttp, tmpDir, writeConfig } from './lib.mjs';

const XSS = '<img src=x onerror=alert(1)>';
const w = await world([
  { match: 'SLOW-WATCH', turns: [{ tool_use: [{ name: 'testkit_sleep', input: { ms: 3000 } }] }, { text: 'Slept as asked.' }] },
  { match: 'APPROVE-START', turns: [{ tool_use: [{ name: 'proxmox_vm_action', input: { vmid: 101, action: 'start' } }] }, { text: 'Result: {{last_tool_result}}' }] },
  { match: 'DENY-STOP', turns: [{ tool_use: [{ name: 'proxmox_vm_action', input: { vmid: 100, action: 'stop' } }] }, { text: 'Result: {{last_tool_result}}' }] },
  { match: 'PARENT-TASK', turns: [{ tool_use: [{ name: 'cortex_create_task', input: { tasks: [{ query: 'CHILD-TASK one', title: 'Child one', category: 'inventory' }, { query: 'CHILD-TASK two', title: 'Child two', category: 'cicd' }] } }] }, { text: 'Split in two.' }] },
  { match: 'CHILD-TASK', turns: [{ text: 'child done' }] },
  { match: 'XSS-MARK', turns: [{ text: 'Nothing to see: ' + XSS }] },
  { match: 'VMs', turns: [{ tool_use: [{ name: 'proxmox_list_vms', input: { node: 'pve1' } }] }, { text: 'These run on pve1: {{last_tool_result}}' }] },
]);
const { browser: br, page, problems, requests } = await browser();
const origins = new Set(); // the gateways the page was pointed at
const stopped = []; // {code, signal, stderr} of each gateway stopped with SIGTERM

async function stop(g) {
  g.child.kill('SIGTERM');
  const { code, signal } = await g.exited;
  return { code, signal, stderr: g.stderr() };
}
const expected = []; // problems a step causes on purpose (the refused token's 401)
after(() => w.orch.kill());

const text = (sel) => page.locator(sel).innerText();
const go = async (hash) => {
  await page.locator(`nav a[href="${hash}"]`).click();
  await page.locator('main h1').first().waitFor();
};

test('a wrong token is refused, the right one signs in; the page is served with a strict CSP', async () => {
  const res = await page.goto(w.base + '/');
  assert.equal(res.status(), 200);
  const csp = res.headers()['content-security-policy'] || '';
  assert.match(csp, /default-src 'none'/);
  assert.match(csp, /script-src 'self'/);
  assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval/);
  assert.equal(res.headers()['x-content-type-options'], 'nosniff');

  await page.getByLabel('Gateway token').fill('not-the-token');
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.locator('#sign-in-message .error').waitFor();
  assert.match(await text('#sign-in-message'), /this token was refused/i);
  assert.equal(await page.evaluate(() => document.activeElement.id), 'token', 'the focus stays on the token field');
  assert.equal(await page.evaluate(() => sessionStorage.length), 0, 'a refused token is not kept');
  expect(/status of 401/); // Chromium logs the refused fetch

  await page.getByLabel('Gateway token').fill(TOKEN);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.locator('nav a[href="#/ask"][aria-current="page"]').waitFor();
  assert.doesNotMatch(page.url(), new RegExp(TOKEN), 'the token never goes in a URL');
  assert.equal(await page.evaluate(() => sessionStorage.getItem('cortex.token')), TOKEN);
  await until(async () => /Live/.test(await text('#live')), 'the live stream (GET /v1/events) to open');
});

test('"what VMs run on pve1": the answer shows the simulator\'s VMs and the tools used', async () => {
  const direct = await w.rest('POST', '/v1/tools/proxmox_list_vms', { node: 'pve1' });
  const names = JSON.stringify(direct.structuredContent).match(/"name":"[^"]+"/g).map((s) => s.slice(8, -1));
  assert.ok(names.length >= 2, JSON.stringify(direct));
  await page.getByLabel('Your request').fill('what VMs run on pve1');
  assert.equal(await page.getByLabel('Category').inputValue(), 'general', 'general is the default category');
  await page.getByRole('button', { name: 'Ask', exact: true }).click();
  await page.locator('#ask-answer .answer-text').waitFor({ timeout: 30000 });
  const answer = await text('#ask-answer');
  assert.match(answer, /These run on pve1/);
  for (const n of names) assert.match(answer, new RegExp(n), answer);
  assert.match(answer, /proxmox_list_vms/, 'the tools used');
  await shot(page, 'ask');
});

test('a task\'s progress updates live on its page and in the list, without reloading', async () => {
  await go('#/tasks');
  const created = await w.rest('POST', '/v1/tasks', { query: 'SLOW-WATCH: take a nap', title: 'Slow watch', category: 'general' });
  const id = created.structuredContent.ids[0];
  const card = page.locator(`article.task[data-id="${id}"]`);
  await card.waitFor();
  await until(async () => /running testkit_sleep/.test(await card.innerText()), 'the list to show the running tool');
  await shot(page, 'tasks');
  await card.locator('a.task-title').click();
  await page.locator('main h1', { hasText: 'Slow watch' }).waitFor();
  const loads = await page.evaluate(() => performance.getEntriesByType('navigation').length);
  await until(async () => /in progress/.test(await text('main')), 'the task page to show it in progress');
  await until(async () => /completed/.test(await text('main p .badge')), 'the task page to show it completed', 20000);
  const body = await text('main');
  assert.match(body, /Slept as asked/);
  assert.match(body, /testkit_sleep/);
  assert.match(body, /"ms": 3000/, 'the tool call with its arguments (conversation)');
  assert.equal(await page.evaluate(() => performance.getEntriesByType('navigation').length), loads, 'no reload');
  await shot(page, 'task', { fullPage: true });
});

test('held destructive calls: one approved runs, one denied returns the reason; the count is on every page', async () => {
  await go('#/ask');
  const a = (await w.rest('POST', '/v1/tasks', { query: 'APPROVE-START: start db01', category: 'infrastructure' })).structuredContent.ids[0];
  const d = (await w.rest('POST', '/v1/tasks', { query: 'DENY-STOP: stop web01', category: 'infrastructure' })).structuredContent.ids[0];
  await until(async () => (await text('#approval-count')) === '2', 'the nav to count 2 waiting');
  await go('#/approvals');
  const ca = page.locator(`article.approval[data-id="${a}"]`);
  const cd = page.locator(`article.approval[data-id="${d}"]`);
  await until(async () => /"vmid": 101/.test(await ca.innerText()), 'the held call\'s arguments');
  assert.match(await ca.innerText(), /proxmox_vm_action/);
  assert.match(await ca.innerText(), /"action": "start"/);
  assert.match(await cd.innerText(), /"vmid": 100/);
  await shot(page, 'approvals');
  assert.equal((await w.rest('POST', '/v1/tools/proxmox_get_vm_status', { vmid: 101 })).structuredContent.status, 'stopped', 'nothing ran before the decision');

  await ca.getByRole('button', { name: 'Approve' }).click();
  await ca.locator('.decision-message .ok').waitFor();
  await cd.getByRole('button', { name: 'Deny' }).click(); // no reason: refused in the page
  await cd.locator('.decision-message .error').waitFor();
  assert.equal(await cd.getByLabel('Reason').getAttribute('aria-invalid'), 'true');
  await cd.getByLabel('Reason').fill('not during business hours');
  await cd.getByRole('button', { name: 'Deny' }).click();
  await cd.locator('.decision-message .ok').waitFor();

  const ta = await until(async () => { const t = await w.task(a); return t.status === 'completed' && t; }, 'the approved task to complete');
  assert.match(ta.result.details, /UPID|OK/);
  assert.equal((await w.rest('POST', '/v1/tools/proxmox_get_vm_status', { vmid: 101 })).structuredContent.status, 'running');
  const td = await until(async () => { const t = await w.task(d); return t.status === 'completed' && t; }, 'the denied task to complete');
  assert.match(td.result.details, /denied.*not during business hours/);
  assert.equal((await w.rest('POST', '/v1/tools/proxmox_get_vm_status', { vmid: 100 })).structuredContent.status, 'running', 'the denied call never ran');
  await until(async () => (await text('#approval-count')) === '0', 'the count to go back to 0');
});

test('tools: a call from the generated form shows its result; an isError result shows as an error', async () => {
  await go('#/tools');
  const echo = page.locator('#tool-testkit_echo');
  await echo.locator(':scope > summary').click();
  await echo.getByLabel(/^text/).fill('hello from the console');
  await echo.getByLabel(/^mode/).selectOption({ label: 'upper' });
  await echo.getByRole('button', { name: 'Call testkit_echo' }).click();
  await echo.locator('.result-ok').waitFor();
  assert.match(await echo.locator('.result').innerText(), /HELLO FROM THE CONSOLE/);
  assert.match(await echo.locator(':scope > summary').innerText(), /testkit_echo/);
  assert.doesNotMatch(await echo.innerText(), /^(null|undefined)$/m, 'no absent value shown as text');

  const vms = page.locator('#tool-proxmox_list_vms');
  await vms.locator(':scope > summary').click();
  assert.match(await vms.innerText(), /read-only/, 'annotations shown');
  await vms.getByLabel(/^node/).fill('pve1');
  await vms.getByRole('button', { name: 'Call proxmox_list_vms' }).click();
  await vms.locator('.result-ok table').waitFor();

  const fail = page.locator('#tool-testkit_fail');
  await fail.locator(':scope > summary').click();
  await fail.getByRole('button', { name: 'Call testkit_fail' }).click();
  await fail.locator('.result-error[role="alert"]').waitFor();
  assert.match(await fail.locator('.result-error').innerText(), /error/i);

  const sleep = page.locator('#tool-testkit_sleep');
  await sleep.locator(':scope > summary').click();
  await sleep.getByLabel(/^ms/).waitFor();
  assert.match(await sleep.innerText(), /ms \(required\)/, 'required fields are marked');
  await sleep.getByRole('button', { name: 'Call testkit_sleep' }).click(); // ms missing
  await sleep.locator('.error').waitFor();
  assert.equal(await sleep.getByLabel(/^ms/).getAttribute('aria-invalid'), 'true');
  await shot(page, 'tools', { fullPage: true });
});

test('status: adapters, the orchestrator\'s workers, the queue', async () => {
  await go('#/status');
  await page.locator('#status-gateway tr[data-adapter="proxmox"]').waitFor();
  assert.match(await text('#status-gateway'), /testkit/);
  await until(async () => /general/.test(await text('#status-agents')) && /workers/.test(await text('#status-agents')), 'the agents');
  await until(async () => /awaiting approval/.test(await text('#status-queue')), 'the queue');
  assert.match(await text('#status-failures'), /No failed tasks/);
  await shot(page, 'status', { fullPage: true });
});

test('a task titled with markup shows it as text, in the list and on its page', async () => {
  const id = (await w.rest('POST', '/v1/tasks', { query: 'XSS-MARK: nothing', title: XSS, category: 'general' })).structuredContent.ids[0];
  await go('#/tasks');
  const card = page.locator(`article.task[data-id="${id}"]`);
  await card.waitFor();
  assert.equal(await card.locator('a.task-title').innerText(), XSS);
  await card.locator('a.task-title').click();
  await until(async () => /completed/.test(await text('main p .badge')), 'the task to complete');
  assert.equal(await text('main h1'), XSS);
  assert.match(await text('main'), /Nothing to see: <img src=x onerror=alert\(1\)>/);
  assert.equal(await page.locator('main img').count(), 0, 'no element was made from a title or an answer');
  assert.ok(!problems.some((p) => p.kind === 'dialog'), 'no script ran');
});

test('subtasks show under their parent; the filters pick by status and category', async () => {
  const id = (await w.rest('POST', '/v1/tasks', { query: 'PARENT-TASK: split it', title: 'Parent', category: 'general' })).structuredContent.ids[0];
  const p = await until(async () => { const t = await w.task(id); return t.status === 'completed' && t; }, 'the parent to complete');
  assert.equal(p.children.length, 2);
  await go('#/tasks');
  const parent = page.locator('ul.tasks > li', { has: page.locator(`article.task[data-id="${id}"]`) });
  for (const c of p.children) await parent.locator(`ul.subtasks article.task[data-id="${c.id}"]`).waitFor();
  assert.match(await parent.locator('ul.subtasks').innerText(), /Child one[\s\S]*Child two/);

  await page.getByLabel('Category').selectOption('cicd');
  await until(async () => (await page.locator('article.task').count()) === 1, 'one cicd task');
  assert.match(await text('#task-list'), /Child two/);
  await page.getByLabel('Category').selectOption('');
  await page.getByLabel('Status').selectOption('failed');
  await page.locator('#task-list .empty').waitFor();
  assert.match(await text('#task-list'), /No task matches/);
  await page.getByLabel('Status').selectOption('');

  await page.locator(`article.task[data-id="${id}"] a.task-title`).click();
  await page.locator('main h2', { hasText: 'Subtasks (2)' }).waitFor();
  assert.match(await text('main'), /Child one[\s\S]*Child two/);
});

test('phone width (390 px): every page fits without sideways scrolling', async () => {
  await page.setViewportSize({ width: 390, height: 844 });
  for (const [hash, name] of [['#/ask', 'ask'], ['#/tasks', 'tasks'], ['#/approvals', 'approvals'], ['#/tools', 'tools'], ['#/status', 'status']]) {
    await go(hash);
    await page.waitForTimeout(300);
    const wide = await page.evaluate(() => document.documentElement.scrollWidth);
    assert.ok(wide <= 390, `${hash} is ${wide} px wide`);
    await shot(page, 'phone-' + name);
  }
  await page.setViewportSize({ width: 1280, height: 800 });
});

test('dark mode is readable; the keyboard reaches everything, the skip link first', async () => {
  await page.emulateMedia({ colorScheme: 'dark' });
  await go('#/tasks');
  const colours = await page.evaluate(() => {
    const s = (el) => getComputedStyle(el);
    const card = document.querySelector('article.task');
    return { bg: s(document.body).backgroundColor, fg: s(document.body).color, cardBg: s(card).backgroundColor, link: s(card.querySelector('a')).color, hint: s(document.querySelector('.hint')).color };
  });
  assert.ok(contrast(colours.bg, 'rgb(0, 0, 0)') < 1.5, 'a dark background: ' + colours.bg);
  assert.ok(contrast(colours.fg, colours.bg) >= 7, JSON.stringify(colours));
  assert.ok(contrast(colours.link, colours.cardBg) >= 4.5, JSON.stringify(colours));
  assert.ok(contrast(colours.hint, colours.bg) >= 4.5, JSON.stringify(colours));
  await shot(page, 'dark-tasks');
  await page.emulateMedia({ colorScheme: 'light' });

  await page.goto(w.base + '/#/status');
  await page.reload(); // a fresh load: the focus starts at the top
  await page.locator('main h1').waitFor();
  await page.keyboard.press('Tab');
  assert.equal(await page.evaluate(() => document.activeElement.textContent), 'Skip to content');
  await page.keyboard.press('Enter');
  assert.equal(await page.evaluate(() => document.activeElement.id), 'main');
  await page.goto(w.base + '/#/ask');
  await page.reload();
  await page.locator('main h1').waitFor();
  let reached = false;
  for (let i = 0; i < 20 && !reached; i++) {
    await page.keyboard.press('Tab');
    reached = await page.evaluate(() => document.activeElement.getAttribute('href') === '#/approvals');
  }
  assert.ok(reached, 'the Approvals link is reached with Tab');
  await page.keyboard.press('Enter');
  await page.locator('main h1', { hasText: 'Approvals' }).waitFor();
});

// Problems a step causes on purpose: each must match re; they are then set aside.
function expect(re) {
  for (const p of problems.splice(0)) {
    assert.match(p.text, re, JSON.stringify(p));
    expected.push(p);
  }
}

test('when GET /v1/events fails the page says so and reconnects by itself', async () => {
  await page.route('**/v1/events', (r) => r.fulfill({ status: 404, contentType: 'application/json', body: '{"error":{"status":404,"message":"no such route"}}' }));
  await page.reload();
  await until(async () => /Not live: .*404.*retrying in/.test(await text('#live')), 'the page to say it is not live');
  const own = /\/v1\/tasks\/[^/]+\/events$/;
  assert.ok(!requests.some((u) => own.test(u)), 'while the feed was live no page used a task\'s own stream');
  await go('#/ask'); // the last request asked: followed through its own stream while the feed is down
  await until(() => requests.some((u) => own.test(u)), 'the task\'s own stream');
  await page.locator('#ask-answer .answer-text').waitFor();
  await page.unroute('**/v1/events');
  await until(async () => (await text('#live')) === 'Live', 'the stream to be back', 15000);
  expect(/status of 404/);
});

test('sign out forgets the token', async () => {
  await page.getByRole('button', { name: 'Sign out' }).click();
  await page.getByLabel('Gateway token').waitFor();
  assert.equal(await page.evaluate(() => sessionStorage.length), 0, 'nothing of the session is left');
  assert.equal(await page.locator('#nav').isHidden(), true);
});

test('a gateway that cannot be reached is named as such at sign-in', async () => {
  await page.route('**/v1/tools', (r) => r.abort('connectionrefused'));
  await page.getByLabel('Gateway token').fill(TOKEN);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.locator('#sign-in-message .error').waitFor();
  assert.match(await text('#sign-in-message'), /gateway is unreachable/);
  assert.equal(await page.evaluate(() => sessionStorage.getItem('cortex.token')), null);
  await page.unroute('**/v1/tools');
  expect(/ERR_CONNECTION_REFUSED/);
});

test('a token allowed no tool: the Tools page says so, the status page says what it may not call', async () => {
  await page.getByLabel('Gateway token').fill(NO_TOOLS_TOKEN);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await go('#/tools');
  await page.locator('#tool-list .empty').waitFor();
  assert.match(await text('#tool-list'), /No tools are allowed for this token/);
  await go('#/status');
  await until(async () => /may not call gateway_status/.test(await text('#status-gateway')), 'the refusal explained');
  await page.getByRole('button', { name: 'Sign out' }).click();
  await page.getByLabel('Gateway token').waitFor();
  expect(/status of 403/); // the refused calls, as Chromium logs them
});

test('a loopback gateway without tokens and without an orchestrator: an empty token signs in; the empty states say so', async () => {
  const g = startHttp(['--config', writeConfig({ adapters: { testkit: {} }, tasks: { store: 'dir', dir: tmpDir(), fsync: false } })]);
  const origin = new URL(await g.ready).origin;
  origins.add(origin);
  try {
    await page.goto(origin + '/');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.locator('nav a[href="#/ask"][aria-current="page"]').waitFor();
    await until(async () => (await text('#live')) === 'Live', 'the live stream');
    await go('#/tasks');
    await until(async () => /No tasks yet/.test(await text('#task-list')), 'the no-task state');
    await go('#/status');
    await until(async () => /No orchestrator is running — start one with cortex-orchestrator --config/.test(await text('#status-agents')), 'the no-orchestrator state');
    await shot(page, 'status-empty');
    await go('#/tools');
    await page.locator('#tool-testkit_echo').waitFor();
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByLabel('Gateway token').waitFor();
  } finally {
    await page.goto(w.base + '/');
    stopped.push(await stop(g));
  }
});

test('no console errors, page errors or CSP violations during the run; the token is in no log', async () => {
  assert.deepEqual(problems, [], JSON.stringify(problems, null, 1));
  assert.equal(expected.length > 0, true, 'the refused token was seen failing');
  assert.doesNotMatch(w.gw.stderr() + w.orch.stderr(), new RegExp(TOKEN));
  origins.add(w.base);
  const elsewhere = requests.filter((u) => !origins.has(new URL(u).origin));
  assert.deepEqual(elsewhere, [], 'nothing is loaded from anywhere but the gateway');
  assert.ok(requests.some((u) => /\/v1\/events$/.test(u)), 'the live stream was used');
  for (const t of [TOKEN, NO_TOOLS_TOKEN]) assert.ok(!requests.some((u) => u.includes(t)), 'no token in a URL');
  await stopsCleanly(w.orch);
  await br.close();
  stopped.push(await stop(w.gw));
  for (const g of stopped) {
    assert.equal(g.signal, null, g.stderr);
    assert.equal(g.code, 0, g.stderr);
    assert.doesNotMatch(g.stderr, /Sanitizer|runtime error/, g.stderr); // under make check: no leak
  }
});

// The page aborts requests when it changes views: a REST request or task stream whose client
// hung up must not be left counted as waiting (the stop then waited its 10 s).
test('the gateways stopped within their drain, nothing left waiting', () => {
  for (const g of stopped) assert.doesNotMatch(g.stderr, /still wait/, g.stderr);
});
