// Powder Web's UI on Powder's own listener, as Powder's users knew it:
// `/auth?token=<master key>` signs in and leaves the address bar; a
// magnet pasted streams its video while it downloads; the embedded
// player (`/embed?token=<embed key>&hash=`) plays in a fresh browser and
// may be framed; a bad key is told, never followed elsewhere.

import { env, check, run, page, clean, shot } from './lib.mjs';

const powder = env.extra.powder;

async function playing(p) {
  await p.waitForSelector('video.media');
  await p.evaluate(() => { const v = document.querySelector('video.media'); v.muted = true; });
  await p.waitForFunction(() => {
    const v = document.querySelector('video.media');
    if (v.paused) v.play().catch(() => {});
    return v.currentTime > 1;
  }, null, { timeout: 60000, polling: 250 });
}

await run(async (browser) => {
  const ctx = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const p = await page(ctx);
  await p.goto(`${powder}/auth?token=${env.extra.master}`);
  await p.waitForURL(`${powder}/`);
  await p.waitForSelector('h1:text-is("Torrents")');
  check(await p.evaluate(() => localStorage.getItem('token')) === env.extra.master, 'the key is kept, as Powder kept it');
  await p.fill('.addbar input', env.extra.magnet);
  await p.click('.addbar button[type=submit]');
  await p.waitForURL(`${powder}/torrent/${env.extra.hash}`);
  await p.click('li[data-index] button:text-is("Play")');
  await playing(p);
  await shot(p, 'powder');
  clean(p);

  // The embedded player, in a browser that never signed in.
  const other = await browser.newContext({ viewport: { width: 800, height: 450 } });
  const e = await page(other);
  const resp = await e.goto(`${powder}/embed?token=${env.extra.embed}&hash=${env.extra.hash}`);
  const csp = resp.headers()['content-security-policy'] || '';
  check(!resp.headers()['x-frame-options'] && !csp.includes('frame-ancestors'), `the player may be framed: ${csp}`);
  check(csp.includes("script-src 'self'") && !csp.includes('unsafe-inline'), 'still only the node\'s scripts');
  await playing(e);
  clean(e);

  // Bad keys: said in the page.
  const bad = await page(await browser.newContext());
  await bad.goto(`${powder}/embed?token=nope&hash=${env.extra.hash}`);
  await bad.waitForSelector('text=This player cannot start');
  check(bad.url().startsWith(powder), `stays on the node: ${bad.url()}`);
  await bad.goto(`${powder}/auth?token=nope`);
  await bad.waitForSelector('text=That key is not valid');
  clean(bad);
  return { ok: true };
});
