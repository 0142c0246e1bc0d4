// Jobs, live: an upload made while the page is open appears and ends
// without a reload; the node restarts under the open page, which
// reconnects its socket and goes on showing new jobs.

import { env, check, run, page, clean, shot, signIn } from './lib.mjs';

async function upload(p, name) {
  return p.evaluate(async (name) => {
    const s = await (await fetch('/ui/session')).json();
    const r = await fetch(`/api/v1/upload?name=${encodeURIComponent(name)}`, {
      method: 'POST', headers: { 'x-csrf-token': s.csrf, 'content-type': 'application/octet-stream' },
      body: new Uint8Array(300000).fill(3),
    });
    return r.status;
  }, name);
}

await run(async (browser) => {
  const ctx = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const p = await signIn(ctx);
  p.removeAllListeners('console');
  await p.click('nav a:text-is("Jobs")');
  await p.waitForSelector('table.jobs');
  await p.waitForSelector('#live:text-is("live")');
  check(await upload(p, 'live-1.bin') === 201, 'the upload is stored');
  await p.waitForSelector('tr[data-state="done"] td.label:text-is("live-1.bin")', { timeout: 15000 });
  await shot(p, 'jobs');

  // The node restarts while the page is open.
  await p.evaluate(async () => {
    const s = await (await fetch('/ui/session')).json();
    await fetch('/api/v1/node/restart', { method: 'POST', headers: { 'x-csrf-token': s.csrf } });
  });
  await p.waitForSelector('#live:text-is("reconnecting…")', { timeout: 30000 });
  await p.waitForSelector('#live:text-is("live")', { timeout: 60000 });
  check(await upload(p, 'live-2.bin') === 201, 'the node answers again');
  await p.waitForSelector('tr[data-state="done"] td.label:text-is("live-2.bin")', { timeout: 15000 });
  return { ok: true };
});
