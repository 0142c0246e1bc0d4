// The files page: one folder, its path, its entries in a virtual list
// (only the rows in view exist, so 10,000 entries scroll smoothly),
// selection, rename, move, delete, new folders, and uploads of files and
// folders by the chooser or by drag and drop.

import { h, fill, size, when, toast, ask, confirm, dialog, visible } from './dom.js';
import { get, call } from './api.js';
import { on } from './events.js';
import { enqueue, leftover } from './uploads.js';

const ROW = 48;
const OVERSCAN = 8;
const PAGE = 1000;

export async function render(main, params, go) {
  const folder = params[0] || null;
  const view = new FolderView(main, folder, go);
  await view.open();
  return () => view.close();
}

class FolderView {
  constructor(main, folder, go) {
    this.main = main;
    this.folder = folder;
    this.go = go;
    this.entries = [];
    this.shown = [];
    this.selected = new Set();
    this.anchor = null;
    this.sort = sessionStorage.getItem('cairn-sort') || 'name';
    this.order = sessionStorage.getItem('cairn-order') || 'asc';
    this.filter = '';
    this.unsubscribe = [];
    this.loading = 0;
  }

  async open() {
    this.build();
    this.unsubscribe.push(on('entry_added', (e) => this.touched(e.entry && e.entry.parent)));
    this.unsubscribe.push(on('entry_changed', () => this.touched(this.folder)));
    this.unsubscribe.push(on('entry_removed', () => this.touched(this.folder)));
    const uploaded = () => this.touched(this.folder);
    window.addEventListener('cairn:uploaded', uploaded);
    this.unsubscribe.push(() => window.removeEventListener('cairn:uploaded', uploaded));
    const keys = (e) => this.key(e);
    document.addEventListener('keydown', keys);
    this.unsubscribe.push(() => document.removeEventListener('keydown', keys));
    await Promise.all([this.crumbs(), this.load()]);
  }

  close() {
    for (const off of this.unsubscribe) off();
    this.closed = true;
  }

  build() {
    this.crumbNav = h('nav', { class: 'crumbs', 'aria-label': 'Folder path' });
    this.count = h('span', { class: 'count muted', 'aria-live': 'polite' });
    const filter = h('input', {
      type: 'search', placeholder: 'Filter by name', 'aria-label': 'Filter by name',
      oninput: (e) => { this.filter = e.target.value.toLowerCase(); this.refilter(); },
    });
    const sort = h('select', { 'aria-label': 'Sort by', onchange: (e) => this.resort(e.target.value) },
      [['name', 'Name'], ['size', 'Size'], ['modified', 'Modified'], ['created', 'Added']].map(([v, label]) =>
        h('option', { value: v, text: label, selected: v === this.sort })));
    const order = h('button', {
      type: 'button', class: 'ghost', 'aria-label': 'Reverse the order', title: 'Reverse the order',
      text: this.order === 'asc' ? '↑' : '↓',
      onclick: (e) => {
        this.order = this.order === 'asc' ? 'desc' : 'asc';
        e.target.textContent = this.order === 'asc' ? '↑' : '↓';
        sessionStorage.setItem('cairn-order', this.order);
        this.load();
      },
    });
    const files = h('input', { type: 'file', multiple: true, class: 'hidden-input', id: 'pick-files', onchange: (e) => this.picked(e.target) });
    const dir = h('input', { type: 'file', multiple: true, class: 'hidden-input', id: 'pick-folder', onchange: (e) => this.picked(e.target) });
    dir.webkitdirectory = true;
    const tools = h('div', { class: 'tools' },
      filter, sort, order,
      h('button', { type: 'button', class: 'ghost', text: 'New folder', onclick: () => this.newFolder() }),
      h('label', { class: 'button', for: 'pick-files' }, 'Upload files'), files,
      h('label', { class: 'button ghost', for: 'pick-folder' }, 'Upload folder'), dir);
    this.selbar = h('div', { class: 'selbar', hidden: true },
      h('span', { class: 'selcount' }),
      h('button', { type: 'button', class: 'ghost small', text: 'Rename', onclick: () => this.rename() }),
      h('button', { type: 'button', class: 'ghost small', text: 'Move', onclick: () => this.move() }),
      h('button', { type: 'button', class: 'danger small', text: 'Delete', onclick: () => this.remove() }),
      h('button', { type: 'button', class: 'ghost small', text: 'Clear selection', onclick: () => this.select(new Set()) }));
    this.spacer = h('ul', { class: 'rows', role: 'list', 'aria-label': 'Entries' });
    this.scroller = h('div', { class: 'scroller', onscroll: () => this.paint() }, this.spacer);
    this.empty = h('div', { class: 'empty', hidden: true });
    this.notice = leftover();
    this.zone = h('section', { class: 'files', 'aria-label': 'Files' },
      h('div', { class: 'toolbar' }, h('div', { class: 'where' }, this.crumbNav, this.count), tools),
      this.notice, this.selbar,
      h('div', { class: 'listhead', 'aria-hidden': 'true' },
        h('span', { class: 'c-check' }), h('span', { class: 'c-name', text: 'Name' }),
        h('span', { class: 'c-size', text: 'Size' }), h('span', { class: 'c-date', text: 'Modified' })),
      this.scroller, this.empty,
      h('div', { class: 'dropcover', text: 'Drop to upload here' }));
    this.zone.addEventListener('dragover', (e) => { e.preventDefault(); this.zone.classList.add('dropping'); });
    this.zone.addEventListener('dragleave', (e) => { if (e.target === this.zone || !this.zone.contains(e.relatedTarget)) this.zone.classList.remove('dropping'); });
    this.zone.addEventListener('drop', (e) => this.dropped(e));
    fill(this.main, this.zone);
    new ResizeObserver(() => this.paint()).observe(this.scroller);
  }

