// The player: a stored video or audio file in the browser's own player.
// A file the browser takes as it is plays from its content, with ranges
// (seeking is a range request); any other plays as HLS from the media
// service (remuxed or transcoded, segments cut on key frames, so a seek
// starts at once). Text subtitles come as WebVTT tracks. Where it stopped
// is kept in the watch history, and it starts there next time.
//
// Keys: space or k play/pause, ← → 5 s, j l 10 s, ↑ ↓ volume, m mute,
// f full screen, c subtitles on/off, 0–9 jump to 0–90 %.

import { h, fill, clock, toast, visible } from './dom.js';
import { get, call } from './api.js';

/** What to play: a stored file (`/ui/play/<id>`) or a torrent's file
 * (`/ui/play/torrent/<hash>/<index>`), with where its bytes come from. */
async function source(params) {
  if (params[0] === 'torrent') {
    const [, hash, index] = params;
    const t = await get(`/torrents/${hash}`);
    const file = (t.files || []).find((f) => String(f.index) === String(index));
    if (!file) throw new Error('No such file in this torrent');
    const base = `/api/v1/torrents/${hash}/files/${index}`;
    const direct = /\.(mp4|m4v|webm|mp3|m4a|ogg|oga|ogv|opus|wav|flac)$/i.test(file.path);
    const name = file.path.split('/').pop();
    return {
      name, subject: `torrent:${hash}:${index}`, audio: /\.(mp3|m4a|oga|ogg|opus|wav|flac)$/i.test(name),
      back: '/ui/torrents', backText: 'Torrents', subtitles: null,
      plan: async () => ({
        treatment: direct ? 'direct' : 'remux', content: `${base}/content`,
        master: `${base}/hls/master.m3u8`, duration: NaN,
      }),
    };
  }
  const [id] = params;
  const info = await get(`/entries/${id}`);
  return {
    name: info.name, subject: id, audio: (info.content_type || '').startsWith('audio/'),
    back: `/ui/file/${id}`, backText: info.name, subtitles: id,
    plan: () => get(`/media/${id}/play`),
  };
}

export async function render(main, params, go) {
  const src = await source(params);
  const id = src.subject;
  document.title = `${visible(src.name)} · cairn`;
  const video = h(src.audio ? 'audio' : 'video', {
    controls: true, preload: 'metadata', class: 'media', 'aria-label': visible(src.name),
  });
  video.playsInline = true;
  const status = h('p', { class: 'muted', 'aria-live': 'polite' });
  const tracks = h('ul', { class: 'tracks', 'aria-label': 'Subtitles' });
  fill(main, h('article', { class: 'player' },
    h('nav', { class: 'crumbs' }, h('a', { href: src.back, 'data-link': true, text: `← ${visible(src.backText)}` })),
    h('h1', { dir: 'auto', text: visible(src.name) }),
    video, status,
    src.subtitles ? h('h2', { text: 'Subtitles' }) : null, src.subtitles ? tracks : null,
    h('p', { class: 'muted small', text: 'Keys: space play/pause · ←/→ 5 s · j/l 10 s · ↑/↓ volume · m mute · f full screen · c subtitles · 0–9 jump' })));

  let plan;
  try {
    plan = await src.plan();
  } catch (err) {
    status.textContent = `This file cannot be played: ${err.message}`;
    return null;
  }
  const hls = video.canPlayType('application/vnd.apple.mpegurl');
  if (plan.treatment === 'direct' || !hls) {
    video.src = plan.content;
  } else {
    video.src = plan.master;
  }
  const length = isFinite(plan.duration) ? ` · ${clock(plan.duration)}` : '';
  status.textContent = plan.treatment === 'direct'
    ? `Playing the file as it is${length}`
    : `Playing as HLS (${plan.treatment})${length}`;
  video.dataset.treatment = plan.treatment;

  if (src.subtitles) await subtitles(src.subtitles, video, tracks);
  const resume = await position(id);
  const duration = isFinite(plan.duration) ? plan.duration : Infinity;
  if (resume > 3 && resume < duration * 0.95) {
    if (video.readyState >= 1) video.currentTime = resume;
    else video.addEventListener('loadedmetadata', () => { video.currentTime = resume; }, { once: true });
    toast(`Resuming at ${clock(resume)}`);
  }
  const save = remember(id, src.name, video);
  const keys = (e) => shortcut(e, video);
  document.addEventListener('keydown', keys);
  return () => {
    document.removeEventListener('keydown', keys);
    save(true);
    video.pause();
    video.removeAttribute('src');
    video.load();
  };
}

async function subtitles(id, video, list) {
  let found = [];
  try { found = await get(`/media/${id}/subtitles`); } catch { /* none */ }
  const text = found.filter((t) => t.text);
  if (!text.length) { fill(list, h('li', { class: 'muted', text: 'None.' })); return; }
  fill(list, text.map((t, i) => {
    const label = t.title || t.language || `Track ${i + 1}`;
    const track = h('track', {
      kind: 'subtitles', label, src: `/api/v1/media/${id}/subtitles/${t.id}`,
      srclang: (t.language || '').slice(0, 3) || undefined, default: i === 0 && t.default,
    });
    video.append(track);
    return h('li', { 'data-track': t.id, text: `${label} (${t.format}${t.language ? `, ${t.language}` : ''})` });
  }));
}

async function position(id) {
  try {
    const seen = await get('/history?limit=1000');
    const mine = seen.find((w) => w.subject === id);
    return mine && !mine.ended ? mine.position : 0;
  } catch { return 0; }
}

/** Records where the player is every 10 s of play, on pause and on leave. */
function remember(id, title, video) {
  let last = 0;
  const save = (force) => {
    const now = Date.now();
    if (!force && now - last < 10000) return;
    if (!isFinite(video.currentTime) || video.currentTime < 1) return;
    last = now;
    const duration = isFinite(video.duration) ? video.duration : undefined;
    call('PUT', `/history/${encodeURIComponent(id)}`, { position: video.currentTime, duration, title, ended: video.ended })
      .catch(() => {});
  };
  video.addEventListener('timeupdate', () => save(false));
  video.addEventListener('pause', () => save(true));
  video.addEventListener('ended', () => save(true));
  return save;
}

function shortcut(e, video) {
  if (e.target.closest('input, textarea, select, dialog') || e.ctrlKey || e.metaKey || e.altKey) return;
  const seek = (d) => { video.currentTime = Math.max(0, Math.min(video.duration || 0, video.currentTime + d)); };
  const keys = {
    ' ': () => (video.paused ? video.play() : video.pause()),
    k: () => (video.paused ? video.play() : video.pause()),
    ArrowLeft: () => seek(-5), ArrowRight: () => seek(5),
    j: () => seek(-10), l: () => seek(10),
    ArrowUp: () => { video.volume = Math.min(1, video.volume + 0.1); },
    ArrowDown: () => { video.volume = Math.max(0, video.volume - 0.1); },
    m: () => { video.muted = !video.muted; },
    f: () => (document.fullscreenElement ? document.exitFullscreen() : video.requestFullscreen()),
    c: () => {
      const t = video.textTracks[0];
      if (t) t.mode = t.mode === 'showing' ? 'disabled' : 'showing';
    },
  };
  if (/^[0-9]$/.test(e.key) && isFinite(video.duration)) {
    e.preventDefault();
    video.currentTime = (video.duration * Number(e.key)) / 10;
    return;
  }
  const fn = keys[e.key];
  if (fn) { e.preventDefault(); fn(); }
}
