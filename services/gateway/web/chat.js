// The chat view: conversations with their last message and unread count,
// one thread with scroll-back, sending with ticks, typing, read receipts,
// online dots and last seen.
import { $, el, names, shortTime, toast } from './ui.js';

/** Ticks of one's own messages. `delivered` is inferred: the protocol has no
 * delivery receipt, so a stored message counts as delivered once the
 * receiver is online (the gateway writes it to them at once). */
const TICKS = { pending: '🕓', sent: '✓', delivered: '✓✓', read: '✓✓' };
const PAGE = 30;

export class ChatView {
  constructor(client, me) {
    this.client = client;
    this.me = me;
    this.convs = new Map(); // partner id → {partnerId, last, unread}
    this.status = new Map(); // user id → {online, lastSeen}
    this.partner = null;
    this.bubbles = new Map(); // message id or client_msg_id → element (open thread)
    this.typingTimers = new Map();
    this.lastTypingSent = 0;
    this.loadingOlder = false;
    this.noOlder = false;
    this.bind();
  }

  bind() {
    const c = this.client;
    c.on('message', ({ message }) => this.onMessage(message));
    c.on('ack', ({ clientMsgId, message }) => this.onAck(clientMsgId, message));
    c.on('receipt', ({ messageId, readerId }) => this.onReceipt(messageId, readerId));
    c.on('typing', ({ userId }) => this.onTyping(userId));
    c.on('status', ({ userId, online }) => this.setStatus(userId, online, online ? null : new Date().toISOString()));
    c.on('error', ({ code, message }) => toast(`${code}: ${message}`, 'error'));
    $('#new-chat').addEventListener('submit', (e) => {
      e.preventDefault();
      const input = $('#new-chat-input');
      const id = names.resolve(input.value);
      if (!id) return toast('Unknown name: add their user id (shown at the top of their page)', 'error');
      if (id === this.me) return toast('That is you', 'error');
      input.value = '';
      this.open(id);
    });
    $('#composer').addEventListener('submit', (e) => {
      e.preventDefault();
      this.sendTyped();
    });
    $('#message-input').addEventListener('input', () => {
      const now = Date.now();
      if (this.partner && now - this.lastTypingSent > 2000) {
        this.lastTypingSent = now;
        this.client.typing(this.partner);
      }
    });
    $('#older').addEventListener('click', () => this.loadOlder());
    $('#rename').addEventListener('click', () => {
      const name = prompt('Name for this contact (kept in this browser)', names.nameOf(this.partner));
      if (!name || !name.trim()) return;
      names.set(name, this.partner);
      this.renderHead();
      this.renderConvs();
    });
    $('#messages').addEventListener('scroll', (e) => {
      if (e.target.scrollTop < 40) this.loadOlder();
    });
  }

  async start() {
    const list = await this.client.conversations();
    for (const c of list) {
      this.convs.set(c.partner_id, { partnerId: c.partner_id, last: c.last_message, unread: c.unread_count });
    }
    this.renderConvs();
    await Promise.all(list.map((c) => this.fetchPresence(c.partner_id)));
  }

  /** Asks for a user's presence; `retry`: once more soon if not a contact yet
   * (a first message makes one, and presence may learn it a moment later). */
  async fetchPresence(userId, retry = false) {
    try {
      const p = await this.client.presence(userId);
      this.setStatus(userId, p.online, p.last_seen);
    } catch (e) {
      if (e.status !== 404) console.warn('presence', e);
      else if (retry) setTimeout(() => this.fetchPresence(userId), 1500);
    }
  }

  setStatus(userId, online, lastSeen) {
    const before = this.status.get(userId);
    this.status.set(userId, { online, lastSeen: online ? null : lastSeen ?? before?.lastSeen ?? null });
    if (online && this.partner === userId) {
      for (const b of this.bubbles.values()) if (b.dataset.state === 'sent') this.tick(b, 'delivered');
    }
    this.renderConvs();
    this.renderHead();
  }

