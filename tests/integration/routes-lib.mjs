// What the tests of the operations routes share: /metrics read with a real Prometheus text
// parser (parse-prometheus-text-format) after a strict check of the exposition format 0.0.4
// (the parser itself is lenient), and every REST answer checked against the OpenAPI 3.1
// description the gateway serves (gateway/openapi.json): the status must be documented for
// the operation and the body must validate against its schema (ajv, JSON Schema 2020-12).
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import parsePrometheus from 'parse-prometheus-text-format';
import Ajv2020 from 'ajv/dist/2020.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const OPENAPI = JSON.parse(readFileSync(join(root, 'gateway/openapi.json'), 'utf8'));

// ---- Prometheus ----

const NAME = '[a-zA-Z_:][a-zA-Z0-9_:]*';
const LABEL = '[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\\\\n]|\\\\[\\\\"n])*"';
const SAMPLE = new RegExp(`^(${NAME})(?:\\{(${LABEL}(?:,${LABEL})*)\\})? (\\S+)$`);
const SUFFIXES = { histogram: ['_bucket', '_sum', '_count'], summary: ['', '_sum', '_count'] };

const LABEL_PAIR = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\[\\"n])*)"/g;
const unescape = (v) => v.replace(/\\(.)/g, (_, c) => (c === 'n' ? '\n' : c));

// Checks text line by line as the text format 0.0.4 says; returns the families' types by name
// and every sample as {name, labels, value}.
export function checkExposition(text) {
  assert.ok(text.endsWith('\n'), 'the exposition ends with a newline');
  const types = new Map();
  const samples = [];
  const helped = new Set();
  let family = null;
  for (const line of text.slice(0, -1).split('\n')) {
    let m;
    if ((m = line.match(new RegExp(`^# HELP (${NAME}) (.*)$`)))) {
      assert.ok(!helped.has(m[1]), `HELP of ${m[1]} given twice`);
      helped.add(m[1]);
      family = m[1];
      continue;
    }
    if ((m = line.match(new RegExp(`^# TYPE (${NAME}) (counter|gauge|histogram|summary|untyped)$`)))) {
      assert.ok(!types.has(m[1]), `TYPE of ${m[1]} given twice`);
      assert.equal(m[1], family, `TYPE of ${m[1]} follows its HELP`);
      types.set(m[1], m[2]);
      continue;
    }
    m = line.match(SAMPLE);
    assert.ok(m, `not a sample line: ${JSON.stringify(line)}`);
    const type = types.get(family);
    assert.ok(type, `sample ${m[1]} before its family's TYPE`);
    const ok = (SUFFIXES[type] || ['']).some((s) => m[1] === family + s);
    assert.ok(ok, `sample ${m[1]} outside its family ${family}`);
    assert.ok(!Number.isNaN(Number(m[3])) || ['+Inf', '-Inf', 'NaN'].includes(m[3]), `value of ${line}`);
    if (type === 'counter') assert.match(family, /_total$/, `counter ${family} ends in _total`);
    const labels = {};
    for (const [, k, v] of (m[2] || '').matchAll(LABEL_PAIR)) {
      assert.ok(!(k in labels), `label ${k} twice in ${line}`);
      labels[k] = unescape(v);
    }
    samples.push({ name: m[1], labels, value: Number(m[3].replace('Inf', 'Infinity')) });
  }
  return { types, samples };
}

// {name: {type, metrics: [{labels, value}]}} from the parser, after the checks; the parser and
// the checks must agree on every family and its type. The parser (a port of prom2json) folds
// the series of a histogram that has labels besides le into one, so histograms are read from
// the checked samples instead (see histogram()).
export function parseMetrics(text) {
  const { types, samples } = checkExposition(text);
  const out = {};
  for (const f of parsePrometheus(text)) out[f.name] = f;
  assert.deepEqual(Object.keys(out).sort(), [...types.keys()].sort(), 'the parser saw the same families');
  for (const [name, type] of types) assert.equal(out[name].type, type.toUpperCase(), name);
  Object.defineProperty(out, 'samples', { value: samples });
  return out;
}

const matches = (labels = {}, want) => Object.entries(want).every(([k, v]) => labels[k] === v);

// The value of the one sample of name whose labels include want; 0 when none matches.
export function value(metrics, name, want = {}) {
  const f = metrics[name];
  assert.ok(f, `no metric ${name}`);
  const hits = f.metrics.filter((s) => matches(s.labels, want));
  assert.ok(hits.length <= 1, `${hits.length} samples of ${name} match ${JSON.stringify(want)}`);
  return hits.length ? Number(hits[0].value) : 0;
}

// The histogram of name whose labels include want: {buckets: {le: n}, count, sum} as numbers,
// with its buckets checked cumulative and le="+Inf" equal to _count.
export function histogram(metrics, name, want = {}) {
  assert.equal(metrics[name]?.type, 'HISTOGRAM', `${name} is a histogram`);
  const mine = metrics.samples.filter((s) => matches(s.labels, want));
  const buckets = {};
  for (const s of mine.filter((x) => x.name === name + '_bucket')) buckets[s.labels.le] = s.value;
  const one = (suffix) => {
    const hits = mine.filter((x) => x.name === name + suffix);
    assert.equal(hits.length, 1, `one ${name}${suffix} with ${JSON.stringify(want)}`);
    return hits[0].value;
  };
  const count = one('_count');
  const sum = one('_sum');
  assert.ok('+Inf' in buckets, `${name} has le="+Inf"`);
  let last = 0;
  for (const le of Object.keys(buckets).sort((a, b) => Number(a.replace('Inf', 'Infinity')) - Number(b.replace('Inf', 'Infinity')))) {
    assert.ok(buckets[le] >= last, `buckets of ${name} are cumulative`);
    last = buckets[le];
  }
  assert.equal(buckets['+Inf'], count, `${name}: le="+Inf" equals _count`);
  return { buckets, count, sum };
}

export async function scrape(base, token) {
  const r = await fetch(base + '/metrics', { headers: token ? { Authorization: 'Bearer ' + token } : {} });
  assert.equal(r.status, 200, await r.clone().text());
  assert.equal(r.headers.get('content-type'), 'text/plain; version=0.0.4; charset=utf-8');
  return parseMetrics(await r.text());
}

// ---- OpenAPI ----

const ajv = new Ajv2020({ strict: false, allErrors: true });
ajv.addSchema({ ...OPENAPI, $id: 'openapi.json' });

// The operation of the description that serves method on path (templates matched per segment).
function operation(method, path) {
  const segs = path.split('?')[0].split('/');
  for (const [tmpl, item] of Object.entries(OPENAPI.paths)) {
    const t = tmpl.split('/');
    if (t.length !== segs.length) continue;
    if (t.every((s, i) => (s.startsWith('{') && segs[i] !== '') || s === segs[i])) {
      return { tmpl, op: item[method.toLowerCase()] };
    }
  }
  return { tmpl: null, op: null };
}

// Fetches path on base and checks the answer against the description; returns
// {status, headers, body} (body parsed when JSON). A path the description does not have is
// a failure, except when allowed (a 404 for an unknown route is checked as an Error).
export async function rest(base, method, path, { token, body, raw, headers = {} } = {}) {
  const init = { method, headers: { ...headers } };
  if (token) init.headers.Authorization = 'Bearer ' + token;
  if (raw !== undefined) {
    init.body = raw;
    init.headers['Content-Type'] ??= 'application/json';
  } else if (body !== undefined) {
    init.body = JSON.stringify(body);
    init.headers['Content-Type'] = 'application/json';
  }
  const r = await fetch(base + path, init);
  const ctype = r.headers.get('content-type') || '';
  const text = await r.text();
  const parsed = ctype.startsWith('application/json') ? JSON.parse(text) : text;
  checkAnswer(method, path, r.status, ctype, parsed);
  return { status: r.status, headers: r.headers, body: parsed };
}

const ERROR_SCHEMA = { $ref: 'openapi.json#/components/schemas/Error' };

export function checkAnswer(method, path, status, ctype, body) {
  const { tmpl, op } = operation(method, path);
  let schema;
  if (!op) {
    // Unknown paths and methods are answered with an Error.
    assert.ok([404, 405].includes(status), `${method} ${path}: ${status} for a path the description lacks`);
    schema = ERROR_SCHEMA;
  } else {
    let resp = op.responses[String(status)];
    assert.ok(resp, `${method} ${tmpl}: status ${status} is not documented (body ${JSON.stringify(body)})`);
    if (resp.$ref) resp = OPENAPI.components.responses[resp.$ref.split('/').pop()];
    const media = Object.keys(resp.content || {});
    const m = media.find((k) => ctype.startsWith(k));
    assert.ok(m, `${method} ${tmpl} ${status}: content type ${ctype} not among ${media}`);
    schema = resp.content[m].schema;
    if (schema.$ref) schema = { $ref: 'openapi.json' + schema.$ref };
  }
  const validate = ajv.compile(schema);
  assert.ok(validate(body), `${method} ${path} ${status}: body does not match the description: ` +
    JSON.stringify(validate.errors) + ' body ' + JSON.stringify(body));
}
