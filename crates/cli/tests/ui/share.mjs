// Share links: made on a file's page, opened in a browser with no
// session (the file plays and downloads there, and nothing else of the
// node answers), then revoked: the same link opens nothing.

import { env, check, run, page, clean, shot, signIn } from './lib.mjs';

await run(async (browser) => {
  const ctx = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const p = await signIn(ctx);
  await p.goto(`${env.url}/ui/file/${env.extra.file}`);
  await p.selectOption('select#link-ttl', '86400');
  await p.click('button:text-is("Create link")');
  await p.waitForSelector('.links li[data-link]');
  const url = await p.inputValue('.links li[data-link] input');
  check(url.startsWith(`${env.url}/s/`), `a link to this node: ${url}`);
  check(/ends /.test(await p.textContent('.links li[data-link]')), 'it says when it ends');

  // Someone else, with no session.
  const stranger = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const s = await page(stranger, { allow: ['status of 401'] });
  await s.goto(url);
  await s.waitForSelector('.shared h1');
  check((await s.textContent('.shared h1')) === env.extra.name, `the name: ${await s.textContent('.shared h1')}`);
  await s.waitForFunction(() => { const v = document.querySelector('video.media'); return v && v.readyState >= 1; }, null, { timeout: 30000 });
  await s.evaluate(async () => { const v = document.querySelector('video.media'); v.muted = true; await v.play(); });
  await s.waitForFunction(() => document.querySelector('video.media').currentTime > 1, null, { timeout: 30000 });
  const got = await s.evaluate(async () => {
    const a = document.querySelector('.shared a.button');
    const r = await fetch(a.href);
    const body = await r.arrayBuffer();
    const api = await fetch('/api/v1/entries');
    return { status: r.status, bytes: body.byteLength, api: api.status, disposition: r.headers.get('content-disposition') };
  });
  check(got.status === 200 && got.bytes === env.extra.size, `the download: ${JSON.stringify(got)}`);
  check(/attachment/.test(got.disposition || ''), `downloaded as an attachment: ${got.disposition}`);
  check(got.api === 401, `the link opens the file only, not the node: ${got.api}`);
  await shot(s, 'shared');
  clean(s);

  // Revoked: the same link opens nothing.
  await p.click('.links li[data-link] button:text-is("Revoke")');
  await p.click('dialog button[value=yes]');
  await p.waitForFunction(() => !document.querySelector('.links li[data-link]'));
  const again = await page(await browser.newContext(), { allow: ['status of 404'] });
  await again.goto(url);
  await again.waitForSelector('.shared.gone');
  const content = await again.evaluate(async (u) => (await fetch(`${u}/content`)).status, url);
  check(content === 404, `a revoked link's content: ${content}`);
  clean(p);
  return { url };
});
