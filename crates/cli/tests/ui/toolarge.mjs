// A file over the node's upload limit, chosen with a small one: the big
// one is refused at once with the limit said in its row and a message,
// the small one is stored, and nothing of the big one is.

import { env, check, run, signIn } from './lib.mjs';

await run(async (browser) => {
  const ctx = await browser.newContext();
  const p = await signIn(ctx);
  p.removeAllListeners('console');
  await p.setInputFiles('#pick-files', [`${env.work}/big.bin`, `${env.work}/small.bin`]);
  const failed = p.locator('.upload.failed', { has: p.locator('.name:text-is("big.bin")') });
  await failed.waitFor({ timeout: 30000 });
  const said = await failed.locator('.state').textContent();
  check(/larger than the limit of 1048576 bytes/.test(said), `the row says why: ${said}`);
  await p.waitForSelector('.toast.error');
  check(/big\.bin/.test(await p.textContent('.toast')), 'a message names the file');
  await p.locator('.upload.finished', { has: p.locator('.name:text-is("small.bin")') }).waitFor();
  await p.waitForSelector('.rows li a:text-is("small.bin")');
  check(await p.locator('.rows li a:text-is("big.bin")').count() === 0, 'the big one is not listed');
  return { said };
});
