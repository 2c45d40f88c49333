/* app.js — the Nimbus web console: a single page with hash routes, a client
 * of the public API only (the same endpoints the CLI and the SDKs use).
 *
 *   #/                     the function list
 *   #/new                  deploy a function from a ZIP or a folder
 *   #/fn/NAME[/TAB]        a function: config, code, test, logs, instances,
 *                          metrics, versions, async, triggers
 *
 * Every failed call is shown as the API's own error (its type and its
 * Message/message), never as a blank page; everything shown is put in the
 * page as text (textContent), never as markup.
 */
'use strict';

/* ---------------------------------------------------------------- DOM */

function h(tag, attrs, ...kids) {
  const e = document.createElement(tag);
  for (const k in attrs || {}) {
    const v = attrs[k];
    if (v == null || v === false) continue;
    if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else if (k === 'text') e.textContent = v;
    else if (v === true) e.setAttribute(k, '');
    else e.setAttribute(k, v);
  }
  for (const c of kids.flat()) if (c != null) e.appendChild(typeof c === 'object' ? c : document.createTextNode(String(c)));
  return e;
}

const $ = (id) => document.getElementById(id);
const main = () => $('main');

function table(cols, rows) {
  return h('table', {}, h('thead', {}, h('tr', {}, cols.map((c) => h('th', { text: c })))),
    h('tbody', {}, rows.length ? rows.map((r) => h('tr', {}, r.map((c) => h('td', {}, c == null ? '—' : c))))
      : h('tr', {}, h('td', { colspan: cols.length, class: 'empty', text: 'none' }))));
}

function fmtTime(ms) {
  if (ms == null || ms === '' || ms === 0) return '—';
  const d = new Date(ms);
  return isNaN(d) ? String(ms) : d.toLocaleString();
}

/* ---------------------------------------------------------------- API */

class ApiError extends Error {
  constructor(status, type, message) {
    super(message);
    this.status = status;
    this.type = type;
  }
  toString() { return (this.type ? this.type + ': ' : '') + this.message; }
}

const session = {
  get csrf() { return sessionStorage.getItem('nimbus.csrf'); },
  set csrf(v) { if (v) sessionStorage.setItem('nimbus.csrf', v); else sessionStorage.removeItem('nimbus.csrf'); },
};

/* The API's error document as an ApiError: Lambda's {Type, Message} or
 * {Type, message}, a runtime's {errorType, errorMessage}, or the bare text. */
function apiError(status, headers, text) {
  let doc = null;
  try { doc = JSON.parse(text); } catch (_) { /* not JSON: the text itself */ }
  const htype = (headers.get('x-amzn-ErrorType') || '').split(':')[0];
  const type = htype || (doc && (doc.Type || doc.errorType)) || 'HTTP ' + status;
  const msg = (doc && (doc.Message || doc.message || doc.errorMessage)) || text || ('HTTP ' + status + ' with no message');
  return new ApiError(status, type, msg);
}

async function api(method, path, body, opts) {
  opts = opts || {};
  const headers = Object.assign({}, opts.headers || {});
  if (session.csrf) headers['X-Nimbus-Csrf'] = session.csrf;
  let payload = body;
  if (body !== undefined && typeof body !== 'string' && !(body instanceof Uint8Array)) {
    payload = JSON.stringify(body);
    headers['Content-Type'] = 'application/json';
  }
  let r;
  try {
    r = await fetch(path, { method, headers, body: payload, credentials: 'same-origin', cache: 'no-store' });
  } catch (e) {
    throw new ApiError(0, 'NetworkError', 'the daemon could not be reached (' + e.message + ')');
  }
  if (opts.raw) return r;
  const text = await r.text();
  if (!r.ok) {
    const err = apiError(r.status, r.headers, text);
    if (r.status === 401 && !opts.noLogin) showLogin(err);
    /* A session ended elsewhere (logout in another tab, a daemon restart) is
     * a 403 like any refusal; the session itself tells the two apart. */
    else if (r.status === 403 && session.csrf && !opts.noLogin && await sessionEnded()) {
      sessionReady = false;
      showLogin(err);
      err.status = 401;
    }
    throw err;
  }
  return text ? JSON.parse(text) : {};
}

const enc = encodeURIComponent;
const FN = '/2015-03-31/functions';

