// Every Sandfly tool against Prism mocking Sandfly's own published OpenAPI description
// (sandfly-openapi.yaml, shipped by Sandfly in github.com/sandflysecurity/sandfly-setup under
// api_examples/): Prism validates each request the adapter sends, and the check fails on any
// violation or if a tool's request never reached it.
//
// Not a *.test.mjs, so `make test` does not run it: ../shared/specs holds no Sandfly
// description. Run it by hand with the file at hand:
//   CORTEX_SANDFLY_SPEC=/path/to/sandfly-openapi.yaml node --test tests/integration/prism-sandfly.mjs
// (or put it in ../shared/specs as sandfly-openapi.yaml and rename this file to
// prism-sandfly.test.mjs). The description's paths are relative to its server URL
// (https://{host}/v4), which Prism does not apply, so they are prefixed with /v4 in a copy.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { startStdio, tmpDir, writeConfig } from './lib.mjs';
import { SPECS, running, startPrism, violations, callAll } from './prism-lib.mjs';

after(() => running.forEach((p) => p.kill('SIGKILL')));

const SPEC = process.env.CORTEX_SANDFLY_SPEC || join(SPECS, 'sandfly-openapi.yaml');

test('every Sandfly tool sends requests Sandfly\'s API description accepts', async () => {
  assert.ok(existsSync(SPEC), `no Sandfly API description at ${SPEC}: set CORTEX_SANDFLY_SPEC`);
  const dir = tmpDir();
  writeFileSync(join(dir, 'sandfly-v4.yaml'),
    readFileSync(SPEC, 'utf8').replace(/^ {2}(["']?)\//gm, '  $1/v4/'));
  const prism = await startPrism(relative(SPECS, join(dir, 'sandfly-v4.yaml')));
  const conf = writeConfig({ adapters: { sandfly: {
    url: prism.url, username: 'cortex', password: { env: 'SF_PASSWORD' }, retries: 0 } } });
  const g = startStdio(['--config', conf], { env: { SF_PASSWORD: 'prism-password-value' } });
  running.push(g.child);
  await g.initialize();
  const out = await callAll(g, [
    ['sandfly_list_hosts', { limit: 5, page: 2 }],
    ['sandfly_get_host', { host: '64a1f0c2b9e8d7a6c5b4e3f2' }],
    ['sandfly_get_results', { status: 'alert', hostname: 'web01', host_id: 'abc', type: 'file',
      sandfly: 'file_hidden_binary_tmp', since: '2024-05-01', limit: 10 }],
    ['sandfly_query', { filter: { items: [{ field: 'data.severity', operator: '>=', value: 3 }],
      logicOperator: 'and' }, sort: [{ field: 'data.end_time', sort: 'asc' }], summary: true }],
    ['sandfly_query', { result_ids: ['1001'], summary: false }],
    ['sandfly_start_scan', { host_ids: ['64a1f0c2b9e8d7a6c5b4e3f2'], sandflies: ['log_wtmp_tampered'] }],
  ]);
  for (const [call, r] of Object.entries(out))
    assert.equal(r.isError, undefined, call + ': ' + JSON.stringify(r));
  await g.close();
  const log = prism.log();
  for (const path of ['post /v4/auth/login', 'get /v4/hosts', 'get /v4/hosts/', 'post /v4/results', 'post /v4/scan'])
    assert.ok(log.includes(path), `${path} reached Prism`);
  assert.deepEqual(violations(log), [], 'Prism found no violation in any request');
  assert.ok(!g.stderr().includes('prism-password-value'));
});
