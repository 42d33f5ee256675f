'use strict';
// TokenHub web console: one page, no build step, no third-party code. Account holders sign in with
// email and password (a session token from /console/api, kept in sessionStorage, gone with the tab);
// operators with the admin key, which the page sends to /admin/v1 as it is and keeps in memory only:
// reloading the page signs the operator out.

const store = window.sessionStorage;
const state = { mode: store.getItem('th.mode'), token: store.getItem('th.token'), name: store.getItem('th.name') };

// ---------------------------------------------------------------- small helpers

/** An element with attributes (on* are listeners) and children (strings become text, never HTML). */
function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith('on')) node.addEventListener(name.slice(2), value);
    else if (name === 'class') node.className = value;
    else node.setAttribute(name, value === true ? '' : value);
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

/** Micro-USD as dollars, without trailing zeros: 1500 → $0.0015. */
function usd(micro) {
  if (micro === null || micro === undefined) return '—';
  const sign = micro < 0 ? '-' : '';
  const abs = Math.abs(micro);
  const whole = Math.floor(abs / 1e6);
  const frac = String(abs % 1e6).padStart(6, '0').replace(/0+$/, '');
  return sign + '$' + whole.toLocaleString('en-US') + (frac ? '.' + frac : '');
}

const num = (n) => (n === null || n === undefined ? '—' : Number(n).toLocaleString('en-US'));
const time = (t) => (t ? t.replace('T', ' ').replace(/\.\d+Z$/, 'Z') : '—');
const today = () => new Date().toISOString().slice(0, 10);
const monthStart = () => today().slice(0, 8) + '01';

async function call(method, path, body) {
  const headers = { Accept: 'application/json' };
  if (state.token) headers.Authorization = 'Bearer ' + state.token;
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const response = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const json = await response.json().catch(() => ({}));
  if (!response.ok) {
    if (response.status === 401 && state.mode && !path.endsWith('/login')) signOut('Your session has ended; sign in again.');
    throw Object.assign(new Error((json.error && json.error.message) || 'HTTP ' + response.status),
      { status: response.status });
  }
  return json;
}

/**
 * Runs an action, showing its failure next to it instead of losing it; one run at a time (a double
 * click on "Create key" made two keys and showed one, on "More" it listed a page twice).
 */
function guarded(target, action) {
  let running = false;
  return async (event) => {
    if (event) event.preventDefault();
    if (running) return;
    running = true;
    target.textContent = '';
    try {
      await action();
    } catch (e) {
      target.textContent = e.message;
    } finally {
      running = false;
    }
  };
}

function table(columns, rows, empty) {
  if (!rows.length) return el('p', { class: 'muted' }, empty || 'Nothing yet.');
  return el('table', {},
    el('thead', {}, el('tr', {}, columns.map((c) => el('th', { class: c.num ? 'num' : null }, c.title)))),
    el('tbody', {}, rows.map((row) => el('tr', {}, columns.map((c) => el('td', { class: c.num ? 'num' : null }, c.cell(row)))))));
}

/** A bar chart of values by label, as inline SVG named {@code name} for screen readers. */
function bars(points, format, name) {
  const width = 1000, height = 200, pad = 24;
  const max = Math.max(1, ...points.map((p) => p.value));
  const step = points.length ? (width - pad) / points.length : 0;
  const svg = document.createElementNS('http://www.w3.org/2000/svg', 'svg');
  svg.setAttribute('viewBox', `0 0 ${width} ${height + pad}`);
  svg.setAttribute('class', 'chart');
  svg.setAttribute('role', 'img');
  svg.setAttribute('aria-label', name);
  // A label under every bar up to 31 bars; past that, under every few (each bar keeps its title).
  const every = Math.ceil(points.length / 31);
  points.forEach((p, i) => {
    const h = Math.max(1, (p.value / max) * (height - pad));
    const rect = document.createElementNS(svg.namespaceURI, 'rect');
    const w = Math.max(1, Math.min(step * 0.7, 60));
    rect.setAttribute('x', pad + i * step + (step - w) / 2);
    rect.setAttribute('y', height - h);
    rect.setAttribute('width', w);
    rect.setAttribute('height', h);
    const title = document.createElementNS(svg.namespaceURI, 'title');
    title.textContent = `${p.label}: ${format(p.value)}`;
    rect.append(title);
    const label = document.createElementNS(svg.namespaceURI, 'text');
    label.setAttribute('x', pad + i * step + step / 2);
    label.setAttribute('y', height + 14);
    label.setAttribute('text-anchor', 'middle');
    label.textContent = /^\d{4}-\d{2}-\d{2}$/.test(p.label) ? p.label.slice(5) : p.label;
    svg.append(rect);
    if (i % every === 0) svg.append(label);
    if (points.length <= 12 && p.value > 0) {
      const value = document.createElementNS(svg.namespaceURI, 'text');
      value.setAttribute('x', pad + i * step + step / 2);
      value.setAttribute('y', height - h - 4);
      value.setAttribute('text-anchor', 'middle');
      value.textContent = format(p.value);
      svg.append(value);
    }
  });
  return svg;
}

