// Messages between two nodes: a friend added by peer id with an alias
// that looks like markup, a message sent with Enter (and markup in it)
// shown as text, the friend's reply arriving live without a reload, and
// a group made and written to.

import { env, check, run, clean, shot, signIn, action } from './lib.mjs';

await run(async (browser) => {
  const ctx = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const p = await signIn(ctx);
  await p.click('nav a:text-is("Messages")');
  await p.waitForSelector('text=Talk to other nodes');
  await p.fill('input[aria-label="Peer id or nickname"]', env.extra.bob);
  await p.fill('input[aria-label="Alias"]', 'Bob <b>the</b> builder');
  await p.click('form.mini button:text-is("Add")');
  await p.waitForURL(`**/ui/messages/peer/${env.extra.bob}`);
  await p.waitForSelector('.thread h1:text-is("Bob <b>the</b> builder")');
  const text = 'hello 🎉 <script>alert(1)</script>';
  await p.fill('.compose textarea', text);
  await p.press('.compose textarea', 'Enter');
  await p.waitForSelector(`.msg.out p:text-is(${JSON.stringify(text)})`);
  check(await p.locator('.msgs script, .msgs b').count() === 0, 'no element made from a message or an alias');

  // Bob answers: it shows up here by itself.
  await action('reply');
  await p.waitForSelector('.msg.in p:text-is("hi back from bob")', { timeout: 30000 });
  await shot(p, 'messages');

  // A group.
  await p.fill('input[aria-label="Group name"]', 'team');
  await p.click('form.mini button:text-is("Create")');
  await p.waitForSelector('.thread h1:text-is("team")');
  await p.fill('.compose textarea', 'to the team');
  await p.click('.compose button[type=submit]');
  await p.waitForSelector('.msg.out p:text-is("to the team")');
  clean(p);
  return { ok: true };
});
