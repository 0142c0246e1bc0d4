// Powder Web's UI, as Powder served it on its own listener, over its own
// API (`/actions`, `/api/…`, `/web/…`) and its keys: `/auth?token=<key>`
// keeps the key for 7 days and signs in; `/` lists the torrents and adds
// magnets; `/torrent/<hash>` shows a torrent's files and plays them while
// they download; `/embed?token=<embed key>&hash=<info hash>|opener=<link>
// |url=<media URL>` is the player other sites put in an iframe. An
// invalid key is said so in the page (Powder sent the browser to
// powder.media, which is gone).

import { h, fill, size, toast, visible } from './dom.js';

const main = document.getElementById('main');
const WEEK = 7 * 24 * 3600 * 1000;
const PLAYABLE = /\.(mp4|m4v|webm|mp3|m4a|ogg|oga|ogv|wav|flac)$/i;

function stored() {
  const t = localStorage.getItem('token');
  const until = Number(localStorage.getItem('expiresOn') || 0);
  return t && until > Date.now() ? t : null;
}

function keep(token) {
  localStorage.setItem('token', token);
  localStorage.setItem('expiresOn', String(Date.now() + WEEK));
}

/** One `/actions` call with `key`; its JSON (or text). */
async function action(method, params, key) {
  const q = new URLSearchParams({ method, ...params, token: key });
  const r = await fetch(`/actions?${q}`, { cache: 'no-store' });
  const text = await r.text();
  if (!r.ok) throw new Error(text || `${r.status} ${r.statusText}`);
  try { return JSON.parse(text); } catch { return text; }
}

/** 2 for the master key, 1 for another valid key, 0 for none. */
async function valid(key) {
  if (!key) return 0;
  try { return Number(await action('validToken', {}, key)); } catch { return 0; }
}

function go(path) {
  history.pushState(null, '', path);
  route();
}

async function route() {
  const params = new URLSearchParams(location.search);
  const path = location.pathname;
  document.getElementById('signout').hidden = true;
  if (path.startsWith('/embed')) return embed(params);
  if (path.startsWith('/auth')) {
    const key = params.get('token') || '';
    if (await valid(key)) {
      keep(key);
      history.replaceState(null, '', '/');
    } else {
      return signIn('That key is not valid (or no longer is).');
    }
  }
  const key = stored();
  if (!(await valid(key))) return signIn();
  document.getElementById('signout').hidden = false;
  if (path.startsWith('/torrent/')) return torrent(key, path.split('/')[2]);
  return home(key);
}

function signIn(error) {
  document.title = 'Sign in · Powder Web';
  const key = h('input', { type: 'password', id: 'key', autocomplete: 'off', spellcheck: false });
  const email = h('input', { type: 'text', id: 'email', autocomplete: 'username' });
  const password = h('input', { type: 'password', id: 'password', autocomplete: 'current-password' });
  const note = h('p', { class: 'error', role: 'alert', hidden: !error, text: error || '' });
  const fail = (m) => { note.hidden = false; note.textContent = m; };
  fill(main,
    h('form', {
      class: 'signin',
      onsubmit: async (e) => {
        e.preventDefault();
        if (await valid(key.value.trim())) { keep(key.value.trim()); go('/'); } else fail('That key is not valid.');
      },
    }, h('h1', { text: 'Powder Web' }), note,
    h('label', { for: 'key', text: 'Access key' }), key, h('button', { type: 'submit', text: 'Use this key' })),
    h('form', {
      class: 'signin',
      onsubmit: async (e) => {
        e.preventDefault();
        try {
          const value = JSON.stringify({ email: email.value.trim(), password: password.value });
          const r = await fetch(`/actions?${new URLSearchParams({ method: 'login', value })}`);
          const body = await r.json().catch(() => ({}));
          if (!r.ok || !body.token) throw new Error('Wrong email or password.');
          keep(body.token);
          go('/');
        } catch (err) { fail(err.message); }
      },
    }, h('h2', { text: 'Or sign in with your account' }),
    h('label', { for: 'email', text: 'Email' }), email,
    h('label', { for: 'password', text: 'Password' }), password,
    h('button', { type: 'submit', text: 'Sign in' })));
}

