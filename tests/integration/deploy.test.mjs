// Single-host deployment and the image: `make install` (PREFIX, DESTDIR) lays out the binaries,
// the systemd units and the example configs; the units pass `systemd-analyze verify` and carry
// their hardening; the systemd example config passes --check-config; the Dockerfile's runtime
// packages hold every shared library the built binaries load (ldd, dpkg).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SHIPPED, tmpDir } from './lib.mjs';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
// The build folder the binaries under test are in (build/, or build-asan/ under make check).
const O = relative(root, dirname(SHIPPED)) || '.';
const ORCH = join(dirname(SHIPPED), 'cortex-orchestrator');
const CTL = join(dirname(SHIPPED), 'cortexctl');
const UNITS = ['cortex-gateway.service', 'cortex-orchestrator.service'];

// make in the project with the binaries under test taken as they are (-o: never rebuilt here,
// where the flags they were built with, a sanitizer's say, are not known).
function make(...args) {
  const keep = ['cortex-gateway', 'cortex-orchestrator', 'cortexctl'].flatMap((b) => ['-o', join(O, b)]);
  const r = spawnSync('make', ['--no-print-directory', '-C', root, `O=${O}`, ...keep, ...args], { encoding: 'utf8', timeout: 300000 });
  assert.equal(r.status, 0, r.stdout + r.stderr);
  return r;
}

test('make install DESTDIR=… PREFIX=/usr/local lays out the binaries, the units and the examples', () => {
  const d = tmpDir();
  make('install', `DESTDIR=${d}`, 'PREFIX=/usr/local');
  const want = {
    'usr/local/bin/cortex-gateway': 0o755,
    'usr/local/bin/cortex-orchestrator': 0o755,
    'usr/local/lib/systemd/system/cortex-gateway.service': 0o644,
    'usr/local/lib/systemd/system/cortex-orchestrator.service': 0o644,
    'usr/local/share/doc/cortex/examples/gateway.json': 0o644,
    'usr/local/share/doc/cortex/examples/masters.json': 0o644,
    'usr/local/share/doc/cortex/examples/README.md': 0o644,
    'usr/local/share/doc/cortex/examples/systemd/gateway.json': 0o644,
    'usr/local/share/doc/cortex/examples/systemd/orchestrator.json': 0o644,
  };
  want['usr/local/bin/cortexctl'] = 0o755;
  want['usr/local/share/bash-completion/completions/cortexctl'] = 0o644;
  const found = spawnSync('find', [d, '-type', 'f'], { encoding: 'utf8' }).stdout.trim().split('\n')
    .map((f) => relative(d, f)).sort();
  assert.deepEqual(found, Object.keys(want).sort());
  for (const [f, mode] of Object.entries(want)) assert.equal(statSync(join(d, f)).mode & 0o777, mode, f);
  // The installed binaries are the built ones, and run.
  assert.deepEqual(readFileSync(join(d, 'usr/local/bin/cortex-gateway')), readFileSync(SHIPPED));
  assert.deepEqual(readFileSync(join(d, 'usr/local/bin/cortex-orchestrator')), readFileSync(ORCH));
  assert.deepEqual(readFileSync(join(d, 'usr/local/bin/cortexctl')), readFileSync(CTL));
  assert.equal(readFileSync(join(d, 'usr/local/share/bash-completion/completions/cortexctl'), 'utf8'),
    readFileSync(join(root, 'cli/cortexctl.bash'), 'utf8'));
  const v = spawnSync(join(d, 'usr/local/bin/cortex-orchestrator'), ['--version'], { encoding: 'utf8' });
  assert.match(v.stdout, /^cortex-orchestrator \d+\.\d+\.\d+/);
  // The units name the installed binaries: PREFIX, not DESTDIR.
  const unit = readFileSync(join(d, 'usr/local/lib/systemd/system/cortex-gateway.service'), 'utf8');
  assert.match(unit, /^ExecStart=\/usr\/local\/bin\/cortex-gateway --config \/etc\/cortex\/gateway.json$/m);
  assert.ok(!unit.includes(d) && !unit.includes('@BINDIR@'));
  assert.deepEqual(JSON.parse(readFileSync(join(d, 'usr/local/share/doc/cortex/examples/masters.json'), 'utf8')),
    JSON.parse(readFileSync(join(root, 'manifests/examples/masters.json'), 'utf8')));
});

const haveAnalyze = spawnSync('systemd-analyze', ['--version']).status === 0;