/**
 * Every day from {@code from} to {@code to} (YYYY-MM-DD) with the day's sum or 0, up to a year; over
 * a year, every month (YYYY-MM), and over a hundred years every year: the whole range, never cut.
 */
function daily(rows, from, to, field) {
  const sums = sumBy(rows, 'day', field);
  const start = new Date(from + 'T00:00:00Z');
  const end = new Date(to + 'T00:00:00Z');
  if (!(start <= end)) return sums;
  const spanDays = (end - start) / 86400000 + 1;
  const width = spanDays <= 366 ? 10 : spanDays <= 36600 ? 7 : 4;
  const buckets = new Map();
  for (let d = new Date(start); d <= end;) {
    buckets.set(d.toISOString().slice(0, width), 0);
    if (width === 10) d.setUTCDate(d.getUTCDate() + 1);
    else if (width === 7) d.setUTCMonth(d.getUTCMonth() + 1, 1);
    else d.setUTCFullYear(d.getUTCFullYear() + 1, 0, 1);
  }
  for (const p of sums) {
    const bucket = p.label.slice(0, width);
    if (buckets.has(bucket)) buckets.set(bucket, buckets.get(bucket) + p.value);
  }
  return [...buckets.entries()].map(([label, value]) => ({ label, value }));
}

function sumBy(rows, key, field) {
  const sums = new Map();
  for (const r of rows) sums.set(r[key], (sums.get(r[key]) || 0) + r[field]);
  return [...sums.entries()].sort((a, b) => (a[0] < b[0] ? -1 : 1)).map(([label, value]) => ({ label, value }));
}

// ---------------------------------------------------------------- sign in and out

const $ = (id) => document.getElementById(id);

function signedIn(mode, token, name) {
  Object.assign(state, { mode, token, name });
  if (mode === 'account') {
    store.setItem('th.mode', mode);
    store.setItem('th.token', token);
    store.setItem('th.name', name);
  }
  show();
}

function signOut(message) {
  if (state.mode === 'account' && state.token) call('POST', '/console/api/logout').catch(() => {});
  Object.assign(state, { mode: null, token: null, name: null });
  ['th.mode', 'th.token', 'th.name'].forEach((k) => store.removeItem(k));
  $('login-error').textContent = message || '';
  $('view').replaceChildren();
  switchLogin(false);
  show();
}

$('as-account').addEventListener('click', () => switchLogin(false));
$('as-admin').addEventListener('click', () => switchLogin(true));
function switchLogin(admin) {
  $('as-account').classList.toggle('active', !admin);
  $('as-admin').classList.toggle('active', admin);
  $('account-form').hidden = admin;
  $('admin-form').hidden = !admin;
}

$('account-form').addEventListener('submit', guarded($('login-error'), async () => {
  const answer = await call('POST', '/console/api/login', { email: $('email').value, password: $('password').value });
  $('password').value = '';
  signedIn('account', answer.token, answer.account.name + ' · ' + answer.account.email);
}));

$('admin-form').addEventListener('submit', guarded($('login-error'), async () => {
  state.token = $('admin-key').value;
  try {
    await call('GET', '/admin/v1/upstreams');
  } catch (e) {
    state.token = null;
    // A refusal of the key says so; anything else (too many attempts, the node unready) as it is.
    throw e.status === 401 ? new Error('That is not the admin key.') : e;
  }
  $('admin-key').value = '';
  signedIn('admin', state.token, 'Administrator');
}));

$('signout').addEventListener('click', () => signOut());

// ---------------------------------------------------------------- pages

const pages = {
  account: { Overview: overview, Keys: ownKeys, Usage: usage, Logs: logs, Models: models },
  admin: { Accounts: accounts, Usage: usage, Logs: logs, Upstreams: upstreams, Models: models },
};

