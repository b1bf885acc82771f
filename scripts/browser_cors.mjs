// Browser checks of fractal-server's CORS and auth-cookie behaviour, as Fractal 1.3's web
// client (fractal-web) used them: pages on one origin calling the server on another with
// fetch() and credentialed cookies. The CORS policy is fractal-server 1.3.14's (Starlette's
// CORSMiddleware): methods GET, POST, PUT, PATCH, DELETE, OPTIONS; request headers only the
// CORS-safelisted ones plus set-cookie, x-requested-with, access-control-allow-headers. So the
// listed origin can read a token login, but a page cannot send "Authorization: Bearer"
// cross-origin: that preflight is answered 400 and the request is never sent (the A*, D3, B8
// checks). Driven by scripts/browser_cors.sh, which starts the servers and the page servers
// and passes their addresses in the environment:
//
//   PLAYWRIGHT_CACHE_DIR  dir with node_modules/playwright-core
//   CHROMIUM              Chromium binary (/usr/bin/chromium)
//   API_SECURE            fractal-server with the default cookie (SameSite=None; Secure),
//                         as http://127.0.0.1:PORT (cross-site with the pages)
//   API_INSECURE          fractal-server with FRACTAL_COOKIE_SECURE=false, idem
//   API_SECURE_SAMESITE, API_INSECURE_SAMESITE   the same two servers as http://localhost:PORT
//                         (same-site with the pages: a deployment on one host / one domain)
//   LISTED_ORIGIN         page origin listed in FRACTAL_CORS_ALLOW_ORIGIN (http://localhost:5173)
//   OTHER_ORIGIN          page origin not listed (http://localhost:5174)
//   FRACTAL_USER / FRACTAL_PASS   credentials (admin@fractal.xy / 1234)
//   VERBOSE=1             print the network details of every check, not only failing ones
//
// Browsers: fresh profiles; "3p cookies allowed" sets chrome://settings/cookies to allow
// third-party cookies, "default profile" leaves Chromium's default (Chromium 156 blocks them).
// Network details come from the DevTools protocol (the headers on the wire, the cookies
// Chromium refused and why, the CORS error of a failed fetch).
//
// Prints one "PASS <id> <what>" or "FAIL <id> <what>" line per check (failing ones followed by
// the requests and answers); exits 1 on any failure.

