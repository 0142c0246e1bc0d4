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
    h('h2', { text: 'Share links' }), links(info),
    h('h2', { text: 'Metadata' }), meta));
  // The digests are computed in the background after an upload.
  const off = on('blob_aliases', async (e) => {
    if (e.blob !== info.blob) return;
    const fresh = await get(`/entries/${id}`);
    showIds(fresh.aliases || {});
  });
  return off;
}

const TTLS = [['3600', '1 hour'], ['86400', '1 day'], ['604800', '7 days'], ['2592000', '30 days'], ['', 'No end date']];

/** The file's share links: made with a lifetime, copied, revoked. */
function links(info) {
  const list = h('ul', { class: 'links' });
  const ttl = h('select', { id: 'link-ttl', 'aria-label': 'The link ends after' },
    TTLS.map(([v, label]) => h('option', { value: v, text: label, selected: v === '604800' })));
  const paid = info.metadata && ['true', '1'].includes(info.metadata.restricted);
  const section = h('div', { class: 'linkbox' },
    h('p', { class: 'muted', text: paid
      ? 'A paid file is sold, not shared by link.'
      : 'Anyone with a link can play and download this file, with no account, until the link ends or you revoke it.' }),
    paid ? null : h('div', { class: 'actions' }, ttl,
      h('button', {
        type: 'button', text: 'Create link',
        onclick: async () => {
          try {
            await call('POST', `/entries/${info.id}/links`, ttl.value ? { expires_in: Number(ttl.value) } : {});
            await show();
          } catch (err) { toast(err.message, 'error'); }
        },
      })),
    list);
  async function show() {
    const all = await get(`/entries/${info.id}/links`);
    fill(list, all.map((l) => {
      const url = `${location.origin}${l.path}`;
      const input = h('input', { type: 'text', readonly: true, value: url, 'aria-label': 'Link', class: 'linkurl' });
      return h('li', { 'data-link': l.id, class: l.expired ? 'expired' : '' },
        input,
        h('span', { class: 'muted small', text: `${l.expired ? 'ended' : (l.expires ? `ends ${when(l.expires)}` : 'no end date')} · opened ${l.opened}×` }),
        h('button', {
          type: 'button', class: 'ghost small', text: 'Copy',
          onclick: async () => {
            input.select();
            try { await navigator.clipboard.writeText(url); toast('Link copied'); } catch { toast('Select the link and copy it'); }
          },
        }),
        h('button', {
          type: 'button', class: 'danger small', text: 'Revoke',
          onclick: async () => {
            if (!await confirm('Revoke this link?', 'Whoever has it can no longer open the file.', 'Revoke')) return;
            try { await call('DELETE', `/links/${l.id}`); await show(); } catch (err) { toast(err.message, 'error'); }
          },
        }));
    }));
  }
  if (!paid) show().catch((err) => toast(err.message, 'error'));
  return section;
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