function show() {
  const on = Boolean(state.mode && state.token);
  $('login').hidden = on;
  $('view').hidden = !on;
  $('nav').hidden = !on;
  $('signout').hidden = !on;
  $('who').textContent = on ? state.name : '';
  if (!on) return;
  const nav = $('nav');
  nav.replaceChildren();
  for (const [title, page] of Object.entries(pages[state.mode])) {
    nav.append(el('button', { type: 'button', 'data-page': title, onclick: () => open(title, page) }, title));
  }
  const [first, page] = Object.entries(pages[state.mode])[0];
  open(first, page);
}

let opened = 0;
async function open(title, page) {
  const mine = ++opened;
  for (const b of $('nav').children) b.classList.toggle('active', b.dataset.page === title);
  const view = $('view');
  view.replaceChildren(el('h1', {}, title), el('p', { class: 'muted' }, 'Loading…'));
  let content;
  try {
    content = await page();
  } catch (e) {
    content = el('p', { class: 'error', role: 'alert' }, e.message);
  }
  // A page that finishes after another was opened (or after signing out) is dropped.
  if (mine === opened && state.mode) view.replaceChildren(el('h1', {}, title), content);
}

function plansTable(plans) {
  return table([
    { title: 'Plan', cell: (p) => p.id },
    { title: 'Tokens left', num: true, cell: (p) => num(p.tokens_remaining) + ' / ' + num(p.tokens_total) },
    { title: 'Valid', cell: (p) => time(p.valid_from) + ' → ' + time(p.valid_until) },
    { title: 'Models', cell: (p) => (p.models.length ? p.models.join(', ') : 'all') },
  ], plans, 'No active token plan.');
}

async function overview() {
  const account = await call('GET', '/console/api/account');
  return el('div', {},
    el('div', { class: 'cards' },
      el('div', { class: 'card' }, el('div', { class: 'value', id: 'balance' }, usd(account.balance_micro_usd)),
        el('div', { class: 'label' }, 'Wallet balance')),
      el('div', { class: 'card' }, el('div', { class: 'value' }, num(account.plans.reduce((s, p) => s + p.tokens_remaining, 0))),
        el('div', { class: 'label' }, 'Plan tokens left'))),
    el('h2', {}, 'Token plans'), plansTable(account.plans));
}

/** Keys of one account: list (a page after a cursor, all pages shown), create (the key is shown once), revoke. */
function keysPanel(list, create, revoke) {
  const box = el('div');
  const error = el('p', { class: 'error', role: 'alert' });
  const shown = el('div');
  const name = el('input', { name: 'name', placeholder: 'e.g. production', required: true });
  const models = el('input', { name: 'allowed_models', placeholder: 'all models' });
  const cap = el('input', { name: 'monthly_cap_usd', type: 'number', min: '0', step: 'any', placeholder: 'no cap' });
  const form = el('form', { class: 'inline' },
    el('label', {}, 'Name', name), el('label', {}, 'Allowed models (comma separated)', models),
    el('label', {}, 'Monthly cap (USD)', cap), el('button', { type: 'submit' }, 'Create key'));
  const render = async () => {
    const keys = [];
    let cursor = null;
    do {
      const page = await list(cursor);
      keys.push(...page.data);
      cursor = page.next_cursor;
    } while (cursor);
    box.replaceChildren(table([
      { title: 'Name', cell: (k) => k.name },
      { title: 'Key', cell: (k) => k.prefix + '…' },
      { title: 'Id', cell: (k) => el('code', {}, k.id) },
      { title: 'Status', cell: (k) => el('span', { class: 'status-' + shownStatus(k) }, shownStatus(k)) },
      { title: 'Expires', cell: (k) => (k.expires_at ? time(k.expires_at) : 'never') },
      { title: 'Models', cell: (k) => (k.allowed_models.length ? k.allowed_models.join(', ') : 'all') },
      { title: 'Monthly cap', num: true, cell: (k) => (k.monthly_cap_micro_usd === null ? 'none' : usd(k.monthly_cap_micro_usd)) },
      { title: 'Created', cell: (k) => time(k.created_at) },
      { title: '', cell: (k) => (k.status === 'revoked' ? '' : el('button', { class: 'danger', type: 'button',
        onclick: guarded(error, async () => { if (confirm('Revoke ' + k.name + '? Requests with it stop within a second.')) { await revoke(k.id); await render(); } }) }, 'Revoke')) },
    ], keys, 'No keys yet.'));
  };
  form.addEventListener('submit', guarded(error, async () => {
    const body = { name: name.value };
    if (models.value.trim()) body.allowed_models = models.value.split(',').map((m) => m.trim()).filter(Boolean);
    if (cap.value !== '') body.monthly_cap_usd = Number(cap.value);
    const created = await create(body);
    shown.replaceChildren(el('div', { class: 'notice' }, el('p', {}, 'Copy the new key now: it is shown only once.'),
      el('code', { id: 'new-key' }, created.key)));
    form.reset();
    await render();
  }));
  return render().then(() => el('div', {}, error, shown, box, el('h2', {}, 'New key'), form));
}

