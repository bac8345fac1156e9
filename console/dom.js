// Small DOM helpers. Every string from the server goes in as text (textContent or a text
// node), never as markup: task titles, tool results and model answers are not trusted.

// h('a', {href: '#/x', class: 'c', onclick: fn}, 'text', child, [more]) -> Element
export function h(tag, props, ...kids) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(props || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k === 'class') el.className = v;
    else if (k === 'text') el.textContent = String(v);
    else if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (k === 'style') throw new Error('no inline styles: use a class');
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of kids.flat(Infinity)) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

export function clear(el) {
  el.replaceChildren();
  return el;
}

// A JSON value, indented, as text.
export function jsonText(v) {
  try {
    return JSON.stringify(v, null, 2);
  } catch {
    return String(v);
  }
}

export function jsonBlock(v, cls = 'json') {
  return h('pre', { class: cls }, h('code', { text: typeof v === 'string' ? v : jsonText(v) }));
}

// "1 h 02 min", "3 min 04 s", "12.3 s", "450 ms"
export function duration(ms) {
  if (!Number.isFinite(ms) || ms < 0) return '—';
  if (ms < 1000) return `${Math.round(ms)} ms`;
  const s = ms / 1000;
  if (s < 60) return `${s.toFixed(1)} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ${String(Math.floor(s % 60)).padStart(2, '0')} s`;
  return `${Math.floor(m / 60)} h ${String(m % 60).padStart(2, '0')} min`;
}

// The time a task has been running (or ran): started (else created) to finished (else now).
export function elapsed(t, now = Date.now()) {
  const from = Date.parse(t.started_at || t.created_at || '');
  if (!Number.isFinite(from)) return NaN;
  const to = t.finished_at ? Date.parse(t.finished_at) : now;
  return Math.max(0, to - from);
}

export function when(iso) {
  if (!iso) return '—';
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? String(iso) : d.toLocaleString();
}

// A live elapsed-time element: tickElapsed() refreshes every one on the page.
export function elapsedEl(t) {
  const el = h('span', { class: 'elapsed' }, duration(elapsed(t)));
  if (!t.finished_at) {
    el.dataset.start = t.started_at || t.created_at || '';
  }
  return el;
}

export function tickElapsed(root = document) {
  const now = Date.now();
  for (const el of root.querySelectorAll('.elapsed[data-start]')) {
    const from = Date.parse(el.dataset.start);
    if (Number.isFinite(from)) el.textContent = duration(now - from);
  }
}

export function statusBadge(status) {
  return h('span', { class: `badge status-${String(status || 'unknown').replace(/[^a-z_]/g, '')}` },
    String(status || 'unknown').replace(/_/g, ' '));
}

// The master that runs a task: the result says, else the held approval, else the worker's name
// (workers are named "<master>-<n>.<process>").
export function masterOf(t) {
  if (t.result && t.result.master) return t.result.master;
  if (t.approval && t.approval.pending && t.approval.pending.master) return t.approval.pending.master;
  if (typeof t.worker === 'string' && t.worker) return t.worker.replace(/-\d+\..*$/, '');
  return '';
}

export function taskHref(id) {
  return '#/tasks/' + encodeURIComponent(id);
}

// A definition list from [term, value] pairs (values: strings or nodes; empty ones skipped).
export function facts(pairs, cls = 'facts') {
  const dl = h('dl', { class: cls });
  for (const [k, v] of pairs) {
    if (v === null || v === undefined || v === '') continue;
    dl.append(h('div', null, h('dt', null, k), h('dd', null, v)));
  }
  return dl;
}

export function emptyState(...kids) {
  return h('p', { class: 'empty' }, ...kids);
}

export function errorBox(msg) {
  return h('p', { class: 'error', role: 'alert' }, msg);
}