import { createRequire } from 'node:module';
import { mkdtempSync, mkdirSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';

const env = process.env;
const need = (name) => {
  if (!env[name]) {
    console.error(`browser_cors.mjs: ${name} is not set (run scripts/browser_cors.sh)`);
    process.exit(2);
  }
  return env[name];
};
const require = createRequire(join(need('PLAYWRIGHT_CACHE_DIR'), 'noop.js'));
const { chromium } = require('playwright-core');

const CHROMIUM = env.CHROMIUM || '/usr/bin/chromium';
const API_SECURE = need('API_SECURE');
const API_INSECURE = need('API_INSECURE');
const API_SECURE_SS = need('API_SECURE_SAMESITE'); // the same servers, same-site with the pages
const API_INSECURE_SS = need('API_INSECURE_SAMESITE');
const LISTED = need('LISTED_ORIGIN');
const OTHER = need('OTHER_ORIGIN');
const USER = env.FRACTAL_USER || 'admin@fractal.xy';
const PASS = env.FRACTAL_PASS || '1234';
const VERBOSE = env.VERBOSE === '1';
const RUN = Date.now().toString(36);
const COOKIE = 'fastapiusersauth';
const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
let failures = 0;
const profiles = [];
const created = new Set(); // names of the projects the listed-origin flows created

// ---------------------------------------------------------------- reporting

function check(id, what, ok, note, details = []) {
  console.log(`${ok ? 'PASS' : 'FAIL'} ${id} ${what}${note ? ` -- ${note}` : ''}`);
  if (!ok) failures++;
  if (!ok || VERBOSE) for (const d of details) if (d) console.log(indent(describe(d)));
}

async function step(id, what, fn) {
  try {
    await fn();
  } catch (e) {
    console.log(`FAIL ${id} ${what} -- exception: ${e && e.stack ? e.stack.split('\n')[0] : e}`);
    failures++;
  }
}

const indent = (s) => s.split('\n').map((l) => `    ${l}`).join('\n');

const SHOWN_REQ = ['origin', 'sec-fetch-site', 'sec-fetch-mode', 'access-control-request-method',
  'access-control-request-headers', 'authorization', 'content-type', 'cookie'];
const SHOWN_RES = ['access-control-allow-origin', 'access-control-allow-credentials',
  'access-control-allow-methods', 'access-control-allow-headers', 'access-control-max-age',
  'vary', 'set-cookie', 'content-type'];

function pick(headers, names) {
  const out = [];
  const lower = Object.fromEntries(Object.entries(headers || {}).map(([k, v]) => [k.toLowerCase(), v]));
  for (const n of names) {
    if (lower[n] === undefined) continue;
    let v = String(lower[n]);
    if (n === 'authorization') v = v.replace(/(Bearer\s+)(.{12}).*/i, '$1$2…');
    if (n === 'cookie' || n === 'set-cookie') v = v.replace(new RegExp(`${COOKIE}=([^;"]{12})[^;]*`, 'g'), `${COOKIE}=$1…`);
    out.push(`${n}: ${v.replace(/\n/g, ' | ')}`);
  }
  return out;
}

// One fetch result (or any object with .label and .net) as text.
function describe(r) {
  const lines = [];
  if (r.label) lines.push(r.label);
  if (r.readable !== undefined) {
    lines.push(r.readable
      ? `page read: status ${r.status} (${r.type}) body ${JSON.stringify((r.body || '').slice(0, 160))}`
      : `page got: ${r.error}`);
  }
  for (const n of r.net || []) {
    lines.push(`> ${n.method} ${n.url}${n.type ? ` [${n.type}]` : ''}`);
    for (const h of pick(n.reqHeaders, SHOWN_REQ)) lines.push(`>   ${h}`);
    for (const c of n.cookiesNotSent) lines.push(`>   (cookie ${c.name} not sent: ${c.reasons})`);
    if (n.status !== undefined) lines.push(`< ${n.status}`);
    for (const h of pick(n.resHeaders, SHOWN_RES)) lines.push(`<   ${h}`);
    for (const c of n.setCookieBlocked) lines.push(`<   (Set-Cookie refused by Chromium: ${c})`);
    if (n.failed) lines.push(`x   ${n.failed}`);
  }
  for (const c of r.console || []) lines.push(`console: ${c}`);
  return lines.join('\n');
}

// ---------------------------------------------------------------- browser

// A fresh profile. cookieMode: chrome://settings/cookies (profile.cookie_controls_mode):
// 0 allow third-party cookies, 1 block them, 2 block them in incognito only; undefined leaves
// Chromium's default.
async function openBrowser(label, { cookieMode } = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'fractal-browser-profile-'));
  profiles.push(dir);
  if (cookieMode !== undefined) {
    mkdirSync(join(dir, 'Default'), { recursive: true });
    writeFileSync(join(dir, 'Default', 'Preferences'), JSON.stringify({
      profile: { cookie_controls_mode: cookieMode },
    }));
  }
  const ctx = await chromium.launchPersistentContext(dir, {
    executablePath: CHROMIUM,
    headless: true,
    args: CHROMIUM_ARGS,
  });
  const page = ctx.pages()[0] || (await ctx.newPage());
  const b = { label, ctx, page, events: [], console: [], cookieMode: await cookieControlsMode(ctx) };
  page.on('console', (m) => { if (m.type() === 'error') b.console.push(m.text()); });
  const cdp = await ctx.newCDPSession(page);
  await cdp.send('Network.enable');
  const on = (name, f) => cdp.on(`Network.${name}`, (e) => b.events.push({ name, ...f(e) }));
  on('requestWillBeSent', (e) => ({ id: e.requestId, method: e.request.method, url: e.request.url, type: e.type, headers: e.request.headers }));
  on('requestWillBeSentExtraInfo', (e) => ({ id: e.requestId, headers: e.headers, cookies: e.associatedCookies || [] }));
  on('responseReceived', (e) => ({ id: e.requestId, status: e.response.status, url: e.response.url, headers: e.response.headers }));
  on('responseReceivedExtraInfo', (e) => ({ id: e.requestId, status: e.statusCode, headers: e.headers, blocked: e.blockedCookies || [] }));
  on('loadingFailed', (e) => ({ id: e.requestId, error: e.errorText, cors: e.corsErrorStatus, blockedReason: e.blockedReason }));
  return b;
}

// The effective "third-party cookies" setting, as chrome://settings reads it.
async function cookieControlsMode(ctx) {
  const p = await ctx.newPage();
  try {
    await p.goto('chrome://settings/cookies');
    await p.waitForFunction(() => window.chrome && chrome.settingsPrivate, null, { timeout: 10000 });
    return await p.evaluate(() => new Promise((res) =>
      chrome.settingsPrivate.getPref('profile.cookie_controls_mode', (x) => res(x ? x.value : 'unknown'))));
  } catch (e) {
    return 'unknown';
  } finally {
    await p.close();
  }
}

