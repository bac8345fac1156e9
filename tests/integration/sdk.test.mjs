// The gateway as the official MCP TypeScript SDK client sees it, over both transports.
// If the reference client cannot talk to us, no client can: these tests pin what a user of
// Claude Desktop (stdio) or any Streamable HTTP client relies on.
//
// The binary is CORTEX_GATEWAY_BIN (default build/cortex-gateway-test, relative to the repo root),
// the gateway built with the test adapter: testkit_echo, testkit_sleep, testkit_fail.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { McpError } from '@modelcontextprotocol/sdk/types.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const BIN = path.resolve(ROOT, process.env.CORTEX_GATEWAY_BIN || 'build/cortex-gateway-test');
const PROTOCOL = '2025-11-25';
const SUITE_TIMEOUT_MS = 60_000;

// Variables the gateway child must see beside the SDK's small default set: sanitizer settings
// (make check runs this file against the ASan build) and the task folder.
function childEnv(dir) {
	const env = { CORTEX_TASKS_DIR: path.join(dir, 'tasks') };
	for (const k of ['ASAN_OPTIONS', 'UBSAN_OPTIONS', 'LSAN_OPTIONS', 'PATH', 'HOME']) {
		if (process.env[k] !== undefined) env[k] = process.env[k];
	}
	return env;
}

function makeConfigDir() {
	const dir = mkdtempSync(path.join(tmpdir(), 'cortex-sdk-'));
	const config = path.join(dir, 'config.json');
	writeFileSync(config, JSON.stringify({ adapters: { testkit: {} } }));
	return { dir, config };
}

function waitForExit(child, ms) {
	if (child.exitCode !== null || child.signalCode !== null) {
		return Promise.resolve({ code: child.exitCode, signal: child.signalCode });
	}
	return new Promise((resolve, reject) => {
		const timer = setTimeout(() => reject(new Error(`gateway did not exit within ${ms} ms`)), ms);
		child.once('exit', (code, signal) => {
			clearTimeout(timer);
			resolve({ code, signal });
		});
	});
}

// make check runs this file against the ASan/UBSan build: a report there is a failure even when
// the gateway went on answering.
function assertNoSanitizerReport(stderr) {
	assert.doesNotMatch(stderr, /Sanitizer|runtime error:/, `sanitizer report:\n${stderr}`);
}