  async crumbs() {
    const path = this.folder ? await get(`/entries/${this.folder}/path`) : [];
    const parts = [h('a', { href: '/ui/files', 'data-link': true, text: 'Home' })];
    for (const [i, f] of path.entries()) {
      parts.push(h('span', { class: 'sep', 'aria-hidden': 'true', text: '/' }));
      parts.push(i === path.length - 1
        ? h('span', { 'aria-current': 'page', text: visible(f.name) })
        : h('a', { href: `/ui/files/${f.id}`, 'data-link': true, text: visible(f.name) }));
    }
    fill(this.crumbNav, parts);
    document.title = `${path.length ? visible(path[path.length - 1].name) : 'Home'} · cairn`;
  }

  /** Loads every page of the folder, showing the first as soon as it comes. */
  async load() {
    const run = ++this.loading;
    const parent = this.folder ? `&parent=${this.folder}` : '';
    let offset = 0;
    const all = [];
    for (;;) {
      const page = await get(`/entries?limit=${PAGE}&offset=${offset}&sort=${this.sort}&order=${this.order}${parent}`);
      if (run !== this.loading || this.closed) return;
      all.push(...page.entries);
      offset += page.entries.length;
      const done = !page.entries.length || offset >= page.total;
      // The first page is drawn as soon as it comes, the whole at the end.
      if (done || all.length === page.entries.length) this.show(done ? all : all.slice());
      if (done) return;
    }
  }

  show(entries) {
    this.entries = entries;
    this.refilter();
    // What the benchmark times: the first listing drawn.
    if (!performance.getEntriesByName('cairn:files-ready').length) performance.mark('cairn:files-ready');
  }

  touched(parent) {
    if ((parent || null) !== this.folder) return;
    clearTimeout(this.reload);
    this.reload = setTimeout(() => this.load(), 250);
  }

  resort(by) {
    this.sort = by;
    sessionStorage.setItem('cairn-sort', by);
    this.load();
  }

  refilter() {
    const f = this.filter;
    this.shown = f ? this.entries.filter((e) => e.name.toLowerCase().includes(f)) : this.entries;
    const ids = new Set(this.entries.map((e) => e.id));
    const kept = new Set([...this.selected].filter((id) => ids.has(id)));
    if (kept.size !== this.selected.size) this.selected = kept;
    this.spacer.style.height = `${this.shown.length * ROW}px`;
    this.count.textContent = `${this.shown.length}${f ? ` of ${this.entries.length}` : ''} item${this.shown.length === 1 ? '' : 's'}`;
    this.showEmpty();
    this.updateSelbar();
    this.paint(true);
  }