// The requests to `base` seen since the last reset, preflights included (Chromium reports a
// preflight under the request id of its request plus "-Preflight").
function network(b, base) {
  const byId = new Map();
  const get = (id) => {
    if (!byId.has(id)) byId.set(id, { id, cookiesNotSent: [], setCookieBlocked: [], reqHeaders: {} });
    return byId.get(id);
  };
  for (const e of b.events) {
    const n = get(e.id);
    switch (e.name) {
      case 'requestWillBeSent':
        Object.assign(n, { method: e.method, url: e.url, type: e.type });
        n.reqHeaders = { ...e.headers, ...n.reqHeaders };
        break;
      case 'requestWillBeSentExtraInfo':
        n.reqHeaders = { ...n.reqHeaders, ...e.headers }; // the headers on the wire, cookies included
        for (const c of e.cookies) {
          if (c.cookie && c.cookie.name === COOKIE && c.blockedReasons && c.blockedReasons.length) {
            n.cookiesNotSent.push({ name: c.cookie.name, reasons: c.blockedReasons.join(',') });
          }
        }
        break;
      case 'responseReceived':
        if (n.status === undefined) n.status = e.status;
        if (!n.resHeaders) n.resHeaders = e.headers;
        if (!n.url) n.url = e.url;
        break;
      case 'responseReceivedExtraInfo':
        n.status = e.status;
        n.resHeaders = e.headers;
        for (const c of e.blocked) n.setCookieBlocked.push(`${(c.blockedReasons || []).join(',')}`);
        break;
      case 'loadingFailed':
        n.corsError = e.cors && e.cors.corsError;
        n.failed = [e.error, e.cors && `cors ${e.cors.corsError}${e.cors.failedParameter ? ` (${e.cors.failedParameter})` : ''}`,
          e.blockedReason && `blocked ${e.blockedReason}`].filter(Boolean).join('; ');
        break;
    }
  }
  for (const n of byId.values()) {
    if (!n.method && n.id.endsWith('-Preflight')) { n.method = 'OPTIONS'; n.type = 'Preflight'; }
    if (!n.url) {
      const main = byId.get(n.id.replace(/-Preflight$/, ''));
      if (main) n.url = main.url;
    }
  }
  return [...byId.values()]
    .filter((n) => n.url && n.url.startsWith(base))
    .sort((x, y) => (x.method === 'OPTIONS' ? 0 : 1) - (y.method === 'OPTIONS' ? 0 : 1));
}

// fetch() from the page. init: fetch options, plus form (object: URL-encoded body) and json
// (value: JSON body with Content-Type: application/json).
async function call(b, base, path, init = {}, label) {
  b.events.length = 0;
  b.console.length = 0;
  const url = base + path;
  const r = await b.page.evaluate(async ([url, init]) => {
    const opts = { ...init, headers: { ...(init.headers || {}) } };
    if (opts.form) { opts.body = new URLSearchParams(opts.form); delete opts.form; }
    if (opts.json !== undefined) {
      opts.body = JSON.stringify(opts.json);
      opts.headers['Content-Type'] = 'application/json';
      delete opts.json;
    }
    try {
      const res = await fetch(url, opts);
      const body = await res.text();
      return { readable: true, status: res.status, type: res.type, body };
    } catch (e) {
      return { readable: false, error: `${e.name}: ${e.message}` };
    }
  }, [url, init]);
  await sleep(400); // the *ExtraInfo events may come after fetch() settles
  r.net = network(b, base);
  r.console = [...b.console];
  r.label = `${label || ''} fetch ${init.method || 'GET'} ${url} from ${new URL(b.page.url()).origin}`.trim();
  return r;
}

const json = (r) => { try { return JSON.parse(r.body); } catch { return undefined; } };
const preflight = (r) => r.net.find((n) => n.method === 'OPTIONS');
const mainReq = (r) => r.net.find((n) => n.method !== 'OPTIONS');
const cookieSent = (r) => /fastapiusersauth=/.test((mainReq(r) || { reqHeaders: {} }).reqHeaders.cookie
  || (mainReq(r) || { reqHeaders: {} }).reqHeaders.Cookie || '');
