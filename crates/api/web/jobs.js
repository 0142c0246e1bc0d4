// Jobs: what the node runs and ran (uploads, imports, fetches,
// conversions, placements), updated live from the events socket, with a
// cancel for the running ones.

import { h, fill, size, when, toast, visible } from './dom.js';
import { get, call } from './api.js';
import { on } from './events.js';

export async function render(main) {
  document.title = 'Jobs · cairn';
  const body = h('tbody');
  const table = h('table', { class: 'jobs' },
    h('caption', { class: 'visually-hidden', text: 'Jobs, newest first' }),
    h('thead', {}, h('tr', {}, ['Job', 'Kind', 'State', 'Progress', 'Started', ''].map((t) => h('th', { scope: 'col', text: t })))),
    body);
  const empty = h('p', { class: 'empty', hidden: true, text: 'No jobs yet: uploads, imports, fetches and conversions show here as they run.' });
  fill(main, h('section', { 'aria-label': 'Jobs' }, h('h1', { text: 'Jobs' }), table, empty));
  const rows = new Map();
  const draw = (job) => {
    const old = rows.get(job.id);
    const tr = jobRow(job);
    rows.set(job.id, tr);
    if (old) old.replaceWith(tr); else body.prepend(tr);
    empty.hidden = rows.size > 0;
  };
  const jobs = await get('/jobs?limit=200');
  for (const job of jobs.reverse()) draw(job);
  empty.hidden = rows.size > 0;
  const offs = [
    on('job', (e) => draw(e.job)),
    on('job_progress', (e) => {
      const tr = rows.get(e.id);
      if (!tr) return;
      tr.querySelector('progress').max = e.total || 1;
      tr.querySelector('progress').value = e.total ? e.done : 0;
      tr.querySelector('.done').textContent = e.total ? `${size(e.done)} of ${size(e.total)}` : size(e.done);
    }),
  ];
  return () => offs.forEach((off) => off());
}

function jobRow(job) {
  const running = job.state === 'running';
  const bar = h('progress', { max: job.total || 1, value: job.total ? job.done : (running ? 0 : 1), 'aria-label': `Progress of ${job.label}` });
  const cancel = running
    ? h('button', {
      type: 'button', class: 'ghost small', text: 'Cancel', 'aria-label': `Cancel ${job.label}`,
      onclick: async () => {
        try { await call('POST', `/jobs/${job.id}/cancel`); } catch (err) { toast(err.message, 'error'); }
      },
    })
    : null;
  return h('tr', { 'data-job': job.id, 'data-state': job.state },
    h('td', { dir: 'auto', class: 'label', text: visible(job.label), title: job.error || '' }),
    h('td', { text: job.kind }),
    h('td', {}, h('span', { class: `badge ${job.state}`, text: job.state })),
    h('td', {}, bar, ' ', h('span', { class: 'done muted', text: job.total ? `${size(job.done)} of ${size(job.total)}` : size(job.done) })),
    h('td', { text: when(job.created) }),
    h('td', {}, cancel));
}
