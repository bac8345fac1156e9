// proxmox_node_exec against a real OpenSSH server (/usr/sbin/sshd) that this file starts on a
// free loopback port with its own host keys, user keys and sshd_config: commands that succeed,
// fail, write to stderr, overrun their time or their output cap; host keys pinned through
// known_hosts as OpenSSH writes it (plain, [host]:port, hashed), a changed key and an unknown
// host refused before any credential is sent; the allow-list and shell metacharacters refused
// before any connection; cancellation that closes the connection at once; and no private key
// or passphrase in anything the gateway writes. No sshd is a failure, not a skip.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { userInfo } from 'node:os';
import { join } from 'node:path';
import { GATEWAY, assertAllStopCleanly, startStdio, tmpDir, writeConfig } from './lib.mjs';

const SSHD = '/usr/sbin/sshd';
const PASSPHRASE = 'correct horse battery staple 7';
const running = [];
const gateways = [];
let sshd;
let dir;
let port;
const user = userInfo().username;

const text = (r) => r.content.map((c) => c.text).join('\n');
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function keygen(...args) {
  const r = spawnSync('ssh-keygen', ['-q', ...args], { encoding: 'utf8' });
  assert.equal(r.status, 0, 'ssh-keygen ' + args.join(' ') + ': ' + r.stderr + (r.error || ''));
  return r.stdout;
}

function freePort() {
  return new Promise((res, rej) => {
    const srv = net.createServer();
    srv.on('error', rej);
    srv.listen(0, '127.0.0.1', () => {
      const p = srv.address().port;
      srv.close(() => res(p));
    });
  });
}

// sshd on 127.0.0.1:port; resolves once it listens, rejects with its log when it exits.
function startSshd(p) {
  const conf = join(dir, 'sshd_config');
  writeFileSync(conf, [
    'ListenAddress 127.0.0.1', `Port ${p}`,
    `HostKey ${join(dir, 'host_ed25519')}`, `HostKey ${join(dir, 'host_ecdsa')}`,
    `AuthorizedKeysFile ${join(dir, 'authorized_keys')}`, `PidFile ${join(dir, 'sshd.pid')}`,
    'StrictModes no', 'UsePAM no', 'PasswordAuthentication no', 'KbdInteractiveAuthentication no',
    'PubkeyAuthentication yes', 'PermitRootLogin prohibit-password', `AllowUsers ${user}`,
    'LogLevel VERBOSE', 'MaxStartups 100', 'X11Forwarding no', 'AllowTcpForwarding no',
    'PrintMotd no', 'PrintLastLog no', '',
  ].join('\n'));
  const child = spawn(SSHD, ['-D', '-e', '-f', conf], { stdio: ['ignore', 'ignore', 'pipe'] });
  const s = { child, log: '', kill() { if (child.exitCode === null) child.kill('SIGTERM'); } };
  child.stderr.setEncoding('utf8');
  s.ready = new Promise((res, rej) => {
    child.stderr.on('data', (d) => {
      s.log += d;
      if (/Server listening on 127\.0\.0\.1 port \d+/.test(s.log)) res();
    });
    child.on('exit', (code) => rej(new Error(`sshd exited with ${code}: ${s.log}`)));
  });
  return s;
}

