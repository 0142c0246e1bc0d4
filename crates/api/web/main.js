// The page's frame: sign-in, the router (history API, /ui/<page>/<id>),
// the main navigation, and the events socket.

import { h, fill, toast } from './dom.js';
import { session, signIn, signOut } from './api.js';
import * as events from './events.js';
import { resumeAll } from './uploads.js';
import * as files from './files.js';
import * as file from './file.js';
import * as player from './player.js';
import * as jobs from './jobs.js';
import * as torrents from './torrents.js';
import * as network from './network.js';
import * as share from './share.js';
import * as messages from './messages.js';

const pages = { files, file, play: player, jobs, torrents, network, messages };
const main = document.getElementById('main');
let leave = null;
let signedIn = false;

/** Goes to `path` (replacing the history entry with `replace`). */
function go(path, replace = false) {
  if (replace) history.replaceState(null, '', path);
  else history.pushState(null, '', path);
  route();
}

async function route() {
  if (leave) { try { leave(); } catch { /* gone */ } leave = null; }
  const parts = location.pathname.replace(/^\/ui\/?/, '').split('/').filter(Boolean);
  const name = parts[0] || 'files';
  if (!signedIn) { showSignIn(); return; }
  if (name === 'signin' || !location.pathname.startsWith('/ui')) { history.replaceState(null, '', '/ui/files'); return route(); }
  const page = pages[name];
  for (const a of document.querySelectorAll('[data-nav]')) {
    if (a.dataset.nav === name) a.setAttribute('aria-current', 'page'); else a.removeAttribute('aria-current');
  }
  if (!page) { fill(main, h('h1', { text: 'Not found' }), h('p', {}, h('a', { href: '/ui/files', 'data-link': true, text: 'Go to your files' }))); return; }
  try {
    leave = await page.render(main, parts.slice(1).map(decodeURIComponent), go) || null;
  } catch (err) {
    if (err.status === 401) return;
    fill(main, h('h1', { text: 'Something went wrong' }), h('p', { text: err.message }));
  }
  main.focus({ preventScroll: true });
}

function showSignIn() {
  document.title = 'Sign in · cairn';
  const used = new URLSearchParams(location.search).get('link') === 'used';
  const secret = h('input', { type: 'password', id: 'secret', name: 'secret', autocomplete: 'current-password', required: true, spellcheck: false });
  const error = h('p', { class: 'error', role: 'alert', hidden: !used, text: used ? 'That sign-in link was used or has expired. Run `cairn open` for a fresh one, or paste the admin secret.' : '' });
  const form = h('form', {
    class: 'signin',
    onsubmit: async (e) => {
      e.preventDefault();
      try {
        await signIn(secret.value);
        history.replaceState(null, '', location.pathname.startsWith('/ui/signin') || location.pathname === '/' ? '/ui/files' : location.pathname);
        started();
      } catch (err) {
        error.hidden = false;
        error.textContent = err.message;
        secret.select();
      }
    },
  },
  h('h1', { text: 'Sign in to cairn' }),
  h('p', { text: 'Open the link `cairn node` printed when it started (or run `cairn open`), or paste the admin secret from <data dir>/apisecret.' }),
  h('label', { for: 'secret', text: 'Admin secret' }), secret, error,
  h('button', { type: 'submit', text: 'Sign in' }));
  fill(main, form);
  document.getElementById('nav').hidden = true;
  document.getElementById('signout').hidden = true;
  secret.focus();
}

function started() {
  signedIn = true;
  document.getElementById('nav').hidden = false;
  document.getElementById('signout').hidden = false;
  events.start();
  resumeAll();
  route();
}

document.addEventListener('click', (e) => {
  const a = e.target.closest('a[data-link]');
  if (!a || e.ctrlKey || e.metaKey || e.shiftKey || e.button !== 0) return;
  e.preventDefault();
  go(a.getAttribute('href'));
});
window.addEventListener('popstate', route);
window.addEventListener('cairn:signedout', () => {
  if (!signedIn) return;
  signedIn = false;
  events.stop();
  toast('Your session ended: sign in again (uploads wait and then continue).', 'error');
  showSignIn();
});
document.getElementById('signout').addEventListener('click', async () => {
  await signOut();
  signedIn = false;
  events.stop();
  history.pushState(null, '', '/ui/signin');
  showSignIn();
});
events.on('connection', ({ connected }) => {
  const live = document.getElementById('live');
  live.hidden = false;
  live.classList.toggle('off', !connected);
  live.textContent = connected ? 'live' : 'reconnecting…';
  live.title = connected ? 'Live updates on' : 'The node is not answering: reconnecting';
});

if (location.pathname.startsWith('/s/')) {
  // A share link: the file, for whoever holds it; no session asked.
  share.render(main, decodeURIComponent(location.pathname.slice(3).split('/')[0]));
} else if (await session()) started(); else showSignIn();
