// The network: this node's peers, its suppliers by position (connected
// or not), its customers and the space it donates, and the bytes its
// lanes move, drawn as a graph sampled every two seconds while the page
// is open.

import { h, fill, size, visible } from './dom.js';
import { get } from './api.js';

const SAMPLES = 90;

export async function render(main) {
  document.title = 'Network · cairn';
  const summary = h('div', { class: 'cards' });
  const suppliers = h('tbody');
  const customers = h('tbody');
  const peers = h('tbody');
  const canvas = h('canvas', { class: 'graph', width: 900, height: 200, role: 'img', 'aria-label': 'Bytes sent and received per second' });
  const legend = h('p', { class: 'muted small' });
  fill(main, h('section', { 'aria-label': 'Network' },
    h('h1', { text: 'Network' }), summary,
    h('h2', { text: 'Bandwidth' }), canvas, legend,
    h('h2', { text: 'Suppliers' }), table(['Position', 'Peer', 'State'], suppliers),
    h('h2', { text: 'Customers' }), table(['Customer', 'Standing', 'Their shards here', 'Ours there'], customers),
    h('h2', { text: 'Peers' }), table(['Peer', 'Agent', 'Round trip'], peers)));
  let status;
  try {
    status = await get('/network');
  } catch (err) {
    fill(summary, h('p', { class: 'empty', text: `The network is off on this node (${err.message}). Set [network] enabled = true in its config to store files across other nodes.` }));
    return null;
  }
  const series = [];
  let last = null;
  let timer = null;
  let stopped = false;
  async function tick() {
    try {
      const [net, who, cust, traffic] = await Promise.all([get('/network'), get('/network/peers'), get('/network/customers'), get('/network/traffic')]);
      drawSummary(summary, net);
      fill(suppliers, net.suppliers.length
        ? net.suppliers.map((s) => h('tr', { 'data-peer': s.peer },
          h('td', { text: String(s.position) }), h('td', {}, h('code', { text: s.peer })),
          h('td', {}, h('span', { class: `badge ${s.connected ? 'done' : 'failed'}`, text: s.connected ? 'connected' : 'not connected' }))))
        : h('tr', {}, h('td', { colspan: 3, class: 'muted', text: 'No suppliers yet: they are chosen when a file is first placed.' })));
      const custList = (cust.customers || []).filter((c) => c.bytes > 0 || c.standing !== 'stranger');
      fill(customers, custList.length
        ? custList.map((c) => h('tr', {}, h('td', {}, h('code', { text: c.peer || c.owner })),
          h('td', { text: c.standing }), h('td', { text: size(c.bytes) }), h('td', { text: size(c.holds_for_us) })))
        : h('tr', {}, h('td', { colspan: 4, class: 'muted', text: 'No node keeps shards here yet.' })));
      const peerList = who.peers || [];
      fill(peers, peerList.length
        ? peerList.map((p) => h('tr', { 'data-peer': p.peer_id },
          h('td', {}, h('code', { text: p.peer_id })),
          h('td', { dir: 'auto', text: visible(p.agent || '') }),
          h('td', { text: p.rtt_ms === null || p.rtt_ms === undefined ? '' : `${p.rtt_ms.toFixed(1)} ms` })))
        : h('tr', {}, h('td', { colspan: 3, class: 'muted', text: 'No peer connected.' })));
      const moved = bytesOf(traffic);
      const now = performance.now();
      if (last) {
        const secs = (now - last.at) / 1000;
        series.push({ sent: Math.max(0, moved.sent - last.sent) / secs, received: Math.max(0, moved.received - last.received) / secs });
        if (series.length > SAMPLES) series.shift();
      }
      last = { ...moved, at: now };
      graph(canvas, series);
      const cur = series[series.length - 1] || { sent: 0, received: 0 };
      legend.textContent = `Sent ${size(cur.sent)}/s · received ${size(cur.received)}/s (the last ${SAMPLES * 2} s)`;
    } catch { /* the next tick tries again */ }
    if (!stopped) timer = setTimeout(tick, 2000);
  }
  drawSummary(summary, status);
  await tick();
  return () => { stopped = true; clearTimeout(timer); };
}

/** Bytes moved so far (lane frames are counted in these already). */
function bytesOf(t) {
  return { sent: t.bytes_sent || 0, received: t.bytes_received || 0 };
}

function drawSummary(el, net) {
  const space = net.space || {};
  const card = (label, value) => h('div', { class: 'card' }, h('span', { class: 'muted small', text: label }), h('strong', { text: value }));
  fill(el,
    card('Node', net.peer_id ? `${net.peer_id.slice(0, 12)}…` : ''),
    card('Peers', String(net.peers)),
    card('Suppliers connected', `${net.suppliers.filter((s) => s.connected).length} of ${net.suppliers.length}`),
    card('Space donated', size(space.donated)),
    card('Space used by others', size(space.used)),
    card('Reachability', net.nat || 'unknown'));
}

function table(heads, body) {
  return h('table', { class: 'jobs' }, h('thead', {}, h('tr', {}, heads.map((t) => h('th', { scope: 'col', text: t })))), body);
}

function graph(canvas, series) {
  const ctx = canvas.getContext('2d');
  const { width, height } = canvas;
  const style = getComputedStyle(document.documentElement);
  ctx.clearRect(0, 0, width, height);
  const top = Math.max(1024, ...series.map((s) => Math.max(s.sent, s.received)));
  ctx.strokeStyle = style.getPropertyValue('--line');
  ctx.beginPath();
  ctx.moveTo(0, height - 0.5);
  ctx.lineTo(width, height - 0.5);
  ctx.stroke();
  const line = (key, color) => {
    ctx.strokeStyle = color;
    ctx.lineWidth = 2;
    ctx.beginPath();
    series.forEach((s, i) => {
      const x = (i / (SAMPLES - 1)) * width;
      const y = height - (s[key] / top) * (height - 10) - 1;
      if (i) ctx.lineTo(x, y); else ctx.moveTo(x, y);
    });
    ctx.stroke();
  };
  line('sent', style.getPropertyValue('--accent'));
  line('received', '#c2577a');
  ctx.fillStyle = style.getPropertyValue('--muted');
  ctx.font = '12px system-ui';
  ctx.fillText(`${size(top)}/s`, 4, 14);
}
