// The gateway's REST routes, as any client uses them: the token from session storage as a
// bearer header (never in a URL), JSON in and out, and server-sent events read from a fetch
// stream (EventSource cannot send an Authorization header).

const KEY = 'cortex.token';

// null: signed out; '' signed in without a token (a loopback gateway with no tokens).
export const token = {
  get: () => sessionStorage.getItem(KEY),
  set: (t) => sessionStorage.setItem(KEY, t),
  clear: () => sessionStorage.removeItem(KEY),
};

export class ApiError extends Error {
  constructor(status, message, body) {
    super(message);
    this.status = status; // 0: the gateway could not be reached
    this.body = body;
  }
}

// Someone (app.js) listens for refused tokens: any 401 signs the console out.
export const events = new EventTarget();

function headers(extra) {
  const hd = { ...extra };
  const t = token.get();
  if (t) hd.Authorization = 'Bearer ' + t;
  return hd;
}

function errorMessage(status, data, text) {
  const e = data && data.error;
  if (e && typeof e.message === 'string') return e.message;
  if (typeof e === 'string') return e;
  return (text || '').trim().slice(0, 300) || `HTTP ${status}`;
}

async function send(path, { method = 'GET', body, signal, accept = 'application/json' } = {}) {
  const init = { method, headers: headers({ Accept: accept }), signal, cache: 'no-store', credentials: 'omit' };
  if (body !== undefined) {
    init.headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  let res;
  try {
    res = await fetch(path, init);
  } catch (e) {
    if (e && e.name === 'AbortError') throw e;
    throw new ApiError(0, 'the gateway is unreachable (' + (e && e.message ? e.message : e) + ')');
  }
  if (res.status === 401) {
    events.dispatchEvent(new Event('unauthorized'));
  }
  return res;
}

// JSON answer of a route; throws ApiError for an HTTP error.
export async function api(path, opts = {}) {
  const res = await send(path, opts);
  let text = '';
  try {
    text = await res.text();
  } catch (e) {
    if (e && e.name === 'AbortError') throw e;
    throw new ApiError(0, 'the gateway closed the connection');
  }
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = null;
  }
  if (!res.ok) throw new ApiError(res.status, errorMessage(res.status, data, text), data);
  return data;
}

// A tool's structured answer, else its text content parsed as JSON when it is JSON.
export function structured(result) {
  if (!result) return null;
  if (result.structuredContent !== undefined) return result.structuredContent;
  const t = (result.content || []).find((c) => c.type === 'text');
  if (!t) return null;
  try {
    return JSON.parse(t.text);
  } catch {
    return null;
  }
}

export function resultText(result) {
  return (result && Array.isArray(result.content) ? result.content : [])
    .filter((c) => c && c.type === 'text')
    .map((c) => c.text)
    .join('\n');
}

export const callTool = (name, args = {}, opts = {}) =>
  api('/v1/tools/' + encodeURIComponent(name), { ...opts, method: 'POST', body: args });

export const listTools = async (opts) => ((await api('/v1/tools', opts)) || {}).tools || [];

// A task as the gateway shows it: GET /v1/tasks/{id}'s answer, an event's data, or a list item.
export function taskOf(data) {
  let t = data;
  if (t && t.structuredContent) t = t.structuredContent;
  if (t && t.task && typeof t.task === 'object') t = t.task;
  return t && typeof t.id === 'string' ? t : null;
}

export async function getTask(id, { conversation = false, signal } = {}) {
  const q = conversation ? '?include_conversation=true' : '';
  return taskOf(await api('/v1/tasks/' + encodeURIComponent(id) + q, { signal }));
}

export async function listTasks(params = {}, opts = {}) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== '') q.set(k, String(v));
  const s = structured(await api('/v1/tasks' + (q.size ? '?' + q : ''), opts));
  return (s && s.tasks) || [];
}

// Reads server-sent events from path until the stream ends (resolves) or fails (throws);
// onOpen() once the answer's head arrived, onEvent(type, data) for each event.
export async function readEvents(path, { onEvent, onOpen, signal }) {
  const res = await send(path, { signal, accept: 'text/event-stream' });
  if (!res.ok) {
    let text = '';
    try {
      text = await res.text();
    } catch {
      text = '';
    }
    let data = null;
    try {
      data = JSON.parse(text);
    } catch {
      data = null;
    }
    throw new ApiError(res.status, errorMessage(res.status, data, text), data);
  }
  if (onOpen) onOpen();
  const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
  let buf = '';
  let type = 'message';
  let data = [];
  for (;;) {
    let chunk;
    try {
      chunk = await reader.read();
    } catch (e) {
      if (e && e.name === 'AbortError') throw e;
      throw new ApiError(0, 'the event stream was cut');
    }
    if (chunk.done) return;
    buf += chunk.value;
    for (;;) {
      const i = buf.search(/[\r\n]/);
      if (i < 0) break;
      if (buf[i] === '\r' && i + 1 === buf.length) break; // a CRLF split across chunks
      const line = buf.slice(0, i);
      buf = buf.slice(i + (buf[i] === '\r' && buf[i + 1] === '\n' ? 2 : 1));
      if (line === '') {
        if (data.length) onEvent(type, data.join('\n'));
        type = 'message';
        data = [];
        continue;
      }
      if (line.startsWith(':')) continue;
      const c = line.indexOf(':');
      const field = c < 0 ? line : line.slice(0, c);
      let value = c < 0 ? '' : line.slice(c + 1);
      if (value.startsWith(' ')) value = value.slice(1);
      if (field === 'event') type = value;
      else if (field === 'data') data.push(value);
    }
  }
}

export const sleep = (ms, signal) =>
  new Promise((res) => {
    const t = setTimeout(res, ms);
    if (signal) signal.addEventListener('abort', () => { clearTimeout(t); res(); }, { once: true });
  });