before(async () => {
  assert.ok(existsSync(SSHD), `${SSHD} is missing: install openssh-server (scripts/deps.sh test does); these tests need a real sshd`);
  dir = tmpDir();
  keygen('-t', 'ed25519', '-N', '', '-C', 'host', '-f', join(dir, 'host_ed25519'));
  keygen('-t', 'ecdsa', '-N', '', '-C', 'host', '-f', join(dir, 'host_ecdsa'));
  keygen('-t', 'ed25519', '-N', '', '-C', 'other-host', '-f', join(dir, 'other_host'));
  keygen('-t', 'ed25519', '-N', '', '-C', 'cortex', '-f', join(dir, 'id_cortex'));
  keygen('-t', 'ed25519', '-N', PASSPHRASE, '-C', 'cortex-enc', '-f', join(dir, 'id_encrypted'));
  keygen('-t', 'ed25519', '-N', '', '-C', 'stranger', '-f', join(dir, 'id_stranger'));
  keygen('-t', 'rsa', '-b', '2048', '-N', '', '-C', 'cortex-rsa', '-f', join(dir, 'id_rsa'));
  writeFileSync(join(dir, 'authorized_keys'), ['id_cortex', 'id_encrypted', 'id_rsa']
    .map((k) => readFileSync(join(dir, k + '.pub'), 'utf8')).join(''));
  writeFileSync(join(dir, 'passphrase'), PASSPHRASE + '\n', { mode: 0o600 });
  // Run as root, sshd wants its privilege-separation directory.
  if (process.getuid() === 0 && !existsSync('/run/sshd')) mkdirSync('/run/sshd', { mode: 0o755 });
  let lastErr;
  for (let attempt = 0; attempt < 5 && !sshd; attempt++) {
    const p = await freePort();
    const s = startSshd(p);
    try {
      await s.ready;
      sshd = s;
      port = p;
      running.push(s);
    } catch (e) {
      lastErr = e; // most likely the port was taken in between: try another
      s.kill();
    }
  }
  assert.ok(sshd, 'could not start sshd: ' + lastErr);
});

after(() => running.forEach((p) => p.kill()));

const hostPub = (name) => readFileSync(join(dir, name + '.pub'), 'utf8').trim();
const fingerprint = (name) => keygen('-l', '-E', 'sha256', '-f', join(dir, name + '.pub')).split(' ')[1];

function knownHosts(lines) {
  const path = join(tmpDir(), 'known_hosts');
  writeFileSync(path, lines.join('\n') + '\n');
  return path;
}

const TEST_ALLOW = ['uptime', 'df -h', 'pveversion', 'false', 'ls PATH', 'seq N', 'sleep N', 'head -c N PATH',
  'ls ' + Array(30).fill('PATH').join(' ')];

function sshConf(extra = {}) {
  return {
    user, key: { file: join(dir, 'id_cortex') },
    known_hosts: knownHosts([`[127.0.0.1]:${port} ${hostPub('host_ed25519')}`]),
    hosts: { pve1: { address: '127.0.0.1', port } },
    allow: TEST_ALLOW, timeout_ms: 20000, ...extra,
  };
}

async function gateway(ssh, { calls = { timeout_ms: 30000 } } = {}) {
  const proxmox = { url: 'http://127.0.0.1:9', token_id: 'root@pam!cortex', token_secret: { env: 'PX_SECRET' } };
  if (ssh) proxmox.ssh = ssh;
  const g = startStdio(['--config', writeConfig({ calls, adapters: { proxmox } })], { env: { PX_SECRET: 'x-secret' } });
  running.push(g);
  gateways.push(g);
  await g.initialize();
  g.call = async (command, node = 'pve1') =>
    (await g.request('tools/call', { name: 'proxmox_node_exec', arguments: { node, command } }, Math.floor(Math.random() * 1e9))).result;
  return g;
}

// Connections from this machine to sshd's port that are open right now (/proc/net/tcp).
function connectionsToSshd() {
  let n = 0;
  for (const f of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let t;
    try { t = readFileSync(f, 'utf8'); } catch { continue; }
    for (const line of t.split('\n').slice(1)) {
      const c = line.trim().split(/\s+/);
      if (c.length > 3 && c[3] === '01' && parseInt(c[2].split(':')[1], 16) === port) n++;
    }
  }
  return n;
}

// Processes running exactly argv (the remote commands run on this machine).
function pidsOf(argv) {
  const want = argv.join('\0') + '\0';
  const pids = [];
  for (const e of readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    try { if (readFileSync(`/proc/${e}/cmdline`, 'utf8') === want) pids.push(Number(e)); } catch { /* gone */ }
  }
  return pids;
}

// Without a terminal a command outlives its closed channel (libssh2 1.10 cannot ask sshd to
// signal it): the tests end the ones they started.
function killLeft(argv) {
  for (const pid of pidsOf(argv)) {
    try { process.kill(pid, 'SIGKILL'); } catch { /* ended meanwhile */ }
  }
}

