// Resumable uploads in the browser: the node killed (-9) and started
// again mid-way, a page reloaded mid-way (the same file chosen again), a
// session that ends mid-way (signed in again): each upload goes on from
// the node's offset and ends whole. The Rust side compares bytes.

import { env, check, run, signIn, action } from './lib.mjs';

/** Slows uploads to `bytesPerSec`, so a test can act mid-way. */
async function throttle(p, bytesPerSec) {
  const cdp = await p.context().newCDPSession(p);
  await cdp.send('Network.enable');
  await cdp.send('Network.emulateNetworkConditions', {
    offline: false, latency: 5, downloadThroughput: -1, uploadThroughput: bytesPerSec,
  });
  return cdp;
}

async function sentAtLeast(p, fraction) {
  await p.waitForFunction((f) => {
    const bar = document.querySelector('.upload:not(.finished) progress');
    return bar && bar.max > 1 && bar.value / bar.max >= f;
  }, fraction, { timeout: 60000, polling: 50 });
}

/** What the node holds of the upload this browser remembers. */
async function nodeOffset(p) {
  return p.evaluate(async () => {
    const key = Object.keys(localStorage).find((k) => k.startsWith('cairn-tus:'));
    if (!key) return null;
    const { url } = JSON.parse(localStorage.getItem(key));
    const r = await fetch(url, { method: 'HEAD', headers: { 'tus-resumable': '1.0.0' } });
    return r.ok ? { received: Number(r.headers.get('upload-offset')), length: Number(r.headers.get('upload-length')) } : { status: r.status };
  });
}

async function finished(p, name) {
  const row = p.locator('.upload.finished', { has: p.locator(`.name:text-is("${name}")`) });
  await row.waitFor({ timeout: 120000 });
  return row.getAttribute('data-entry');
}

await run(async (browser) => {
  const ctx = await browser.newContext();
  const p = await signIn(ctx);
  p.removeAllListeners('console');

  // 1. The node dies mid-way and comes back: the upload goes on.
  // (48 MiB at 4 MB/s: past the node's 5 s checkpoint before the kill.)
  let cdp = await throttle(p, 4 * 1024 * 1024);
  await p.setInputFiles('#pick-files', `${env.work}/cut.bin`);
  await sentAtLeast(p, 0.6);
  await action('restart');
  const mid = await nodeOffset(p);
  check(mid && mid.received > 0 && mid.received < mid.length, `the node kept the synced bytes over a kill: ${JSON.stringify(mid)}`);
  await p.waitForSelector('.upload .state:has-text("trying again")');
  const cut = await finished(p, 'cut.bin');

  // 2. The page reloads mid-way; the same file chosen again goes on.
  await p.click('#uploads button:text-is("Clear finished")');
  await p.setInputFiles('#pick-files', `${env.work}/reload.bin`);
  await sentAtLeast(p, 0.3);
  await p.reload();
  await p.waitForSelector('.notice');
  check(/did not finish \(reload\.bin\)/.test(await p.textContent('.notice')), 'the page lists the unfinished upload');
  const kept = await nodeOffset(p);
  check(kept && kept.received > 0 && kept.received < kept.length, `the node kept what came before the reload: ${JSON.stringify(kept)}`);
  cdp = await throttle(p, 6 * 1024 * 1024);
  const firstProgress = p.waitForFunction(() => {
    const bar = document.querySelector('.upload progress');
    return bar && bar.value > 0 ? bar.value : false;
  }, null, { polling: 10 });
  await p.setInputFiles('#pick-files', `${env.work}/reload.bin`);
  const startedAt = await (await firstProgress).jsonValue();
  check(startedAt >= kept.received, `it went on from ${kept.received}, not from 0 (first progress ${startedAt})`);
  const reload = await finished(p, 'reload.bin');

  // 3. The session ends mid-way: the page asks to sign in, then goes on.
  await p.click('#uploads button:text-is("Clear finished")');
  await p.setInputFiles('#pick-files', `${env.work}/session.bin`);
  await sentAtLeast(p, 0.3);
  await ctx.clearCookies();
  await action('restart');
  await p.waitForSelector('form.signin', { timeout: 60000 });
  await p.fill('#secret', env.secret);
  await p.click('form.signin button[type=submit]');
  const session = await finished(p, 'session.bin');
  await cdp.detach();
  return { cut, reload, session, offsets: { mid, kept } };
});