/* ---------------------------------------------------------------- errors */

function showError(e) {
  const box = $('error');
  box.textContent = '';
  box.appendChild(h('span', { class: 'etype', text: e instanceof ApiError ? e.type : (e && e.name) || 'Error' }));
  box.appendChild(h('span', { class: 'emsg', text: ' ' + (e && e.message ? e.message : String(e)) }));
  box.appendChild(h('button', { class: 'close', onclick: () => { box.hidden = true; }, text: '×' }));
  box.hidden = false;
}

function clearError() { $('error').hidden = true; }

/* A box's own outcome line: what the call said, or its error. */
function status(el, e, okText) {
  el.textContent = '';
  el.className = 'status ' + (e ? 'bad' : 'good');
  if (e) el.append(h('b', { class: 'etype', text: e.type || e.name || 'Error' }), h('span', { class: 'emsg', text: ' ' + e.message }));
  else el.textContent = okText;
}

window.addEventListener('error', (ev) => showError(ev.error || new Error(ev.message)));
window.addEventListener('unhandledrejection', (ev) => showError(ev.reason));

/* ---------------------------------------------------------------- session */

async function startSession() {
  let doc;
  try {
    doc = await api('GET', '/nimbus/v1/session', undefined, { noLogin: true });
  } catch (e) {
    if (e.status === 404) return true;           /* a daemon without sessions */
    if (e.status === 401) { showLogin(); return false; }
    throw e;
  }
  if (doc.AuthRequired === false) return true;
  if (doc.Csrf) session.csrf = doc.Csrf;
  showWho(doc);
  return true;
}

async function sessionEnded() {
  try { await api('GET', '/nimbus/v1/session', undefined, { noLogin: true }); } catch (e) { return e.status === 401; }
  return false;
}

function showWho(doc) {
  $('who').textContent = doc && doc.AccessKeyId ? doc.AccessKeyId + ' (' + doc.AccountId + ')' : '';
  $('logout').hidden = !(doc && doc.AccessKeyId);
}

function showLogin(err) {
  stopTimers();
  session.csrf = null;
  showWho(null);
  const msg = h('p', { class: 'status bad', id: 'login-status' });
  if (err) status(msg, err);
  const form = h('form', { id: 'login', class: 'card' },
    h('h2', { text: 'Sign in' }),
    h('label', {}, 'Access key id', h('input', { name: 'key', id: 'login-key', autocomplete: 'username', required: true })),
    h('label', {}, 'Secret access key', h('input', { name: 'secret', id: 'login-secret', type: 'password', autocomplete: 'current-password', required: true })),
    h('button', { type: 'submit', text: 'Sign in' }), msg);
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    try {
      const doc = await api('POST', '/nimbus/v1/session',
        { AccessKeyId: form.key.value, SecretAccessKey: form.secret.value }, { noLogin: true });
      session.csrf = doc.Csrf;
      showWho(doc);
      route();
    } catch (e) { status(msg, e); }
  });
  main().replaceChildren(form);
}

async function logout() {
  try { await api('DELETE', '/nimbus/v1/session', undefined, { noLogin: true }); } catch (e) { showError(e); }
  showLogin();
}

/* ---------------------------------------------------------------- timers */

let timers = [];
function every(ms, fn) { fn(); timers.push(setInterval(fn, ms)); }
function stopTimers() { timers.forEach(clearInterval); timers = []; }

/* ---------------------------------------------------------------- list */

async function pageList() {
  const fns = [];
  let marker = null;
  do {
    const doc = await api('GET', FN + '/' + (marker ? '?Marker=' + enc(marker) : ''));
    fns.push(...(doc.Functions || []));
    marker = doc.NextMarker;
  } while (marker);
  let metrics = {};
  let mnote = null;
  try {
    const m = await api('GET', '/nimbus/v1/metrics/functions');
    for (const f of m.Functions || []) metrics[f.FunctionName] = f;
  } catch (e) {
    mnote = h('p', { class: 'note', text: 'Last call and errors are unavailable: ' + e });
  }
  const rows = fns.map((f) => {
    const m = metrics[f.FunctionName] || {};
    return [h('a', { href: '#/fn/' + enc(f.FunctionName), class: 'fn-link', text: f.FunctionName }),
      f.Runtime, f.MemorySize + ' MB', f.State || 'Active',
      m.LastInvoked ? new Date(m.LastInvoked).toLocaleString() : '—',
      m.Errors1h == null ? '—' : String(m.Errors1h)];
  });
  main().replaceChildren(
    h('div', { class: 'bar' }, h('h1', { text: 'Functions' }), h('a', { href: '#/new', class: 'button', id: 'new-fn', text: 'Deploy a function' })),
    h('div', { id: 'fn-list' }, table(['Name', 'Runtime', 'Memory', 'State', 'Last call', 'Errors (1 h)'], rows)),
    mnote || '');
}

