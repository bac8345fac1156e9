// Status: the gateway (gateway_status: adapters and their health), the orchestrator's agents
// (cortex_list_agents), the queue (cortex_get_metrics) and recent failures (failed tasks).
import { ApiError, callTool, listTasks, resultText, structured } from './api.js';
import { clear, duration, emptyState, errorBox, h, taskHref, when } from './dom.js';

const noOrchestrator = () => h('p', { class: 'empty notice', role: 'note' }, 'No orchestrator is running — start one with ',
  h('code', null, 'cortex-orchestrator --config /etc/cortex/orchestrator.json'),
  ' (with the same "tasks" store as the gateway); tasks wait in the queue until one does.');

function section(id, title) {
  const body = h('div', { class: 'section-body' }, h('p', { class: 'hint' }, 'Loading…'));
  return { el: h('section', { class: 'card', id, 'aria-labelledby': id + '-title' }, h('h2', { id: id + '-title' }, title), body), body };
}

function failure(e, tool) {
  if (e instanceof ApiError && e.status === 0) return errorBox('The gateway is unreachable: ' + e.message);
  if (e instanceof ApiError && e.status === 403) return emptyState(`This token may not call ${tool}.`);
  if (e instanceof ApiError && e.status === 404) return emptyState(`This gateway has no ${tool} (the task tools are off).`);
  return errorBox(`${tool} failed: ${e.message}`);
}

async function tool(name) {
  const r = await callTool(name, {});
  if (r && r.isError) throw new Error(resultText(r) || 'isError');
  return structured(r) || {};
}

function gateway(s) {
  const adapters = Array.isArray(s.adapters) ? s.adapters : [];
  const frag = [h('p', null, `Cortex gateway ${s.version || ''}`, s.uptime_s !== undefined ? `, up ${duration(s.uptime_s * 1000)}` : '')];
  const detail = (a) => [a.message, a.error, ...(Array.isArray(a.warnings) ? a.warnings : [])]
    .filter((x) => typeof x === 'string' && x).join('; ');
  const rows = adapters.map((a) => h('tr', { 'data-adapter': a.name },
    h('td', null, a.name), h('td', null, a.tools ?? ''),
    h('td', null, h('span', { class: 'badge health-' + (a.health === 'ok' ? 'ok' : 'bad') }, a.health || '?')),
    h('td', null, detail(a))));
  const head = h('tr', null, ['Adapter', 'Tools', 'Health', 'Detail'].map((c) => h('th', { scope: 'col' }, c)));
  frag.push(h('div', { class: 'table-wrap', tabindex: '0', role: 'region', 'aria-label': 'Adapters' },
    h('table', { class: 'adapters' }, h('thead', null, head), h('tbody', null, rows))));
  const warnings = Array.isArray(s.warnings) ? s.warnings : [];
  if (warnings.length) frag.push(h('ul', { class: 'warnings' }, warnings.map((w) => h('li', null, typeof w === 'string' ? w : JSON.stringify(w)))));
  return frag;
}

function agents(s) {
  const list = Array.isArray(s.agents) ? s.agents : [];
  if (!list.length) return [noOrchestrator()];
  const masters = [...new Set(list.map((a) => a.master).filter(Boolean))];
  const workers = list.filter((a) => a.kind === 'worker');
  return [
    h('p', null, `${masters.length} master${masters.length === 1 ? '' : 's'}, ${workers.length} workers: ${workers.filter((a) => a.state === 'busy').length} busy, ${workers.filter((a) => a.state === 'idle').length} idle.`),
    h('ul', { class: 'masters' }, masters.map((m) => {
      const ws = workers.filter((a) => a.master === m);
      return h('li', null, h('strong', null, m), ` — ${ws.length} workers`,
        ws.filter((a) => a.task_id).map((a) => h('span', null, '; ', a.id, ' on ', h('a', { href: taskHref(a.task_id) }, a.task_id))));
    })),
  ];
}

function metrics(s) {
  const q = s.queue || {};
  const statuses = Object.keys(q);
  const cats = [...new Set(statuses.flatMap((st) => Object.keys(q[st] || {})))];
  const pm = s.processing_ms || {};
  return [
    h('p', null, `${s.total ?? 0} tasks; ${(q.queued && Object.values(q.queued).reduce((a, b) => a + b, 0)) || 0} queued, ${s.awaiting_approval ?? 0} awaiting approval; ` +
      `${Number(s.created_per_min || 0).toFixed(1)} created and ${Number(s.completed_per_min || 0).toFixed(1)} completed a minute; ` +
      `processing ${duration(pm.mean)} on average (p95 ${duration(pm.p95)}).`),
    h('div', { class: 'table-wrap', tabindex: '0', role: 'region', 'aria-label': 'Queue by category' }, h('table', { class: 'queue' },
      h('thead', null, h('tr', null, h('th', { scope: 'col' }, 'Category'), statuses.map((st) => h('th', { scope: 'col' }, st.replace(/_/g, ' '))))),
      h('tbody', null, cats.map((c) => h('tr', null, h('th', { scope: 'row' }, c), statuses.map((st) => h('td', null, String((q[st] || {})[c] ?? 0)))))))),
  ];
}

function failures(list) {
  if (!list.length) return [emptyState('No failed tasks.')];
  return [h('ul', { class: 'failures' }, list.map((t) => h('li', null,
    h('a', { href: taskHref(t.id) }, t.title || t.id), ` — ${when(t.updated_at)}`,
    t.summary || t.error ? h('p', { class: 'error-text' }, t.summary || t.error) : null)))];
}

export function render(root) {
  const gw = section('status-gateway', 'Gateway and adapters');
  const ag = section('status-agents', 'Orchestrator');
  const mq = section('status-queue', 'Queue');
  const fl = section('status-failures', 'Recent errors');
  const refresh = h('button', { type: 'button' }, 'Refresh');
  const load = () => {
    const fill = (s, p, fn, name) => p.then((v) => clear(s.body).append(...fn(v))).catch((e) => clear(s.body).append(failure(e, name)));
    fill(gw, tool('gateway_status'), gateway, 'gateway_status');
    fill(ag, tool('cortex_list_agents'), agents, 'cortex_list_agents');
    fill(mq, tool('cortex_get_metrics'), metrics, 'cortex_get_metrics');
    fill(fl, listTasks({ status: 'failed', limit: 10 }), failures, 'cortex_get_tasks');
  };
  refresh.addEventListener('click', load);
  root.append(h('div', { class: 'title-row' }, h('h1', null, 'Status'), refresh), gw.el, ag.el, mq.el, fl.el);
  load();
}
