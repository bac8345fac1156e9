// Tasks: every task the console knows (live.js keeps them current from GET /v1/events), as a
// tree of subtasks, with filters by status and category.
import { clear, elapsedEl, emptyState, h, masterOf, statusBadge, taskHref } from './dom.js';
import { onChange, status as liveStatus, tasks } from './live.js';

const STATUSES = ['queued', 'in_progress', 'awaiting_approval', 'completed', 'failed', 'cancelled'];
const filters = { status: '', category: '' };

function row(t) {
  const p = t.progress || {};
  const action = p.current_action || t.current_action || '';
  const title = t.title || t.query || t.id;
  return h('article', { class: 'task', 'data-id': t.id },
    h('div', { class: 'task-head' },
      h('a', { href: taskHref(t.id), class: 'task-title', 'data-id': t.id }, title),
      statusBadge(t.status)),
    h('dl', { class: 'task-meta' },
      h('div', null, h('dt', null, 'Category'), h('dd', null, t.category || '—')),
      h('div', null, h('dt', null, 'Master'), h('dd', null, masterOf(t) || '—')),
      h('div', null, h('dt', null, 'Steps'), h('dd', null, p.iterations !== undefined ? String(p.iterations) : '—')),
      h('div', null, h('dt', null, 'Last tool'), h('dd', null, p.last_tool_used ? h('code', null, p.last_tool_used) : '—')),
      h('div', null, h('dt', null, 'Elapsed'), h('dd', null, elapsedEl(t))),
      action ? h('div', { class: 'wide' }, h('dt', null, 'Now'), h('dd', { class: 'current-action' }, action)) : null));
}

const newestFirst = (a, b) => String(b.created_at || '').localeCompare(String(a.created_at || ''));
const oldestFirst = (a, b) => -newestFirst(a, b);

function tree(list) {
  const byParent = new Map();
  const ids = new Set(list.map((t) => t.id));
  for (const t of list) {
    const key = t.parent_id && ids.has(t.parent_id) ? t.parent_id : '';
    if (!byParent.has(key)) byParent.set(key, []);
    byParent.get(key).push(t);
  }
  const branch = (key, depth) => {
    const kids = (byParent.get(key) || []).sort(depth ? oldestFirst : newestFirst);
    if (!kids.length) return null;
    return h('ul', { class: depth ? 'subtasks' : 'tasks' },
      kids.map((t) => h('li', null, row(t), depth < 8 ? branch(t.id, depth + 1) : null)));
  };
  return branch('', 0);
}

function select(id, label, values, key, onPick) {
  const s = h('select', { id, name: key },
    h('option', { value: '' }, 'all'),
    values.map((v) => h('option', { value: v }, v.replace(/_/g, ' '))));
  s.value = filters[key];
  s.addEventListener('change', () => { filters[key] = s.value; onPick(); });
  return h('div', null, h('label', { for: id }, label), s);
}

export function render(root, ctx) {
  const list = h('div', { id: 'task-list' });
  const count = h('p', { class: 'hint', role: 'status' });
  const draw = () => {
    const focused = document.activeElement && document.activeElement.dataset ? document.activeElement.dataset.id : null;
    const all = [...tasks.values()];
    const shown = all.filter((t) => (!filters.status || t.status === filters.status) && (!filters.category || t.category === filters.category));
    clear(list);
    count.textContent = `${shown.length} of ${all.length} task${all.length === 1 ? '' : 's'}`;
    if (!all.length) {
      list.append(liveStatus.state === 'connecting'
        ? emptyState('Loading tasks…')
        : emptyState('No tasks yet. ', h('a', { href: '#/ask' }, 'Ask something'), ' and it shows here as it runs.'));
    } else if (!shown.length) {
      list.append(emptyState('No task matches these filters.'));
    } else if (filters.status || filters.category) {
      list.append(h('ul', { class: 'tasks' }, shown.sort(newestFirst).map((t) => h('li', null, row(t)))));
    } else {
      list.append(tree(shown));
    }
    if (focused) {
      const again = list.querySelector(`a[data-id="${CSS.escape(focused)}"]`);
      if (again) again.focus();
    }
  };
  let pending = false;
  const later = () => {
    if (pending) return;
    pending = true;
    requestAnimationFrame(() => { pending = false; draw(); });
  };
  const cats = [...new Set([...ctx.categories(), ...[...tasks.values()].map((t) => t.category).filter(Boolean)])];
  root.append(
    h('h1', null, 'Tasks'),
    h('form', { class: 'filters', 'aria-label': 'Filters', onsubmit: (e) => e.preventDefault() },
      select('filter-status', 'Status', STATUSES, 'status', draw),
      select('filter-category', 'Category', cats, 'category', draw)),
    count, list);
  draw();
  return onChange(later);
}
