// The try-it page: pick or create a user by name, get a token (from a
// gateway in development mode, or pasted), then chat and use the feed.
// Everything it does goes through the reference client module.
//
// Gateways: `?servers=http://host:3000,http://host:3010` (kept in local
// storage; default: the gateway that served the page). When the one in use
// dies, the client goes on with the next.
import { ChatClient, devToken, tokenExpiry, tokenSubject } from './client.js';
import { ChatView } from './chat.js';
import { FeedView } from './feed.js';
import { $, el, names, randomUuid, store, toast } from './ui.js';

function servers() {
  const fromUrl = new URLSearchParams(location.search).get('servers');
  if (fromUrl) store.save('chat.servers', fromUrl.split(',').map((s) => s.trim()).filter(Boolean));
  const list = store.load('chat.servers', []);
  return list.length ? list : [location.origin];
}

function savedToken(userId) {
  const t = JSON.parse(sessionStorage.getItem('chat.tokens') || '{}')[userId];
  const exp = t ? tokenExpiry(t) : null;
  return exp && exp * 1000 > Date.now() + 120000 ? t : null;
}

function saveToken(userId, token) {
  const all = JSON.parse(sessionStorage.getItem('chat.tokens') || '{}');
  all[userId] = token;
  sessionStorage.setItem('chat.tokens', JSON.stringify(all));
}

/** A development token from the first gateway that answers; null when none gives tokens. */
async function askDevToken(userId) {
  for (const s of servers()) {
    try {
      return await devToken(s, userId);
    } catch (e) {
      console.warn(`no token from ${s}`, e);
    }
  }
  return null;
}

function renderKnown() {
  const known = Object.keys(names.all());
  $('#known-users').replaceChildren(...known.map((n) =>
    el('button', { class: 'chip', type: 'button', onclick: () => login(n) }, n)));
}

async function login(name) {
  name = name.trim();
  if (!name) return;
  const userId = names.idOf(name) ?? randomUuid();
  let token = savedToken(userId) ?? (await askDevToken(userId));
  if (!token) {
    $('#token-box').hidden = false;
    $('#token-input').focus();
    $('#token-box').dataset.name = name;
    return;
  }
  start(name, userId, token);
}

function loginWithToken() {
  const token = $('#token-input').value.trim();
  const userId = tokenSubject(token);
  if (!userId) return toast('That is not a token (a JWT whose sub is your user id)', 'error');
  start($('#token-box').dataset.name || `user-${userId.slice(0, 8)}`, userId, token);
}

async function start(name, userId, token) {
  names.set(name, userId);
  saveToken(userId, token);
  localStorage.setItem('chat.last', name);
  $('#login').hidden = true;
  $('#app').hidden = false;
  $('#me-name').textContent = name;
  $('#me-id').textContent = userId;
  const client = new ChatClient({
    servers: servers(),
    userId,
    token,
    getToken: async () => {
      const fresh = await askDevToken(userId);
      if (!fresh) throw new Error('the token expired: reload and paste a new one');
      saveToken(userId, fresh);
      return fresh;
    },
  });
  window.chatClient = client;
  client.on('state', ({ state, server, delayMs }) => {
    const dot = $('#conn');
    dot.className = `dot ${state}`;
    dot.title = state === 'closed' && delayMs ? `reconnecting in ${Math.round(delayMs / 100) / 10} s` : `${state}: ${server}`;
    $('#conn-server').textContent = server;
    document.body.dataset.conn = state;
  });
  const chat = new ChatView(client, userId);
  const feed = new FeedView(client, userId);
  try {
    const pending = await client.pending({ limit: 50 });
    if (pending.pending > 0) {
      const from = new Set(pending.messages.map((m) => names.nameOf(m.sender_id)));
      $('#pending-note').textContent = `${pending.pending} message(s) arrived while you were away (from ${[...from].join(', ')})`;
      $('#pending-note').hidden = false;
    }
  } catch (e) {
    toast(`pending: ${e.message}`, 'error');
  }
  await client.connect();
  await Promise.all([chat.start(), feed.start()]).catch((e) => toast(e.message, 'error'));
  setInterval(() => { if (!$('#feed-view').hidden) feed.stats(); }, 15000);
  document.body.dataset.ready = 'true';
}

function showTab(tab) {
  $('#chat-view').hidden = tab !== 'chat';
  $('#feed-view').hidden = tab !== 'feed';
  for (const b of document.querySelectorAll('.tab')) b.classList.toggle('active', b.dataset.tab === tab);
}

function init() {
  $('#login-form').addEventListener('submit', (e) => {
    e.preventDefault();
    login($('#login-name').value);
  });
  $('#token-submit').addEventListener('click', loginWithToken);
  $('#servers').value = servers().join(', ');
  $('#servers').addEventListener('change', (e) => {
    store.save('chat.servers', e.target.value.split(',').map((s) => s.trim()).filter(Boolean));
  });
  for (const b of document.querySelectorAll('.tab')) b.addEventListener('click', () => showTab(b.dataset.tab));
  $('#back').addEventListener('click', () => document.body.classList.remove('thread-open'));
  $('#logout').addEventListener('click', () => { location.href = location.pathname; });
  $('#copy-id').addEventListener('click', () => navigator.clipboard?.writeText($('#me-id').textContent));
  $('#login-name').value = localStorage.getItem('chat.last') ?? '';
  renderKnown();
  showTab('chat');
}

init();
