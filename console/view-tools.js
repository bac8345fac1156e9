// Tools: every tool this token may call (GET /v1/tools) with its description and annotations,
// and a form built from its input schema to call it (POST /v1/tools/{name}); the result is
// shown as a table or JSON, and isError as an error.
import { ApiError, callTool, listTools, resultText } from './api.js';
import { clear, emptyState, errorBox, h, jsonBlock, jsonText } from './dom.js';

const HINTS = [
  ['readOnlyHint', 'read-only', 'ok'], ['destructiveHint', 'destructive', 'warn'],
  ['idempotentHint', 'idempotent', ''], ['openWorldHint', 'open world', ''],
];

function typeOf(s) {
  const t = s && s.type;
  if (Array.isArray(t)) return t.find((x) => x !== 'null') || 'string';
  if (t) return t;
  if (s && Array.isArray(s.enum)) return typeof s.enum[0] === 'number' ? 'number' : 'string';
  return 'json';
}

// One field: {el, read() -> [has, value] | throws Error naming the field}
function field(tool, name, s, required) {
  const id = `f-${tool}-${name}`.replace(/[^A-Za-z0-9_-]/g, '_');
  const type = typeOf(s);
  const desc = s && typeof s.description === 'string' ? s.description : '';
  const label = h('label', { for: id }, h('code', null, name), required ? h('span', { class: 'req' }, ' (required)') : null);
  const hint = desc ? h('p', { id: id + '-hint', class: 'hint' }, desc) : null;
  const common = { id, name, 'aria-describedby': desc ? id + '-hint' : null, required: required || null };
  let input;
  let read;
  if (s && Array.isArray(s.enum)) {
    input = h('select', common, required ? null : h('option', { value: '' }, '(not set)'),
      s.enum.map((v, i) => h('option', { value: String(i) }, typeof v === 'string' ? v : JSON.stringify(v))));
    read = () => (input.value === '' ? [false] : [true, s.enum[Number(input.value)]]);
  } else if (type === 'boolean') {
    input = h('select', common, h('option', { value: '' }, '(not set)'), h('option', { value: 'true' }, 'true'), h('option', { value: 'false' }, 'false'));
    read = () => (input.value === '' ? [false] : [true, input.value === 'true']);
  } else if (type === 'integer' || type === 'number') {
    input = h('input', { ...common, type: 'number', inputmode: type === 'integer' ? 'numeric' : 'decimal', step: type === 'integer' ? '1' : 'any', min: s.minimum ?? null, max: s.maximum ?? null });
    read = () => {
      if (input.value.trim() === '') return [false];
      const n = Number(input.value);
      if (!Number.isFinite(n) || (type === 'integer' && !Number.isInteger(n))) throw new Error(`${name}: not ${type === 'integer' ? 'an integer' : 'a number'}`);
      return [true, n];
    };
  } else if (type === 'string') {
    input = h('input', { ...common, type: /password|secret|token/i.test(name) ? 'password' : 'text', autocomplete: 'off', maxlength: s.maxLength ?? null });
    read = () => (input.value === '' ? [false] : [true, input.value]);
  } else if (type === 'array' && s.items && typeOf(s.items) === 'string' && !Array.isArray(s.items.enum)) {
    input = h('textarea', { ...common, rows: '3' });
    label.append(h('span', { class: 'hint' }, ' — one per line'));
    read = () => {
      const v = input.value.split('\n').map((x) => x.trim()).filter(Boolean);
      return v.length ? [true, v] : [false];
    };
  } else {
    input = h('textarea', { ...common, rows: '4', class: 'mono', spellcheck: 'false' });
    label.append(h('span', { class: 'hint' }, ` — JSON${type !== 'json' ? ' ' + type : ''}`));
    read = () => {
      if (input.value.trim() === '') return [false];
      try {
        return [true, JSON.parse(input.value)];
      } catch (e) {
        throw new Error(`${name}: not JSON (${e.message})`);
      }
    };
  }
  const wrap = h('div', { class: 'field' }, label, input, hint);
  return { name, required, input, wrap, read };
}

// Rows of the first array of objects in a value (the value itself, or one of its properties).
function rowsOf(v) {
  const isRows = (a) => Array.isArray(a) && a.length > 0 && a.every((x) => x && typeof x === 'object' && !Array.isArray(x));
  if (isRows(v)) return { key: '', rows: v };
  if (v && typeof v === 'object') {
    for (const [k, x] of Object.entries(v)) if (isRows(x)) return { key: k, rows: x };
  }
  return null;
}

function table(key, rows) {
  const cols = [];
  for (const r of rows.slice(0, 100)) for (const k of Object.keys(r)) if (!cols.includes(k) && cols.length < 12) cols.push(k);
  const cell = (v) => (v === null || v === undefined ? '' : typeof v === 'object' ? JSON.stringify(v) : String(v));
  return h('div', { class: 'table-wrap', tabindex: '0', role: 'region', 'aria-label': key || 'result rows' },
    h('table', null,
      key ? h('caption', null, key) : null,
      h('thead', null, h('tr', null, cols.map((c) => h('th', { scope: 'col' }, c)))),
      h('tbody', null, rows.slice(0, 500).map((r) => h('tr', null, cols.map((c) => h('td', null, cell(r[c]))))))));
}

