// Fault trial: every fault kind of the simulator at once on the Proxmox routes (a 503, a 429
// with Retry-After, a hang past the deadline, a trickle, a dropped connection, a cut body,
// invalid JSON, an oversized body) while 32 clients call tools. Every answer must be the right
// one: each faulted tool an isError naming its fault, the Proxmox routes left alone and the
// Cloudflare adapter (same simulator, no faults) the same data as before the faults, in time.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  FULL, sim, gatewayOn, freePort, writeConfig, httpSession, callTool, text, killAll, percentile,
} from './lib.mjs';

after(killAll);

const SECONDS = Number(process.env.CORTEX_FAULTS_BACKEND_SECONDS || (FULL ? 60 : 8));
const CLIENTS = 32;
const TIMEOUT_MS = 2500;
const PX_SECRET = '5e1f3c9a-2b7d-4e8f-9a61-0c3d5b7e9f12';
const CF_TOKEN = 'cfsim-token-0123456789abcdef0123456789abcdef';
// An answer as compared: the simulator's guests count uptime and traffic as seconds pass.
const moving = new Set(['uptime', 'netin', 'netout', 'diskread', 'diskwrite']);
const norm = (v) => JSON.stringify(v, (k, x) => (moving.has(k) ? 0 : x));

// tool, arguments, the fault on its route, what its isError must say.
const faulted = [
  ['proxmox_list_nodes', {}, { path: '/api2/json/nodes', kind: 'status', status: 503 }, /503/],
  ['proxmox_get_node_status', { node: 'pve2' }, { path: '/api2/json/nodes/pve2/status', kind: 'status', status: 429, retry_after: 1 }, /429/],
  ['proxmox_get_cluster_status', {}, { path: '/api2/json/cluster/status', kind: 'latency', latency_ms: 30000 }, /within|deadline/],
  ['proxmox_get_node_status', { node: 'pve1' }, { path: '/api2/json/nodes/pve1/status', kind: 'trickle', bytes_per_sec: 20 }, /within|deadline/],
  ['proxmox_get_vm_status', { vmid: 100, node: 'pve1' }, { path: '/api2/json/nodes/pve1/qemu/100/status/current', kind: 'drop' }, /partial|connection|closed|empty|answer/i],
  ['proxmox_get_vm_config', { vmid: 100, node: 'pve1' }, { path: '/api2/json/nodes/pve1/qemu/100/config', kind: 'oversize', size_mib: 10 }, /more than \d+ bytes/],
  ['proxmox_get_vm_config', { vmid: 102, node: 'pve2' }, { path: '/api2/json/nodes/pve2/qemu/102/config', kind: 'truncate' }, /JSON envelope|connection|answer|partial/i],
  ['proxmox_get_vm_status', { vmid: 101, node: 'pve1' }, { path: '/api2/json/nodes/pve1/qemu/101/status/current', kind: 'invalid_json' }, /JSON envelope/],
];
// Untouched: a Proxmox route with no fault and the other adapter.
const clean = [
  ['proxmox_get_vm_status', { vmid: 102, node: 'pve2' }],
  ['proxmox_get_cluster_resources', {}],
  ['cloudflare_list_zones', {}],
  ['cloudflare_get_dns', { zone: 'example.com' }],
];

// With few workers a Proxmox call may wait out its deadline in the queue behind the faulted
// ones (they hold the adapter's share of the workers until their own deadline): its answer is
// then the deadline's isError, an honest answer, counted apart. Any other answer must be right.
const DEADLINE = /did not finish within \d+ ms and was abandoned/;

