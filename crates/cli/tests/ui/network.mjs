// The network page on a node of a three-node network: its peers, the
// suppliers holding its file, and bandwidth drawn over time.

import { env, check, run, clean, shot, signIn } from './lib.mjs';

await run(async (browser) => {
  const ctx = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const p = await signIn(ctx);
  await p.click('nav a:text-is("Network")');
  await p.waitForSelector('.cards .card');
  await p.waitForFunction((n) => document.querySelectorAll('table tr[data-peer]').length >= n, env.extra.peers.length, { timeout: 30000 });
  const shown = await p.$$eval('td code', (cs) => cs.map((c) => c.textContent));
  for (const peer of env.extra.peers) check(shown.includes(peer), `peer ${peer} listed: ${shown}`);
  const suppliers = await p.$$eval('tr[data-peer] .badge', (bs) => bs.map((b) => b.textContent));
  check(suppliers.includes('connected'), `a connected supplier: ${suppliers}`);
  // Two samples at least make a line.
  await p.waitForFunction(() => /Sent .*\/s/.test(document.querySelector('canvas.graph + p').textContent), null, { timeout: 15000 });
  await p.waitForTimeout(4500);
  await shot(p, 'network');
  clean(p);
  return { ok: true };
});