/** A key's status as the gateway treats it: an active key past its expiry is refused, so it reads "expired". */
function shownStatus(k) {
  return k.status === 'active' && k.expires_at && new Date(k.expires_at) <= new Date() ? 'expired' : k.status;
}

function ownKeys() {
  return keysPanel((cursor) => call('GET', '/console/api/keys' + (cursor ? '?cursor=' + encodeURIComponent(cursor) : '')),
    (body) => call('POST', '/console/api/keys', body),
    (id) => call('DELETE', '/console/api/keys/' + encodeURIComponent(id)));
}

/** Usage by day and model as charts and a table, for a date range (and, for the admin, an account). */
async function usage() {
  const admin = state.mode === 'admin';
  const from = el('input', { type: 'date', value: monthStart() });
  const to = el('input', { type: 'date', value: today() });
  const account = el('input', { placeholder: 'all accounts' });
  const out = el('div');
  const error = el('p', { class: 'error', role: 'alert' });
  const load = async () => {
    const q = new URLSearchParams({ from: from.value, to: to.value });
    let rows;
    if (admin) {
      q.set('group_by', 'day,model');
      if (account.value.trim()) q.set('account_id', account.value.trim());
      rows = (await call('GET', '/admin/v1/usage?' + q)).data;
    } else {
      rows = (await call('GET', '/console/api/usage?' + q)).data;
    }
    const total = rows.reduce((s, r) => s + r.cost_micro_usd, 0);
    out.replaceChildren(
      el('div', { class: 'cards' },
        el('div', { class: 'card' }, el('div', { class: 'value' }, usd(total)), el('div', { class: 'label' }, 'Cost in range')),
        el('div', { class: 'card' }, el('div', { class: 'value' }, num(rows.reduce((s, r) => s + r.requests, 0))),
          el('div', { class: 'label' }, 'Requests'))),
      el('h2', {}, 'Cost by day'), bars(daily(rows, from.value, to.value, 'cost_micro_usd'), usd, 'Cost by day'),
      el('h2', {}, 'Cost by model'), bars(sumBy(rows, 'model', 'cost_micro_usd'), usd, 'Cost by model'),
      el('h2', {}, 'By day and model'),
      table([
        { title: 'Day', cell: (r) => r.day }, { title: 'Model', cell: (r) => r.model },
        { title: 'Requests', num: true, cell: (r) => num(r.requests) },
        { title: 'Prompt', num: true, cell: (r) => num(r.prompt_tokens) },
        { title: 'Cached', num: true, cell: (r) => num(r.cached_tokens) },
        { title: 'Completion', num: true, cell: (r) => num(r.completion_tokens) },
        { title: 'Cost', num: true, cell: (r) => usd(r.cost_micro_usd) },
      ], rows, 'No requests in this range.'));
  };
  const form = el('form', { class: 'inline', onsubmit: guarded(error, load) },
    el('label', {}, 'From', from), el('label', {}, 'To', to), admin ? el('label', {}, 'Account', account) : null,
    el('button', { type: 'submit' }, 'Show'));
  await load();
  return el('div', {}, form, error, out);
}

