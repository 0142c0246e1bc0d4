// A file's page: its names and ids (BLAKE3, md5, sha1, sha256), size,
// type and dates, its metadata, and what can be done with it (download,
// play, rename, delete).

import { h, fill, size, when, toast, ask, confirm, visible } from './dom.js';
import { get, call } from './api.js';
import { on } from './events.js';

export async function render(main, [id], go) {
  const info = await get(`/entries/${id}`);
  const path = await get(`/entries/${id}/path`);
  document.title = `${visible(info.name)} · cairn`;
  const parent = path.length > 1 ? path[path.length - 2] : null;
  const back = parent ? `/ui/files/${parent.id}` : '/ui/files';
  const type = info.content_type || 'application/octet-stream';
  const media = type.startsWith('video/') || type.startsWith('audio/');
  const content = `/api/v1/entries/${id}/content`;
  const ids = h('dl', { class: 'ids' });
  const meta = h('div');
  const showIds = (aliases) => fill(ids,
    row('BLAKE3', info.blob), row('MD5', aliases.md5), row('SHA-1', aliases.sha1), row('SHA-256', aliases.sha256));
  showIds(info.aliases || {});
  showMeta(meta, info.metadata || {});
  const actions = h('div', { class: 'actions' },
    media ? h('a', { class: 'button', href: `/ui/play/${id}`, 'data-link': true, text: 'Play' }) : null,
    h('a', { class: media ? 'button ghost' : 'button', href: `${content}?download=true`, download: info.name, text: 'Download' }),
    h('a', { class: 'button ghost', href: content, target: '_blank', rel: 'noopener', text: 'Open' }),
    h('button', { type: 'button', class: 'ghost', text: 'Rename', onclick: () => rename(info, go) }),
    h('button', { type: 'button', class: 'danger', text: 'Delete', onclick: () => remove(info, back, go) }));
  fill(main, h('article', { class: 'filepage' },
    h('nav', { class: 'crumbs', 'aria-label': 'Folder path' },
      h('a', { href: back, 'data-link': true, text: `← ${parent ? visible(parent.name) : 'Home'}` })),
    h('h1', { dir: 'auto', text: visible(info.name) }),
    h('p', { class: 'muted', text: `${size(info.size)} · ${type} · added ${when(info.created)} · modified ${when(info.modified)} · ${info.downloads} download${info.downloads === 1 ? '' : 's'}` }),
    actions,
    h('h2', { text: 'Identifiers' }), ids,
    h('h2', { text: 'Metadata' }), meta));
  // The digests are computed in the background after an upload.
  const off = on('blob_aliases', async (e) => {
    if (e.blob !== info.blob) return;
    const fresh = await get(`/entries/${id}`);
    showIds(fresh.aliases || {});
  });
  return off;
}

function row(label, value) {
  return [h('dt', { text: label }), h('dd', {}, value ? h('code', { text: value }) : h('span', { class: 'muted', text: 'computing…' }))];
}

function showMeta(el, metadata) {
  const keys = Object.keys(metadata);
  if (!keys.length) { fill(el, h('p', { class: 'muted', text: 'None.' })); return; }
  fill(el, h('table', { class: 'meta' },
    h('tbody', {}, keys.map((k) => h('tr', {}, h('th', { scope: 'row', text: visible(k) }), h('td', { dir: 'auto', text: visible(metadata[k]) }))))));
}

async function rename(info, go) {
  const name = await ask(`Rename “${info.name}”`, 'New name', info.name);
  if (!name || name === info.name) return;
  try {
    await call('PATCH', `/entries/${info.id}`, { name });
    go(`/ui/file/${info.id}`, true);
  } catch (err) {
    toast(err.code === 'name_taken' ? `“${name}” is taken in this folder` : err.message, 'error');
  }
}

async function remove(info, back, go) {
  if (!await confirm(`Delete “${info.name}”?`, 'This cannot be undone.')) return;
  try {
    await call('DELETE', `/entries/${info.id}`);
    toast(`Deleted “${info.name}”`);
    go(back);
  } catch (err) { toast(err.message, 'error'); }
}