// Sent on the wire and answered (a request Chromium refused to send has no status).
const sent = (r) => r.net.some((n) => n.method !== 'OPTIONS' && n.status !== undefined);
// What 1.3.14 does with a preflight asking for a header or method outside its lists: answered
// 400, the page's fetch() fails with a CORS error, the request itself is never sent.
function preflightRefused(r) {
  const pf = preflight(r);
  const m = mainReq(r) || {};
  const ok = !r.readable && !!pf && pf.status === 400 && !sent(r) && /^Preflight/.test(m.corsError || '');
  const note = [pf ? `preflight OPTIONS ${pf.status}` : 'no preflight seen',
    r.readable ? `page READ status ${r.status}` : r.error,
    m.corsError ? `cors ${m.corsError}` : 'no CORS error reported',
    sent(r) ? `request SENT, server answered ${m.status}` : 'request not sent'].join('; ');
  return { ok, note };
}
const notSentReasons = (r) => ((mainReq(r) || {}).cookiesNotSent || []).map((c) => c.reasons).join(',');
const setCookieRefusals = (r) => ((mainReq(r) || {}).setCookieBlocked || []).join(',');
async function storedCookie(b, base) {
  return (await b.ctx.cookies(base)).find((c) => c.name === COOKIE);
}

// ---------------------------------------------------------------- curl (outside the browser)

function curlJson(args) {
  const out = execFileSync('curl', ['-sS', '--max-time', '10', ...args], { encoding: 'utf8' });
  return JSON.parse(out);
}
function curlToken(base) {
  return curlJson(['-X', 'POST', `${base}/auth/token/login`, '--data-urlencode', `username=${USER}`,
    '--data-urlencode', `password=${PASS}`]).access_token;
}
function curlProjects(base) {
  return curlJson(['-H', `Authorization: Bearer ${curlToken(base)}`, `${base}/api/v1/project`]);
}

// ---------------------------------------------------------------- checks

// The listed origin with a token: 1.3.14 lets the page read a token login (a form POST, no
// preflight) but refuses every preflight asking for Authorization, so a page cannot use the
// token cross-origin (fractal-web of that era used the cookie).
async function bearerFlow(b, api) {
  let token;
  const name = `browser-${RUN}-bearer`;
  await step('A1', 'Bearer: POST /auth/token/login (form) readable', async () => {
    const r = await call(b, api, '/auth/token/login', { method: 'POST', form: { username: USER, password: PASS } });
    token = (json(r) || {}).access_token;
    const ok = r.readable && r.status === 200 && !!token && (json(r) || {}).token_type === 'bearer' && !preflight(r);
    check('A1', 'Bearer: POST /auth/token/login (form, no preflight) -> 200 readable with access_token', ok,
      ok ? '' : 'token not readable', [r]);
  });
  const auth = () => ({ Authorization: `Bearer ${token}` });
  await step('A2', 'Bearer: GET /auth/whoami', async () => {
    const r = await call(b, api, '/auth/whoami', { headers: auth() });
    const { ok, note } = preflightRefused(r);
    check('A2', 'Bearer: GET /auth/whoami with a valid Authorization: Bearer -> preflight refused 400 (as 1.3.14: authorization not an allowed header), CORS error, GET never sent',
      ok, note, [r]);
  });
  await step('A3', 'Bearer: POST /api/v1/project', async () => {
    const r = await call(b, api, '/api/v1/project', { method: 'POST', headers: auth(), json: { name } });
    const { ok, note } = preflightRefused(r);
    if (r.status === 201) created.add(name);
    const made = curlProjects(api).some((x) => x.name === name); // the server's side of "never sent"
    check('A3', 'Bearer: POST /api/v1/project JSON with Authorization -> preflight refused 400 (as 1.3.14), POST never sent, no project (curl)',
      ok && !made, `${note}; project created: ${made}`, [r]);
  });
  await step('A4', 'Bearer: GET /api/v1/project', async () => {
    const r = await call(b, api, '/api/v1/project', { headers: auth() });
    const { ok, note } = preflightRefused(r);
    check('A4', 'Bearer: GET /api/v1/project with Authorization -> preflight refused 400 (as 1.3.14), GET never sent', ok, note, [r]);
  });
  await step('A5', 'header outside the list', async () => {
    const r = await call(b, api, '/auth/whoami', { headers: { 'X-Custom': '1' } });
    const { ok, note } = preflightRefused(r);
    check('A5', 'GET /auth/whoami with X-Custom (a header outside the list, no Authorization) -> preflight refused 400 (as 1.3.14), GET never sent',
      ok, note, [r]);
  });
  // X-Requested-With is in the header list, so only the method can make this preflight fail:
  // 1.3.14's method list has no HEAD (Starlette checks the requested method against it).
  await step('A6', 'method outside the list', async () => {
    const r = await call(b, api, '/auth/whoami', { method: 'HEAD', headers: { 'X-Requested-With': 'XMLHttpRequest' } });
    const { ok, note } = preflightRefused(r);
    check('A6', 'HEAD /auth/whoami with X-Requested-With (allowed header, method outside the list) -> preflight refused 400 (as 1.3.14), HEAD never sent',
      ok, note, [r]);
  });
  // The control for A5/A6: a method and a header both in the lists pass the preflight. Another
  // path than A6's, so that no cached preflight answers for it.
  await step('A7', 'method and header in the lists', async () => {
    const r = await call(b, api, '/auth/token/login', { method: 'PUT', headers: { 'X-Requested-With': 'XMLHttpRequest' } });
    const pf = preflight(r);
    const ok = r.readable && r.status === 405 && !!pf && pf.status === 200 && sent(r);
    check('A7', 'PUT /auth/token/login with X-Requested-With (both in the lists) -> preflight 200, PUT sent, 405 readable', ok,
      `${pf ? `preflight OPTIONS ${pf.status}` : 'no preflight seen'}; ${r.readable ? `page read status ${r.status}` : r.error}`, [r]);
  });
  return token;
}