/* ---------------------------------------------------------------- deploy */

const RUNTIMES = ['python3.11', 'python3', 'nodejs20.x', 'nodejs18.x', 'nodejs', 'bash', 'provided', 'provided.al2', 'provided.al2023', 'provided.scf', 'provided.fc'];
const EXEC_NAMES = /(^|\/)(bootstrap|[^/]*\.sh)$/;

async function filesToZip(list) {
  const files = [];
  for (const f of list) {
    let name = f.webkitRelativePath || f.name;
    /* A chosen folder's own name is not part of the package. */
    if (f.webkitRelativePath) name = name.split('/').slice(1).join('/');
    files.push({ name, data: new Uint8Array(await f.arrayBuffer()), mode: EXEC_NAMES.test(name) ? 0o100755 : 0o100644 });
  }
  return NimbusZip.write(files);
}

function pageNew() {
  const st = h('p', { id: 'deploy-status', class: 'status' });
  const form = h('form', { id: 'deploy', class: 'card' },
    h('h1', { text: 'Deploy a function' }),
    h('label', {}, 'Name', h('input', { name: 'name', id: 'deploy-name', required: true, pattern: '[A-Za-z0-9_-]{1,64}' })),
    h('label', {}, 'Runtime', h('input', { name: 'runtime', id: 'deploy-runtime', list: 'runtimes', value: 'python3' }),
      h('datalist', { id: 'runtimes' }, RUNTIMES.map((r) => h('option', { value: r })))),
    h('label', {}, 'Handler', h('input', { name: 'handler', id: 'deploy-handler', value: 'main.handler' })),
    h('label', {}, 'Memory (MB)', h('input', { name: 'memory', type: 'number', value: '128', min: '128', max: '10240' })),
    h('label', {}, 'Timeout (s)', h('input', { name: 'timeout', type: 'number', value: '3', min: '1', max: '900' })),
    h('label', {}, 'ZIP file', h('input', { name: 'zip', id: 'deploy-zip', type: 'file', accept: '.zip,application/zip' })),
    h('label', {}, 'or a folder', h('input', { name: 'folder', id: 'deploy-folder', type: 'file', webkitdirectory: true, multiple: true })),
    h('button', { type: 'submit', id: 'deploy-submit', text: 'Deploy' }), st);
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    status(st, null, 'Deploying…');
    try {
      let zip;
      if (form.zip.files.length) zip = new Uint8Array(await form.zip.files[0].arrayBuffer());
      else if (form.folder.files.length) zip = await filesToZip(form.folder.files);
      else throw new ApiError(0, 'ConsoleError', 'choose a ZIP file or a folder');
      const doc = await api('POST', FN, {
        FunctionName: form.name.value, Runtime: form.runtime.value, Handler: form.handler.value,
        MemorySize: Number(form.memory.value), Timeout: Number(form.timeout.value),
        Role: 'arn:aws:iam::000000000000:role/nimbus-console', Code: { ZipFile: NimbusZip.toBase64(zip) },
      });
      location.hash = '#/fn/' + enc(doc.FunctionName);
    } catch (e) { status(st, e); }
  });
  main().replaceChildren(form);
}

/* ---------------------------------------------------------------- function page */

const TABS = ['config', 'code', 'test', 'logs', 'instances', 'metrics', 'versions', 'async', 'triggers'];