export function resultView(r) {
  const box = h('div', { class: 'result' + (r && r.isError ? ' result-error' : ' result-ok') });
  if (r && r.isError) {
    box.setAttribute('role', 'alert');
    box.append(h('p', { class: 'error-title' }, 'The tool answered with an error'), h('pre', { class: 'text' }, resultText(r) || jsonText(r)));
    return box;
  }
  box.setAttribute('role', 'status');
  const sc = r ? r.structuredContent : undefined;
  if (sc !== undefined) {
    const rows = rowsOf(sc);
    if (rows) box.append(table(rows.key, rows.rows));
    box.append(h('details', { open: rows ? null : true }, h('summary', null, 'JSON'), jsonBlock(sc)));
  } else {
    const text = resultText(r);
    box.append(text ? h('pre', { class: 'text' }, text) : emptyState('The tool answered with no content.'));
  }
  return box;
}

function toolForm(t) {
  const s = t.inputSchema || {};
  const req = new Set(Array.isArray(s.required) ? s.required : []);
  const fields = Object.entries(s.properties || {}).map(([k, v]) => field(t.name, k, v, req.has(k)));
  const out = h('div', { class: 'tool-output', 'aria-live': 'polite' });
  const button = h('button', { type: 'submit', class: 'primary' }, 'Call ' + t.name);
  const form = h('form', { class: 'tool-form', novalidate: true, 'aria-label': 'Call ' + t.name },
    fields.length ? fields.map((f) => f.wrap) : h('p', { class: 'hint' }, 'This tool takes no arguments.'),
    button, out);
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    clear(out);
    const args = {};
    for (const f of fields) {
      f.input.removeAttribute('aria-invalid');
      try {
        const [has, v] = f.read();
        if (has) args[f.name] = v;
        else if (f.required) throw new Error(`${f.name} is required`);
      } catch (e) {
        f.input.setAttribute('aria-invalid', 'true');
        out.append(errorBox(e.message));
        f.input.focus();
        return;
      }
    }
    button.disabled = true;
    out.append(h('p', { class: 'hint' }, 'Calling…'));
    try {
      const r = await callTool(t.name, args);
      clear(out).append(resultView(r));
    } catch (e) {
      clear(out).append(errorBox(e instanceof ApiError && e.status ? `The gateway refused the call (${e.status}): ${e.message}` : e.message));
    } finally {
      button.disabled = false;
    }
  });
  return form;
}

function toolItem(t) {
  const a = t.annotations || {};
  const badges = HINTS.filter(([k]) => a[k] === true).map(([, label, cls]) => h('span', { class: 'badge hint-' + (cls || 'plain') }, label));
  const details = h('details', { class: 'tool', id: 'tool-' + t.name },
    h('summary', null, h('code', { class: 'tool-name' }, t.name), ' ', badges));
  let built = false;
  details.addEventListener('toggle', () => {
    if (!details.open || built) return;
    built = true;
    if (t.title && t.title !== t.name) details.append(h('p', { class: 'tool-title' }, t.title));
    details.append(
      h('p', { class: 'description' }, t.description || ''),
      h('p', { class: 'hint' }, 'Annotations: ', Object.keys(a).length ? Object.entries(a).map(([k, v]) => `${k}: ${JSON.stringify(v)}`).join(', ') : 'none'),
      toolForm(t));
  });
  return h('li', { 'data-tool': t.name }, details);
}

export function render(root, ctx) {
  const list = h('div', { id: 'tool-list' }, h('p', { class: 'hint' }, 'Loading the tools…'));
  const search = h('input', { id: 'tool-search', type: 'search', autocomplete: 'off' });
  root.append(h('h1', null, 'Tools'),
    h('div', { class: 'filters' }, h('div', null, h('label', { for: 'tool-search' }, 'Find a tool'), search)),
    list);
  const ac = new AbortController();
  const draw = (tools) => {
    clear(list);
    if (!tools.length) {
      list.append(emptyState('No tools are allowed for this token (its allow-list in the gateway config matches none).'));
      return;
    }
    const ul = h('ul', { class: 'tools' }, tools.slice().sort((a, b) => a.name.localeCompare(b.name)).map(toolItem));
    list.append(h('p', { class: 'hint', role: 'status' }, `${tools.length} tools`), ul);
    search.addEventListener('input', () => {
      const q = search.value.trim().toLowerCase();
      for (const li of ul.children) li.hidden = !!q && !li.dataset.tool.toLowerCase().includes(q);
    });
  };
  listTools({ signal: ac.signal }).then((tools) => { ctx.tools.splice(0, ctx.tools.length, ...tools); draw(tools); }).catch((e) => {
    if (e && e.name === 'AbortError') return;
    clear(list).append(errorBox('The tools could not be read: ' + e.message));
  });
  return () => ac.abort();
}