  conv(partnerId) {
    if (!this.convs.has(partnerId)) this.convs.set(partnerId, { partnerId, last: null, unread: 0 });
    return this.convs.get(partnerId);
  }

  renderConvs() {
    const items = [...this.convs.values()].sort((a, b) =>
      String(b.last?.timestamp ?? '').localeCompare(String(a.last?.timestamp ?? '')));
    $('#conv-list').replaceChildren(...items.map((c) => {
      const online = this.status.get(c.partnerId)?.online;
      const last = c.last ? `${c.last.sender_id === this.me ? 'You: ' : ''}${c.last.content}` : 'No messages yet';
      return el('li', {
        class: `conv${c.partnerId === this.partner ? ' active' : ''}`,
        dataset: { partner: c.partnerId },
        onclick: () => this.open(c.partnerId),
      },
      el('span', { class: `dot${online ? ' online' : ''}`, title: online ? 'online' : 'offline' }),
      el('div', { class: 'conv-text' },
        el('b', { class: 'conv-name' }, names.nameOf(c.partnerId)),
        el('span', { class: 'conv-last' }, last)),
      c.unread > 0 ? el('span', { class: 'badge unread' }, String(c.unread)) : null);
    }));
  }

  renderHead() {
    if (!this.partner) return;
    const s = this.status.get(this.partner);
    $('#thread-dot').className = `dot${s?.online ? ' online' : ''}`;
    $('#thread-name').textContent = names.nameOf(this.partner);
    $('#thread-seen').textContent = s?.online ? 'online' : s?.lastSeen ? `last seen ${shortTime(s.lastSeen)}` : '';
  }

  async open(partnerId) {
    this.partner = partnerId;
    this.lastTypingSent = 0;
    this.bubbles.clear();
    this.noOlder = false;
    $('#messages').replaceChildren();
    $('#typing').textContent = '';
    $('#thread').hidden = false;
    $('#thread-empty').hidden = true;
    document.body.classList.add('thread-open');
    this.conv(partnerId);
    this.renderHead();
    this.renderConvs();
    this.fetchPresence(partnerId);
    await this.loadOlder();
    const list = $('#messages');
    list.scrollTop = list.scrollHeight;
  }

  async loadOlder() {
    if (!this.partner || this.loadingOlder || this.noOlder) return;
    this.loadingOlder = true;
    const partner = this.partner;
    try {
      const stored = $('#messages').querySelectorAll('.msg:not([data-id=""])').length;
      const page = await this.client.history(partner, { limit: PAGE, offset: stored });
      if (partner !== this.partner) return;
      if (page.length < PAGE) this.noOlder = true;
      $('#older').hidden = this.noOlder;
      const list = $('#messages');
      const height = list.scrollHeight;
      for (const m of page) {
        if (this.bubbles.has(m.id)) continue;
        list.prepend(this.bubble(m, m.sender_id === this.me ? (m.read ? 'read' : this.deliveredOrSent()) : null));
        this.readIfMine(m);
      }
      list.scrollTop += list.scrollHeight - height;
      this.conv(partner).unread = 0;
      this.renderConvs();
    } catch (e) {
      toast(`history: ${e.message}`, 'error');
    } finally {
      this.loadingOlder = false;
    }
  }

  deliveredOrSent() {
    return this.status.get(this.partner)?.online ? 'delivered' : 'sent';
  }

  bubble(m, state) {
    const own = m.sender_id === this.me;
    const b = el('li', { class: `msg ${own ? 'own' : 'theirs'}`, dataset: { id: m.id ?? '', state: state ?? '' } },
      el('span', { class: 'content' }, m.content),
      el('span', { class: 'meta' }, shortTime(m.timestamp),
        own ? el('span', { class: 'tick' }, TICKS[state] ?? '') : null));
    this.bubbles.set(m.id ?? m.client_msg_id, b);
    return b;
  }