async function unauthorizedReadable(b, api) {
  await step('D1', '401 readable', async () => {
    const r = await call(b, api, '/auth/whoami', { credentials: 'omit' });
    const ok = r.readable && r.status === 401 && (json(r) || {}).detail === 'Unauthorized';
    check('D1', 'listed origin: GET /auth/whoami, no credentials -> 401 readable by the page', ok,
      r.readable ? `status ${r.status} body ${r.body}` : r.error, [r]);
  });
  await step('D2', '401 readable (credentials include)', async () => {
    const r = await call(b, api, '/auth/whoami', { credentials: 'include' });
    const ok = r.readable && r.status === 401;
    check('D2', 'listed origin: GET /auth/whoami, credentials:include, no cookie yet -> 401 readable', ok, '', [r]);
  });
  await step('D3', 'bad Bearer refused', async () => {
    const r = await call(b, api, '/auth/whoami', { headers: { Authorization: 'Bearer not-a-token' } });
    const { ok, note } = preflightRefused(r);
    check('D3', 'listed origin: GET /auth/whoami with a bad Bearer -> preflight refused 400 (as 1.3.14), no 401 to read, GET never sent',
      ok, note, [r]);
  });
}

// With the cookie, since a page cannot send Authorization (A2): log in, send the bad body, log
// out again. Run against the same-site alias of the server, so that neither its cookie nor its
// cached preflight carries over to the cross-site cookie flow (B3 keeps its own preflight).
async function errorReadable(b, api) {
  await step('D4', '422 readable', async () => {
    const login = await call(b, api, '/auth/login', { method: 'POST', credentials: 'include', form: { username: USER, password: PASS } });
    const r = await call(b, api, '/api/v1/project', { method: 'POST', credentials: 'include', json: { nom: 1 } });
    const logout = await call(b, api, '/auth/logout', { method: 'POST', credentials: 'include' });
    const ok = login.status === 204 && r.readable && r.status === 422 && json(r) && json(r).detail !== undefined;
    check('D4', 'listed origin: POST /api/v1/project with an invalid body (cookie) -> 422 readable', ok,
      `${r.readable ? `status ${r.status}` : r.error}; login ${login.status}, logout ${logout.status}`, [login, r, logout]);
  });
}