  showEmpty() {
    const none = this.entries.length === 0;
    this.empty.hidden = !none;
    this.scroller.hidden = none;
    if (!none) return;
    const root = !this.folder;
    fill(this.empty,
      h('h2', { text: root ? 'Your node is empty' : 'This folder is empty' }),
      h('p', { text: root
        ? 'Drag files or a whole folder onto this page, or use Upload files. They are stored encrypted on this node and, with the network on, spread over other nodes so a lost disk loses nothing.'
        : 'Drag files or a folder here, or use Upload files.' }),
      root ? h('p', { class: 'muted', text: 'From a terminal: cairn upload <path>. Other tools: rclone and aws-cli over the S3 door, or any client of the seed APIs.' }) : null);
  }

  /** Draws the rows in view (and a few around them). */
  paint(force) {
    const top = this.scroller.scrollTop;
    const height = this.scroller.clientHeight || 600;
    const first = Math.max(0, Math.floor(top / ROW) - OVERSCAN);
    const last = Math.min(this.shown.length, Math.ceil((top + height) / ROW) + OVERSCAN);
    if (!force && first === this.first && last === this.last) return;
    this.first = first;
    this.last = last;
    const rows = [];
    for (let i = first; i < last; i++) rows.push(this.row(this.shown[i], i));
    fill(this.spacer, rows);
  }

  row(e, i) {
    const folder = e.kind === 'folder';
    const href = folder ? `/ui/files/${e.id}` : `/ui/file/${e.id}`;
    const check = h('input', {
      type: 'checkbox', checked: this.selected.has(e.id), 'aria-label': `Select ${e.name}`,
      onclick: (ev) => this.toggle(e.id, i, ev.shiftKey),
    });
    const li = h('li', {
      class: `row${this.selected.has(e.id) ? ' selected' : ''}`,
      'aria-setsize': this.shown.length, 'aria-posinset': i + 1, 'data-id': e.id,
    },
    h('span', { class: 'c-check' }, check),
    h('span', { class: 'c-name' },
      h('span', { class: `icon ${folder ? 'folder' : kindOf(e)}`, 'aria-hidden': 'true' }),
      h('a', { href, 'data-link': true, text: visible(e.name), title: visible(e.name), dir: 'auto', 'aria-label': visible(e.name) })),
    h('span', { class: 'c-size', text: folder ? '' : size(e.size) }),
    h('span', { class: 'c-date', text: when(e.modified) }));
    li.style.transform = `translateY(${i * ROW}px)`;
    return li;
  }

  toggle(id, index, range) {
    const next = new Set(this.selected);
    if (range && this.anchor !== null) {
      const [a, b] = [Math.min(this.anchor, index), Math.max(this.anchor, index)];
      for (let i = a; i <= b; i++) next.add(this.shown[i].id);
    } else if (next.has(id)) next.delete(id);
    else next.add(id);
    this.anchor = index;
    this.select(next);
  }

  select(set) {
    this.selected = set;
    this.updateSelbar();
    this.paint(true);
  }

  updateSelbar() {
    const n = this.selected.size;
    this.selbar.hidden = n === 0;
    this.selbar.querySelector('.selcount').textContent = `${n} selected`;
    this.selbar.querySelector('button').disabled = n !== 1;
  }

  chosen() {
    return this.entries.filter((e) => this.selected.has(e.id));
  }

  key(e) {
    if (e.target.closest('input, textarea, select, dialog')) return;
    if (e.key === 'Delete' && this.selected.size) { e.preventDefault(); this.remove(); }
    if (e.key === 'F2' && this.selected.size === 1) { e.preventDefault(); this.rename(); }
    if (e.key === 'Escape' && this.selected.size) this.select(new Set());
    if ((e.key === 'a' || e.key === 'A') && (e.ctrlKey || e.metaKey)) {
      e.preventDefault();
      this.select(new Set(this.shown.map((x) => x.id)));
    }
  }

  async newFolder() {
    const name = await ask('New folder', 'Name');
    if (!name) return;
    try {
      await call('POST', '/folders', { name, parent: this.folder });
      this.load();
    } catch (err) { toast(err.message, 'error'); }
  }

  async rename() {
    const [e] = this.chosen();
    if (!e) return;
    const name = await ask(`Rename “${visible(e.name)}”`, 'New name', e.name);
    if (!name || name === e.name) return;
    try {
      await call('PATCH', `/entries/${e.id}`, { name });
      toast(`Renamed to “${name}”`);
      this.select(new Set());
      this.load();
    } catch (err) {
      toast(err.code === 'name_taken' ? `“${name}” is taken in this folder` : err.message, 'error');
      this.load();
    }
  }