async function waitFor(cond, ms, what) {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (cond()) return;
    await sleep(25);
  }
  assert.fail('timed out waiting for ' + what);
}

const sshdCount = (re) => (sshd.log.match(re) || []).length;

test('tools/list: proxmox_node_exec is read-only with the default allow-list, destructive when ssh.allow allows more', async () => {
  const byDefault = await gateway(sshConf({ allow: undefined }));
  const t1 = (await byDefault.request('tools/list', {})).result.tools.find((t) => t.name === 'proxmox_node_exec');
  assert.ok(t1, 'listed');
  assert.equal(t1.annotations.readOnlyHint, true);
  assert.equal(t1.annotations.destructiveHint, false);
  assert.equal(t1.annotations.openWorldHint, true);
  assert.deepEqual(t1.inputSchema.required, ['node', 'command']);
  const widened = await gateway(sshConf()); // TEST_ALLOW goes past the defaults (sleep, cat ...)
  const t2 = (await widened.request('tools/list', {})).result.tools.find((t) => t.name === 'proxmox_node_exec');
  assert.equal(t2.annotations.readOnlyHint, false);
  assert.equal(t2.annotations.destructiveHint, true);
  assert.equal(t2.annotations.openWorldHint, true);
  assert.match(widened.stderr(), /ssh\.allow goes beyond the read-only default list/);
});

test('a command that succeeds: stdout, empty stderr, exit 0; spaces normalised', async () => {
  const g = await gateway(sshConf());
  const connections = sshdCount(/Connection from/g);
  const r = await g.call('uptime');
  assert.equal(sshdCount(/Connection from/g), connections + 1, 'sshd logs each connection (the refusal tests count on it)');
  assert.equal(r.isError, undefined, text(r) + sshd.log.slice(-2000));
  const s = r.structuredContent;
  assert.equal(s.node, 'pve1');
  assert.equal(s.command, 'uptime');
  assert.equal(s.exit_status, 0);
  assert.match(s.stdout, /load average/);
  assert.equal(s.stderr, '');
  assert.equal(s.stdout_truncated, false);
  assert.equal(s.stderr_truncated, false);
  assert.ok(Number.isInteger(s.duration_ms));
  assert.deepEqual(JSON.parse(text(r)), s, 'the same JSON as text');

  const df = await g.call('  df    -h ');
  assert.equal(df.structuredContent.command, 'df -h', 'sent as single-spaced words');
  assert.equal(df.structuredContent.exit_status, 0);
  assert.match(df.structuredContent.stdout, /^Filesystem/);
  assert.match(sshd.log, new RegExp(`Accepted publickey for ${user} from 127\\.0\\.0\\.1`));
});

test('a failing command is a result with its exit status and stderr, not an error', async () => {
  const g = await gateway(sshConf());
  const ls = await g.call('ls /nonexistent-cortex-test');
  assert.equal(ls.isError, undefined, text(ls));
  assert.equal(ls.structuredContent.exit_status, 2);
  assert.equal(ls.structuredContent.stdout, '');
  assert.match(ls.structuredContent.stderr, /nonexistent-cortex-test.*No such file or directory/);

  const f = await g.call('false');
  assert.equal(f.structuredContent.exit_status, 1);
  assert.equal(f.structuredContent.stdout + f.structuredContent.stderr, '');

  // A default-list command this machine does not have: the shell's 127.
  const pv = await g.call('pveversion');
  assert.equal(pv.structuredContent.exit_status, 127);
  assert.match(pv.structuredContent.stderr, /pveversion.*not found/);
});

