// One task (#/tasks/ID): its state, progress, held calls, answer, subtasks, and the
// conversation with every tool call's arguments, result and timing
// (GET /v1/tasks/{id}?include_conversation=true, read again at each change of the task).
import { ApiError, getTask } from './api.js';
import { clear, duration, elapsedEl, emptyState, errorBox, facts, h, jsonBlock, masterOf, statusBadge, taskHref, when } from './dom.js';
import { follow, isFinished, tasks } from './live.js';
import { answerText } from './view-ask.js';
import { approvalCard } from './view-approvals.js';

function blockText(content) {
  if (typeof content === 'string') return content;
  if (Array.isArray(content)) {
    return content.map((c) => (c && c.type === 'text' ? c.text : JSON.stringify(c))).join('\n');
  }
  return JSON.stringify(content, null, 2);
}

function conversation(conv) {
  const sec = h('section', { class: 'card', 'aria-labelledby': 'conv-title' }, h('h2', { id: 'conv-title' }, 'Conversation'));
  if (!conv) {
    sec.append(emptyState('The gateway sent no conversation for this task (it has not started, or this gateway does not offer include_conversation).'));
    return sec;
  }
  const msgs = Array.isArray(conv.messages) ? conv.messages : [];
  const calls = new Map((Array.isArray(conv.calls) ? conv.calls : []).map((c) => [c.id, c]));
  const names = new Map();
  if (!msgs.length) sec.append(emptyState('No messages yet.'));
  const ol = h('ol', { class: 'conversation' });
  for (const m of msgs) {
    const li = h('li', { class: 'msg msg-' + String(m.role || 'other').replace(/[^a-z]/g, '') }, h('p', { class: 'role' }, m.role || 'message'));
    const blocks = typeof m.content === 'string' ? [{ type: 'text', text: m.content }] : Array.isArray(m.content) ? m.content : [m];
    for (const b of blocks) {
      if (!b || typeof b !== 'object') continue;
      if (b.type === 'text') {
        li.append(h('pre', { class: 'text' }, b.text || ''));
      } else if (b.type === 'tool_use') {
        names.set(b.id, b.name);
        const c = calls.get(b.id);
        li.append(h('div', { class: 'tool-call' + (c && c.is_error ? ' is-error' : '') },
          h('p', null, 'Tool call ', h('code', { class: 'tool-name' }, String(b.name)),
            c ? ` — ${duration(c.ms)}${c.started_at ? ', started ' + when(c.started_at) : ''}${c.is_error ? ', error' : ''}` : ''),
          h('p', { class: 'label' }, 'Arguments'), jsonBlock(b.input ?? {})));
      } else if (b.type === 'tool_result') {
        li.append(h('div', { class: 'tool-result' + (b.is_error ? ' is-error' : '') },
          h('p', null, b.is_error ? 'Error from ' : 'Result of ', h('code', { class: 'tool-name' }, String(names.get(b.tool_use_id) || b.tool_use_id || 'a tool'))),
          h('pre', { class: 'text' }, blockText(b.content))));
      } else {
        li.append(jsonBlock(b));
      }
    }
    ol.append(li);
  }
  sec.append(ol);
  if (conv.conversation_truncated) sec.append(h('p', { class: 'notice' }, 'The conversation was cut here: it is longer than the gateway shows.'));
  return sec;
}

function view(t) {
  const frag = document.createDocumentFragment();
  const p = t.progress || {};
  const r = t.result || null;
  frag.append(
    h('h1', null, t.title || t.id),
    h('p', null, statusBadge(t.status), ' ', h('span', { class: 'hint' }, t.id)),
    facts([
      ['Category', t.category], ['Master', masterOf(t)], ['Worker', t.worker || ''],
      ['Priority', t.priority !== undefined ? String(t.priority) : ''], ['Source', t.source || ''],
      ['Attempts', t.attempts !== undefined ? String(t.attempts) : ''],
      ['Created', when(t.created_at)], ['Started', t.started_at ? when(t.started_at) : ''],
      ['Finished', t.finished_at ? when(t.finished_at) : ''], ['Elapsed', elapsedEl(t)],
      ['Parent', t.parent_id ? h('a', { href: taskHref(t.parent_id) }, t.parent_id) : ''],
    ]),
    h('section', { class: 'card' }, h('h2', null, 'Request'), h('pre', { class: 'text' }, t.query || '')),
    h('section', { class: 'card', 'aria-labelledby': 'progress-title' }, h('h2', { id: 'progress-title' }, 'Progress'),
      facts([
        ['Now', p.current_action || (isFinished(t) ? 'finished' : '')],
        ['Steps', p.iterations !== undefined ? String(p.iterations) : ''],
        ['Last tool', p.last_tool_used ? h('code', null, p.last_tool_used) : ''],
        ['Tools used', (p.tools_used || []).length ? h('ul', { class: 'inline-list' }, p.tools_used.map((n) => h('li', null, h('code', null, n)))) : ''],
      ], 'facts progress')));
  if (t.status === 'awaiting_approval' && t.approval) frag.append(approvalCard(t));
  else if (t.approval && t.approval.decision) {
    frag.append(h('section', { class: 'card' }, h('h2', null, 'Approval'), facts([
      ['Decision', t.approval.decision], ['By', t.approval.by || ''], ['Reason', t.approval.reason || ''],
      ['Call', t.approval.pending && t.approval.pending.tool ? h('code', null, t.approval.pending.tool) : ''],
    ])));
  }
  if (t.error) frag.append(errorBox(t.error));
  if (r) {
    frag.append(h('section', { class: 'card answer' }, h('h2', null, 'Answer'),
      answerText(r),
      facts([['Took', duration(r.execution_time_ms ?? NaN)], ['Master', r.master || '']])));
  }
  const kids = Array.isArray(t.children) ? t.children : [];
  if (kids.length) {
    frag.append(h('section', { class: 'card' }, h('h2', null, `Subtasks (${t.children_total ?? kids.length})`),
      h('ul', { class: 'subtask-links' }, kids.map((c) => h('li', null,
        h('a', { href: taskHref(c.id) }, c.title || c.id), ' ', statusBadge((tasks.get(c.id) || c).status))))));
  }
  frag.append(conversation(t.conversation));
  return frag;
}

export function render(root, ctx) {
  const id = ctx.id;
  const box = h('div', { class: 'task-page' }, h('h1', null, 'Task'), h('p', { class: 'hint' }, 'Loading…'));
  root.append(h('p', null, h('a', { href: '#/tasks' }, '← All tasks')), box);
  const ac = new AbortController();
  let reading = false;
  let again = false;
  let stop = null;
  const read = async () => {
    if (reading) { again = true; return; }
    reading = true;
    try {
      do {
        again = false;
        const t = await getTask(id, { conversation: true, signal: ac.signal });
        const hadFocus = box.contains(document.activeElement) && document.activeElement.tagName === 'TEXTAREA';
        if (!hadFocus || isFinished(t)) clear(box).append(view(t));
      } while (again && !ac.signal.aborted);
    } catch (e) {
      if (ac.signal.aborted || (e && e.name === 'AbortError')) return;
      clear(box).append(h('h1', null, 'Task'), errorBox(e instanceof ApiError && e.status === 404 ? `There is no task ${id}.` : 'The task could not be read: ' + e.message));
    } finally {
      reading = false;
    }
  };
  read().then(() => { if (!ac.signal.aborted) stop = follow(id, () => read()); });
  return () => { ac.abort(); if (stop) stop(); };
}