// The whole cookie flow; `where` says which deployment and browser setting it runs under.
async function cookieFlow(b, api, p, where) {
  const name = `browser-${RUN}-cookie-${p}`;
  await step(`${p}1`, 'cookie login', async () => {
    const r = await call(b, api, '/auth/login', { method: 'POST', credentials: 'include', form: { username: USER, password: PASS } });
    const c = await storedCookie(b, api);
    const ok = r.readable && r.status === 204 && !!c && !setCookieRefusals(r);
    check(`${p}1`, `${where}: POST /auth/login credentials:include -> 204 readable, cookie stored`, ok,
      c ? `stored: Secure=${c.secure} SameSite=${c.sameSite} HttpOnly=${c.httpOnly}` : `not stored: ${setCookieRefusals(r) || '?'}`, [r]);
  });
  await step(`${p}2`, 'cookie whoami', async () => {
    const r = await call(b, api, '/auth/whoami', { credentials: 'include' });
    const ok = r.readable && r.status === 200 && (json(r) || {}).email === USER && cookieSent(r);
    check(`${p}2`, `${where}: GET /auth/whoami credentials:include -> cookie sent, 200 readable`, ok,
      `cookie sent: ${cookieSent(r)}${notSentReasons(r) ? ` (${notSentReasons(r)})` : ''}`, [r]);
  });
  await step(`${p}3`, 'cookie create project', async () => {
    const r = await call(b, api, '/api/v1/project', { method: 'POST', credentials: 'include', json: { name } });
    const pf = preflight(r);
    if (r.status === 201) created.add(name);
    const ok = r.readable && r.status === 201 && (json(r) || {}).name === name && cookieSent(r);
    check(`${p}3`, `${where}: POST /api/v1/project JSON credentials:include -> 201 readable`, ok,
      `${pf ? `preflight OPTIONS ${pf.status}` : 'no preflight seen'}; cookie sent: ${cookieSent(r)}`, [r]);
  });
  await step(`${p}4`, 'cookie list projects', async () => {
    const r = await call(b, api, '/api/v1/project', { credentials: 'include' });
    const list = json(r);
    const ok = r.readable && r.status === 200 && Array.isArray(list) && list.some((x) => x.name === name);
    check(`${p}4`, `${where}: GET /api/v1/project credentials:include -> lists the new project`, ok, '', [r]);
  });
  await step(`${p}5`, 'cookie logout', async () => {
    const r = await call(b, api, '/auth/logout', { method: 'POST', credentials: 'include' });
    const c = await storedCookie(b, api);
    const w = await call(b, api, '/auth/whoami', { credentials: 'include' });
    const ok = r.readable && r.status === 204 && !c && w.readable && w.status === 401;
    check(`${p}5`, `${where}: POST /auth/logout credentials:include -> 204, cookie removed, whoami 401`, ok,
      c ? `cookie still stored${setCookieRefusals(r) ? ` (${setCookieRefusals(r)})` : ''}` : '', [r, w]);
  });
}

// FRACTAL_COOKIE_SECURE=false: Chromium refuses SameSite=None without Secure (since Chrome 80),
// so the browser cookie flow cannot work, cross-site or not.
async function insecureCookie(b, api, id, where) {
  await step(id, 'insecure cookie', async () => {
    const r = await call(b, api, '/auth/login', { method: 'POST', credentials: 'include', form: { username: USER, password: PASS } });
    const c = await storedCookie(b, api);
    const w = await call(b, api, '/auth/whoami', { credentials: 'include' });
    const refused = setCookieRefusals(r);
    const ok = r.readable && r.status === 204 && !c && /SameSiteNoneInsecure/.test(refused)
      && w.readable && w.status === 401;
    check(id, `${where}, FRACTAL_COOKIE_SECURE=false: Chromium refuses "SameSite=none" without Secure (login 204 readable, no cookie, whoami 401)`, ok,
      c ? `cookie was stored (Secure=${c.secure} SameSite=${c.sameSite}), whoami ${w.status}` : `Set-Cookie refused: ${refused || '?'}; whoami ${w.status}`, [r, w]);
  });
}

async function thirdPartyBlocked(b, api) {
  await step('B7', 'third-party cookies blocked', async () => {
    const r = await call(b, api, '/auth/login', { method: 'POST', credentials: 'include', form: { username: USER, password: PASS } });
    const c = await storedCookie(b, api);
    const w = await call(b, api, '/auth/whoami', { credentials: 'include' });
    const ok = r.readable && r.status === 204 && w.readable && w.status === 401 && !cookieSent(w);
    const why = setCookieRefusals(r) || notSentReasons(w);
    check('B7', 'cross-site, Chromium default profile (third-party cookies blocked): login 204 readable, cookie refused, whoami 401 readable', ok,
      `cookie_controls_mode=${b.cookieMode}; cookie stored: ${!!c}; ${why ? `Chromium: ${why}` : 'no refusal reported'}; whoami ${w.status}`, [r, w]);
  });
  await step('B8', 'Bearer with third-party cookies blocked', async () => {
    const t = await call(b, api, '/auth/token/login', { method: 'POST', form: { username: USER, password: PASS } });
    const token = (json(t) || {}).access_token;
    const r = await call(b, api, '/auth/whoami', { headers: { Authorization: `Bearer ${token}` } });
    const { ok, note } = preflightRefused(r);
    check('B8', 'cross-site, Chromium default profile: token login 200 readable, but whoami with the Bearer -> preflight refused 400 (as 1.3.14: no fallback to the token)',
      t.readable && t.status === 200 && !!token && ok, `token login ${t.status}; ${note}`, [t, r]);
  });
}

