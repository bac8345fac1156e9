// docs/CONFIG.md against the binaries, for the keys no table declares: the adapters', the task
// store's, the orchestrator's and the masters' registry's (each checks its own keys when it
// starts). The gateway's own keys are checked against its tables by tests/unit/test_config_doc.c.
// Per section: the keys the binary lists in its "unknown key" message are the rows, no more and
// no fewer; each integer's limits are the ones the binary's range message states, its maximum is
// accepted and one more is refused; each example is accepted (not refused by the key's own
// checks: an example may name a file that is not on this machine).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SHIPPED, tmpDir } from './lib.mjs';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const ORCH = process.env.CORTEX_ORCHESTRATOR_BIN || join(dirname(SHIPPED), 'cortex-orchestrator');
const doc = readFileSync(join(root, 'docs/CONFIG.md'), 'utf8');
const work = tmpDir();
const SECRET_ENV = { CX_DOC_SECRET: 'not-a-real-secret' };

// The rows of every six-column table: key, type, default, limits, meaning, example.
// (No cell holds a '|'.)
const rows = doc.split('\n').filter((l) => l.startsWith('| `')).map((l) => l.split('|').slice(1, -1).map((c) => c.trim()))
  .filter((c) => c.length === 6)
  .map(([key, type, def, limits, meaning, example]) => ({ key: key.replace(/`/g, ''), type, def, limits, meaning,
    example: example.replace(/^`|`$/g, '') }));
const under = (prefix) => rows.filter((r) => r.key.startsWith(prefix + '.') && !r.key.slice(prefix.length + 1).includes('.'));
const leaf = (r) => r.key.slice(r.key.lastIndexOf('.') + 1);
const range = (r) => r.limits.match(/^(\d+) – (\d+)$/)?.slice(1).map(Number);

function kubeconfig() {
  const path = join(work, 'kubeconfig');
  writeFileSync(path, ['apiVersion: v1', 'kind: Config', 'current-context: ctx', 'clusters:', '- name: c',
    '  cluster:', '    server: https://127.0.0.1:1', 'contexts:', '- name: ctx', '  context:', '    cluster: c',
    '    user: u', 'users:', '- name: u', '  user:', '    token: not-a-real-token', ''].join('\n'));
  return path;
}

function sshFiles() {
  const key = join(work, 'id_ed25519');
  const r = spawnSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', key], { encoding: 'utf8' });
  assert.equal(r.status, 0, 'ssh-keygen: ' + r.stderr + (r.error || ''));
  writeFileSync(join(work, 'known_hosts'), '# none yet\n');
  return { user: 'root', key: { file: key }, known_hosts: join(work, 'known_hosts'), hosts: { pve1: '127.0.0.1' } };
}

const proxmox = { url: 'https://127.0.0.1:1', token_id: 'cortex@pve!doc', token_secret: { env: 'CX_DOC_SECRET' } };
let ssh = null;
// Each section: a valid object for it, and how to put it into a gateway config.
const sections = () => {
  ssh ??= sshFiles();
  const adapter = (name, base) => ({ base, config: (o) => ({ adapters: { [name]: o }, tasks: { enabled: false } }) });
  return {
    'adapters.proxmox': adapter('proxmox', proxmox),
    'adapters.proxmox.ssh': { base: ssh, config: (o) => ({ adapters: { proxmox: { ...proxmox, ssh: o } }, tasks: { enabled: false } }) },
    'adapters.proxmox.ssh.hosts.NAME': { base: { address: '127.0.0.1' },
      config: (o) => ({ adapters: { proxmox: { ...proxmox, ssh: { ...ssh, hosts: { pve1: o } } } }, tasks: { enabled: false } }) },
    'adapters.cloudflare': adapter('cloudflare', { api_token: { env: 'CX_DOC_SECRET' } }),
    'adapters.sandfly': adapter('sandfly', { url: 'https://127.0.0.1:1', username: 'cortex', password: { env: 'CX_DOC_SECRET' } }),
    'adapters.unifi': adapter('unifi', { url: 'https://127.0.0.1:1', api_key: { env: 'CX_DOC_SECRET' } }),
    'adapters.kubectl': adapter('kubectl', { kubeconfig: kubeconfig() }),
  };
};

function checkConfig(config) {
  const file = join(work, 'gateway.json');
  writeFileSync(file, JSON.stringify(config));
  const r = spawnSync(SHIPPED, ['--check-config', '--config', file], { encoding: 'utf8', timeout: 20000,
    env: { ...process.env, ...SECRET_ENV, CORTEX_TASKS_DIR: join(work, 'tasks') } });
  assert.doesNotMatch(r.stderr, /Sanitizer|runtime error:/, 'no sanitizer report');
  return { status: r.status, out: r.stdout + r.stderr };
}

// The orchestrator has no --check-config: with no ANTHROPIC_API_KEY its built-in registry
// stops it right after its own keys were read, so that message means "accepted".
function orchestrator(orch, masters) {
  const file = join(work, 'orchestrator.json');
  const args = ['--config', file];
  writeFileSync(file, JSON.stringify({ tasks: { dir: join(work, 'otasks') }, orchestrator: orch }));
  if (masters) {
    writeFileSync(join(work, 'masters.json'), JSON.stringify(masters));
    args.push('--masters', join(work, 'masters.json'));
  }
  const env = { ...process.env };
  delete env.ANTHROPIC_API_KEY;
  delete env.ANTHROPIC_BASE_URL;
  const r = spawnSync(ORCH, args, { encoding: 'utf8', timeout: 20000, env });
  assert.notEqual(r.status, 0, 'the orchestrator stops before it runs: ' + r.stderr);
  assert.doesNotMatch(r.stderr, /Sanitizer|runtime error:/, 'no sanitizer report');
  return { status: r.status, out: r.stdout + r.stderr };
}

// Refused because of this key's own checks (type, range, unknown).
const refusedFor = (out, name) => new RegExp(`${name.replace(/[.[\]]/g, '\\$&')}'?:? (must|is unknown|has an unknown)|unknown key '[^']*${name}'`).test(out);

function checkSection(name, s) {
  const documented = under(name);
  assert.ok(documented.length > 0, `docs/CONFIG.md has rows under ${name}`);
  const bogus = checkConfig(s.config({ ...s.base, cx_doc_bogus: 1 }));
  const known = bogus.out.match(/\(known: ([^)]*)\)/);
  assert.ok(known, `${name}: the binary lists its keys: ${bogus.out}`);
  assert.deepEqual(documented.map(leaf).sort(), known[1].split(', ').sort(), `${name}: the rows are the keys the binary takes`);
  assert.equal(checkConfig(s.config(s.base)).status, 0, `${name}: the base config is valid`);
  for (const r of documented) {
    const example = JSON.parse(r.example);
    const ok = checkConfig(s.config({ ...s.base, [leaf(r)]: example }));
    assert.ok(!refusedFor(ok.out, leaf(r)), `${r.key}: the example ${r.example} is accepted: ${ok.out}`);
    if (r.type !== 'integer') continue;
    const [min, max] = range(r) || assert.fail(`${r.key}: an integer row gives its limits as "MIN – MAX": '${r.limits}'`);
    const huge = checkConfig(s.config({ ...s.base, [leaf(r)]: 1e13 }));
    assert.match(huge.out, new RegExp(`(from|between) ${min} (to|and) ${max}\\b`), `${r.key}: the binary's limits are ${r.limits}`);
    assert.ok(!refusedFor(checkConfig(s.config({ ...s.base, [leaf(r)]: max })).out, leaf(r)), `${r.key}: ${max} is accepted`);
    assert.ok(refusedFor(checkConfig(s.config({ ...s.base, [leaf(r)]: max + 1 })).out, leaf(r)), `${r.key}: ${max + 1} is refused`);
    if (min > 0) assert.ok(refusedFor(checkConfig(s.config({ ...s.base, [leaf(r)]: min - 1 })).out, leaf(r)), `${r.key}: ${min - 1} is refused`);
  }
}

for (const name of ['adapters.proxmox', 'adapters.proxmox.ssh', 'adapters.proxmox.ssh.hosts.NAME', 'adapters.cloudflare',
  'adapters.sandfly', 'adapters.unifi', 'adapters.kubectl']) {
  test(`CONFIG.md: ${name} has a row for each key the adapter takes, with its limits, and examples it accepts`, () => {
    checkSection(name, sections()[name]);
  });
}

test('CONFIG.md: an adapter documented here is one the gateway has, and every adapter it has is documented', () => {
  const r = spawnSync(SHIPPED, ['--version'], { encoding: 'utf8' });
  const line = r.stdout.split('\n').find((l) => /adapters/i.test(l));
  assert.ok(line, r.stdout);
  const built = line.replace(/^[^:]*:\s*/, '').replace(/\([^)]*\)/g, '').split(/[ ,]+/).filter((a) => a && !['gateway', 'cortex'].includes(a)).sort();
  const documented = [...new Set(rows.filter((x) => x.key.startsWith('adapters.')).map((x) => x.key.split('.')[1]))].sort();
  assert.deepEqual(documented, built);
});

test('CONFIG.md: the task store has a row for each key of each store, with its limits, and examples it accepts', () => {
  const docRows = under('tasks').filter((r) => r.key !== 'tasks.enabled');
  const of = (store) => docRows.filter((r) => !/^(dir|redis) store:/.test(r.meaning) || r.meaning.startsWith(store + ' store:'));
  for (const store of ['dir', 'redis']) {
    const base = store === 'dir' ? { store, dir: join(work, 'tasks') } : { store, url: 'redis://127.0.0.1:1/0' };
    const bogus = checkConfig({ tasks: { ...base, cx_doc_bogus: 1 } });
    const known = bogus.out.match(new RegExp(`the ${store} store takes ([^)]*)\\)`));
    assert.ok(known, bogus.out);
    assert.deepEqual(of(store).map(leaf).sort(), known[1].split(', ').sort(), `the ${store} store's keys are the rows`);
    assert.equal(checkConfig({ tasks: base }).status, 0, checkConfig({ tasks: base }).out);
    for (const r of of(store)) {
      if (r.key === 'tasks.store') continue;
      const value = JSON.parse(r.example);
      const ok = checkConfig({ tasks: { ...base, [leaf(r)]: value } });
      assert.ok(!refusedFor(ok.out, r.key), `${r.key}: the example ${r.example} is accepted: ${ok.out}`);
      if (r.type !== 'integer') continue;
      const [min, max] = range(r);
      const huge = checkConfig({ tasks: { ...base, [leaf(r)]: 1e13 } });
      assert.match(huge.out, new RegExp(`${r.key}:? must be an integer from ${min} to ${max}\\b`), `${r.key}: limits ${r.limits}: ${huge.out}`);
      assert.equal(checkConfig({ tasks: { ...base, [leaf(r)]: max } }).status, 0, `${r.key}: ${max} is accepted`);
      assert.ok(refusedFor(checkConfig({ tasks: { ...base, [leaf(r)]: min - 1 } }).out, r.key), `${r.key}: ${min - 1} is refused`);
    }
  }
  // The gateway's switch, and the store's name.
  assert.match(checkConfig({ tasks: { enabled: 'no' } }).out, /'tasks\.enabled' must be true or false/);
  assert.match(checkConfig({ tasks: { store: 'sqlite' } }).out, /"dir" or "redis"/);
  assert.equal(checkConfig({ tasks: { enabled: false } }).status, 0);
});

test('CONFIG.md: the orchestrator\'s keys are the ones it reads (its --help lists them), with their limits', () => {
  const help = spawnSync(ORCH, ['--help'], { encoding: 'utf8' }).stdout;
  const listed = help.match(/"orchestrator": \{([^}]*)\}/)[1].match(/"(\w+)"/g).map((k) => k.replace(/"/g, ''));
  const documented = under('orchestrator');
  assert.deepEqual(documented.map(leaf).sort(), listed.sort(), 'the rows are the keys --help lists');
  assert.match(orchestrator({ cx_doc_bogus: 1 }).out, /'orchestrator' has an unknown key 'cx_doc_bogus'/);
  for (const r of documented) {
    const ok = orchestrator({ [leaf(r)]: JSON.parse(r.example) });
    assert.match(ok.out, /has no API key|could not|no such file/i, `${r.key}: the example ${r.example} is accepted: ${ok.out}`);
    assert.ok(!refusedFor(ok.out, r.key), `${r.key}: the example is accepted: ${ok.out}`);
    if (r.type !== 'integer') continue;
    const [min, max] = range(r);
    assert.match(orchestrator({ [leaf(r)]: 1e13 }).out, new RegExp(`'${r.key}' must be an integer from ${min} to ${max}\\b`));
    assert.match(orchestrator({ [leaf(r)]: max }).out, /has no API key/, `${r.key}: ${max} is accepted`);
    if (min > 0) assert.ok(refusedFor(orchestrator({ [leaf(r)]: min - 1 }).out, r.key), `${r.key}: ${min - 1} is refused`);
  }
});

test('CONFIG.md: the masters\' registry has a row for each key a master, a model and limits take, with their limits', () => {
  // An anthropic model and no key: the registry is read in full, then the key is missing.
  const master = { name: 'general', models: [{ api: 'anthropic', model: 'm' }] };
  // A second master whose model has no key: the first is read in full, whatever its API.
  const load = (m) => orchestrator({}, { masters: [{ ...master, ...m }, { name: 'zz', models: ['m'] }] }).out;
  const accepted = /has no API key|environment variable/;
  assert.match(load({}), accepted);
  // A master's and a model's keys, as the message for an unknown key lists them.
  const masterKeys = load({ cx_doc_bogus: 1 }).match(/must be \{([^}]*)\}/)[1].split(', ').map((k) => k.replace('?', ''));
  assert.deepEqual(under('masters[]').map(leaf).sort(), masterKeys.sort());
  const modelKeys = load({ models: [{ model: 'm', cx_doc_bogus: 1 }] }).match(/must be a model name or \{([^}]*)\}/)[1]
    .split(', ').map((k) => k.replace('?', ''));
  assert.deepEqual(under('masters[].models[]').map(leaf).sort(), modelKeys.sort());
  assert.match(load({ limits: { cx_doc_bogus: 1 } }), /'masters\[0\]\.limits' has an unknown key 'cx_doc_bogus'/);
  for (const r of [...under('masters[]'), ...under('masters[].limits')]) {
    const path = r.key.replace('masters[].', '').split('.');
    const m = path.length === 1 ? { [path[0]]: JSON.parse(r.example) } : { [path[0]]: { [path[1]]: JSON.parse(r.example) } };
    if (path[0] === 'models') continue; // its own rows, below
    assert.match(load(m), accepted, `${r.key}: the example ${r.example} is accepted`);
    if (r.type !== 'integer') continue;
    const [min, max] = range(r);
    const set = (v) => (path.length === 1 ? { [path[0]]: v } : { [path[0]]: { [path[1]]: v } });
    assert.match(load(set(1e13)), new RegExp(`'masters\\[0\\]\\.${path.join('\\.')}' must be (an integer )?from ${min} to ${max}\\b`));
    assert.match(load(set(max)), accepted, `${r.key}: ${max} is accepted`);
    if (min > 0) assert.doesNotMatch(load(set(min - 1)), accepted, `${r.key}: ${min - 1} is refused`);
  }
  for (const r of under('masters[].models[]')) {
    const out = load({ models: [{ api: 'anthropic', model: 'm', [leaf(r)]: JSON.parse(r.example) }] });
    assert.doesNotMatch(out, /must be a model name|must be "anthropic" or "openai"/, `${r.key}: the example ${r.example} is accepted: ${out}`);
  }
});