test('a command ended by a signal reports the signal; bytes that are not UTF-8 become U+FFFD', async () => {
  const g = await gateway(sshConf({ timeout_ms: 60000 }));
  const pending = g.call('sleep 26');
  await waitFor(() => pidsOf(['sleep', '26']).length > 0, 15000, 'the command to start on the node');
  for (const pid of pidsOf(['sleep', '26'])) process.kill(pid, 'SIGTERM');
  const r = await pending;
  assert.equal(r.isError, undefined, text(r));
  assert.equal(r.structuredContent.exit_status, null);
  assert.equal(r.structuredContent.signal, 'TERM');

  const bin = await g.call('head -c 64 /usr/bin/true');
  assert.equal(bin.structuredContent?.exit_status, 0, text(bin));
  assert.ok(bin.structuredContent.stdout.startsWith('\u007fELF'));
  assert.ok(bin.structuredContent.stdout.includes('\ufffd'), 'invalid bytes replaced, not the whole output lost');
  assert.ok(bin.structuredContent.stdout.includes('\u0000'), 'NUL bytes kept');
});

test('stdout and stderr are capped separately; the command still runs to its end', async () => {
  const g = await gateway(sshConf({ max_output_bytes: 1024 }));
  const r = await g.call('seq 200000');
  assert.equal(r.isError, undefined, text(r));
  const s = r.structuredContent;
  assert.equal(s.stdout_truncated, true);
  assert.equal(s.stdout.length, 1024);
  assert.ok(s.stdout.startsWith('1\n2\n3\n'));
  assert.equal(s.stderr_truncated, false);
  assert.equal(s.exit_status, 0, 'read to the end, so the exit status is known');

  const paths = Array.from({ length: 30 }, (_, i) => `/nonexistent-cortex-${i}`).join(' ');
  const e = await g.call('ls ' + paths);
  assert.equal(e.structuredContent.stderr_truncated, true);
  assert.equal(e.structuredContent.stderr.length, 1024);
  assert.equal(e.structuredContent.stdout_truncated, false);
  assert.equal(e.structuredContent.exit_status, 2);
});

test('connect_timeout_ms bounds a server that never speaks SSH; a closed port is said plainly', async () => {
  const silent = net.createServer((sock) => { sock.on('error', () => {}); });
  await new Promise((r) => silent.listen(0, '127.0.0.1', r));
  const closed = await freePort();
  try {
    const g = await gateway(sshConf({
      connect_timeout_ms: 800,
      hosts: { pve1: { address: '127.0.0.1', port }, mute: { address: '127.0.0.1', port: silent.address().port },
        gone: { address: '127.0.0.1', port: closed } },
    }));
    const t0 = Date.now();
    const r = await g.call('uptime', 'mute');
    const took = Date.now() - t0;
    assert.equal(r.isError, true);
    assert.match(text(r), /^mute \(\[127\.0\.0\.1\]:\d+\) did not complete the SSH connection within 800 ms; check that the node is up/);
    assert.ok(took >= 800 && took < 5000, `took ${took} ms`);
    const c = await g.call('uptime', 'gone');
    assert.match(text(c), /^could not connect to gone \(\[127\.0\.0\.1\]:\d+\): Connection refused; check that the node is up/);
    // Several calls at once, each on its own connection.
    const all = await Promise.all([1, 2, 3].map(() => g.call('uptime')));
    for (const x of all) assert.equal(x.structuredContent?.exit_status, 0, text(x));
  } finally {
    silent.close();
  }
});

test('a command that overruns ssh.timeout_ms is stopped: isError, the connection closed', async () => {
  const g = await gateway(sshConf({ timeout_ms: 1500 }));
  const t0 = Date.now();
  const r = await g.call('sleep 29');
  const took = Date.now() - t0;
  assert.equal(r.isError, true);
  assert.match(text(r), /the command did not finish within 1500 ms on pve1 \(\[127\.0\.0\.1\]:\d+\); its channel was closed/);
  assert.ok(took >= 1500 && took < 8000, `took ${took} ms`);
  await waitFor(() => connectionsToSshd() === 0, 3000, 'the connection to close');
  killLeft(['sleep', '29']);
});

test('the call deadline bounds the command too (calls.timeout_ms below ssh.timeout_ms)', async () => {
  const g = await gateway(sshConf({ timeout_ms: 60000 }), { calls: { timeout_ms: 2000 } });
  const t0 = Date.now();
  const r = await g.call('sleep 28');
  assert.equal(r.isError, true);
  assert.match(text(r), /'proxmox_node_exec' did not finish within 2000 ms and was abandoned/);
  assert.ok(Date.now() - t0 < 8000);
  await waitFor(() => connectionsToSshd() === 0, 3000, 'the connection to close after the deadline');
  killLeft(['sleep', '28']);
});

