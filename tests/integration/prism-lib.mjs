// Prism (@stoplight/prism-cli, pinned in tests/package-lock.json) mocking one of the backends'
// published OpenAPI descriptions in ../shared/specs, for the tests that check every request an
// adapter sends against the description: start it, read what its validator said, call tools.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
export const PRISM = join(here, '..', 'node_modules', '.bin', 'prism');
export const SPECS = process.env.CORTEX_SPECS_DIR || join(here, '..', '..', '..', 'shared', 'specs');

// Every child started here (and any a test adds), killed when the test file ends.
export const running = [];
process.on('exit', () => running.forEach((p) => { try { p.kill('SIGKILL'); } catch { /* gone */ } }));

function freePort() {
  return new Promise((res) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => { const { port } = s.address(); s.close(() => res(port)); });
  });
}

export async function startPrism(spec) {
  const port = await freePort();
  const child = spawn(PRISM, ['mock', '-h', '127.0.0.1', '-p', String(port), join(SPECS, spec)],
    { stdio: ['ignore', 'pipe', 'pipe'] });
  running.push(child);
  let log = '';
  child.stdout.on('data', (d) => { log += d; });
  child.stderr.on('data', (d) => { log += d; });
  const until = Date.now() + 60000;
  while (!/Prism is listening/.test(log)) {
    if (Date.now() > until || child.exitCode !== null) throw new Error('prism did not start: ' + log);
    await new Promise((r) => setTimeout(r, 100));
  }
  return { url: `http://127.0.0.1:${port}`, log: () => log };
}

// The violations Prism reported about requests: its validator's error lines, less those about
// the examples it answers with (response.*), which are the description's own business.
export function violations(log) {
  return log.split('\n').filter((l) => /\[VALIDATOR\].*(✖|error)/.test(l) && !/Violation: response\./.test(l));
}

export async function callAll(g, calls) {
  const out = {};
  for (const [name, args] of calls) {
    const r = await g.request('tools/call', { name, arguments: args });
    assert.ok(r.result, `${name} answered with a result, not a JSON-RPC error: ${JSON.stringify(r)}`);
    out[name + JSON.stringify(args)] = r.result;
  }
  return out;
}