  tick(b, state) {
    const order = ['pending', 'sent', 'delivered', 'read'];
    if (order.indexOf(state) < order.indexOf(b.dataset.state)) return;
    b.dataset.state = state;
    const t = b.querySelector('.tick');
    if (t) t.textContent = TICKS[state];
  }

  readIfMine(m) {
    if (m.receiver_id === this.me && !m.read) {
      m.read = true;
      this.client.markRead(m.id);
    }
  }

  /** Adds a bubble in id order (ids are UUIDv7: time order), so a message
   * that comes back through the stream after a reconnect takes its place;
   * messages not stored yet (no id) stay last, in send order. */
  append(m, state) {
    const list = $('#messages');
    const atBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 80;
    this.place(this.bubble(m, state));
    if (atBottom || m.sender_id === this.me) list.scrollTop = list.scrollHeight;
  }

  place(b) {
    const list = $('#messages');
    const id = b.dataset.id;
    const later = id
      ? [...list.children].find((x) => x !== b && (!x.dataset.id || x.dataset.id > id))
      : null;
    if (later) list.insertBefore(b, later);
    else list.append(b);
  }

  sendTyped() {
    const input = $('#message-input');
    const text = input.value;
    if (!this.partner || !text.trim()) return;
    input.value = '';
    this.lastTypingSent = 0; // the next keystroke, for the next message, says so at once
    const partner = this.partner;
    const p = this.client.send(partner, text);
    const local = { client_msg_id: p.clientMsgId, sender_id: this.me, receiver_id: partner, content: text, timestamp: new Date().toISOString() };
    this.append(local, 'pending');
    this.bubbles.get(p.clientMsgId).dataset.cmid = p.clientMsgId;
    p.catch((e) => toast(`not sent: ${e.message}`, 'error'));
  }

  onAck(clientMsgId, message) {
    const partner = message.receiver_id;
    this.conv(partner).last = message;
    // A first message makes a contact: their presence is visible from now on.
    if (!this.status.has(partner)) this.fetchPresence(partner, true);
    this.renderConvs();
    if (partner !== this.partner) return;
    const pending = this.bubbles.get(clientMsgId);
    if (!pending) return;
    this.bubbles.delete(clientMsgId);
    if (this.bubbles.has(message.id)) {
      pending.remove(); // it already came back through the stream after a reconnect
      return;
    }
    pending.dataset.id = message.id;
    this.bubbles.set(message.id, pending);
    this.place(pending);
    this.tick(pending, message.read ? 'read' : this.deliveredOrSent());
  }

  onMessage(m) {
    const own = m.sender_id === this.me;
    const partner = own ? m.receiver_id : m.sender_id;
    const c = this.conv(partner);
    // Only a message newer than the conversation's last one counts as unread:
    // the pending drain repeats what the conversations page already counted.
    const newer = !c.last || m.id > c.last.id;
    if (newer) c.last = m;
    if (!this.status.has(partner)) this.fetchPresence(partner, true);
    const open = partner === this.partner;
    if (!own && !open && newer) c.unread += 1;
    this.renderConvs();
    if (!open) {
      if (!own) toast(`${names.nameOf(partner)}: ${m.content}`);
      return;
    }
    if (!own) $('#typing').textContent = '';
    if (this.bubbles.has(m.id)) return;
    this.append(m, own ? (m.read ? 'read' : this.deliveredOrSent()) : null);
    this.readIfMine(m);
  }

  onReceipt(messageId, readerId) {
    if (readerId === this.me) return;
    const b = this.bubbles.get(messageId);
    if (b) this.tick(b, 'read');
  }

  onTyping(userId) {
    if (userId !== this.partner) return;
    const box = $('#typing');
    box.textContent = `${names.nameOf(userId)} is typing…`;
    clearTimeout(this.typingTimers.get(userId));
    this.typingTimers.set(userId, setTimeout(() => { box.textContent = ''; }, 3000));
  }
}
