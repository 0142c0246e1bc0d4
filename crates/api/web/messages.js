// Messages: private conversations with other nodes (by friend, peer id
// or nickname), friends, and groups; new messages arrive live from the
// events socket. Every text is shown as text.

import { h, fill, when, toast, visible } from './dom.js';
import { get, call } from './api.js';
import { on } from './events.js';

export async function render(main, params, go) {
  document.title = 'Messages · cairn';
  const [kind, id] = params;
  const side = h('nav', { class: 'convs', 'aria-label': 'Conversations' });
  const pane = h('section', { class: 'thread', 'aria-label': 'Conversation' });
  fill(main, h('div', { class: 'messages' }, side, pane));
  let friends = [];
  let groups = [];
  try {
    [friends, groups] = await Promise.all([get('/friends'), get('/groups')]);
  } catch (err) {
    fill(pane, h('p', { class: 'empty', text: `Messages need the network: ${err.message}` }));
    return null;
  }
  const all = await get('/messages?limit=1000');
  const name = (peer) => {
    const f = friends.find((x) => x.peer === peer);
    return f ? f.alias : `${peer.slice(0, 12)}…`;
  };
  drawSide(side, all, friends, groups, name, go);
  if (kind === 'peer' && id) await peerThread(pane, id, name);
  else if (kind === 'group' && id) await groupThread(pane, groups.find((g) => g.id === id));
  else fill(pane, h('div', { class: 'empty' },
    h('h2', { text: 'Talk to other nodes' }),
    h('p', { text: 'Add a friend by their peer id or nickname, or start a group; messages are signed by this node and sealed to their readers.' })));
  const off = on('message', async () => {
    drawSide(side, await get('/messages?limit=1000'), friends, groups, name, go);
    if (kind === 'peer' && id) await peerThread(pane, id, name, true);
    if (kind === 'group' && id) await groupThread(pane, groups.find((g) => g.id === id), true);
  });
  return off;
}

function drawSide(side, all, friends, groups, name, go) {
  const peers = [...new Set(all.map((m) => m.peer))];
  for (const f of friends) if (!peers.includes(f.peer)) peers.push(f.peer);
  const who = h('input', { type: 'text', placeholder: 'Peer id or nickname', 'aria-label': 'Peer id or nickname', required: true, spellcheck: false });
  const alias = h('input', { type: 'text', placeholder: 'Call them (optional)', 'aria-label': 'Alias' });
  const label = h('input', { type: 'text', placeholder: 'Group name', 'aria-label': 'Group name', required: true });
  fill(side,
    h('h2', { text: 'Conversations' }),
    peers.length ? h('ul', {}, peers.map((p) => h('li', {},
      h('a', { href: `/ui/messages/peer/${encodeURIComponent(p)}`, 'data-link': true, dir: 'auto', text: visible(name(p)) }))))
      : h('p', { class: 'muted small', text: 'None yet.' }),
    h('h2', { text: 'Groups' }),
    groups.length ? h('ul', {}, groups.map((g) => h('li', {},
      h('a', { href: `/ui/messages/group/${g.id}`, 'data-link': true, dir: 'auto', text: visible(g.label) }))))
      : h('p', { class: 'muted small', text: 'None yet.' }),
    h('form', {
      class: 'mini',
      onsubmit: async (e) => {
        e.preventDefault();
        try {
          const f = await call('POST', '/friends', { who: who.value.trim(), alias: alias.value.trim() || undefined });
          go(`/ui/messages/peer/${encodeURIComponent(f.peer)}`);
        } catch (err) { toast(err.message, 'error'); }
      },
    }, h('h3', { text: 'Add a friend' }), who, alias, h('button', { type: 'submit', class: 'small', text: 'Add' })),
    h('form', {
      class: 'mini',
      onsubmit: async (e) => {
        e.preventDefault();
        try {
          const g = await call('POST', '/groups', { label: label.value.trim() });
          go(`/ui/messages/group/${g.id}`);
        } catch (err) { toast(err.message, 'error'); }
      },
    }, h('h3', { text: 'New group' }), label, h('button', { type: 'submit', class: 'small', text: 'Create' })));
}

function bubbles(list, messages, label) {
  fill(list, messages.length
    ? messages.map((m) => h('li', { class: `msg ${m.outgoing ? 'out' : 'in'}`, 'data-seq': m.seq },
      h('span', { class: 'who muted small', text: `${m.outgoing ? 'You' : visible(label(m))} · ${when(m.sent)}${m.outgoing && m.state === 'queued' ? ' · queued' : ''}` }),
      h('p', { dir: 'auto', text: visible(m.body) })))
    : h('li', { class: 'muted', text: 'No messages yet.' }));
  list.scrollTop = list.scrollHeight;
}

function composer(send) {
  const text = h('textarea', { rows: 2, maxlength: 16384, 'aria-label': 'Message', required: true });
  const form = h('form', {
    class: 'compose',
    onsubmit: async (e) => {
      e.preventDefault();
      if (!text.value.trim()) return;
      try { await send(text.value); text.value = ''; } catch (err) { toast(err.message, 'error'); }
    },
  }, text, h('button', { type: 'submit', text: 'Send' }));
  text.addEventListener('keydown', (e) => {
    if (e.key === 'Enter' && !e.shiftKey) { e.preventDefault(); form.requestSubmit(); }
  });
  return form;
}

async function peerThread(pane, peer, name, refresh) {
  const messages = await get(`/messages?with=${encodeURIComponent(peer)}&limit=1000`);
  if (refresh && pane.querySelector('.msgs')) { bubbles(pane.querySelector('.msgs'), messages, () => name(peer)); return; }
  const list = h('ol', { class: 'msgs' });
  fill(pane, h('h1', { dir: 'auto', text: visible(name(peer)) }), h('p', { class: 'muted small' }, h('code', { text: peer })), list,
    composer(async (text) => {
      await call('POST', '/messages', { to: peer, text });
      bubbles(list, await get(`/messages?with=${encodeURIComponent(peer)}&limit=1000`), () => name(peer));
    }));
  bubbles(list, messages, () => name(peer));
}

async function groupThread(pane, group, refresh) {
  if (!group) { fill(pane, h('p', { class: 'empty', text: 'No such group.' })); return; }
  const messages = await get(`/groups/${group.id}/messages?limit=1000`);
  if (refresh && pane.querySelector('.msgs')) { bubbles(pane.querySelector('.msgs'), messages, (m) => m.sender.slice(0, 12)); return; }
  const list = h('ol', { class: 'msgs' });
  const who = h('input', { type: 'text', placeholder: 'Peer id, friend or nickname', 'aria-label': 'Invite', required: true });
  fill(pane, h('h1', { dir: 'auto', text: visible(group.label) }),
    h('p', { class: 'muted small', text: `${group.members.length} member${group.members.length === 1 ? '' : 's'} · ${group.state}` }),
    group.mine ? h('form', {
      class: 'mini inline',
      onsubmit: async (e) => {
        e.preventDefault();
        try { await call('POST', `/groups/${group.id}/members`, { to: who.value.trim() }); who.value = ''; toast('Invited'); } catch (err) { toast(err.message, 'error'); }
      },
    }, who, h('button', { type: 'submit', class: 'small ghost', text: 'Invite' })) : null,
    list,
    composer(async (text) => {
      await call('POST', `/groups/${group.id}/messages`, { text });
      bubbles(list, await get(`/groups/${group.id}/messages?limit=1000`), (m) => m.sender.slice(0, 12));
    }));
  bubbles(list, messages, (m) => m.sender.slice(0, 12));
}
