// Approvals: tasks in awaiting_approval with the exact calls held (the task's approval.pending,
// as the orchestrator writes it: tool, arguments, why, master, and calls when several), decided
// with cortex_approve_task {id, decision, reason}. A reason is required to deny.
import { callTool, getTask, resultText } from './api.js';
import { clear, emptyState, errorBox, h, jsonBlock, taskHref } from './dom.js';
import { awaiting, onChange, upsert } from './live.js';

function heldCalls(t) {
  const p = (t.approval && t.approval.pending) || null;
  if (!p) return [];
  return Array.isArray(p.calls) && p.calls.length ? p.calls : [p];
}

export function approvalCard(t, { heading = 'h2' } = {}) {
  const p = (t.approval && t.approval.pending) || {};
  const calls = heldCalls(t);
  const rid = 'reason-' + t.id.replace(/[^A-Za-z0-9_-]/g, '_');
  const reason = h('textarea', { id: rid, rows: '2', maxlength: '2000', 'aria-describedby': rid + '-hint' });
  const msg = h('div', { class: 'decision-message', 'aria-live': 'polite' });
  const approve = h('button', { type: 'button', class: 'primary approve' }, 'Approve');
  const deny = h('button', { type: 'button', class: 'danger deny' }, 'Deny');
  const decide = async (decision) => {
    clear(msg);
    const why = reason.value.trim();
    if (decision === 'deny' && !why) {
      msg.append(errorBox('Give a reason to deny: the model reads it.'));
      reason.setAttribute('aria-invalid', 'true');
      reason.focus();
      return;
    }
    reason.removeAttribute('aria-invalid');
    approve.disabled = deny.disabled = true;
    card.dataset.decided = decision; // kept on the page to show the outcome once the task moves on
    const args = { id: t.id, decision };
    if (why) args.reason = why;
    try {
      const r = await callTool('cortex_approve_task', args);
      if (r && r.isError) throw new Error(resultText(r) || 'refused');
      msg.append(h('p', { class: 'ok', role: 'status' }, decision === 'approve' ? 'Approved: the held call(s) run now.' : 'Denied: the model is told why.'));
    } catch (e) {
      approve.disabled = deny.disabled = false;
      delete card.dataset.decided;
      msg.append(errorBox('The decision was not recorded: ' + e.message));
    }
  };
  approve.addEventListener('click', () => decide('approve'));
  deny.addEventListener('click', () => decide('deny'));
  const title = t.title || t.query || t.id;
  const card = h('article', { class: 'card approval', 'data-id': t.id },
    h(heading, null, h('a', { href: taskHref(t.id) }, title)),
    h('p', { class: 'hint' }, `Held by the ${p.master || 'task’s'} master`, p.why ? ': ' + p.why : ''),
    calls.length ? h('ol', { class: 'held-calls' }, calls.map((c) => h('li', null,
      h('p', null, 'Call ', h('code', { class: 'tool-name' }, String(c.tool || c.name || '?')), c.why && calls.length > 1 ? ' — ' + c.why : ''),
      jsonBlock(c.arguments ?? c.input ?? {}, 'json held-arguments'))))
      : h('p', { class: 'hint' }, 'Reading the held call…'),
    h('label', { for: rid }, 'Reason'),
    reason,
    h('p', { id: rid + '-hint', class: 'hint' }, 'Recorded with the decision; required to deny.'),
    h('div', { class: 'row' }, approve, deny),
    msg);
  return card;
}

export function render(root) {
  const list = h('div', { id: 'approval-list' });
  const cards = new Map();
  const fetching = new Set();
  const draw = () => {
    const waiting = awaiting().sort((a, b) => String(a.updated_at).localeCompare(String(b.updated_at)));
    const ids = new Set(waiting.map((t) => t.id));
    for (const [id, el] of cards) {
      if (!ids.has(id) && !el.dataset.decided) { el.remove(); cards.delete(id); }
    }
    for (const t of waiting) {
      if (!t.approval && !fetching.has(t.id)) {
        fetching.add(t.id);
        getTask(t.id).then(upsert).catch(() => {}).finally(() => fetching.delete(t.id));
      }
      const old = cards.get(t.id);
      if (old && (old.dataset.held === 'yes' || !t.approval)) continue;
      const card = approvalCard(t);
      card.dataset.held = t.approval ? 'yes' : 'no';
      if (old) old.replaceWith(card); else list.append(card);
      cards.set(t.id, card);
    }
    const empty = list.querySelector('.empty');
    if (!cards.size && !empty) list.append(emptyState('Nothing is waiting for approval.'));
    if (cards.size && empty) empty.remove();
  };
  root.append(h('h1', null, 'Approvals'),
    h('p', { class: 'hint' }, 'Destructive calls (and those a master’s require_approval names) wait here for a person. Approving runs every held call of the task; denying returns each to the model with your reason.'),
    list);
  draw();
  const off = onChange((kind, t) => { if (kind === 'status' || (t && (t.status === 'awaiting_approval' || cards.has(t.id)))) draw(); });
  return () => { off(); cards.clear(); };
}