async function pageFunction(name, tab) {
  const doc = await api('GET', FN + '/' + enc(name));
  const cfg = doc.Configuration;
  const body = h('section', { id: 'tab-' + tab, class: 'tab' });
  main().replaceChildren(
    h('div', { class: 'bar' }, h('h1', { id: 'fn-name', text: cfg.FunctionName }),
      h('span', { class: 'meta', text: `${cfg.Runtime} · ${cfg.MemorySize} MB · ${cfg.State || 'Active'}` })),
    h('nav', { class: 'tabs' }, TABS.map((t) => h('a', { href: `#/fn/${enc(name)}/${t}`, id: 'tablink-' + t, class: t === tab ? 'on' : null, text: t }))),
    body);
  await TAB_PAGES[tab](name, doc, body);
}

/* -- configuration */

function envText(vars) { return Object.entries(vars || {}).map(([k, v]) => k + '=' + v).join('\n'); }
function envParse(text) {
  const vars = {};
  for (const line of text.split('\n')) {
    if (!line.trim()) continue;
    const i = line.indexOf('=');
    if (i < 1) throw new ApiError(0, 'ConsoleError', 'environment lines are KEY=VALUE: ' + line);
    vars[line.slice(0, i).trim()] = line.slice(i + 1);
  }
  return vars;
}

function tabConfig(name, doc, body) {
  const c = doc.Configuration;
  const st = h('p', { id: 'config-status', class: 'status' });
  const form = h('form', { id: 'config', class: 'card' },
    h('label', {}, 'Description', h('input', { name: 'description', value: c.Description || '' })),
    h('label', {}, 'Handler', h('input', { name: 'handler', id: 'config-handler', value: c.Handler || '' })),
    h('label', {}, 'Memory (MB)', h('input', { name: 'memory', id: 'config-memory', type: 'number', value: c.MemorySize })),
    h('label', {}, 'Timeout (s)', h('input', { name: 'timeout', id: 'config-timeout', type: 'number', value: c.Timeout })),
    h('label', {}, 'Environment (KEY=VALUE per line)', h('textarea', { name: 'env', rows: 4, text: envText(c.Environment && c.Environment.Variables) })),
    h('button', { type: 'submit', id: 'config-save', text: 'Save configuration' }), st);
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    try {
      const r = await api('PUT', FN + '/' + enc(name) + '/configuration', {
        Description: form.description.value, Handler: form.handler.value,
        MemorySize: Number(form.memory.value), Timeout: Number(form.timeout.value),
        Environment: { Variables: envParse(form.env.value) },
      });
      status(st, null, 'Saved: ' + r.MemorySize + ' MB, ' + r.Timeout + ' s, revision ' + r.RevisionId);
    } catch (e) { status(st, e); }
  });
  const del = h('button', { class: 'danger', id: 'fn-delete', text: 'Delete function',
    onclick: async () => {
      if (!confirm('Delete ' + name + '?')) return;
      try { await api('DELETE', FN + '/' + enc(name)); location.hash = '#/'; } catch (e) { showError(e); }
    } });
  body.append(form, h('pre', { class: 'card arn', text: c.FunctionArn }), del);
}

/* -- code: browse the package, edit text files, save as a new package */

const EDITABLE = /^(python|nodejs|bash)/;

function editor(text, readOnly) {
  const gutter = h('div', { class: 'gutter' });
  const ta = h('textarea', { id: 'code-editor', spellcheck: 'false', wrap: 'off', readonly: readOnly });
  ta.value = text;
  const lines = () => {
    const n = ta.value.split('\n').length;
    if (gutter.childElementCount !== n) gutter.textContent = Array.from({ length: n }, (_, i) => i + 1).join('\n');
    gutter.scrollTop = ta.scrollTop;
  };
  ta.addEventListener('input', lines);
  ta.addEventListener('scroll', () => { gutter.scrollTop = ta.scrollTop; });
  ta.addEventListener('keydown', (ev) => {
    if (ev.key !== 'Tab' || readOnly) return;
    ev.preventDefault();
    ta.setRangeText('    ', ta.selectionStart, ta.selectionEnd, 'end');
    lines();
  });
  lines();
  return { el: h('div', { class: 'editor' }, gutter, ta), ta };
}