test('notifications/cancelled closes the channel and the connection at once, and frees the worker', async () => {
  const g = await gateway(sshConf({ timeout_ms: 60000 }), { calls: { timeout_ms: 60000, workers: 1 } });
  const id = 4242;
  g.send({ jsonrpc: '2.0', id, method: 'tools/call', params: { name: 'proxmox_node_exec', arguments: { node: 'pve1', command: 'sleep 27' } } });
  await waitFor(() => pidsOf(['sleep', '27']).length > 0, 15000, 'the command to start on the node');
  assert.ok(connectionsToSshd() >= 1, 'connected while the command runs');
  const t0 = Date.now();
  g.send({ jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: id, reason: 'test' } });
  await waitFor(() => connectionsToSshd() === 0, 3000, 'the connection to close after the cancellation');
  const closedIn = Date.now() - t0;
  assert.ok(closedIn < 3000, `closed ${closedIn} ms after the cancellation`);
  // The only worker is free again: the next call runs (and nothing answers the cancelled one).
  const r = await g.call('uptime');
  assert.equal(r.structuredContent.exit_status, 0, text(r));
  await sleep(200);
  assert.equal(g.pending(), 0, 'no answer to the cancelled request');
  killLeft(['sleep', '27']);
});

test('a changed host key is refused before the key is offered, naming the fingerprint it saw', async () => {
  const before = sshdCount(/publickey/g);
  const g = await gateway(sshConf({ known_hosts: knownHosts([`[127.0.0.1]:${port} ${hostPub('other_host')}`]) }));
  const r = await g.call('uptime');
  assert.equal(r.isError, true);
  assert.match(text(r), /refused: the host key of pve1 \(\[127\.0\.0\.1\]:\d+\) has CHANGED/);
  assert.ok(text(r).includes('ssh-ed25519 ' + fingerprint('host_ed25519')), text(r));
  assert.match(text(r), /do not retry/);
  await sleep(300);
  assert.equal(sshdCount(/publickey/g), before, 'sshd saw no authentication attempt: ' + sshd.log.slice(-1500));
});

test('an unknown host is refused; a port-22 entry does not vouch for another port', async () => {
  const before = sshdCount(/publickey/g);
  const kh = knownHosts([`127.0.0.1 ${hostPub('host_ed25519')}`, `[127.0.0.2]:${port} ${hostPub('host_ed25519')}`]);
  const g = await gateway(sshConf({ known_hosts: kh }));
  assert.match(g.stderr(), new RegExp(`ssh host 'pve1' has no key under '\\[127\\.0\\.0\\.1\\]:${port}' in known_hosts`));
  const r = await g.call('uptime');
  assert.equal(r.isError, true);
  assert.match(text(r), new RegExp(`refused: pve1 \\(\\[127\\.0\\.0\\.1\\]:${port}\\) is not in known_hosts '${kh}'`));
  assert.ok(text(r).includes('it shows ssh-ed25519 ' + fingerprint('host_ed25519')), text(r));
  const empty = await gateway(sshConf({ known_hosts: knownHosts(['# nothing yet']) }));
  assert.match(text(await empty.call('uptime')), /is not in known_hosts/);
  await sleep(300);
  assert.equal(sshdCount(/publickey/g), before, 'no key offered to an unknown host');
  assert.equal(readFileSync(kh, 'utf8').split('\n').filter(Boolean).length, 2, 'nothing added to known_hosts');
});

