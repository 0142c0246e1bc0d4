// Building the page: every string goes in as text, never as markup, so a
// file name or a message cannot become code.

/** An element: `props` sets properties (`class`, `text`, `on<event>`,
 * anything else as an attribute); children are nodes or strings. */
export function h(tag, props = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') el.className = v;
    else if (k === 'text') el.textContent = v;
    else if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (k in el && typeof v !== 'string') el[k] = v;
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children.flat()) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

/** Replaces everything in `el` with `children`. */
export function fill(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

/** A name as shown: the characters that reorder text (bidi overrides,
 * embeddings, isolates and marks) are shown as their code, so
 * "\u202Egnp.exe" cannot pass for "exe.png". */
export function visible(name) {
  return String(name).replace(/[\u200E\u200F\u202A-\u202E\u2066-\u2069]/g,
    (c) => `[U+${c.codePointAt(0).toString(16).toUpperCase().padStart(4, '0')}]`);
}

/** Bytes for a person: 1.5 MB. */
export function size(n) {
  if (n === null || n === undefined) return '';
  const units = ['B', 'KB', 'MB', 'GB', 'TB'];
  let i = 0;
  while (n >= 1000 && i < units.length - 1) { n /= 1000; i++; }
  return `${i ? n.toFixed(n < 10 ? 1 : 0) : n} ${units[i]}`;
}

/** A time in Unix milliseconds for a person. */
export function when(ms) {
  if (!ms) return '';
  return new Date(ms).toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'short' });
}

/** Seconds as 1:02:03. */
export function clock(s) {
  if (!isFinite(s)) return '';
  s = Math.floor(s);
  const hh = Math.floor(s / 3600), mm = Math.floor(s / 60) % 60, ss = s % 60;
  const two = (x) => String(x).padStart(2, '0');
  return hh ? `${hh}:${two(mm)}:${two(ss)}` : `${mm}:${two(ss)}`;
}

let toastTimer;
/** A short message at the bottom of the page; `error` ones stay longer. */
export function toast(message, kind = 'info') {
  const el = document.getElementById('toast');
  el.textContent = message;
  el.className = `toast show ${kind}`;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => { el.className = 'toast'; }, kind === 'error' ? 8000 : 3500);
}

/** A modal dialog; resolves with the button's value, or null. */
export function dialog(title, body, buttons) {
  return new Promise((resolve) => {
    const form = h('form', { method: 'dialog' },
      h('h2', { text: title }), body,
      h('div', { class: 'buttons' }, buttons.map((b) =>
        h('button', { value: b.value, class: b.class || '', text: b.label, type: 'submit' }))));
    const d = h('dialog', { class: 'modal', 'aria-label': title }, form);
    d.addEventListener('close', () => { d.remove(); resolve(d.returnValue || null); });
    document.body.append(d);
    d.showModal();
    const first = d.querySelector('input, select, button');
    if (first) first.focus();
  });
}

/** Asks for a line of text. */
export async function ask(title, label, value = '') {
  const input = h('input', { type: 'text', value, 'aria-label': label, required: true, spellcheck: false });
  const body = h('label', { class: 'field' }, label, input);
  const answer = await dialog(title, body, [
    { value: 'cancel', label: 'Cancel', class: 'ghost' },
    { value: 'ok', label: 'OK' },
  ]);
  return answer === 'ok' ? input.value.trim() : null;
}

/** Asks yes or no. */
export async function confirm(title, text, yes = 'Delete') {
  const answer = await dialog(title, h('p', { text }), [
    { value: 'cancel', label: 'Cancel', class: 'ghost' },
    { value: 'yes', label: yes, class: 'danger' },
  ]);
  return answer === 'yes';
}