async function tabCode(name, doc, body) {
  const cfg = doc.Configuration;
  const path = new URL(doc.Code.Location, location.href).pathname;
  const r = await api('GET', path, undefined, { raw: true });
  if (!r.ok) throw apiError(r.status, r.headers, await r.text());
  const files = await NimbusZip.read(await r.arrayBuffer());
  files.sort((a, b) => a.name.localeCompare(b.name));
  const canEdit = EDITABLE.test(cfg.Runtime || '');
  const dec = new TextDecoder('utf-8', { fatal: true });
  const st = h('p', { id: 'code-status', class: 'status' });
  const pane = h('div', { class: 'pane' });
  let current = null, ed = null;
  const keep = () => { if (current && ed && !ed.ta.readOnly) current.data = new TextEncoder().encode(ed.ta.value); };
  const open = (f) => {
    keep();
    current = f;
    let text = null;
    try { text = dec.decode(f.data); } catch (_) { /* binary */ }
    tree.querySelectorAll('a').forEach((a) => a.classList.toggle('on', a.dataset.name === f.name));
    if (text == null) { ed = null; pane.replaceChildren(h('p', { class: 'note', text: `${f.name}: ${f.data.length} bytes of binary data` })); return; }
    ed = editor(text, !canEdit);
    pane.replaceChildren(h('div', { class: 'filename', text: f.name + (canEdit ? '' : ' (read-only: ' + cfg.Runtime + ' code is built, not edited here)') }), ed.el);
  };
  const tree = h('ul', { class: 'tree', id: 'code-tree' }, files.map((f) => {
    const depth = f.name.split('/').length - 1;
    return h('li', { class: 'd' + Math.min(depth, 6) }, h('a', { href: '#', 'data-name': f.name, text: f.name,
      onclick: (ev) => { ev.preventDefault(); open(f); } }));
  }));
  const save = h('button', { id: 'code-save', text: 'Save and deploy', disabled: !canEdit, onclick: async () => {
    keep();
    status(st, null, 'Deploying…');
    try {
      const zip = NimbusZip.write(files);
      const out = await api('PUT', FN + '/' + enc(name) + '/code', { ZipFile: NimbusZip.toBase64(zip) });
      status(st, null, 'Deployed: CodeSha256 ' + out.CodeSha256 + ', ' + out.CodeSize + ' bytes');
    } catch (e) { status(st, e); }
  } });
  body.append(h('div', { class: 'code' }, tree, pane), h('div', { class: 'bar' }, save, st));
  const first = files.find((f) => cfg.Handler && f.name.startsWith(cfg.Handler.split('.')[0] + '.')) || files[0];
  if (first) open(first);
}

/* -- test invoke */

function b64utf8(b64) {
  const bin = atob(b64);
  return new TextDecoder().decode(Uint8Array.from(bin, (c) => c.charCodeAt(0)));
}

function tabTest(name, doc, body) {
  const payload = h('textarea', { id: 'invoke-payload', rows: 6, spellcheck: 'false' });
  payload.value = sessionStorage.getItem('nimbus.payload.' + name) || '{}';
  const st = h('p', { id: 'invoke-status', class: 'status' });
  const result = h('pre', { id: 'invoke-result', class: 'out' });
  const log = h('pre', { id: 'invoke-log', class: 'out log' });
  const btn = h('button', { id: 'invoke', text: 'Invoke', onclick: async () => {
    /* Kept for the next visit when it fits (sessionStorage holds a few MB). */
    try { sessionStorage.setItem('nimbus.payload.' + name, payload.value.length < 65536 ? payload.value : '{}'); } catch (_) { /* full */ }
    result.textContent = log.textContent = '';
    status(st, null, 'Invoking…');
    const t0 = performance.now();
    try {
      const r = await api('POST', FN + '/' + enc(name) + '/invocations', payload.value,
        { raw: true, headers: { 'X-Amz-Log-Type': 'Tail', 'Content-Type': 'application/json' } });
      const text = await r.text();
      if (!r.ok) throw apiError(r.status, r.headers, text);
      const ferr = r.headers.get('X-Amz-Function-Error');
      let shown = text;
      try { shown = JSON.stringify(JSON.parse(text), null, 2); } catch (_) { /* not JSON */ }
      result.textContent = shown;
      const tail = r.headers.get('X-Amz-Log-Result');
      log.textContent = tail ? b64utf8(tail) : '';
      const ver = r.headers.get('X-Amz-Executed-Version') || '$LATEST';
      if (ferr) status(st, new ApiError(r.status, 'FunctionError (' + ferr + ')', 'the function failed: see its result and log'));
      else status(st, null, `${r.status} from version ${ver} in ${Math.round(performance.now() - t0)} ms`);
    } catch (e) { status(st, e); }
  } });
  body.append(h('div', { class: 'card' }, h('label', {}, 'Payload (JSON)', payload), btn, st),
    h('h3', { text: 'Result' }), result, h('h3', { text: 'Log (START, END, REPORT)' }), log);
}