test('hashed known_hosts (ssh-keygen -H) and a host pinned only by its ECDSA key both work', async () => {
  const kh = knownHosts([`[127.0.0.1]:${port} ${hostPub('host_ed25519')}`]);
  keygen('-H', '-f', kh);
  assert.match(readFileSync(kh, 'utf8'), /^\|1\|[^ ]+ ssh-ed25519 /, 'hashed by OpenSSH');
  const g = await gateway(sshConf({ known_hosts: kh }));
  const r = await g.call('uptime');
  assert.equal(r.structuredContent?.exit_status, 0, text(r));

  // sshd offers ed25519 first; only the pinned type may be negotiated.
  const ec = await gateway(sshConf({ known_hosts: knownHosts([`[127.0.0.1]:${port} ${hostPub('host_ecdsa')}`]) }));
  const r2 = await ec.call('uptime');
  assert.equal(r2.structuredContent?.exit_status, 0, text(r2));
});

test('key authentication: a key the node does not know, an encrypted key with and without its passphrase', async () => {
  const stranger = await gateway(sshConf({ key: { file: join(dir, 'id_stranger') } }));
  const r = await stranger.call('uptime');
  assert.equal(r.isError, true);
  assert.match(text(r), new RegExp(`pve1 \\(\\[127\\.0\\.0\\.1\\]:\\d+\\) refused the key for user '${user}'`));

  const enc = await gateway(sshConf({ key: { file: join(dir, 'id_encrypted') }, passphrase: { file: join(dir, 'passphrase') } }));
  const ok = await enc.call('uptime');
  assert.equal(ok.structuredContent?.exit_status, 0, text(ok));

  const nopass = await gateway(sshConf({ key: { file: join(dir, 'id_encrypted') } }));
  const bad = await nopass.call('uptime');
  assert.equal(bad.isError, true);
  assert.match(text(bad), /the private key could not be used/);

  // libssh2 1.10 signs with ssh-rsa (SHA-1), which this OpenSSH refuses: said at start-up.
  // 1.11 signs with rsa-sha2 and just works.
  const version = spawnSync('pkg-config', ['--modversion', 'libssh2'], { encoding: 'utf8' }).stdout.trim();
  const rsa = await gateway(sshConf({ key: { file: join(dir, 'id_rsa') } }));
  const rr = await rsa.call('uptime');
  if (/^1\.10\./.test(version)) {
    assert.match(rsa.stderr(), /'ssh\.key' is an RSA key: libssh2 1\.10\.\d+ signs with ssh-rsa \(SHA-1\), which OpenSSH 8\.8 and later refuse/);
    assert.match(text(rr), /refused the key/);
    assert.match(sshd.log, /signature algorithm ssh-rsa not in PubkeyAcceptedAlgorithms/);
  } else {
    assert.equal(rr.structuredContent?.exit_status, 0, `libssh2 ${version}: ` + text(rr));
    assert.doesNotMatch(rsa.stderr(), /RSA key/);
  }
  assert.doesNotMatch(enc.stderr(), /RSA key/);
});

test('commands outside the allow-list are refused without connecting, with the list', async () => {
  const before = sshdCount(/Connection from/g);
  const g = await gateway(sshConf({ allow: undefined })); // the default list
  assert.doesNotMatch(g.stderr(), /goes beyond the read-only default list/);
  assert.ok(gateways.some((x) => /proxmox: ssh\.allow goes beyond the read-only default list/.test(x.stderr())),
    'a gateway with the wider test list warned about it');
  for (const cmd of ['rm -rf /', 'qm start 100', 'qm list --full', 'journalctl -u pveproxy -n 10 -f', 'ls /', 'sleep 1']) {
    const r = await g.call(cmd);
    assert.equal(r.isError, true, cmd);
    assert.match(text(r), /matches no allowed command on this gateway\. Allowed commands .*: pveversion; qm list; pct list; uptime; df -h; zpool status; journalctl -u UNIT -n N$/, cmd);
  }
  const unknownNode = await g.call('uptime', 'pve9');
  assert.match(text(unknownNode), /no SSH host is configured for node 'pve9'; .* are: pve1/);
  await sleep(300);
  assert.equal(sshdCount(/Connection from/g), before, 'sshd saw no connection');
});

