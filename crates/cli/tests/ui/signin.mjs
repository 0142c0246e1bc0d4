// Sign-in: the one-time link (used once, gone from the address bar), the
// cookie's flags, the pasted secret, CSRF and Origin checks on calls
// that change something, the security headers, and signing out.

import { env, check, run, page, clean, shot } from './lib.mjs';

await run(async (browser) => {
  // Signed out: the sign-in form, under a strict CSP.
  const anon = await browser.newContext();
  const p0 = await page(anon);
  const first = await p0.goto(`${env.url}/`);
  const csp = first.headers()['content-security-policy'] || '';
  check(csp.includes("script-src 'self'") && !csp.includes('unsafe-inline'), `CSP: ${csp}`);
  check(first.headers()['x-frame-options'] === 'DENY', 'framing refused');
  await p0.waitForSelector('form.signin');
  await shot(p0, 'signin');

  // The login link: a session, and no token left in the URL.
  const ctx = await browser.newContext();
  const p = await page(ctx);
  await p.goto(env.login);
  await p.waitForURL('**/ui/files');
  check(!p.url().includes('token'), `the token is gone from the URL: ${p.url()}`);
  // An empty node says what to do first.
  await p.waitForSelector('.empty:not([hidden])');
  check(/Your node is empty/.test(await p.textContent('.empty')), 'the empty node explains itself');
  await shot(p, 'empty');
  const [cookie] = (await ctx.cookies()).filter((c) => c.name === 'cairn_session');
  check(cookie && cookie.httpOnly && cookie.sameSite === 'Strict', `cookie flags: ${JSON.stringify(cookie)}`);
  check(!(await p.evaluate(() => document.cookie)).includes('cairn_session'), 'scripts cannot read the cookie');

  // CSRF: a call that changes something needs the token; reads do not.
  const calls = await p.evaluate(async () => {
    const bare = await fetch('/api/v1/folders', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name: 'no-token' }) });
    const s = await (await fetch('/ui/session')).json();
    const good = await fetch('/api/v1/folders', { method: 'POST', headers: { 'content-type': 'application/json', 'x-csrf-token': s.csrf }, body: JSON.stringify({ name: 'with-token' }) });
    const wrong = await fetch('/api/v1/folders', { method: 'POST', headers: { 'content-type': 'application/json', 'x-csrf-token': 'f'.repeat(32) }, body: JSON.stringify({ name: 'wrong-token' }) });
    const read = await fetch('/api/v1/status');
    return { bare: bare.status, good: good.status, wrong: wrong.status, read: read.status, who: s.who };
  });
  check(calls.bare === 403 && calls.wrong === 403, `without the CSRF token: ${JSON.stringify(calls)}`);
  check(calls.good === 201 && calls.read === 200 && calls.who === 'operator', `with it: ${JSON.stringify(calls)}`);
  await p.reload();
  await p.waitForSelector('.rows li');
  check(await p.locator('.rows li', { hasText: 'with-token' }).count() === 1, 'the folder made with the token is listed');
  check(await p.locator('.rows li', { hasText: 'no-token' }).count() === 0, 'none without it');

  // The link again, in another browser: used up.
  const other = await browser.newContext();
  const p2 = await page(other, { allow: ['status of 401'] });
  await p2.goto(env.login);
  await p2.waitForSelector('form.signin .error:not([hidden])');
  check(/used or has expired/.test(await p2.textContent('form.signin .error')), 'a used link says so');

  // The secret pasted: a wrong one refused, the right one signs in.
  await p2.fill('#secret', 'not-the-secret');
  await p2.click('form.signin button[type=submit]');
  await p2.waitForSelector('text=not this node');
  await p2.fill('#secret', env.secret);
  await p2.click('form.signin button[type=submit]');
  await p2.waitForSelector('.files');
  check(p2.url().endsWith('/ui/files'), `after a pasted secret: ${p2.url()}`);

  // Signing out ends the session on the node.
  await p.click('#signout');
  await p.waitForSelector('form.signin');
  const after = await p.evaluate(async () => (await fetch('/api/v1/status')).status);
  check(after === 401, `after signing out: ${after}`);
  clean(p0); clean(p2);
  // The page's own 401 after sign-out is expected in its console.
  return { ok: true };
});
