// Torrents: add a magnet link or a .torrent file, watch them download
// (refreshed every second while the page is open), see their files, and
// play one while it still arrives.

import { h, fill, size, toast, confirm, visible } from './dom.js';
import { get, call, guard } from './api.js';

const PLAYABLE = /\.(mp4|m4v|webm|mp3|m4a|ogg|oga|ogv|opus|wav|flac|mov)$/i;

export async function render(main) {
  document.title = 'Torrents · cairn';
  const magnet = h('input', { type: 'text', placeholder: 'magnet:?xt=urn:btih:…', 'aria-label': 'Magnet link', spellcheck: false, required: true });
  const file = h('input', { type: 'file', accept: '.torrent,application/x-bittorrent', class: 'hidden-input', id: 'pick-torrent' });
  const list = h('div', { class: 'torrents', 'aria-live': 'polite' });
  const form = h('form', {
    class: 'addbar',
    onsubmit: async (e) => {
      e.preventDefault();
      try {
        await call('POST', '/torrents', { magnet: magnet.value.trim() });
        magnet.value = '';
        refresh();
      } catch (err) { toast(err.message, 'error'); }
    },
  }, magnet, h('button', { type: 'submit', text: 'Add' }),
  h('label', { class: 'button ghost', for: 'pick-torrent' }, 'Add a .torrent file'), file);
  file.addEventListener('change', async () => {
    const f = file.files[0];
    file.value = '';
    if (!f) return;
    const r = await fetch('/api/v1/torrents/file', { method: 'POST', headers: guard({ 'content-type': 'application/x-bittorrent' }), body: f });
    if (!r.ok) toast((await r.json().catch(() => ({}))).message || `${r.status}`, 'error');
    refresh();
  });
  fill(main, h('section', { 'aria-label': 'Torrents' }, h('h1', { text: 'Torrents' }), form, list));
  const open = new Set();
  let timer = null;
  let stopped = false;
  async function refresh() {
    clearTimeout(timer);
    try {
      const torrents = await get('/torrents');
      draw(list, torrents, open, refresh);
    } catch (err) {
      fill(list, h('p', { class: 'muted', text: err.message }));
    }
    if (!stopped) timer = setTimeout(refresh, 1000);
  }
  await refresh();
  return () => { stopped = true; clearTimeout(timer); };
}

function draw(list, torrents, open, refresh) {
  if (!torrents.length) {
    fill(list, h('p', { class: 'empty', text: 'No torrents. Paste a magnet link above: it downloads into this node, and its videos play while they arrive.' }));
    return;
  }
  fill(list, torrents.map((t) => {
    const name = visible(t.name || t.info_hash);
    const pct = Math.floor((t.progress || 0) * 100);
    const files = h('ul', { class: 'tfiles' }, (t.files || []).map((f) => h('li', { 'data-index': f.index },
      h('span', { class: 'tname', dir: 'auto', text: visible(f.path) }),
      h('span', { class: 'muted', text: `${size(f.done_bytes)} of ${size(f.size)}` }),
      PLAYABLE.test(f.path) || /\.(mkv|avi)$/i.test(f.path)
        ? h('a', { class: 'button small', href: `/ui/play/torrent/${t.info_hash}/${f.index}`, 'data-link': true, text: 'Play' })
        : null,
      f.entry ? h('a', { class: 'button ghost small', href: `/ui/file/${f.entry}`, 'data-link': true, text: 'In your files' }) : null)));
    const details = h('details', { open: open.has(t.info_hash) },
      h('summary', {}, `${(t.files || []).length} file${(t.files || []).length === 1 ? '' : 's'}`), files);
    details.addEventListener('toggle', () => { if (details.open) open.add(t.info_hash); else open.delete(t.info_hash); });
    const paused = t.state === 'paused';
    return h('article', { class: 'torrent', 'data-hash': t.info_hash, 'data-state': t.state },
      h('div', { class: 'thead' },
        h('h2', { dir: 'auto', text: name }),
        h('span', { class: `badge ${t.state}`, text: t.state })),
      h('progress', { max: 100, value: pct, 'aria-label': `${name}: ${pct}%` }),
      h('p', { class: 'muted small', text: `${pct}% · ${size(t.done_bytes)} of ${size(t.total_bytes)} · ↓ ${size(t.download_bps)}/s · ↑ ${size(t.upload_bps)}/s · ${t.peers} peer${t.peers === 1 ? '' : 's'}${t.error ? ` · ${t.error}` : ''}` }),
      h('div', { class: 'actions' },
        h('button', {
          type: 'button', class: 'ghost small', text: paused ? 'Resume' : 'Pause',
          onclick: async () => { await call('POST', `/torrents/${t.info_hash}/${paused ? 'resume' : 'pause'}`).catch((e) => toast(e.message, 'error')); refresh(); },
        }),
        h('button', {
          type: 'button', class: 'danger small', text: 'Remove',
          onclick: async () => {
            if (!await confirm(`Remove “${name}”?`, 'Its downloaded data goes; files already in your store stay.', 'Remove')) return;
            await call('DELETE', `/torrents/${t.info_hash}?delete_files=true`).catch((e) => toast(e.message, 'error'));
            refresh();
          },
        })),
      details);
  }));
}