  async move() {
    const items = this.chosen();
    if (!items.length) return;
    const to = await pickFolder(this.folder, new Set(items.map((e) => e.id)));
    if (to === undefined || to === this.folder) return;
    let moved = 0;
    for (const e of items) {
      try { await call('PATCH', `/entries/${e.id}`, { parent: to }); moved++; } catch (err) { toast(`${visible(e.name)}: ${err.message}`, 'error'); }
    }
    if (moved) toast(`Moved ${moved} item${moved === 1 ? '' : 's'}`);
    this.select(new Set());
    this.load();
  }

  async remove() {
    const items = this.chosen();
    if (!items.length) return;
    const what = items.length === 1 ? `“${visible(items[0].name)}”` : `${items.length} items`;
    const folders = items.some((e) => e.kind === 'folder');
    if (!await confirm(`Delete ${what}?`, folders ? 'Folders go with everything in them.' : 'This cannot be undone.')) return;
    let gone = 0;
    for (const e of items) {
      try {
        await call('DELETE', `/entries/${e.id}${e.kind === 'folder' ? '?recursive=true' : ''}`);
        gone++;
      } catch (err) {
        if (err.status !== 404) toast(`${e.name}: ${err.message}`, 'error');
      }
    }
    if (gone) toast(`Deleted ${gone} item${gone === 1 ? '' : 's'}`);
    this.select(new Set());
    this.load();
  }

  picked(input) {
    const items = [...input.files].map((file) => ({ file, relativePath: file.webkitRelativePath || '' }));
    input.value = '';
    if (items.length) enqueue(items, this.folder);
  }

  async dropped(e) {
    e.preventDefault();
    this.zone.classList.remove('dropping');
    const entries = [...e.dataTransfer.items].map((i) => i.webkitGetAsEntry && i.webkitGetAsEntry()).filter(Boolean);
    const items = entries.length ? await walk(entries) : [...e.dataTransfer.files].map((file) => ({ file, relativePath: '' }));
    if (items.length) enqueue(items, this.folder);
  }
}

/** Every file under dropped entries, with its path from the drop. */
async function walk(entries, prefix = '') {
  const out = [];
  for (const entry of entries) {
    if (entry.isFile) {
      const file = await new Promise((res, rej) => entry.file(res, rej));
      out.push({ file, relativePath: prefix ? `${prefix}${file.name}` : '' });
    } else if (entry.isDirectory) {
      const reader = entry.createReader();
      const children = [];
      for (;;) {
        const batch = await new Promise((res, rej) => reader.readEntries(res, rej));
        if (!batch.length) break;
        children.push(...batch);
      }
      out.push(...await walk(children, `${prefix}${entry.name}/`));
    }
  }
  return out;
}

function kindOf(e) {
  const t = e.content_type || '';
  if (t.startsWith('video/')) return 'video';
  if (t.startsWith('audio/')) return 'audio';
  if (t.startsWith('image/')) return 'image';
  return 'file';
}

/** A dialog to choose a folder (not one of `excluded`); undefined when
 * cancelled, null for the root. */
async function pickFolder(start, excluded) {
  let at = start;
  for (;;) {
    const page = await get(`/entries?limit=1000${at ? `&parent=${at}` : ''}`);
    const path = at ? await get(`/entries/${at}/path`) : [];
    const folders = page.entries.filter((e) => e.kind === 'folder' && !excluded.has(e.id));
    const here = path.length ? path[path.length - 1].name : 'Home';
    const body = h('div', { class: 'picker' },
      h('p', { class: 'muted', text: `In: ${['Home', ...path.map((p) => p.name)].join(' / ')}` }),
      folders.length ? h('div', { class: 'folders' }, folders.map((f) =>
        h('button', { type: 'submit', value: `in:${f.id}`, class: 'ghost folderbtn', text: `📁 ${visible(f.name)}` })))
        : h('p', { class: 'muted', text: 'No folders here.' }));
    const buttons = [{ value: 'cancel', label: 'Cancel', class: 'ghost' }];
    if (at) buttons.push({ value: 'up', label: 'Up', class: 'ghost' });
    buttons.push({ value: 'here', label: `Move to ${here}` });
    const answer = await dialog('Move to…', body, buttons);
    if (!answer || answer === 'cancel') return undefined;
    if (answer === 'here') return at;
    if (answer === 'up') at = path.length > 1 ? path[path.length - 2].id : null;
    else at = answer.slice(3);
  }
}