test('the systemd units pass systemd-analyze verify and are hardened', { skip: !haveAnalyze && 'systemd-analyze is absent (scripts/deps.sh test installs systemd)' }, () => {
  const p = tmpDir();
  make('install', `PREFIX=${p}`);
  const units = UNITS.map((u) => join(p, 'lib/systemd/system', u));
  const r = spawnSync('systemd-analyze', ['verify', ...units], { encoding: 'utf8', timeout: 60000 });
  assert.equal(r.status, 0, r.stdout + r.stderr);
  assert.equal((r.stdout + r.stderr).trim(), '', 'no warning');
  // The verification is real: a unit with a misspelt directive or a missing binary is refused.
  const bad = join(p, 'bad.service');
  writeFileSync(bad, readFileSync(units[0], 'utf8').replace('ProtectHome=yes', 'ProtectHome=maybe\nProtectHomes=yes')
    .replace(`${p}/bin/cortex-gateway --config`, `${p}/bin/no-such-binary --config`));
  const b = spawnSync('systemd-analyze', ['verify', bad], { encoding: 'utf8', timeout: 60000 });
  assert.match(b.stdout + b.stderr, /ProtectHomes|no-such-binary|ProtectHome/);
  for (const u of UNITS) {
    const text = readFileSync(join(p, 'lib/systemd/system', u), 'utf8');
    for (const line of ['DynamicUser=yes', 'User=cortex', 'ProtectSystem=strict', 'ProtectHome=yes', 'PrivateTmp=yes',
      'NoNewPrivileges=yes', 'PrivateDevices=yes', 'CapabilityBoundingSet=', 'RestrictSUIDSGID=yes',
      'MemoryDenyWriteExecute=yes', 'SystemCallFilter=@system-service', 'StateDirectory=cortex cortex/tasks', 'UMask=0077']) {
      assert.match(text, new RegExp(`^${line.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`, 'm'), `${u}: ${line}`);
    }
  }
  assert.match(readFileSync(units[0], 'utf8'), /^LoadCredential=session-key:\/etc\/cortex\/secrets\/session-key$/m);
  // systemd's own exposure score: "OK" (below 2.0) or better.
  const s = spawnSync('systemd-analyze', ['security', '--offline=yes', units[0]], { encoding: 'utf8', timeout: 60000 });
  if (s.status === 0 || /exposure level/.test(s.stdout)) {
    const m = /Overall exposure level for \S+: (\d+\.\d+)/.exec(s.stdout);
    assert.ok(m && Number(m[1]) < 2.0, s.stdout.split('\n').slice(-3).join('\n'));
  }
});

test('the systemd example config passes --check-config where the units put its files', () => {
  // The unit's paths (credentials, StateDirectory, LogsDirectory) moved under a folder.
  const fs = tmpDir();
  const text = readFileSync(join(root, 'manifests/examples/systemd/gateway.json'), 'utf8');
  for (const [, path] of text.matchAll(/"(\/[^"]*)"/g)) {
    assert.match(path, /^\/(run\/credentials\/cortex-gateway\.service|var\/lib\/cortex|var\/log\/cortex)\//, `${path} is a path the unit provides`);
  }
  const conf = text
    .replaceAll('/run/credentials/cortex-gateway.service', join(fs, 'credentials'))
    .replaceAll('/var/lib/cortex', join(fs, 'state'))
    .replaceAll('/var/log/cortex', join(fs, 'logs'));
  for (const d of ['credentials', 'state/tasks', 'logs']) mkdirSync(join(fs, d), { recursive: true });
  writeFileSync(join(fs, 'credentials/session-key'), randomBytes(48).toString('base64'), { mode: 0o400 });
  writeFileSync(join(fs, 'gateway.json'), conf);
  const r = spawnSync(SHIPPED, ['--check-config', '--config', join(fs, 'gateway.json')], { encoding: 'utf8', timeout: 30000 });
  assert.equal(r.status, 0, r.stdout + r.stderr);
  assert.match(r.stdout, new RegExp(`^audit: ${join(fs, 'logs')}/audit.log$`, 'm'));
  // The orchestrator's example opens the same store.
  const orch = JSON.parse(readFileSync(join(root, 'manifests/examples/systemd/orchestrator.json'), 'utf8'));
  assert.deepEqual(orch.tasks, JSON.parse(readFileSync(join(root, 'manifests/examples/systemd/gateway.json'), 'utf8')).tasks);
  const unit = readFileSync(join(root, 'manifests/systemd/cortex-orchestrator.service'), 'utf8');
  assert.match(unit, /^ExecStart=@BINDIR@\/cortex-orchestrator --config \/etc\/cortex\/orchestrator.json$/m);
});

