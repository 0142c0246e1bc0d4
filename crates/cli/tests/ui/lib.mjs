// What every scenario shares: Debian's Chromium launched by
// playwright-core (never a downloaded browser), the node's address and a
// fresh login link from the environment the Rust test sets, checks that
// fail loudly, screenshots for the README, and a watch on the console
// (any error, a CSP violation included, fails the scenario).

import { chromium } from 'playwright-core';

export const env = {
  url: must('CAIRN_URL'),
  login: process.env.CAIRN_LOGIN || '',
  secret: process.env.CAIRN_SECRET || '',
  work: process.env.CAIRN_WORK || '',
  shots: process.env.CAIRN_SHOTS || '',
  extra: JSON.parse(process.env.CAIRN_EXTRA || '{}'),
};

function must(name) {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set`);
  return v;
}

export function check(ok, message) {
  if (!ok) throw new Error(`check failed: ${message}`);
}

export async function launch() {
  const browser = await chromium.launch({
    executablePath: process.env.CAIRN_CHROMIUM || '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-dev-shm-usage'],
    timeout: 60000,
  });
  return browser;
}

/** A page that fails the scenario on any console error or page error. */
export async function page(context, { allow = [] } = {}) {
  const p = await context.newPage();
  p.setDefaultTimeout(30000);
  p.errors = [];
  p.on('console', (m) => {
    if (m.type() !== 'error') return;
    const text = m.text();
    if (allow.some((a) => text.includes(a))) return;
    p.errors.push(text);
  });
  p.on('pageerror', (e) => p.errors.push(`page error: ${e.message}`));
  p.on('dialog', (d) => { p.errors.push(`unexpected dialog: ${d.message()}`); d.dismiss(); });
  return p;
}

export function clean(p) {
  check(p.errors.length === 0, `the page logged errors: ${p.errors.join(' | ')}`);
}

/** Signs `context` in through a login link. */
export async function signIn(context, link = env.login) {
  const p = await page(context);
  await p.goto(link);
  await p.waitForURL('**/ui/files');
  await p.waitForSelector('.files');
  return p;
}

export async function shot(p, name) {
  if (env.shots) await p.screenshot({ path: `${env.shots}/${name}.png` });
}

/** The node's JSON API from inside the page (cookie and CSRF token). */
export async function api(p, method, path, body) {
  return p.evaluate(async ([method, path, body]) => {
    const s = await (await fetch('/ui/session')).json();
    const init = { method, headers: { 'x-csrf-token': s.csrf } };
    if (body !== undefined) { init.headers['content-type'] = 'application/json'; init.body = JSON.stringify(body); }
    const r = await fetch(`/api/v1${path}`, init);
    const text = await r.text();
    return { status: r.status, body: text ? JSON.parse(text) : null };
  }, [method, path, body]);
}

/** Asks the Rust side to do `what` (`restart`: kill -9 the node and
 * start it again on the same address) and waits until it is done. */
export async function action(what) {
  console.log(`ACTION ${what}`);
  if (!stdinLines) {
    const { createInterface } = await import('node:readline');
    stdinLines = createInterface({ input: process.stdin })[Symbol.asyncIterator]();
  }
  const { value } = await stdinLines.next();
  check(value === 'DONE', `action ${what}: ${value}`);
}
let stdinLines = null;

/** Runs `scenario`, printing `RESULT <json>` of what it answers; any
 * failure exits non-zero with its message. */
export async function run(scenario) {
  const browser = await launch();
  const timer = setTimeout(() => { console.error('scenario timed out'); process.exit(3); }, 240000);
  try {
    const result = await scenario(browser);
    console.log(`RESULT ${JSON.stringify(result || {})}`);
  } catch (e) {
    console.error(e.stack || String(e));
    process.exitCode = 1;
  } finally {
    clearTimeout(timer);
    await browser.close();
    process.stdin.destroy();
  }
}
