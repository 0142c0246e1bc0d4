// What a share link opens, for someone with no session: the file's name
// and size, a download, and the player when the browser can play it.

import { h, fill, size, when, visible } from './dom.js';

export async function render(main, token) {
  const r = await fetch(`/s/${encodeURIComponent(token)}/info`, { cache: 'no-store' });
  if (!r.ok) {
    document.title = 'Link not found · cairn';
    fill(main, h('section', { class: 'shared gone' },
      h('h1', { text: 'This link does not open anything' }),
      h('p', { text: 'It does not exist, has expired, or was revoked by the person who shared it.' })));
    return;
  }
  const info = await r.json();
  document.title = `${visible(info.name)} · cairn`;
  const content = `/s/${encodeURIComponent(token)}/content`;
  const type = info.content_type || '';
  const kind = type.startsWith('video/') ? 'video' : type.startsWith('audio/') ? 'audio' : null;
  let player = null;
  if (kind) {
    player = h(kind, { controls: true, preload: 'metadata', class: 'media', src: content, 'aria-label': visible(info.name) });
    player.playsInline = true;
  } else if (type.startsWith('image/')) {
    player = h('img', { class: 'preview', src: content, alt: visible(info.name) });
  }
  fill(main, h('article', { class: 'shared' },
    h('p', { class: 'muted', text: 'Shared with you from a cairn node' }),
    h('h1', { dir: 'auto', text: visible(info.name) }),
    h('p', { class: 'muted', text: `${size(info.size)} · ${type || 'file'} · ${info.expires ? `link ends ${when(info.expires)}` : 'link has no end date'}` }),
    player,
    h('p', {}, h('a', { class: 'button', href: `${content}?download=true`, download: info.name, text: `Download (${size(info.size)})` }))));
}
