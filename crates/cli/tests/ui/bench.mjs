// The web UI's benchmark (scripts/bench-ui.sh runs it against a release
// node): what the first load of the files page transfers and how soon it
// is drawn; a folder of N entries listed, then scrolled end to end with
// every frame timed; and a large upload through the browser (tus) timed,
// for the script to hold against curl's. Prints one JSON line.

import { chromium } from 'playwright-core';

const [url, login, secret, many, many_total, bigFile] = process.argv.slice(2);
const browser = await chromium.launch({
  executablePath: process.env.CAIRN_CHROMIUM || '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-dev-shm-usage'],
});
const out = {};
try {
  const ctx = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const p = await ctx.newPage();
  await p.goto(login);
  await p.waitForSelector('.files');
  // The first load of a signed-in browser, nothing cached: the page, its
  // modules and styles, the first listing.
  const cold = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  await cold.addCookies(await ctx.cookies());
  const q = await cold.newPage();
  await q.goto(`${url}/ui/files`);
  await q.waitForFunction(() => performance.getEntriesByName('cairn:files-ready').length > 0);
  Object.assign(out, await q.evaluate(() => {
    const nav = performance.getEntriesByType('navigation')[0];
    const res = performance.getEntriesByType('resource');
    const bytes = [nav, ...res].reduce((n, e) => n + (e.transferSize || 0), 0);
    return {
      first_load_bytes: bytes,
      first_load_requests: res.length + 1,
      files_ready_ms: performance.getEntriesByName('cairn:files-ready')[0].startTime,
      dom_content_loaded_ms: nav.domContentLoadedEventEnd,
    };
  }));

  // A folder of `many` entries: listed, then scrolled end to end.
  const t0 = Date.now();
  await p.goto(`${url}/ui/files/${many}`);
  const total = Number(many_total);
  await p.waitForFunction((n) => {
    const c = document.querySelector('.count');
    return c && c.textContent.startsWith(`${n} items`);
  }, total, { timeout: 120000 });
  out.many_entries = total;
  out.many_listed_ms = Date.now() - t0;
  Object.assign(out, await p.evaluate(async () => {
    const s = document.querySelector('.scroller');
    const frames = [];
    let last = performance.now();
    const step = Math.max(200, s.scrollHeight / 300);
    while (s.scrollTop + s.clientHeight < s.scrollHeight - 1) {
      s.scrollTop += step;
      await new Promise((r) => requestAnimationFrame(r));
      const now = performance.now();
      frames.push(now - last);
      last = now;
    }
    frames.sort((a, b) => a - b);
    return {
      scroll_frames: frames.length,
      scroll_frame_max_ms: frames[frames.length - 1],
      scroll_frame_p95_ms: frames[Math.floor(frames.length * 0.95)],
      rows_in_dom: document.querySelectorAll('.rows li').length,
    };
  }));

  // A large upload through the page (tus), timed from the choice to done.
  if (bigFile) {
    await p.goto(`${url}/ui/files`);
    await p.waitForSelector('.files');
    const started = Date.now();
    await p.setInputFiles('#pick-files', bigFile);
    await p.waitForSelector('.upload.finished', { timeout: 1800000 });
    out.browser_upload_ms = Date.now() - started;
  }
} finally {
  await browser.close();
}
console.log(JSON.stringify(out));
