// Ask: a request becomes a task (POST /v1/tasks) for the chosen category's master; its
// progress is followed live and its answer shown with the tools it used.
import { api, structured } from './api.js';
import { clear, duration, elapsedEl, errorBox, facts, h, masterOf, statusBadge, taskHref } from './dom.js';
import { follow, isFinished, tasks } from './live.js';

const LAST = 'cortex.lastAsk';

// The summary, and the details unless they only repeat it (a summary is the details' start).
export function answerText(r) {
  const sum = typeof r.summary === 'string' ? r.summary : '';
  const det = typeof r.details === 'string' ? r.details : '';
  const repeats = sum && det.startsWith(sum.replace(/(…|\.\.\.)$/, ''));
  return h('div', { class: 'answer-text' },
    sum && !repeats ? h('p', { class: 'summary' }, sum) : null,
    det ? h('pre', { class: 'details' }, det) : null,
    !sum && !det ? h('p', { class: 'hint' }, 'The task finished without an answer.') : null);
}

function answer(t) {
  const box = h('section', { class: 'card answer', 'aria-labelledby': 'answer-title' });
  const title = h('h2', { id: 'answer-title' }, t.title || 'Your request');
  box.append(title, h('p', null, statusBadge(t.status), ' ', h('a', { href: taskHref(t.id) }, 'Task details')));
  const p = t.progress || {};
  if (!isFinished(t)) {
    box.append(facts([
      ['Now', p.current_action || t.current_action || (t.status === 'queued' ? 'waiting for a worker' : '')],
      ['Steps', p.iterations !== undefined ? String(p.iterations) : ''],
      ['Last tool', p.last_tool_used || ''],
      ['Master', masterOf(t)],
      ['Elapsed', elapsedEl(t)],
    ], 'facts progress'));
    if (t.status === 'awaiting_approval') {
      box.append(h('p', { class: 'notice' }, 'A held action waits for a person: ', h('a', { href: '#/approvals' }, 'see Approvals'), '.'));
    } else {
      box.append(h('p', { class: 'hint working', role: 'status' }, 'Working…'));
    }
    return box;
  }
  const r = t.result || {};
  if (t.status === 'completed') {
    box.append(h('h3', null, 'Answer'), answerText(r));
  } else {
    box.append(errorBox(`The task ${t.status}: ${t.error || r.summary || 'no reason given'}`));
  }
  const used = p.tools_used || [];
  box.append(facts([
    ['Tools used', used.length ? h('ul', { class: 'inline-list' }, used.map((n) => h('li', null, h('code', null, n)))) : 'none'],
    ['Master', masterOf(t)],
    ['Took', duration(r.execution_time_ms ?? NaN)],
  ]));
  return box;
}

export function render(root, ctx) {
  let stop = null;
  const out = h('div', { id: 'ask-answer', 'aria-live': 'polite' });
  const query = h('textarea', { id: 'ask-query', name: 'query', rows: '4', required: true, maxlength: '65536', 'aria-describedby': 'ask-hint' });
  const select = h('select', { id: 'ask-category', name: 'category' },
    ctx.categories().map((c) => h('option', { value: c }, c)));
  const button = h('button', { type: 'submit', class: 'primary' }, 'Ask');
  const msg = h('div');
  const form = h('form', { class: 'card ask', novalidate: true },
    h('label', { for: 'ask-query' }, 'Your request'),
    query,
    h('p', { id: 'ask-hint', class: 'hint' }, 'In plain words, e.g. “what VMs run on pve1”. A master answers it with the gateway’s tools, perhaps splitting it into subtasks.'),
    h('div', { class: 'row' },
      h('div', null, h('label', { for: 'ask-category' }, 'Category'), select),
      button),
    msg);

  const show = (t) => { clear(out).append(answer(t)); };
  const watch = (id) => {
    if (stop) stop();
    sessionStorage.setItem(LAST, id);
    if (tasks.get(id)) show(tasks.get(id));
    stop = follow(id, show);
  };

  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    clear(msg);
    const q = query.value.trim();
    if (!q) {
      msg.append(errorBox('Write a request first.'));
      query.focus();
      return;
    }
    button.disabled = true;
    try {
      const res = await api('/v1/tasks', { method: 'POST', body: { query: q, category: select.value } });
      const s = structured(res) || {};
      const id = (s.ids && s.ids[0]) || (s.tasks && s.tasks[0] && s.tasks[0].id);
      if (res && res.isError) throw new Error((res.content && res.content[0] && res.content[0].text) || 'the gateway refused the task');
      if (!id) throw new Error('the gateway answered without a task id');
      if (s.tasks && s.tasks[0]) show(s.tasks[0]);
      watch(id);
    } catch (e) {
      msg.append(errorBox('The request was not sent: ' + e.message));
    } finally {
      button.disabled = false;
    }
  });

  root.append(h('h1', null, 'Ask'), form, out);
  const last = sessionStorage.getItem(LAST);
  if (last) watch(last);
  return () => { if (stop) stop(); };
}