/* -- live logs */

function tabLogs(name, doc, body) {
  const out = h('pre', { id: 'live-logs', class: 'out log' });
  const st = h('p', { id: 'logs-status', class: 'status' });
  let after = null, lines = 0;
  body.append(h('p', { class: 'note', text: 'Lines as the function prints them, polled every second.' }), out, st);
  every(1000, async () => {
    try {
      const q = after == null ? 'since=' + (Date.now() - 3600e3) + '&limit=1000' : 'after=' + after + '&limit=1000';
      const r = await api('GET', `/nimbus/v1/functions/${enc(name)}/logs?${q}`);
      for (const e of r.events || []) {
        out.append(h('div', { class: 'line', 'data-id': e.id }, h('span', { class: 'ts', text: new Date(e.timestamp).toISOString().slice(11, 23) + ' ' }), e.message));
        lines++;
      }
      while (out.childElementCount > 2000) out.firstChild.remove();
      if ((r.events || []).length) out.scrollTop = out.scrollHeight;
      if ((r.events || []).length) after = r.lastId;
      status(st, null, lines + ' lines');
    } catch (e) { status(st, e); }
  });
}

/* -- instances */

function tabInstances(name, doc, body) {
  const box = h('div', { id: 'instances' });
  const st = h('p', { class: 'status' });
  body.append(box, st);
  const ms = (v) => (v == null ? '—' : v.toFixed(2) + ' ms');
  every(2000, async () => {
    try {
      const r = await api('GET', `/nimbus/v1/functions/${enc(name)}/instances`);
      const rows = (r.Instances || []).map((i) => {
        const ph = i.SandboxPhases;
        const phases = ph ? Object.entries(ph).filter(([, v]) => typeof v === 'number').map(([k, v]) => k.replace(/Ms$/, '') + ' ' + v.toFixed(2)).join(', ')
          + (ph.Pooled ? ' · pooled' : '') + (ph.Prestarted ? ' · prestarted' : '') : '—';
        return [i.Id, i.Version, i.State, Math.round(i.AgeMs / 1000) + ' s', String(i.CallsServed), i.Busy + '/' + i.Capacity,
          i.PeakMemoryBytes ? (i.PeakMemoryBytes / 1048576).toFixed(1) + ' MB' : '—',
          ms(i.SandboxMs), ms(i.RuntimeInitMs), ms(i.InitDurationMs), phases];
      });
      box.replaceChildren(table(['Id', 'Version', 'State', 'Age', 'Calls', 'Busy', 'Peak memory', 'Sandbox', 'Runtime init', 'Init', 'Sandbox phases (ms)'], rows));
      st.textContent = '';
    } catch (e) { status(st, e); }
  });
}

/* -- metrics */

function tabMetrics(name, doc, body) {
  const box = h('div', { id: 'charts' });
  const st = h('p', { id: 'metrics-status', class: 'status' });
  body.append(box, st);
  every(5000, async () => {
    try {
      const m = await api('GET', `/nimbus/v1/functions/${enc(name)}/metrics?minutes=60&step=60`);
      const p = m.Points || [];
      box.replaceChildren(
        NimbusCharts.draw('Calls and errors', p, [{ key: 'Invocations', label: 'calls', cls: 's-calls' }, { key: 'Errors', label: 'errors', cls: 's-errors' }], 'bar'),
        NimbusCharts.draw('Duration', p, [{ key: 'DurationP50Ms', label: 'p50', cls: 's-p50' }, { key: 'DurationP99Ms', label: 'p99', cls: 's-p99' }], 'line', ' ms'),
        NimbusCharts.draw('Cold starts and throttles', p, [{ key: 'ColdStarts', label: 'cold starts', cls: 's-cold' }, { key: 'Throttles', label: 'throttles', cls: 's-throttles' }], 'bar'));
      status(st, null, `Last hour from ${new Date(m.Start).toLocaleTimeString()}, one bar a minute`);
    } catch (e) { status(st, e); }
  });
}

/* -- versions and aliases */