// The page on the not-listed origin, in a browser that holds a working auth cookie for `api`.
async function notListedOrigin(b, api, p, where) {
  const token = curlToken(api);
  const marker = `browser-${RUN}-notlisted`;
  await b.page.goto(`${LISTED}/`);
  const login = await call(b, api, '/auth/login', { method: 'POST', credentials: 'include', form: { username: USER, password: PASS } });
  const pre = await call(b, api, '/auth/whoami', { credentials: 'include' });
  check(`${p}0`, `${where}: precondition: this browser holds a working cookie (login from the listed origin)`, pre.status === 200, '', [login, pre]);
  await b.page.goto(`${OTHER}/`);

  const never = (r) => !r.net.some((n) => n.method !== 'OPTIONS' && n.status !== undefined);
  const unreadable = (id, what, r, extra = true, note = '') => {
    const f = (mainReq(r) || {}).failed || (preflight(r) || {}).failed || '';
    check(id, `${where}: ${what}`, !r.readable && extra,
      `${r.readable ? `page READ status ${r.status}` : r.error}${f ? `; ${f}` : ''}${note ? `; ${note}` : ''}`, [r]);
  };
  await step(`${p}1`, 'not listed: token login', async () => {
    const r = await call(b, api, '/auth/token/login', { method: 'POST', form: { username: USER, password: PASS } });
    unreadable(`${p}1`, 'POST /auth/token/login -> page cannot read the answer (CORS error)', r, true,
      `server answered ${(mainReq(r) || {}).status}`);
  });
  await step(`${p}2`, 'not listed: whoami Bearer', async () => {
    const r = await call(b, api, '/auth/whoami', { headers: { Authorization: `Bearer ${token}` } });
    const pf = preflight(r);
    unreadable(`${p}2`, 'GET /auth/whoami with Bearer -> preflight refused, GET never sent', r,
      !!pf && never(r), pf ? `preflight OPTIONS ${pf.status}` : 'no preflight seen');
  });
  await step(`${p}3`, 'not listed: whoami cookie', async () => {
    const r = await call(b, api, '/auth/whoami', { credentials: 'include' });
    unreadable(`${p}3`, 'GET /auth/whoami credentials:include -> CORS error', r, true,
      `server answered ${(mainReq(r) || {}).status}, cookie sent: ${cookieSent(r)}`);
  });
  await step(`${p}4`, 'not listed: JSON POST cookie', async () => {
    const r = await call(b, api, '/api/v1/project', { method: 'POST', credentials: 'include', json: { name: `${marker}-${p}-json` } });
    const pf = preflight(r);
    unreadable(`${p}4`, 'POST /api/v1/project JSON credentials:include -> preflight refused, POST never sent', r,
      !!pf && never(r), pf ? `preflight OPTIONS ${pf.status}` : 'no preflight seen');
  });
  await step(`${p}5`, 'not listed: text/plain POST cookie', async () => {
    const r = await call(b, api, '/api/v1/project', { method: 'POST', credentials: 'include',
      headers: { 'Content-Type': 'text/plain' }, body: JSON.stringify({ name: `${marker}-${p}-text` }) });
    const m = mainReq(r) || {};
    unreadable(`${p}5`, 'POST /api/v1/project text/plain (no preflight) credentials:include -> CORS error, not 201', r,
      m.status !== 201, `server answered ${m.status}, cookie sent: ${cookieSent(r)}`);
  });
  await step(`${p}6`, 'not listed: no-cors POST cookie', async () => {
    const r = await call(b, api, '/api/v1/project', { method: 'POST', mode: 'no-cors', credentials: 'include',
      headers: { 'Content-Type': 'text/plain' }, body: JSON.stringify({ name: `${marker}-${p}-nocors` }) });
    const m = mainReq(r) || {};
    const ok = r.readable && r.type === 'opaque' && r.status === 0 && m.status !== 201;
    check(`${p}6`, `${where}: POST /api/v1/project mode:no-cors credentials:include -> opaque to the page, not 201`, ok,
      `server answered ${m.status}, cookie sent: ${cookieSent(r)}`, [r]);
  });
  await step(`${p}7`, 'not listed: form POST', async () => {
    b.events.length = 0;
    const nav = b.page.waitForNavigation({ timeout: 10000 });
    await b.page.evaluate(([action, field]) => {
      const f = document.createElement('form');
      f.method = 'POST';
      f.action = action;
      f.enctype = 'text/plain';
      const i = document.createElement('input');
      i.type = 'hidden';
      i.name = field; // body: {"name":"…","x":"="}
      i.value = '"}';
      f.appendChild(i);
      document.body.appendChild(f);
      f.submit();
    }, [`${api}/api/v1/project`, `{"name":"${marker}-${p}-form","x":"`]);
    const res = await nav;
    await sleep(400);
    const r = { label: `top-level <form method=POST enctype=text/plain> to ${api}/api/v1/project from ${OTHER}`,
      net: network(b, api).filter((n) => !n.url.endsWith('/favicon.ico')) };
    const m = mainReq(r) || {};
    const status = res ? res.status() : m.status;
    const body = res ? (await res.text()).slice(0, 100) : '';
    check(`${p}7`, `${where}: top-level <form> POST (text/plain, cookie) -> not 201`, status !== 201,
      `server answered ${status}, cookie sent: ${cookieSent(r)}${body ? `, body ${body}` : ''}`, [r]);
    await b.page.goto(`${OTHER}/`);
  });
}