function kill(child) {
	if (child && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
}

// All tools, across pages.
async function listAllTools(client) {
	const tools = [];
	let cursor;
	do {
		const page = await client.listTools(cursor ? { cursor } : {});
		tools.push(...page.tools);
		cursor = page.nextCursor;
	} while (cursor);
	return tools;
}

function textBlocks(result) {
	return (result.content || []).filter((c) => c.type === 'text').map((c) => c.text);
}

// The behaviour both transports must share. ctx() returns { client, errors }: errors collects
// what the SDK reported through onerror (unparsable output, failed streams).
function sharedSpecs(ctx) {
	it('identifies itself as cortex-gateway', () => {
		const info = ctx().client.getServerVersion();
		assert.equal(info?.name, 'cortex-gateway');
		assert.equal(typeof info.version, 'string');
		assert.ok(ctx().client.getServerCapabilities()?.tools, 'tools capability advertised');
	});

	it('lists gateway_status first, read-only, and the testkit tools', async () => {
		const tools = await listAllTools(ctx().client);
		assert.ok(tools.length >= 4, `expected at least 4 tools, got ${tools.length}`);
		assert.equal(tools[0].name, 'gateway_status');
		assert.equal(tools[0].annotations?.readOnlyHint, true);
		const names = tools.map((t) => t.name);
		for (const n of ['testkit_echo', 'testkit_sleep', 'testkit_fail']) {
			assert.ok(names.includes(n), `${n} listed (got ${names.join(', ')})`);
		}
		assert.equal(new Set(names).size, names.length, 'no tool listed twice');
		for (const t of tools) {
			assert.equal(t.inputSchema?.type, 'object', `${t.name} has an object inputSchema`);
			assert.equal(typeof t.description, 'string', `${t.name} has a description`);
		}
	});

	it('gateway_status returns structuredContent and the same JSON as text', async () => {
		const { client } = ctx();
		// listTools first so the SDK validates structuredContent against the outputSchema.
		await listAllTools(client);
		const res = await client.callTool({ name: 'gateway_status', arguments: {} });
		assert.notEqual(res.isError, true, JSON.stringify(res));
		const sc = res.structuredContent;
		assert.ok(sc && typeof sc === 'object', 'structuredContent present');
		assert.equal(typeof sc.version, 'string');
		assert.equal(sc.version, client.getServerVersion().version, 'status and serverInfo agree');
		assert.equal(typeof sc.uptime_s, 'number');
		assert.ok(sc.uptime_s >= 0);
		assert.ok('adapters' in sc, 'adapters reported');
		const texts = textBlocks(res);
		assert.equal(texts.length, 1, 'one text block');
		assert.deepEqual(JSON.parse(texts[0]), sc);
	});

	it('testkit_echo round-trips text, unicode and escapes included', async () => {
		const text = 'héllo ✓ "quoted" \\ back\nslash \u0001 and 🙂';
		const res = await ctx().client.callTool({ name: 'testkit_echo', arguments: { text } });
		assert.notEqual(res.isError, true, JSON.stringify(res));
		assert.deepEqual(res.structuredContent, { text });
		// A tool with an outputSchema sends the same JSON as text, for clients that read text.
		const texts = textBlocks(res);
		assert.equal(texts.length, 1, 'one text block');
		assert.deepEqual(JSON.parse(texts[0]), { text });
	});

	it('testkit_sleep with a small delay succeeds', async () => {
		const res = await ctx().client.callTool({ name: 'testkit_sleep', arguments: { ms: 5 } });
		assert.notEqual(res.isError, true, JSON.stringify(res));
	});

	it('a wrong argument type is an isError result naming the field', async () => {
		const { client } = ctx();
		const echo = await client.callTool({ name: 'testkit_echo', arguments: { text: 42 } });
		assert.equal(echo.isError, true, JSON.stringify(echo));
		assert.match(textBlocks(echo).join(' '), /text/);

		const sleep = await client.callTool({ name: 'testkit_sleep', arguments: { ms: 'soon' } });
		assert.equal(sleep.isError, true, JSON.stringify(sleep));
		assert.match(textBlocks(sleep).join(' '), /\bms\b/);
	});

	it('testkit_fail is an isError result with a message, not a protocol error', async () => {
		const res = await ctx().client.callTool({ name: 'testkit_fail', arguments: {} });
		assert.equal(res.isError, true, JSON.stringify(res));
		const texts = textBlocks(res);
		assert.ok(texts.length >= 1 && texts[0].length > 0, 'a text block says what failed');
	});

	it('an unknown tool rejects with McpError -32602', async () => {
		await assert.rejects(
			ctx().client.callTool({ name: 'no_such_tool', arguments: {} }),
			(err) => {
				assert.ok(err instanceof McpError, `McpError, got ${err}`);
				assert.equal(err.code, -32602);
				return true;
			},
		);
	});

	it('the session still works after the errors above', async () => {
		const res = await ctx().client.callTool({ name: 'testkit_echo', arguments: { text: 'ok' } });
		assert.deepEqual(res.structuredContent, { text: 'ok' });
	});

	it('the SDK reported no transport error', () => {
		assert.deepEqual(ctx().errors.map(String), []);
	});
}

describe('official SDK client over stdio', { timeout: SUITE_TIMEOUT_MS }, () => {
	let tmp;
	let transport;
	let client;
	let child;
	let stderr = '';
	const errors = [];

	before(async () => {
		assert.ok(existsSync(BIN), `gateway binary '${BIN}' is missing; run make`);
		tmp = makeConfigDir();
		transport = new StdioClientTransport({
			command: BIN,
			args: ['--stdio', '--config', tmp.config],
			env: childEnv(tmp.dir),
			cwd: tmp.dir,
			stderr: 'pipe',
		});
		transport.stderr.on('data', (d) => {
			stderr += d;
		});
		client = new Client({ name: 'cortex-sdk-test', version: '1.0.0' });
		client.onerror = (e) => errors.push(e);
		await client.connect(transport);
		// The SDK keeps its child private; the exit status is part of what we test.
		child = transport._process;
		assert.ok(child, 'the SDK exposes its child process');
	});

	after(() => {
		kill(child);
		if (tmp) rmSync(tmp.dir, { recursive: true, force: true });
		assertNoSanitizerReport(stderr);
	});

	sharedSpecs(() => ({ client, errors }));

	it('client.close() ends the session and the gateway exits 0', async () => {
		const exited = waitForExit(child, 5000);
		const t0 = Date.now();
		await client.close();
		// The SDK ends stdin, then sends SIGTERM after 2 s: the gateway must go on end of input.
		assert.ok(Date.now() - t0 < 1900, 'gateway exited on end of input, without SIGTERM');
		const { code, signal } = await exited;
		assert.equal(signal, null, `gateway killed by ${signal}; stderr:\n${stderr}`);
		assert.equal(code, 0, `gateway exit code; stderr:\n${stderr}`);
	});
});

describe('official SDK client over Streamable HTTP', { timeout: SUITE_TIMEOUT_MS }, () => {
	let tmp;
	let gateway;
	let url;
	let transport;
	let client;
	let stderr = '';
	const errors = [];

	before(async () => {
		assert.ok(existsSync(BIN), `gateway binary '${BIN}' is missing; run make`);
		tmp = makeConfigDir();
		const env = { ...childEnv(tmp.dir) };
		gateway = spawn(BIN, ['--listen', '127.0.0.1:0', '--config', tmp.config], {
			cwd: tmp.dir,
			env,
			stdio: ['ignore', 'ignore', 'pipe'],
		});
		const port = await new Promise((resolve, reject) => {
			const timer = setTimeout(
				() => reject(new Error(`no "listening on" line within 10 s; stderr:\n${stderr}`)),
				10_000,
			);
			gateway.stderr.on('data', (d) => {
				stderr += d;
				const m = /listening on http:\/\/127\.0\.0\.1:(\d+)\/mcp/.exec(stderr);
				if (m) {
					clearTimeout(timer);
					resolve(Number(m[1]));
				}
			});
			gateway.once('exit', (code, signal) => {
				clearTimeout(timer);
				reject(new Error(`gateway exited (${code ?? signal}) before listening:\n${stderr}`));
			});
		});
		assert.ok(port > 0 && port < 65536);
		url = new URL(`http://127.0.0.1:${port}/mcp`);
		transport = new StreamableHTTPClientTransport(url);
		client = new Client({ name: 'cortex-sdk-test', version: '1.0.0' });
		client.onerror = (e) => errors.push(e);
		await client.connect(transport);
	});

	after(() => {
		kill(gateway);
		if (tmp) rmSync(tmp.dir, { recursive: true, force: true });
		assertNoSanitizerReport(stderr);
	});

	it('negotiates the latest protocol version and issues a session id', () => {
		assert.equal(transport.protocolVersion, PROTOCOL);
		assert.equal(typeof transport.sessionId, 'string');
		assert.ok(transport.sessionId.length > 0);
	});

	sharedSpecs(() => ({ client, errors }));

	it('a request without a session id is refused with 400', async () => {
		const res = await fetch(url, {
			method: 'POST',
			headers: {
				accept: 'application/json, text/event-stream',
				'content-type': 'application/json',
				'mcp-protocol-version': PROTOCOL,
			},
			body: JSON.stringify({ jsonrpc: '2.0', id: 7, method: 'tools/list' }),
		});
		await res.body?.cancel();
		assert.equal(res.status, 400);
	});

	it('DELETE ends the session; the old id then gets 404', async () => {
		const sid = transport.sessionId;
		const headers = { 'mcp-session-id': sid, 'mcp-protocol-version': PROTOCOL };
		const del = await fetch(url, { method: 'DELETE', headers });
		await del.body?.cancel();
		assert.ok([200, 204].includes(del.status), `DELETE answered ${del.status}`);
		const again = await fetch(url, {
			method: 'POST',
			headers: {
				...headers,
				accept: 'application/json, text/event-stream',
				'content-type': 'application/json',
			},
			body: JSON.stringify({ jsonrpc: '2.0', id: 8, method: 'tools/list' }),
		});
		await again.body?.cancel();
		assert.equal(again.status, 404);
	});

	it('client.close() ends cleanly and the gateway keeps serving new clients', async () => {
		await client.close();
		assert.equal(gateway.exitCode, null, 'gateway still running');
		const other = new Client({ name: 'cortex-sdk-test-2', version: '1.0.0' });
		await other.connect(new StreamableHTTPClientTransport(url));
		const res = await other.callTool({ name: 'testkit_echo', arguments: { text: 'again' } });
		assert.deepEqual(res.structuredContent, { text: 'again' });
		await other.close();
	});

	it('SIGTERM stops the gateway with exit 0', async () => {
		const exited = waitForExit(gateway, 10_000);
		gateway.kill('SIGTERM');
		const { code, signal } = await exited;
		assert.equal(signal, null, `gateway killed by ${signal}; stderr:\n${stderr}`);
		assert.equal(code, 0, `gateway exit code; stderr:\n${stderr}`);
	});
});
