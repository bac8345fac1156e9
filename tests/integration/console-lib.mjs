// The console tests' world (console.test.mjs): cortex-sim (Proxmox and the scripted LLM), the
// test gateway (testkit + proxmox + the task tools on a dir store, behind two tokens, serving
// the console) and the orchestrator, and a headless Debian chromium driven by playwright-core.
// Every console message, page error and CSP violation of the run is collected.
import { after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { GATEWAY, startHttp, startSim, writeConfig, tmpDir } from './lib.mjs';
import { KEY, SECRET, TOKEN_ID, running, startOrch } from './orchestrator-lib.mjs';

export const CHROMIUM = process.env.CORTEX_CHROMIUM || '/usr/bin/chromium';
export const ARTIFACTS = resolve(dirname(fileURLToPath(import.meta.url)), '../../build/artifacts/console');
export const TOKEN = 'console-test-token-7c1e0a9d5b3f4e21';
export const NO_TOOLS_TOKEN = 'no-tools-test-token-9e8d7c6b5a4f3e2d'; // allow: []
const ORCH_TOKEN = 'orchestrator-test-token-4a8b2c6d0e1f3a5b';
const sha = (s) => createHash('sha256').update(s).digest('hex');

const MASTERS = {
  masters: [{
    name: 'general',
    categories: ['general', 'development', 'security', 'infrastructure', 'inventory', 'cicd'],
    system_prompt: 'You are the general master of Cortex, in the console tests.',
    tools: ['*', '!cortex_approve_task', '!cortex_cancel_task'],
    models: [{ api: 'anthropic', model: 'claude-sonnet-4-5' }],
    workers: 4,
    limits: { iterations: 10, tokens: 400000, wall_clock_ms: 120000, max_tokens: 4096 },
    require_approval: [],
  }],
};

export async function world(conversations) {
  assert.ok(existsSync(CHROMIUM), `${CHROMIUM} is missing: the console tests need Debian's chromium (scripts/deps.sh test installs it)`);
  const sim = startSim(['--config', writeConfig({ llm: { api_key: KEY, conversations } })]);
  running.push(sim);
  const simUrl = await sim.ready;
  const tasks = { store: 'dir', dir: tmpDir(), fsync: false, lease_ms: 3000 };
  const gw = startHttp(['--config', writeConfig({
    calls: { timeout_ms: 20000 },
    tokens: [{ name: 'console', sha256: sha(TOKEN) }, { name: 'orchestrator', sha256: sha(ORCH_TOKEN) },
      { name: 'nothing', sha256: sha(NO_TOOLS_TOKEN), allow: [] }],
    adapters: {
      testkit: {},
      proxmox: { url: simUrl, token_id: TOKEN_ID, token_secret: { env: 'PX_SECRET' }, task_poll_ms: 50 },
    },
    tasks,
  })], { bin: GATEWAY, env: { PX_SECRET: SECRET } });
  running.push(gw);
  const mcpUrl = await gw.ready;
  const base = new URL(mcpUrl).origin;
  const orch = startOrch(writeConfig({
    tasks,
    orchestrator: { heartbeat_ms: 200, grace_ms: 3000, masters: writeConfig(MASTERS) },
  }), { CORTEX_GATEWAY_URL: mcpUrl, CORTEX_TOKEN: ORCH_TOKEN, ANTHROPIC_BASE_URL: simUrl, ANTHROPIC_API_KEY: KEY });
  await orch.ready;

  // REST as a script would use it, for setting up and checking what the page shows.
  const rest = async (method, path, body) => {
    const r = await fetch(base + path, {
      method,
      headers: { Authorization: 'Bearer ' + TOKEN, ...(body ? { 'Content-Type': 'application/json' } : {}) },
      body: body ? JSON.stringify(body) : undefined,
    });
    const data = await r.json();
    assert.ok(r.ok, `${method} ${path}: ${r.status} ${JSON.stringify(data)}`);
    return data;
  };
  const task = async (id) => { const s = (await rest('GET', '/v1/tasks/' + id)).structuredContent; return s.task || s; };
  return { sim, simUrl, gw, orch, base, rest, task };
}

// The browser: one context (1280x800) and its page, with every console message, page error
// and CSP violation recorded in problems (an entry: {kind, text}), and every URL requested.
export async function browser() {
  const { chromium } = await import('playwright-core');
  mkdirSync(ARTIFACTS, { recursive: true });
  const b = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox'] });
  after(() => b.close());
  const context = await b.newContext({ viewport: { width: 1280, height: 800 } });
  await context.addInitScript(() => {
    document.addEventListener('securitypolicyviolation', (e) => {
      console.error(`CSP violation: ${e.violatedDirective} blocked ${e.blockedURI} (${e.sourceFile}:${e.lineNumber})`);
    });
  });
  const page = await context.newPage();
  page.setDefaultTimeout(15000);
  const problems = [];
  const requests = []; // every URL the page asked for
  page.on('request', (r) => requests.push(r.url()));
  page.on('console', (m) => { if (m.type() !== 'log' && m.type() !== 'debug' && m.type() !== 'info') problems.push({ kind: 'console.' + m.type(), text: m.text() }); });
  page.on('pageerror', (e) => problems.push({ kind: 'pageerror', text: String(e && e.stack || e) }));
  page.on('dialog', (d) => { problems.push({ kind: 'dialog', text: d.message() }); d.dismiss(); });
  page.on('requestfailed', (r) => {
    const f = r.failure();
    if (f && !/ERR_ABORTED/.test(f.errorText)) problems.push({ kind: 'requestfailed', text: r.url() + ' ' + f.errorText });
  });
  return { browser: b, context, page, problems, requests };
}

// Waits until fn() is truthy (checked every 100 ms), or fails saying what it waited for.
export async function until(fn, what, ms = 20000) {
  const end = Date.now() + ms;
  let last;
  while (Date.now() < end) {
    try {
      last = await fn();
      if (last) return last;
    } catch (e) {
      last = e;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.fail(`waited ${ms} ms for ${what}; last: ${last instanceof Error ? last.message : JSON.stringify(last)}`);
}

export const shot = (page, name, opts = {}) => page.screenshot({ path: join(ARTIFACTS, name + '.png'), ...opts });

// The WCAG contrast ratio of two CSS rgb() colours.
export function contrast(a, b) {
  const lum = (c) => {
    const [r, g, bl] = c.match(/[\d.]+/g).slice(0, 3).map(Number).map((v) => {
      const s = v / 255;
      return s <= 0.03928 ? s / 12.92 : ((s + 0.055) / 1.055) ** 2.4;
    });
    return 0.2126 * r + 0.7152 * g + 0.0722 * bl;
  };
  const [x, y] = [lum(a), lum(b)].sort((p, q) => q - p);
  return (x + 0.05) / (y + 0.05);
}