test('shell metacharacters are refused before any pattern or connection', async () => {
  const before = sshdCount(/Connection from/g);
  const g = await gateway(sshConf());
  const marker = join(dir, 'injected');
  for (const cmd of [`uptime; touch ${marker}`, `uptime && touch ${marker}`, `ls $(touch ${marker})`,
    `ls \`touch ${marker}\``, `uptime\ntouch ${marker}`, `ls /tmp|touch ${marker}`, `ls '/tmp'`,
    `ls /tmp > ${marker}`, 'ls /et*', 'ls ~', 'ls\t/tmp']) {
    const r = await g.call(cmd);
    assert.equal(r.isError, true, cmd);
    assert.match(text(r), /^refused: the command holds .*shell metacharacters/, cmd);
  }
  await sleep(300);
  assert.equal(existsSync(marker), false, 'nothing ran');
  assert.equal(sshdCount(/Connection from/g), before, 'sshd saw no connection');
});

test('without "ssh" the tool says it is not set up', async () => {
  const g = await gateway(null);
  const r = await g.call('uptime');
  assert.equal(r.isError, true);
  assert.match(text(r), /proxmox_node_exec is not set up on this gateway/);
});

test('bad ssh settings stop start-up, naming the key and never quoting the key file', () => {
  const pub = join(dir, 'id_cortex.pub');
  const cases = [
    [{ colour: 'blue' }, /unknown key 'ssh\.colour' \(known: user, key, /],
    [{ key: { file: pub } }, /'ssh\.key' must hold a private key/],
    [{ key: 'inline' }, /'ssh\.key' must be \{"file": PATH\} or \{"env": NAME\}/],
    [{ known_hosts: join(dir, 'missing') }, /'ssh\.known_hosts': cannot read known_hosts '.*missing'/],
    [{ allow: ['cat FILE'] }, /ssh\.allow\[0\]: unknown placeholder 'FILE'/],
    [{ allow: ['uptime; id'] }, /ssh\.allow\[0\]: the word 'uptime;' holds ';'/],
    [{ allow: [] }, /ssh\.allow must be a non-empty array of at most 256 command patterns/],
    [{ hosts: { pve1: { address: '127.0.0.1', port: 70000 } } }, /'ssh\.hosts\.pve1\.port' must be an integer from 1 to 65535/],
    [{ hosts: {} }, /'ssh\.hosts' must map node names to addresses/],
    [{ user: undefined }, /'ssh\.user' must be the remote user name/],
    [{ timeout_ms: 5 }, /'ssh\.timeout_ms' must be an integer from 100 to/],
  ];
  const privateKey = readFileSync(join(dir, 'id_cortex'), 'utf8');
  for (const [extra, pattern] of cases) {
    const conf = writeConfig({ adapters: { proxmox: { url: 'http://127.0.0.1:9', token_id: 'root@pam!cortex', token_secret: { env: 'PX_SECRET' }, ssh: sshConf(extra) } } });
    const r = spawnSync(GATEWAY, ['--check-config', '--config', conf], { encoding: 'utf8', env: { ...process.env, PX_SECRET: 'x' }, timeout: 10000 });
    assert.equal(r.status, 1, JSON.stringify(extra) + r.stdout + r.stderr);
    assert.match(r.stderr, /adapter 'proxmox': /);
    assert.match(r.stderr, pattern, JSON.stringify(extra));
    for (const line of privateKey.split('\n').filter((l) => l.length > 20 && !l.startsWith('-----'))) assert.ok(!r.stderr.includes(line));
  }
});

test('no private key or passphrase in anything the gateways wrote', async () => {
  const secrets = [PASSPHRASE];
  for (const k of ['id_cortex', 'id_encrypted', 'id_stranger', 'id_rsa']) {
    for (const line of readFileSync(join(dir, k), 'utf8').split('\n')) {
      if (line.length > 20 && !line.startsWith('-----')) secrets.push(line);
    }
  }
  assert.ok(gateways.length >= 10);
  for (const g of gateways) {
    for (const s of secrets) assert.ok(!g.stderr().includes(s), 'a secret in the gateway\'s stderr');
  }
  await assertAllStopCleanly(running.filter((p) => gateways.includes(p)), assert);
});