/** Request records, newest first, with filters and paging. */
async function logs() {
  const admin = state.mode === 'admin';
  const fields = {
    from: el('input', { type: 'date', value: monthStart() }), to: el('input', { type: 'date', value: today() }),
    model: el('input', { placeholder: 'any' }), status: el('input', { placeholder: '200, 429, success or error' }),
    key_id: el('input', { placeholder: 'any' }), account_id: el('input', { placeholder: 'any' }),
  };
  const body = el('tbody');
  const more = el('button', { type: 'button', hidden: true }, 'More');
  const error = el('p', { class: 'error', role: 'alert' });
  let cursor = null;
  let query = null;
  const row = (r) => el('tr', {},
    el('td', {}, time(r.created_at)), el('td', {}, r.request_id), el('td', {}, r.key_id),
    admin ? el('td', {}, r.account_id) : null,
    el('td', {}, r.served_model && r.served_model !== r.requested_model ? r.requested_model + ' → ' + r.served_model
      : r.requested_model),
    el('td', {}, r.provider || '—'), el('td', { class: 'num' }, r.status),
    el('td', { class: 'num' }, num(r.prompt_tokens) + ' / ' + num(r.completion_tokens)),
    el('td', { class: 'num' }, usd(r.cost_micro_usd)), el('td', { class: 'num' }, num(r.latency_ms) + ' ms'));
  const load = async (append) => {
    if (!append) {
      // "More" pages through what was filtered, whatever is typed in the form since.
      query = new URLSearchParams({ limit: '50' });
      for (const [name, input] of Object.entries(fields)) if (input.value.trim() && (admin || name !== 'account_id')) query.set(name, input.value.trim());
    }
    const q = new URLSearchParams(query);
    if (append && cursor) q.set('cursor', cursor);
    const page = await call('GET', (admin ? '/admin/v1/logs?' : '/console/api/logs?') + q);
    if (!append) body.replaceChildren();
    page.data.forEach((r) => body.append(row(r)));
    cursor = page.next_cursor;
    more.hidden = !cursor;
  };
  more.addEventListener('click', guarded(error, () => load(true)));
  const form = el('form', { class: 'inline', onsubmit: guarded(error, () => load(false)) },
    el('label', {}, 'From', fields.from), el('label', {}, 'To', fields.to), el('label', {}, 'Model', fields.model),
    el('label', {}, 'Status', fields.status), el('label', {}, 'Key id', fields.key_id),
    admin ? el('label', {}, 'Account id', fields.account_id) : null, el('button', { type: 'submit' }, 'Filter'));
  await load(false);
  return el('div', {}, form, error, el('table', {},
    el('thead', {}, el('tr', {}, ['Time', 'Request', 'Key', admin ? 'Account' : null, 'Model', 'Provider', '#Status',
      '#Tokens in / out', '#Cost', '#Latency'].filter(Boolean)
      .map((t) => el('th', { class: t.startsWith('#') ? 'num' : null }, t.replace('#', ''))))), body), more);
}

async function models() {
  const list = (await call('GET', '/console/api/models')).data;
  const price = (m) => (m.type === 'rerank'
    ? '$' + m.pricing.per_search + ' per search' + (m.pricing.input ? ` · $${m.pricing.input} in` : '')
    : m.type === 'embedding' ? `$${m.pricing.input} in`
      : `$${m.pricing.input} in · $${m.pricing.cached_input} cached · $${m.pricing.cache_write} cache write`
        + ` · $${m.pricing.output} out`);
  return table([
    { title: 'Model', cell: (m) => [m.id, m.aliases.length ? el('div', { class: 'muted' }, m.aliases.join(', ')) : null] },
    { title: 'Type', cell: (m) => m.type },
    { title: 'Context', num: true, cell: (m) => num(m.context_window) },
    { title: 'Max output', num: true, cell: (m) => num(m.max_output_tokens) },
    { title: 'Capabilities', cell: (m) => m.capabilities.join(', ') || '—' },
    { title: 'Price (USD per 1M tokens)', cell: price },
    { title: 'Limits', cell: (m) => `${m.limits.rpm === null ? '∞' : num(m.limits.rpm)} rpm · ${m.limits.tpm === null ? '∞' : num(m.limits.tpm)} tpm` },
  ], list, 'The catalog is empty.');
}

// ---------------------------------------------------------------- admin pages

async function upstreams() {
  const list = (await call('GET', '/admin/v1/upstreams')).data;
  return table([
    { title: 'Provider', cell: (u) => u.provider }, { title: 'Deployment', cell: (u) => u.deployment },
    { title: 'Circuit', cell: (u) => el('span', { class: 'status-' + u.circuit_state }, u.circuit_state.replace('_', '-')) },
    { title: 'Error rate', num: true, cell: (u) => Math.round(u.error_rate * 1000) / 10 + ' %' },
    { title: 'Latency', num: true, cell: (u) => (u.latency_ms === null ? '—' : u.latency_ms + ' ms') },
    { title: 'Retry in', num: true, cell: (u) => (u.retry_in_ms ? Math.ceil(u.retry_in_ms / 1000) + ' s' : '—') },
  ], list, 'No upstreams.');
}