async function tabVersions(name, doc, body) {
  const base = FN + '/' + enc(name);
  const vs = await api('GET', base + '/versions');
  const as = await api('GET', base + '/aliases');
  const st = h('p', { id: 'versions-status', class: 'status' });
  const again = () => pageFunction(name, 'versions').catch(showError);
  const desc = h('input', { placeholder: 'description', id: 'publish-desc' });
  const publish = h('button', { id: 'publish', text: 'Publish a version', onclick: async () => {
    try { await api('POST', base + '/versions', { Description: desc.value }); await again(); } catch (e) { status(st, e); }
  } });
  const aname = h('input', { placeholder: 'alias name', id: 'alias-name' });
  const aver = h('input', { placeholder: 'version', id: 'alias-version' });
  const mkAlias = h('button', { id: 'alias-create', text: 'Create alias', onclick: async () => {
    try { await api('POST', base + '/aliases', { Name: aname.value, FunctionVersion: aver.value }); await again(); } catch (e) { status(st, e); }
  } });
  body.append(
    h('h3', { text: 'Versions' }),
    table(['Version', 'Description', 'CodeSha256', 'Last modified'], (vs.Versions || []).map((v) => [v.Version, v.Description || '', v.CodeSha256, v.LastModified])),
    h('div', { class: 'bar' }, desc, publish),
    h('h3', { text: 'Aliases' }),
    table(['Alias', 'Version', 'Weights', ''], (as.Aliases || []).map((a) => [a.Name, a.FunctionVersion,
      a.RoutingConfig && a.RoutingConfig.AdditionalVersionWeights ? JSON.stringify(a.RoutingConfig.AdditionalVersionWeights) : '',
      h('button', { class: 'small', text: 'delete', onclick: async () => {
        try { await api('DELETE', base + '/aliases/' + enc(a.Name)); await again(); } catch (e) { status(st, e); }
      } })])),
    h('div', { class: 'bar' }, aname, aver, mkAlias), st);
}

/* -- async events and dead letters */

async function tabAsync(name, doc, body) {
  const base = `/nimbus/v1/functions/${enc(name)}`;
  const st = h('p', { id: 'async-status', class: 'status' });
  const again = () => pageFunction(name, 'async').catch(showError);
  let events = { Events: [] }, dlq = { DeadLetters: [] };
  try {
    events = await api('GET', base + '/events');
    dlq = await api('GET', base + '/dlq');
  } catch (e) { status(st, e); }
  const redrive = async (rid) => {
    try {
      const r = await api('POST', base + '/dlq/redrive', rid ? { RequestId: rid } : {});
      await again();
      status($('async-status'), null, 'Redriven: ' + r.Redriven);
    } catch (e) { status(st, e); }
  };
  const evCols = ['Request id', 'Qualifier', 'State', 'Attempts', 'Created', 'Last error', 'Origin'];
  const evRow = (e) => [e.RequestId, e.Qualifier, e.State, String(e.Attempts), fmtTime(e.CreatedMs), e.LastError || '', e.Origin || ''];
  body.append(
    h('h3', { text: 'Events' }), h('div', { id: 'events' }, table(evCols, (events.Events || []).map(evRow))),
    h('h3', { text: 'Dead letters' }),
    h('div', { id: 'dlq' }, table(evCols.concat(['Payload', '']), (dlq.DeadLetters || []).map((e) => evRow(e).concat([
      h('code', { text: e.Payload == null ? '' : String(e.Payload).slice(0, 200) }),
      h('button', { class: 'small redrive', text: 'redrive', onclick: () => redrive(e.RequestId) })])))),
    h('div', { class: 'bar' },
      h('button', { id: 'redrive-all', text: 'Redrive all', onclick: () => redrive(null) }),
      h('button', { class: 'danger', id: 'dlq-purge', text: 'Purge dead letters', onclick: async () => {
        try { await api('DELETE', base + '/dlq'); await again(); } catch (e) { status(st, e); }
      } })), st);
}

/* -- triggers: the function URL and timers */

