// The upload queue: files and folders dropped or chosen, sent two at a
// time through tus, each with its progress; uploads a reload cut short
// are listed so the same files can be chosen again to continue.

import { h, fill, size, toast, visible } from './dom.js';
import { Upload, unfinished, forget } from './tus.js';

const AT_ONCE = 2;
const queue = [];
let running = 0;

function panel() {
  return document.getElementById('uploads');
}

/** Queues `items` ({ file, relativePath }) for folder `parent`. */
export function enqueue(items, parent) {
  for (const { file, relativePath } of items) {
    const item = row(file, visible(relativePath || file.name));
    item.upload = new Upload(file, { parent, relativePath }, {
      progress: (sent, total) => progress(item, sent, total),
      done: (entry) => done(item, entry),
      error: (e) => failed(item, e),
      waiting: (why) => { item.state.textContent = why; },
    });
    queue.push(item);
  }
  show();
  pump();
}

function row(file, name) {
  const bar = h('progress', { max: 1, value: 0, 'aria-label': `Upload of ${name}` });
  const state = h('span', { class: 'state', text: 'waiting' });
  const cancel = h('button', { type: 'button', class: 'ghost small', text: 'Cancel', 'aria-label': `Cancel ${name}` });
  const el = h('li', { class: 'upload' }, h('span', { class: 'name', text: name, title: name }), bar, state, cancel);
  const item = { el, bar, state, name, file, started: 0, finished: false };
  cancel.addEventListener('click', async () => {
    queue.splice(queue.indexOf(item), 1);
    if (item.upload) await item.upload.cancel();
    if (!item.finished && item.running) { running--; pump(); }
    item.el.remove();
    tidy();
  });
  list().append(el);
  return item;
}

function list() {
  let ul = panel().querySelector('ul');
  if (!ul) {
    const clear = h('button', { type: 'button', class: 'ghost small', text: 'Clear finished', onclick: clearFinished });
    fill(panel(), h('div', { class: 'head' }, h('h2', { text: 'Uploads' }), clear), h('ul'));
    ul = panel().querySelector('ul');
  }
  return ul;
}

function show() { panel().hidden = false; }

function tidy() {
  if (!panel().querySelector('li')) { panel().hidden = true; fill(panel()); }
}

function clearFinished() {
  for (const li of [...panel().querySelectorAll('li.finished')]) li.remove();
  tidy();
}

function pump() {
  while (running < AT_ONCE) {
    const next = queue.find((i) => !i.running && !i.finished && !i.error);
    if (!next) return;
    next.running = true;
    next.started = performance.now();
    running++;
    next.state.textContent = 'starting';
    next.upload.start();
  }
}

function progress(item, sent, total) {
  item.bar.max = total || 1;
  item.bar.value = sent;
  const secs = (performance.now() - item.started) / 1000;
  const pct = total ? Math.floor((sent / total) * 100) : 100;
  item.state.textContent = `${pct}% of ${size(total)}` + (secs > 1 ? ` · ${size(sent / secs)}/s` : '');
  item.el.dataset.sent = String(sent);
}

function done(item, entry) {
  item.finished = true;
  item.running = false;
  running--;
  item.el.classList.add('finished');
  item.el.dataset.entry = entry;
  item.state.textContent = `done · ${size(item.file.size)}`;
  queue.splice(queue.indexOf(item), 1);
  window.dispatchEvent(new CustomEvent('cairn:uploaded', { detail: { entry } }));
  pump();
}

function failed(item, e) {
  item.error = e;
  item.running = false;
  running--;
  item.el.classList.add('failed');
  item.state.textContent = e.message;
  toast(`${item.name}: ${e.message}`, 'error');
  pump();
}

/** Continues the uploads waiting for a sign-in. */
export function resumeAll() {
  for (const item of queue) {
    if (item.running && !item.finished) item.upload.start();
  }
}

/** A notice of the uploads a reload cut short, for the files page. */
export function leftover() {
  const left = unfinished();
  if (!left.length) return null;
  const names = left.map((u) => u.name).slice(0, 5).join(', ') + (left.length > 5 ? ', …' : '');
  const drop = h('button', {
    type: 'button', class: 'ghost small', text: 'Forget them',
    onclick: (e) => { left.forEach((u) => forget(u.key)); e.target.closest('.notice').remove(); },
  });
  return h('p', { class: 'notice' },
    `${left.length} upload${left.length > 1 ? 's' : ''} did not finish (${names}). `
    + 'Choose the same files again in the same folder to continue where they stopped. ', drop);
}
