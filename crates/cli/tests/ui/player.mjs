// The player: a video the test made, played in the browser from the
// file page; seeking to 75 % and time moving on from there; its
// subtitles listed and loaded as a text track; keyboard play/pause; the
// position kept and resumed; and a file the browser cannot take as it is
// (Matroska) played as HLS from the media service.

import { env, check, run, page, clean, shot, signIn } from './lib.mjs';

async function playAt(p, fraction) {
  await p.waitForFunction(() => {
    const v = document.querySelector('video.media');
    return v && v.readyState >= 1 && isFinite(v.duration) && v.duration > 0;
  }, null, { timeout: 60000 });
  const target = await p.evaluate(async (f) => {
    const v = document.querySelector('video.media');
    v.muted = true;
    v.currentTime = v.duration * f;
    await v.play();
    return v.duration * f;
  }, fraction);
  await p.waitForFunction((t) => document.querySelector('video.media').currentTime > t + 1, target, { timeout: 60000 });
  return p.evaluate(() => ({ at: document.querySelector('video.media').currentTime, duration: document.querySelector('video.media').duration }));
}

await run(async (browser) => {
  const ctx = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const p = await signIn(ctx);
  await p.goto(`${env.url}/ui/file/${env.extra.mp4}`);
  await p.click('a.button:text-is("Play")');
  await p.waitForSelector('video.media');
  const played = await playAt(p, 0.75);
  check(played.at > played.duration * 0.75 && played.duration > 15, `time moves on from 75 %: ${JSON.stringify(played)}`);
  check(await p.getAttribute('video.media', 'data-treatment') === 'direct', 'an MP4 plays as it is');

  // Subtitles: listed, and loaded as a text track with its cues.
  await p.waitForSelector('.tracks li[data-track]');
  check(/en/.test(await p.textContent('.tracks')), `subtitles listed: ${await p.textContent('.tracks')}`);
  const cues = await p.evaluate(async () => {
    const v = document.querySelector('video.media');
    const t = v.textTracks[0];
    t.mode = 'showing';
    for (let i = 0; i < 100 && !(t.cues && t.cues.length); i++) await new Promise((r) => setTimeout(r, 100));
    return t.cues ? [...t.cues].map((c) => c.text) : [];
  });
  check(cues.includes('Hello from cairn'), `the track's cues: ${JSON.stringify(cues)}`);

  // The keyboard: k pauses.
  await p.locator('body').press('k');
  await p.waitForFunction(() => document.querySelector('video.media').paused);
  const stoppedAt = await p.evaluate(() => document.querySelector('video.media').currentTime);
  await shot(p, 'player');

  // Leave and come back: it starts where it stopped.
  await p.goto(`${env.url}/ui/files`);
  await p.waitForSelector('.files');
  await p.goto(`${env.url}/ui/play/${env.extra.mp4}`);
  await p.waitForFunction((t) => {
    const v = document.querySelector('video.media');
    return v && v.readyState >= 1 && Math.abs(v.currentTime - t) < 1.5;
  }, stoppedAt, { timeout: 30000 });

  // Matroska: as HLS, seekable too.
  await p.goto(`${env.url}/ui/play/${env.extra.mkv}`);
  await p.waitForSelector('video.media');
  const hls = await playAt(p, 0.75);
  check(await p.getAttribute('video.media', 'data-treatment') !== 'direct', 'Matroska is not played as it is');
  check(hls.at > hls.duration * 0.75, `HLS moves on from 75 %: ${JSON.stringify(hls)}`);
  clean(p);
  return { played, hls };
});