// Debian packages of the shared libraries a binary loads (ldd, then dpkg -S).
function packagesOf(bins, needed) {
  const pkgs = new Set();
  for (const b of bins) {
    let libs;
    if (needed) {
      const r = spawnSync('readelf', ['-d', b], { encoding: 'utf8' });
      assert.equal(r.status, 0, r.stderr);
      const names = [...r.stdout.matchAll(/\(NEEDED\)\s+Shared library: \[(.+)\]/g)].map((m) => m[1]);
      const ldd = spawnSync('ldd', [b], { encoding: 'utf8' }).stdout;
      libs = names.map((n) => new RegExp(`^\\s*${n.replace(/[.+]/g, '\\$&')} => (\\S+)`, 'm').exec(ldd)?.[1]);
      assert.ok(libs.every((l) => l), `${b}: every NEEDED library resolves: ${ldd}`);
    } else {
      const r = spawnSync('ldd', [b], { encoding: 'utf8' });
      assert.equal(r.status, 0, r.stderr);
      assert.doesNotMatch(r.stdout, /not found/);
      libs = [...r.stdout.matchAll(/=> (\/\S+)/g)].map((m) => m[1]);
    }
    for (const l of libs) {
      let s = spawnSync('dpkg', ['-S', l], { encoding: 'utf8' });
      if (s.status !== 0) s = spawnSync('dpkg', ['-S', spawnSync('readlink', ['-f', l], { encoding: 'utf8' }).stdout.trim()], { encoding: 'utf8' });
      assert.equal(s.status, 0, `the package of ${l}: ${s.stderr}`);
      pkgs.add(s.stdout.split(':')[0].trim());
    }
  }
  return pkgs;
}

// The packages apt installs with these: their Depends and Pre-Depends, recursively.
function closure(names) {
  const seen = new Set();
  const todo = [...names];
  while (todo.length) {
    const p = todo.pop();
    if (seen.has(p)) continue;
    seen.add(p);
    const r = spawnSync('dpkg-query', ['-W', '-f=${Depends}, ${Pre-Depends}', p], { encoding: 'utf8' });
    if (r.status !== 0) continue;
    for (const alt of r.stdout.split(',')) {
      const name = alt.split('|')[0].trim().split(/[\s(:]/)[0];
      if (name) todo.push(name);
    }
  }
  return seen;
}

test('the Dockerfile: build on debian:12, run on debian:12-slim as a non-root user, with every library the binaries load', () => {
  const df = readFileSync(join(root, 'Dockerfile'), 'utf8');
  assert.match(df, /^FROM debian:12 AS build$/m);
  const stages = df.split(/^FROM /m);
  const runtime = stages[stages.length - 1];
  assert.match(runtime, /^debian:12-slim$/m);
  assert.match(runtime, /^USER 10001:10001$/m);
  assert.match(runtime, /useradd --system --uid 10001/);
  const block = /# runtime-packages-begin\n([\s\S]*?)# runtime-packages-end/.exec(runtime)[1];
  const listed = block.replace(/\\\n/g, ' ').match(/--no-install-recommends\s+([^&]+)/)[1].trim().split(/\s+/);
  assert.ok(!/-dev\b/.test(listed.join(' ')), 'no -dev package at run time');
  const bins = [SHIPPED, ORCH, CTL];
  // Every package a loaded library comes from is listed, pulled in by one listed, or part of
  // debian:12-slim (Priority: required, and what those depend on).
  const required = spawnSync('dpkg-query', ['-W', '-f=${Package} ${Priority}\n'], { encoding: 'utf8' }).stdout
    .split('\n').filter((l) => l.endsWith(' required')).map((l) => l.split(' ')[0]);
  const provided = closure([...listed, ...required]);
  const loaded = packagesOf(bins, false);
  assert.ok(loaded.has('libmicrohttpd12') && loaded.has('libcurl4'), [...loaded].join(' '));
  // Under make check the binaries are sanitizer builds, which the image never ships: their
  // runtimes (and what those pull in, libstdc++) are left out.
  const sanitizer = closure([...loaded].filter((p) => /^lib(asan|ubsan|lsan|tsan)\d/.test(p)));
  for (const p of loaded) {
    if (sanitizer.has(p) && !provided.has(p)) continue;
    assert.ok(provided.has(p), `${p} (a library the binaries load) is installed by the runtime stage`);
  }
  // And nothing listed is unneeded: each library package provides a library a binary links.
  const direct = packagesOf(bins, true);
  for (const p of listed.filter((x) => x !== 'ca-certificates')) assert.ok(direct.has(p), `${p} is linked by a binary`);
  const base = closure(required);
  for (const p of direct) {
    if (sanitizer.has(p)) continue;
    assert.ok(listed.includes(p) || base.has(p), `${p} (linked directly) is listed`);
  }
});