async function home(key) {
  document.title = 'Powder Web';
  const magnet = h('input', { type: 'text', placeholder: 'magnet:?xt=urn:btih:… or a .torrent URL', 'aria-label': 'Magnet link or torrent URL', required: true, spellcheck: false });
  const list = h('div', { class: 'torrents' });
  fill(main, h('section', { 'aria-label': 'Torrents' },
    h('h1', { text: 'Torrents' }),
    h('form', {
      class: 'addbar',
      onsubmit: async (e) => {
        e.preventDefault();
        try {
          const t = await action('new', { torrent: magnet.value.trim() }, key);
          go(`/torrent/${t.infoHash}`);
        } catch (err) { toast(err.message, 'error'); }
      },
    }, magnet, h('button', { type: 'submit', text: 'Stream' })),
    list));
  const all = Object.values(await action('getall', {}, key));
  fill(list, all.length
    ? all.map((t) => h('article', { class: 'torrent', 'data-hash': t.infoHash },
      h('div', { class: 'thead' },
        h('h2', {}, h('a', { href: `/torrent/${t.infoHash}`, 'data-link': true, dir: 'auto', text: visible(t.name || t.infoHash) })),
        h('span', { class: `badge ${t.running ? 'downloading' : 'paused'}`, text: t.running ? 'running' : 'stopped' })),
      h('p', { class: 'muted small', text: `${size(t.totalSize)} · ↓ ${size(t.downloadSpeed || 0)}/s · ${t.peers || 0} peers` })))
    : h('p', { class: 'empty', text: 'No torrents yet: paste a magnet link to stream it.' }));
}

async function torrent(key, hash) {
  const data = await action('torrentData', { id: hash }, key);
  document.title = `${visible(data.name)} · Powder Web`;
  const player = h('div', { class: 'playerbox' });
  fill(main, h('article', { class: 'torrent', 'data-hash': hash },
    h('nav', { class: 'crumbs' }, h('a', { href: '/', 'data-link': true, text: '← Torrents' })),
    h('h1', { dir: 'auto', text: visible(data.name) }),
    h('p', { class: 'muted', text: `${size(data.total.length)} · ${data.isFinished ? 'complete' : 'downloading'} · ${data.swarm.wires.length} peers` }),
    player,
    h('ul', { class: 'tfiles' }, data.files.map((f) => h('li', { 'data-index': f.id },
      h('span', { class: 'tname', dir: 'auto', text: visible(f.name) }),
      h('span', { class: 'muted', text: `${f.progress}% of ${size(f.length)}` }),
      f.streamable !== false ? h('button', { type: 'button', class: 'small', text: 'Play', onclick: () => play(player, key, hash, f) }) : null)))));
}

/** Plays file `f` of torrent `hash`: as it is where the browser takes it
 * (by range, also while it downloads), else as HLS from Powder's `/web/`. */
function play(box, key, hash, f) {
  const audio = /\.(mp3|m4a|oga|wav|flac)$/i.test(f.name);
  const src = PLAYABLE.test(f.name)
    ? `/api/${encodeURIComponent(key)}/${hash}/${f.id}`
    : `/web/${hash}/${f.id}/720p.m3u8?token=${encodeURIComponent(key)}`;
  const media = h(audio ? 'audio' : 'video', { controls: true, autoplay: true, class: 'media', src, 'aria-label': visible(f.name) });
  media.playsInline = true;
  fill(box, media);
}

async function embed(params) {
  document.title = 'Powder Web player';
  document.querySelector('header.top').hidden = true;
  const key = params.get('token') || '';
  if (!(await valid(key))) {
    fill(main, h('section', { class: 'shared gone' }, h('h1', { text: 'This player cannot start' }),
      h('p', { text: 'Its embed key is not valid: the site that shows it needs the key from this Powder Web node’s settings.' })));
    return;
  }
  const box = h('div', { class: 'playerbox embed' }, h('p', { class: 'muted', text: 'Starting…' }));
  fill(main, box);
  try {
    let id = params.get('hash') || params.get('opener');
    const url = params.get('url');
    if (!id && url) {
      const kind = await action('urlType', { pid: url }, key);
      if (!kind.isTorrent) {
        const v = h('video', { controls: true, autoplay: true, class: 'media', src: url });
        v.playsInline = true;
        fill(box, v);
        return;
      }
      id = url;
    }
    if (!id) throw new Error('Give hash=, opener= or url=.');
    const started = await action('embedStart', { id }, key);
    const data = await action('torrentData', { id: started.infoHash }, key);
    const first = data.files.find((f) => f.streamable !== false) || data.files[0];
    if (!first) throw new Error('This torrent has nothing to play.');
    play(box, key, started.infoHash, first);
  } catch (err) {
    fill(box, h('p', { class: 'error', text: err.message }));
  }
}

document.addEventListener('click', (e) => {
  const a = e.target.closest('a[data-link]');
  if (!a || e.ctrlKey || e.metaKey || e.shiftKey || e.button !== 0) return;
  e.preventDefault();
  go(a.getAttribute('href'));
});
window.addEventListener('popstate', route);
document.getElementById('signout').addEventListener('click', () => {
  localStorage.removeItem('token');
  localStorage.removeItem('expiresOn');
  go('/');
});
route();
