// Torrents: a magnet pasted (a seeder on 127.0.0.1 is its peer), its
// progress and files shown, and its video played while it downloads.

import { env, check, run, clean, shot, signIn, api } from './lib.mjs';

await run(async (browser) => {
  const ctx = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const p = await signIn(ctx);
  await p.click('nav a:text-is("Torrents")');
  await p.waitForSelector('.addbar');
  check(await p.locator('.torrents .empty').count() === 1, 'no torrents yet, and the page says what to do');
  await p.fill('.addbar input[type=text]', env.extra.magnet);
  await p.click('.addbar button[type=submit]');
  const card = p.locator(`article.torrent[data-hash="${env.extra.hash}"]`);
  await card.waitFor();
  await card.locator('summary').click();
  const play = card.locator('li[data-index] a:text-is("Play")').first();
  await play.waitFor({ timeout: 60000 });
  await shot(p, 'torrents');
  await play.click();
  await p.waitForSelector('video.media');
  await p.waitForFunction(() => { const v = document.querySelector('video.media'); return v && v.readyState >= 1; }, null, { timeout: 60000 });
  await p.evaluate(async () => { const v = document.querySelector('video.media'); v.muted = true; await v.play(); });
  await p.waitForFunction(() => document.querySelector('video.media').currentTime > 2, null, { timeout: 60000 });
  const t = (await api(p, 'GET', `/torrents/${env.extra.hash}`)).body;
  check(t.progress < 1, `it played while it downloaded (${Math.round(t.progress * 100)}% here, ${t.state})`);
  clean(p);
  return { progress: t.progress };
});