async function accounts() {
  const list = el('div');
  const detail = el('div');
  const error = el('p', { class: 'error', role: 'alert' });
  const name = el('input', { required: true }), email = el('input', { type: 'email', required: true });
  const password = el('input', { type: 'password', placeholder: 'optional' });
  const more = el('button', { type: 'button', hidden: true }, 'More accounts');
  let shown = [];
  const render = async (append) => {
    const after = append && more.dataset.cursor ? '&cursor=' + encodeURIComponent(more.dataset.cursor) : '';
    const page = await call('GET', '/admin/v1/accounts?limit=100' + after);
    shown = append ? shown.concat(page.data) : page.data;
    more.hidden = !page.next_cursor;
    more.dataset.cursor = page.next_cursor || '';
    list.replaceChildren(table([
      { title: 'Name', cell: (a) => el('button', { class: 'link', type: 'button', onclick: guarded(error, () => select(a.id)) }, a.name) },
      { title: 'Email', cell: (a) => a.email }, { title: 'Id', cell: (a) => a.id },
      { title: 'Status', cell: (a) => el('span', { class: 'status-' + a.status }, a.status) },
      { title: 'Balance', num: true, cell: (a) => usd(a.balance_micro_usd) },
    ], shown, 'No accounts yet.'), more);
  };
  more.addEventListener('click', guarded(error, () => render(true)));
  const select = async (id) => {
    const account = await call('GET', '/admin/v1/accounts/' + encodeURIComponent(id));
    const amount = el('input', { type: 'number', step: 'any', required: true, placeholder: 'negative to adjust down' });
    const reason = el('input', { placeholder: 'admin credit' });
    const tokens = el('input', { type: 'number', min: '1', required: true });
    const until = el('input', { type: 'date', required: true });
    const planModels = el('input', { placeholder: 'all models' });
    const credit = el('form', { class: 'inline', onsubmit: guarded(error, async () => {
      await call('POST', `/admin/v1/accounts/${encodeURIComponent(id)}/credits`, { amount_usd: Number(amount.value), reason: reason.value || undefined });
      await select(id);
      await render();
    }) }, el('label', {}, 'Amount (USD)', amount), el('label', {}, 'Reason', reason), el('button', { type: 'submit' }, 'Credit'));
    const plan = el('form', { class: 'inline', onsubmit: guarded(error, async () => {
      const body = { tokens: Number(tokens.value), valid_until: until.value + 'T23:59:59Z' };
      if (planModels.value.trim()) body.models = planModels.value.split(',').map((m) => m.trim()).filter(Boolean);
      await call('POST', `/admin/v1/accounts/${encodeURIComponent(id)}/plans`, body);
      await select(id);
    }) }, el('label', {}, 'Tokens', tokens), el('label', {}, 'Valid until', until), el('label', {}, 'Models', planModels),
      el('button', { type: 'submit' }, 'Grant plan'));
    const keys = await keysPanel((cursor) => call('GET', '/admin/v1/keys?limit=500&account_id=' + encodeURIComponent(id)
        + (cursor ? '&cursor=' + encodeURIComponent(cursor) : '')),
      (body) => call('POST', '/admin/v1/keys', Object.assign({ account_id: id }, body)),
      (keyId) => call('DELETE', '/admin/v1/keys/' + encodeURIComponent(keyId)));
    detail.replaceChildren(el('h2', {}, account.name + ' · ' + account.email),
      el('div', { class: 'cards' }, el('div', { class: 'card' }, el('div', { class: 'value' }, usd(account.balance_micro_usd)),
        el('div', { class: 'label' }, 'Wallet balance'))),
      el('h2', {}, 'Credit'), credit, el('h2', {}, 'Token plans'), plansTable(account.plans), plan,
      el('h2', {}, 'Keys'), keys);
  };
  const create = el('form', { class: 'inline', onsubmit: guarded(error, async () => {
    const created = await call('POST', '/admin/v1/accounts', { name: name.value, email: email.value, password: password.value || undefined });
    create.reset();
    await render();
    await select(created.id);
  }) }, el('label', {}, 'Name', name), el('label', {}, 'Email', email), el('label', {}, 'Password', password),
    el('button', { type: 'submit' }, 'Create account'));
  await render();
  return el('div', {}, error, list, el('h2', {}, 'New account'), create, detail);
}

show();
