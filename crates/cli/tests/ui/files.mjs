// The files page: a folder uploaded by the chooser and files by drag and
// drop, with progress; names that try to be markup shown as text, and a
// bidi override shown as its code; rename
// (and two tabs taking one name), move, delete; 2,000 entries scrolled
// in a virtual list; a phone's layout.

import { env, check, run, page, clean, shot, signIn, api } from './lib.mjs';

const HOSTILE = ['<img src=x onerror=alert(1)>.txt', '"quote\'s" & co.txt', '\u202Egnp.exe', 'emoji 🎉 ünï.txt'];

async function uploaded(p, n) {
  await p.waitForFunction((n) => document.querySelectorAll('.upload.finished').length >= n, n, { timeout: 60000 });
}

async function open(p, name) {
  await p.click(`.rows li a:text-is(${JSON.stringify(name)})`);
  await p.waitForFunction((name) => document.title.startsWith(name), name);
  await p.waitForSelector('.rows li, .empty:not([hidden])');
}

async function selectRow(p, name) {
  const row = p.locator('.rows li', { has: p.locator(`a:text-is(${JSON.stringify(name)})`) });
  await row.locator('input[type=checkbox]').check();
}

async function names(p) {
  return p.locator('.rows li .c-name a').allTextContents();
}

await run(async (browser) => {
  const ctx = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const p = await signIn(ctx);

  // A folder by the chooser: every file, its subfolder, progress to the end.
  await p.setInputFiles('#pick-folder', `${env.work}/album`);
  await p.waitForSelector('#uploads:not([hidden])');
  await uploaded(p, 3);
  const bars = await p.$$eval('.upload progress', (b) => b.map((x) => [x.value, x.max]));
  check(bars.length === 3 && bars.every(([v, m]) => v === m && m > 0), `progress full: ${JSON.stringify(bars)}`);
  await p.waitForSelector('.rows li a:text-is("album")');
  await open(p, 'album');
  const inAlbum = (await names(p)).sort();
  check(JSON.stringify(inAlbum) === JSON.stringify(['a.txt', 'b.bin', 'sub']), `album: ${inAlbum}`);
  const album = p.url().split('/').pop();

  // Files dropped onto the page.
  await p.evaluate(() => {
    const dt = new DataTransfer();
    dt.items.add(new File(['dropped one\n'], 'dropped-1.txt', { type: 'text/plain' }));
    dt.items.add(new File([new Uint8Array(200000).fill(7)], 'dropped-2.bin'));
    const zone = document.querySelector('.files');
    zone.dispatchEvent(new DragEvent('dragover', { dataTransfer: dt, bubbles: true, cancelable: true }));
    zone.dispatchEvent(new DragEvent('drop', { dataTransfer: dt, bubbles: true, cancelable: true }));
  });
  await uploaded(p, 5);
  await p.waitForSelector('.rows li a:text-is("dropped-2.bin")');

  // Names that look like markup are text, and nothing runs.
  await p.setInputFiles('#pick-files', HOSTILE.map((n) => `${env.work}/hostile/${n}`));
  await uploaded(p, 9);
  // A bidi override is shown as its code: "\u202Egnp.exe" cannot pass for "exe.png".
  const shown = (n) => n.replace('\u202E', '[U+202E]');
  for (const n of HOSTILE) await p.waitForSelector(`.rows li a:text-is(${JSON.stringify(shown(n))})`);
  check(await p.locator('.rows img').count() === 0, 'no image element made from a name');
  const raw = await p.$$eval('.rows li a', (as) => as.filter((a) => a.textContent.includes('\u202E')).length);
  check(raw === 0, 'no name shown with a raw bidi override');
  await shot(p, 'files');

  // Rename.
  await selectRow(p, 'a.txt');
  await p.click('.selbar button:text-is("Rename")');
  await p.fill('dialog input', 'renamed.txt');
  await p.click('dialog button[value=ok]');
  await p.waitForSelector('.rows li a:text-is("renamed.txt")');
  check(await p.locator('.rows li a:text-is("a.txt")').count() === 0, 'the old name is gone');

  // Two tabs give two files one name: the second is told, nothing lost.
  const q = await page(ctx, { allow: ['status of 409'] });
  await q.goto(`${env.url}/ui/files/${album}`);
  await q.waitForSelector('.rows li a:text-is("dropped-1.txt")');
  await selectRow(p, 'dropped-1.txt');
  await p.click('.selbar button:text-is("Rename")');
  await p.fill('dialog input', 'same.txt');
  await p.click('dialog button[value=ok]');
  await p.waitForSelector('.rows li a:text-is("same.txt")');
  await selectRow(q, 'dropped-2.bin');
  await q.click('.selbar button:text-is("Rename")');
  await q.fill('dialog input', 'same.txt');
  await q.click('dialog button[value=ok]');
  await q.waitForSelector('.toast.error');
  check((await q.textContent('.toast')).includes('is taken'), `the second tab is told: ${await q.textContent('.toast')}`);
  await q.waitForSelector('.rows li a:text-is("dropped-2.bin")');
  await q.close();

  // Move two files into the subfolder.
  await p.reload();
  await p.waitForSelector('.rows li');
  await selectRow(p, 'renamed.txt');
  await selectRow(p, 'same.txt');
  await p.click('.selbar button:text-is("Move")');
  await p.click('dialog button.folderbtn:has-text("sub")');
  await p.click('dialog button[value=here]');
  await p.waitForFunction(() => ![...document.querySelectorAll('.rows li a')].some((a) => a.textContent === 'renamed.txt'));
  await open(p, 'sub');
  const inSub = await names(p);
  check(['c.txt', 'renamed.txt', 'same.txt'].every((n) => inSub.includes(n)), `sub: ${inSub}`);

  // Delete one, by the selection bar, then check the node.
  const sub = p.url().split('/').pop();
  await selectRow(p, 'c.txt');
  await p.click('.selbar button:text-is("Delete")');
  await p.click('dialog button[value=yes]');
  await p.waitForFunction(() => ![...document.querySelectorAll('.rows li a')].some((a) => a.textContent === 'c.txt'));
  const left = await api(p, 'GET', `/entries?parent=${sub}`);
  check(left.body.entries.map((e) => e.name).sort().join() === 'renamed.txt,same.txt', `on the node: ${JSON.stringify(left.body.entries.map((e) => e.name))}`);

  // 2,000 entries: a virtual list.
  await p.goto(`${env.url}/ui/files/${env.extra.many}`);
  await p.waitForFunction(() => /^2000 items/.test(document.querySelector('.count').textContent), null, { timeout: 30000 });
  const rendered = await p.locator('.rows li').count();
  check(rendered > 5 && rendered < 80, `only the rows in view exist: ${rendered}`);
  const last = (await api(p, 'GET', `/entries?parent=${env.extra.many}&offset=1999&limit=1`)).body.entries[0].name;
  check(await p.locator(`.rows li a:text-is("${last}")`).count() === 0, 'the last row is not drawn before it is in view');
  await p.$eval('.scroller', (s) => { s.scrollTop = s.scrollHeight; });
  await p.waitForSelector(`.rows li a:text-is("${last}")`);
  await p.fill('input[type=search]', 'item 150');
  await p.waitForFunction(() => /^11 of 2000/.test(document.querySelector('.count').textContent));

  // A phone.
  const phone = await browser.newContext({ viewport: { width: 390, height: 844 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true });
  const m = await page(phone);
  await phone.addCookies(await ctx.cookies());
  await m.goto(`${env.url}/ui/files/${album}`);
  await m.waitForSelector('.rows li');
  const overflow = await m.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  check(overflow <= 0, `no sideways scrolling on a phone: ${overflow}px`);
  await shot(m, 'files-phone');
  clean(p); clean(m);
  return { album };
});
