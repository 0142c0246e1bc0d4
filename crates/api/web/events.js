// The node's events WebSocket, kept open: reconnected with a growing
// pause when the node goes away (a restart), and each event handed to
// whoever listens for its type.

const listeners = new Map();
let socket = null;
let wanted = false;
let pause = 500;

/** Calls `fn(event)` for each event of `type` ('*' for all); answers a
 * function that stops it. */
export function on(type, fn) {
  if (!listeners.has(type)) listeners.set(type, new Set());
  listeners.get(type).add(fn);
  return () => listeners.get(type).delete(fn);
}

function emit(type, event) {
  for (const key of [type, '*']) {
    for (const fn of listeners.get(key) || []) fn(event);
  }
}

/** Opens the socket (again, when it closes) until `stop`. */
export function start() {
  wanted = true;
  if (!socket) connect();
}

export function stop() {
  wanted = false;
  if (socket) socket.close();
}

function connect() {
  const scheme = location.protocol === 'https:' ? 'wss' : 'ws';
  const ws = new WebSocket(`${scheme}://${location.host}/api/v1/events`);
  socket = ws;
  ws.addEventListener('open', () => {
    pause = 500;
    emit('connection', { connected: true });
  });
  ws.addEventListener('message', (m) => {
    let event;
    try { event = JSON.parse(m.data); } catch { return; }
    if (event && event.type) emit(event.type, event);
  });
  ws.addEventListener('close', () => {
    socket = null;
    emit('connection', { connected: false });
    if (!wanted) return;
    setTimeout(() => { if (wanted && !socket) connect(); }, pause);
    pause = Math.min(pause * 2, 10000);
  });
}