async function trial(WORKERS, { shareMayFill = false } = {}) {
  const s = await sim();
  const g = await gatewayOn(await freePort(), writeConfig({
    calls: { timeout_ms: TIMEOUT_MS, workers: WORKERS },
    adapters: {
      proxmox: { url: s.url, token_id: 'root@pam!cortex', token_secret: { env: 'PX_SECRET' }, retries: 1 },
      cloudflare: { url: s.url + '/client/v4', api_token: { env: 'CF_TOKEN' } },
    },
  }), { env: { PX_SECRET, CF_TOKEN } });
  const sessions = await Promise.all(Array.from({ length: CLIENTS }, () => httpSession(g.url)));

  // The right answers, taken before any fault.
  const want = new Map();
  for (const [name, args] of [...clean, ...faulted]) {
    const r = await callTool(sessions[0], name, args);
    assert.equal(r.isError, undefined, `${name} before the faults: ${text(r)}`);
    want.set(name + JSON.stringify(args), norm(r.structuredContent));
  }
  // The same load twice: first with no fault (the baseline), then with every fault at once.
  const wrong = [];
  let waitedOut = 0;
  const load = async (seconds, faults) => {
    const lat = { clean: [], cloudflare: [], faulted: [] };
    let calls = 0;
    const end = Date.now() + seconds * 1000;
    await Promise.all(sessions.map(async (x, i) => {
      // Half the clients call the faulted tools, half the clean ones; all in a loop.
      const list = i % 2 ? faulted : clean;
      for (let k = i; Date.now() < end; k++) {
        const [name, args, , re] = list[k % list.length];
        const t0 = Date.now();
        let r;
        try {
          r = await callTool(x, name, args);
        } catch (e) {
          wrong.push(`${name}: transport ${e.message}`);
          continue;
        }
        const ms = Date.now() - t0;
        calls++;
        if (shareMayFill && faults && name.startsWith('proxmox') && r.isError && DEADLINE.test(text(r))) {
          waitedOut++;
          lat[re ? 'faulted' : 'clean'].push(ms);
          if (ms > TIMEOUT_MS + 1500) wrong.push(`${name}: answered after ${ms} ms, past the ${TIMEOUT_MS} ms deadline`);
          continue;
        }
        if (re && faults) {
          lat.faulted.push(ms);
          if (r.isError !== true || !re.test(text(r))) wrong.push(`${name} ${JSON.stringify(args)}: ${JSON.stringify(r).slice(0, 300)}`);
          else if (ms > TIMEOUT_MS + 1500) wrong.push(`${name}: answered after ${ms} ms, past the ${TIMEOUT_MS} ms deadline`);
        } else {
          (name.startsWith('cloudflare') ? lat.cloudflare : re ? lat.faulted : lat.clean).push(ms);
          if (r.isError || norm(r.structuredContent) !== want.get(name + JSON.stringify(args))) {
            wrong.push(`${name} (no fault): ${text(r).slice(0, 300)}`);
          }
        }
      }
    }));
    for (const k of Object.keys(lat)) lat[k].sort((p, q) => p - q);
    return { lat, calls };
  };
  const base = await load(Math.max(2, SECONDS / 4), false);
  for (const [, , fault] of faulted) {
    const r = await s.post('/_sim/faults', { method: 'GET', ...fault });
    assert.ok(!r.error, JSON.stringify(r));
  }
  const { lat, calls } = await load(SECONDS, true);
  await s.del('/_sim/faults');
  // And after: every tool answers as before.
  for (const [name, args] of [...clean, ...faulted]) {
    const r = await callTool(sessions[1], name, args);
    assert.ok(norm(r.structuredContent) === want.get(name + JSON.stringify(args)), `${name} after the faults: ${text(r).slice(0, 300)}`);
  }
  const summary = (v) => `n=${v.length} p50=${percentile(v, 50)} ms p99=${percentile(v, 99)} ms`;
  console.log(`# backend faults: ${CLIENTS} clients, calls.workers ${WORKERS}, deadline ${TIMEOUT_MS} ms`);
  console.log(`#   no faults (${base.calls} calls): cloudflare ${summary(base.lat.cloudflare)}; proxmox ${summary(base.lat.clean)}`);
  console.log(`#   every fault (${calls} calls in ${SECONDS} s): cloudflare ${summary(lat.cloudflare)}; proxmox untouched routes ${summary(lat.clean)}; faulted routes ${summary(lat.faulted)}; wrong answers ${wrong.length}` +
    (shareMayFill ? `; Proxmox calls that waited out their deadline behind the faulted ones ${waitedOut}` : ''));
  assert.deepEqual(wrong.slice(0, 20), [], `${wrong.length} wrong answers`);
  assert.ok(lat.cloudflare.length > 0 && lat.clean.length > 0);
  // Unaffected: the clean calls were all answered correctly (above) and none waited for a
  // faulted call's deadline.
  assert.doesNotMatch(g.stderr(), new RegExp(PX_SECRET + '|' + CF_TOKEN));
  g.kill('SIGTERM');
  assert.equal((await g.exited).code, 0, g.stderr().slice(-2000));
  return { base: base.lat, lat };
}

// Unaffected in time too: the untouched calls are not slowed past the baseline's spread.
function assertUnaffected({ base, lat }, kinds = ['cloudflare', 'clean']) {
  for (const k of kinds) {
    const bound = Math.max(1000, 3 * percentile(base[k], 99));
    assert.ok(percentile(lat[k], 99) < bound, `${k} p99 ${percentile(lat[k], 99)} ms with the faults, ${percentile(base[k], 99)} ms without (bound ${bound} ms): it waited behind the faulted calls`);
  }
}

test(`every backend fault at once while ${CLIENTS} clients call tools for ${SECONDS} s (calls.workers 40, more than the clients): answers stay correct, the other adapter unaffected`, async () => {
  assertUnaffected(await trial(40));
});

// With the default 8 workers, the calls to a hanging backend may hold only its share of them
// (calls.max_per_adapter: all but a quarter, so 6), and the other adapter's calls run on the
// rest: before that share existed they queued behind the hanging ones (p50 ~1 s).
let defaultWorkers;
test(`the same with the default calls.workers (8): every answer correct, or for Proxmox the deadline's own isError when its share of the workers is held by faulted calls`, async () => {
  defaultWorkers = await trial(8, { shareMayFill: true });
});

test('with the default calls.workers (8), the other adapter is not slowed either', () => {
  assert.ok(defaultWorkers, 'the trial above ran');
  // The faulted adapter's own untouched routes share its share, so only the other adapter
  // is judged here.
  assertUnaffected(defaultWorkers, ['cloudflare']);
});