// Every project of this run on either server must be one a listed-origin flow created.
async function noProjectsFromNotListed() {
  await step('X1', 'no project from the not-listed origin', async () => {
    const all = [API_SECURE, API_INSECURE].flatMap((a) => curlProjects(a)
      .filter((x) => x.name.startsWith(`browser-${RUN}-`)).map((x) => ({ server: a, name: x.name })));
    const extra = all.filter((x) => !created.has(x.name));
    check('X1', 'curl + Bearer afterwards: no project was created from the not-listed origin (both servers)', extra.length === 0,
      extra.length ? `unexpected: ${extra.map((x) => `${x.server}: ${x.name}`).join(', ')}`
        : `${all.length} projects of this run, all created from ${LISTED}`);
  });
}

// ---------------------------------------------------------------- main

async function main() {
  console.log(`# listed origin ${LISTED}, not-listed origin ${OTHER}`);
  console.log(`# servers: ${API_INSECURE} (FRACTAL_COOKIE_SECURE=false), ${API_SECURE} (default Secure cookie);`
    + ` same-site aliases ${API_INSECURE_SS}, ${API_SECURE_SS}`);

  // Third-party cookies explicitly allowed (the setting most Chrome users have).
  const allow = await openBrowser('3pc-allowed', { cookieMode: 0 });
  await allow.page.goto(`${LISTED}/`);
  console.log(`# a) token login and Authorization from the page ${LISTED} -> ${API_INSECURE} (1.3.14's header and method lists)`);
  await bearerFlow(allow, API_INSECURE);
  console.log(`# d) error answers readable by the page on the listed origin`);
  await unauthorizedReadable(allow, API_SECURE);
  await errorReadable(allow, API_SECURE_SS);
  console.log(`# b) cookie flow, cross-site (page ${LISTED} -> 127.0.0.1), third-party cookies allowed`);
  await cookieFlow(allow, API_SECURE, 'B', 'cross-site, 3p cookies allowed');
  await insecureCookie(allow, API_INSECURE, 'B6', 'cross-site, 3p cookies allowed');
  await allow.ctx.close();

  // Chromium as installed: a fresh profile, no cookie setting touched.
  const dflt = await openBrowser('default');
  await dflt.page.goto(`${LISTED}/`);
  console.log(`# b) cookie flow, cross-site, Chromium default profile (cookie_controls_mode=${dflt.cookieMode})`);
  await thirdPartyBlocked(dflt, API_SECURE);
  console.log(`# b) cookie flow, same-site deployment (page ${LISTED} -> ${API_SECURE_SS}), Chromium default profile`);
  await cookieFlow(dflt, API_SECURE_SS, 'S', 'same-site, default profile');
  await insecureCookie(dflt, API_INSECURE_SS, 'S6', 'same-site, default profile');
  await dflt.ctx.close();

  console.log(`# c) the same page on the not-listed origin ${OTHER}`);
  const c1 = await openBrowser('not-listed, 3pc allowed', { cookieMode: 0 });
  await notListedOrigin(c1, API_SECURE, 'C', 'not listed, cross-site, 3p cookies allowed');
  await c1.ctx.close();
  const c2 = await openBrowser('not-listed, default');
  await notListedOrigin(c2, API_SECURE_SS, 'N', 'not listed, same-site, default profile');
  await c2.ctx.close();
  await noProjectsFromNotListed();
}

try {
  await main();
} catch (e) {
  console.log(`FAIL run -- ${e && e.stack ? e.stack : e}`);
  failures++;
} finally {
  for (const d of profiles) rmSync(d, { recursive: true, force: true });
}
console.log(failures ? `# ${failures} check(s) failed` : '# all checks passed');
process.exit(failures ? 1 : 0);
