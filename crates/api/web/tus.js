// A tus 1.0 client (https://tus.io): a file sent to the node's
// resumable uploads, continuing where it stopped after a cut connection,
// a node restart or a page reload. The upload's URL is remembered in
// localStorage under the file's fingerprint (name, size, date, target),
// so choosing the same file again after a reload goes on from the
// node's offset rather than from the start.

import { guard } from './api.js';

const ENDPOINT = '/api/v1/resumable';
const STORE = 'cairn-tus:';
const RETRY = [1000, 2000, 4000, 8000, 15000, 30000];

function b64(text) {
  const bytes = new TextEncoder().encode(text);
  let bin = '';
  for (const b of bytes) bin += String.fromCharCode(b);
  return btoa(bin);
}

/** Every upload this browser left unfinished: fingerprint and name. */
export function unfinished() {
  const out = [];
  for (let i = 0; i < localStorage.length; i++) {
    const key = localStorage.key(i);
    if (!key.startsWith(STORE)) continue;
    try { out.push({ key, ...JSON.parse(localStorage.getItem(key)) }); } catch { /* skip */ }
  }
  return out;
}

export function forget(key) { localStorage.removeItem(key); }

/** One file's upload. `on.progress(sent, total)`, `on.done(entryId)`,
 * `on.error(err)`, `on.waiting(reason)` (signed out, or retrying). */
export class Upload {
  constructor(file, target, on) {
    this.file = file;
    this.target = target; // { parent, relativePath, onConflict }
    this.on = on;
    this.url = null;
    this.xhr = null;
    this.stopped = false;
    this.tries = 0;
    this.key = STORE + [file.name, file.size, file.lastModified,
      target.parent || '', target.relativePath || ''].join('/');
  }

  /** Starts, or continues after a pause or a sign-in. */
  async start() {
    this.stopped = false;
    try {
      const offset = await this.locate();
      if (offset === null) return;
      await this.send(offset);
    } catch (e) {
      this.failed(e);
    }
  }

  /** Stops sending; the node keeps what it has. */
  pause() {
    this.stopped = true;
    if (this.xhr) this.xhr.abort();
  }

  /** Stops and drops what the node has. */
  async cancel() {
    this.pause();
    forget(this.key);
    if (this.url) {
      await fetch(this.url, { method: 'DELETE', headers: guard({ 'tus-resumable': '1.0.0' }) });
    }
  }

  /** The offset to send from: the remembered upload's, or 0 for a new one
   * (null when it turns out finished already). */
  async locate() {
    const kept = localStorage.getItem(this.key);
    if (kept) {
      const { url } = JSON.parse(kept);
      const r = await fetch(url, { method: 'HEAD', headers: { 'tus-resumable': '1.0.0' }, cache: 'no-store' });
      if (r.status === 401) throw Object.assign(new Error('signed out'), { status: 401 });
      if (r.ok) {
        this.url = url;
        const entry = r.headers.get('cairn-entry');
        if (entry) { this.finish(entry); return null; }
        return Number(r.headers.get('upload-offset'));
      }
      forget(this.key);
    }
    return this.create();
  }

  async create() {
    const meta = { filename: this.file.name, on_conflict: this.target.onConflict || 'rename' };
    if (this.target.parent) meta.parent = this.target.parent;
    if (this.target.relativePath) meta.relativePath = this.target.relativePath;
    const header = Object.entries(meta).map(([k, v]) => `${k} ${b64(v)}`).join(',');
    const r = await fetch(ENDPOINT, {
      method: 'POST',
      headers: guard({
        'tus-resumable': '1.0.0',
        'upload-length': String(this.file.size),
        'upload-metadata': header,
      }),
    });
    if (!r.ok) throw await httpError(r);
    this.url = r.headers.get('location');
    localStorage.setItem(this.key, JSON.stringify({
      url: this.url, name: this.target.relativePath || this.file.name, size: this.file.size,
    }));
    return 0;
  }

  /** Sends the file from `offset` in one PATCH (the node keeps whatever
   * arrives, so a cut costs nothing already sent). */
  send(offset) {
    return new Promise((resolve, reject) => {
      const xhr = new XMLHttpRequest();
      this.xhr = xhr;
      xhr.open('PATCH', this.url);
      const headers = guard({
        'tus-resumable': '1.0.0',
        'upload-offset': String(offset),
        'content-type': 'application/offset+octet-stream',
      });
      for (const [k, v] of Object.entries(headers)) xhr.setRequestHeader(k, v);
      xhr.upload.onprogress = (e) => this.on.progress(offset + e.loaded, this.file.size);
      xhr.onload = () => {
        this.xhr = null;
        if (xhr.status === 204) {
          this.tries = 0;
          const entry = xhr.getResponseHeader('cairn-entry');
          const at = Number(xhr.getResponseHeader('upload-offset'));
          if (entry) { this.finish(entry); resolve(); return; }
          this.send(at).then(resolve, reject);
        } else {
          let message = `${xhr.status}`;
          try { message = JSON.parse(xhr.responseText).message || message; } catch { /* keep */ }
          reject(Object.assign(new Error(message), { status: xhr.status }));
        }
      };
      xhr.onerror = () => { this.xhr = null; reject(Object.assign(new Error('connection lost'), { status: 0 })); };
      xhr.onabort = () => { this.xhr = null; resolve(); };
      xhr.send(this.file.slice(offset));
    });
  }

  finish(entry) {
    forget(this.key);
    this.on.progress(this.file.size, this.file.size);
    this.on.done(entry);
  }

  failed(e) {
    if (this.stopped) return;
    if (e.status === 401) {
      this.on.waiting('signed out: sign in again to continue');
      window.dispatchEvent(new Event('cairn:signedout'));
      return;
    }
    const retry = e.status === 0 || (e.status === 409 && this.url) || e.status === 423 || e.status >= 500;
    if (retry && this.tries < RETRY.length) {
      const pause = RETRY[this.tries++];
      this.on.waiting(`${e.message}: trying again in ${pause / 1000} s`);
      setTimeout(() => { if (!this.stopped) this.start(); }, pause);
      return;
    }
    this.on.error(e);
  }
}

async function httpError(r) {
  let message = `${r.status} ${r.statusText}`;
  try { message = (await r.json()).message || message; } catch { /* keep */ }
  return Object.assign(new Error(message), { status: r.status });
}