async function tabTriggers(name, doc, body) {
  const st = h('p', { id: 'triggers-status', class: 'status' });
  const again = () => pageFunction(name, 'triggers').catch(showError);
  const urlPath = `/2021-10-31/functions/${enc(name)}/url`;
  let url = null;
  try { url = await api('GET', urlPath); } catch (e) { if (e.status !== 404) status(st, e); }
  const urlBox = h('div', { id: 'url', class: 'card' });
  if (url) {
    urlBox.append(h('p', {}, 'URL: ', h('a', { href: url.FunctionUrl, target: '_blank', rel: 'noopener', text: url.FunctionUrl })),
      h('p', { text: 'Auth: ' + url.AuthType + (url.Cors ? ' · CORS ' + JSON.stringify(url.Cors) : '') }),
      h('button', { class: 'danger', text: 'Remove URL', onclick: async () => {
        try { await api('DELETE', urlPath); await again(); } catch (e) { status(st, e); }
      } }));
  } else {
    urlBox.append(h('p', { text: 'No function URL.' }), h('button', { id: 'url-create', text: 'Add a URL (AuthType NONE)', onclick: async () => {
      try { await api('POST', urlPath, { AuthType: 'NONE' }); await again(); } catch (e) { status(st, e); }
    } }));
  }
  const tbase = `/nimbus/v1/functions/${enc(name)}/triggers`;
  let tr = { Triggers: [] };
  try { tr = await api('GET', tbase); } catch (e) { status(st, e); }
  const tname = h('input', { placeholder: 'name', id: 'timer-name' });
  const texpr = h('input', { placeholder: 'rate(5 minutes) or cron(0 * * * ? *)', id: 'timer-expr' });
  const tz = h('input', { placeholder: 'UTC', id: 'timer-tz' });
  body.append(h('h3', { text: 'Function URL' }), urlBox, h('h3', { text: 'Timers' }),
    h('div', { id: 'timers' }, table(['Name', 'Schedule', 'Time zone', 'Enabled', 'Fires', 'Missed', ''], (tr.Triggers || []).map((t) => [
      t.Name, t.ScheduleExpression, t.Timezone, t.Enabled ? 'yes' : 'no', String(t.Fires), String(t.Missed),
      h('span', {},
        h('button', { class: 'small', text: t.Enabled ? 'disable' : 'enable', onclick: async () => {
          try { await api('PATCH', tbase + '/' + enc(t.Name), { Enabled: !t.Enabled }); await again(); } catch (e) { status(st, e); }
        } }),
        h('button', { class: 'small danger', text: 'delete', onclick: async () => {
          try { await api('DELETE', tbase + '/' + enc(t.Name)); await again(); } catch (e) { status(st, e); }
        } }))]))),
    h('div', { class: 'bar' }, tname, texpr, tz, h('button', { id: 'timer-add', text: 'Add timer', onclick: async () => {
      const b = { Name: tname.value, ScheduleExpression: texpr.value };
      if (tz.value) b.Timezone = tz.value;
      try { await api('POST', tbase, b); await again(); } catch (e) { status(st, e); }
    } })), st);
}

const TAB_PAGES = { config: tabConfig, code: tabCode, test: tabTest, logs: tabLogs, instances: tabInstances,
  metrics: tabMetrics, versions: tabVersions, async: tabAsync, triggers: tabTriggers };

/* ---------------------------------------------------------------- router */

let sessionReady = false;
let renders = 0;

/* Each finished route bumps <body data-rendered>, so a script driving the
 * page (the browser tests) can tell the new page from the one before. */
function rendered() { document.body.dataset.rendered = String(++renders); }

async function route() {
  stopTimers();
  clearError();
  const parts = location.hash.replace(/^#\/?/, '').split('/').map(decodeURIComponent);
  try {
    if (!sessionReady) {
      if (!(await startSession())) return;
      sessionReady = true;
    }
    if (parts[0] === 'new') pageNew();
    else if (parts[0] === 'fn' && parts[1]) await pageFunction(parts[1], TABS.includes(parts[2]) ? parts[2] : 'config');
    else await pageList();
  } catch (e) {
    if (e.status !== 401) {                        /* else the login form is up */
      showError(e);
      main().replaceChildren(h('p', { class: 'note' }, 'This page could not be shown. ',
        h('a', { href: '#/', text: 'Back to the function list' })));
    }
  }
  rendered();
}

window.addEventListener('hashchange', route);
document.addEventListener('DOMContentLoaded', () => {
  $('logout').addEventListener('click', () => { sessionReady = false; logout(); });
  route();
});
