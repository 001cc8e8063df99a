// The reference client of the chat & feed protocol (docs/protocol.md), as a
// standalone ES module with no dependency: the try-it page uses only this
// module and the DOM. It keeps one WebSocket open to one of a list of
// gateways, reconnects with jittered exponential back-off (honouring close
// codes 1012, 1013 and 4001), resumes with `sync` after the highest `seq` it
// processed so nothing is missed, never emits the same message id twice, and
// resends every unacknowledged message with its original `client_msg_id`
// until it is acknowledged (so nothing is stored twice). REST helpers cover
// every route of /api/openapi.json.
//
//   import { ChatClient } from './client.js';
//   const client = new ChatClient({ servers: ['http://127.0.0.1:3000'], userId, token });
//   client.on('message', ({ message }) => console.log(message.content));
//   await client.connect();
//   const acked = await client.send(otherUserId, 'hello'); // resolves on message_ack

/** Back-off between reconnects: the first delay, the cap, and the jitter (±50 %). */
export const BACKOFF = { baseMs: 500, maxMs: 30000 };
/** A message not acknowledged within this long (while connected) is sent again. */
export const RESEND_AFTER_MS = 8000;
/** Read receipts sent this recently are sent again after a reconnect: the
 * protocol does not acknowledge them, one sent just before a gateway died may
 * be lost, and reading twice changes nothing. */
export const REREAD_WINDOW_MS = 30000;
/** Close codes with a meaning for the client (docs/protocol.md). */
export const CLOSE = { RESTART: 1012, TRY_LATER: 1013, TOKEN_EXPIRED: 4001 };

/** The delay before reconnect attempt `attempt` (0-based): doubling, capped, jittered. */
export function backoffDelay(attempt, random = Math.random) {
  const base = Math.min(BACKOFF.maxMs, BACKOFF.baseMs * 2 ** Math.min(attempt, 16));
  return Math.round(base * (0.5 + random()));
}

/** Seconds since the epoch at which a JWT expires (`exp`), or null. */
export function tokenExpiry(token) {
  try {
    const part = token.split('.')[1].replace(/-/g, '+').replace(/_/g, '/');
    const claims = JSON.parse(atob(part + '='.repeat((4 - (part.length % 4)) % 4)));
    return typeof claims.exp === 'number' ? claims.exp : null;
  } catch {
    return null;
  }
}

/** The user id (`sub`) of a JWT, or null. */
export function tokenSubject(token) {
  try {
    const part = token.split('.')[1].replace(/-/g, '+').replace(/_/g, '/');
    return JSON.parse(atob(part + '='.repeat((4 - (part.length % 4)) % 4))).sub ?? null;
  } catch {
    return null;
  }
}

/** An error answer of the REST API: `status`, `code` and the server's message. */
export class ApiError extends Error {
  constructor(status, code, message) {
    super(message || `HTTP ${status}`);
    this.status = status;
    this.code = code;
  }
}

/**
 * Asks a gateway in development mode for a token (`POST /api/dev/token`).
 * Resolves to null when the gateway does not give tokens out (404).
 */
export async function devToken(server, userId, fetchImpl = globalThis.fetch.bind(globalThis)) {
  const res = await fetchImpl(`${trimSlash(server)}/api/dev/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ user_id: userId }),
  });
  if (res.status === 404) return null;
  const body = await res.json().catch(() => ({}));
  if (!res.ok) throw new ApiError(res.status, body.code, body.error);
  return body.token;
}

function trimSlash(url) {
  return String(url).replace(/\/+$/, '');
}

let idCounter = 0;
/** A fresh `client_msg_id` (unique per device and page load). */
export function newClientMsgId() {
  idCounter += 1;
  const rand = Math.random().toString(36).slice(2, 10);
  return `c-${Date.now().toString(36)}-${rand}-${idCounter}`;
}

/**
 * One user's connection to the product.
 *
 * Options: `servers` (gateway base URLs, `http(s)://host:port`; the first is
 * tried first, and each failed attempt moves to the next), `userId`,
 * `token`, and `getToken` (async, returns a fresh token: called when the
 * token expires, close code 4001, or is about to).
 *
 * Events (`client.on(name, fn)`, `fn` gets one object):
 * - `state` `{state: 'connecting'|'open'|'closed', server, attempt, delayMs, code}`
 * - `message` `{message}`: a `private_message` never seen before (either
 *   direction: the user's other devices' sends arrive this way too)
 * - `ack` `{clientMsgId, message, duplicate}`: a send is durable
 * - `receipt` `{messageId, readerId, readAt, seq}`
 * - `typing` `{userId}`, `status` `{userId, online}`, `feed` `{update}`
 * - `error` `{code, message, clientMsgId}` (an `error` frame)
 */
export class ChatClient {
  constructor({ servers, userId, token, getToken = null }) {
    if (!servers || servers.length === 0) throw new Error('servers: at least one gateway URL');
    this.servers = servers.map(trimSlash);
    this.serverIndex = 0;
    this.userId = userId;
    this.token = token;
    this.getToken = getToken;
    this.lastSeq = 0;
    this.seen = new Set();
    this.outbox = new Map();
    this.recentReads = new Map(); // message id → when its read receipt was sent
    this.listeners = new Map();
    this.ws = null;
    this.attempt = 0;
    this.stopped = true;
    this.timer = null;
    this.resendTimer = null;
    this.state = 'closed';
  }

  /** The gateway in use. */
  get server() {
    return this.servers[this.serverIndex];
  }

  /** Subscribes to an event; returns a function that unsubscribes. */
  on(name, fn) {
    if (!this.listeners.has(name)) this.listeners.set(name, new Set());
    this.listeners.get(name).add(fn);
    return () => this.listeners.get(name).delete(fn);
  }

  emit(name, detail) {
    for (const fn of this.listeners.get(name) ?? []) {
      try {
        fn(detail);
      } catch (e) {
        console.error(`listener of ${name} failed`, e);
      }
    }
  }

  setState(state, extra = {}) {
    this.state = state;
    this.emit('state', { state, server: this.server, attempt: this.attempt, ...extra });
  }

  /** Opens the connection (and keeps it open until `close()`); resolves once open. */
  connect() {
    this.stopped = false;
    return new Promise((resolve) => {
      const off = this.on('state', ({ state }) => {
        if (state === 'open') {
          off();
          resolve();
        }
      });
      this.open();
    });
  }

  /** Closes the connection for good (no reconnect); unsent messages stay queued. */
  close() {
    this.stopped = true;
    clearTimeout(this.timer);
    clearInterval(this.resendTimer);
    if (this.ws) this.ws.close(1000, 'bye');
    this.ws = null;
    this.setState('closed');
  }

  async freshToken(force) {
    const exp = tokenExpiry(this.token);
    const soon = exp !== null && exp * 1000 - Date.now() < 60000;
    if ((force || soon) && this.getToken) this.token = await this.getToken();
  }

  async open() {
    if (this.stopped) return;
    try {
      await this.freshToken(false);
    } catch (e) {
      console.warn('could not renew the token', e);
    }
    const wsUrl = this.server.replace(/^http/, 'ws');
    const url = `${wsUrl}/ws/chat/${this.userId}?token=${encodeURIComponent(this.token)}`;
    this.setState('connecting');
    let ws;
    try {
      ws = new WebSocket(url);
    } catch (e) {
      this.scheduleReconnect(1006);
      return;
    }
    this.ws = ws;
    let opened = false;
    ws.onopen = () => {
      opened = true;
      this.onOpen();
    };
    ws.onmessage = (ev) => {
      this.attempt = 0;
      this.onFrame(ev.data);
    };
    ws.onclose = (ev) => {
      if (this.ws !== ws) return;
      this.ws = null;
      clearInterval(this.resendTimer);
      this.onClosed(ev.code, opened);
    };
  }

  onOpen() {
    this.setState('open');
    // Everything after the last position processed; the server skips what
    // this connection already wrote, and `seen` drops what another did.
    if (this.lastSeq > 0) this.raw({ type: 'sync', after_seq: this.lastSeq });
    for (const entry of this.outbox.values()) this.transmit(entry);
    const since = Date.now() - REREAD_WINDOW_MS;
    for (const [id, at] of this.recentReads) {
      if (at < since) this.recentReads.delete(id);
      else this.raw({ type: 'read_receipt', message_id: id });
    }
    clearInterval(this.resendTimer);
    this.resendTimer = setInterval(() => this.resendOverdue(), 1000);
  }

  onClosed(code, opened) {
    if (this.stopped) return;
    if (code === CLOSE.TOKEN_EXPIRED) {
      this.freshToken(true)
        .catch((e) => console.warn('could not renew the token', e))
        .finally(() => this.scheduleReconnect(code, 100 + Math.random() * 400));
      return;
    }
    // A gateway that restarts (1012), could not set us up (1013) or vanished
    // (no open, 1006): the next attempt goes to the next gateway in the list.
    if (!opened || code === CLOSE.RESTART || code === CLOSE.TRY_LATER || code === 1006) {
      this.serverIndex = (this.serverIndex + 1) % this.servers.length;
    }
    this.scheduleReconnect(code);
  }

  scheduleReconnect(code, delayMs = backoffDelay(this.attempt)) {
    this.attempt += 1;
    this.setState('closed', { code, delayMs });
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.open(), delayMs);
  }

  raw(frame) {
    if (this.ws && this.ws.readyState === WebSocket.OPEN) {
      this.ws.send(JSON.stringify(frame));
      return true;
    }
    return false;
  }

  transmit(entry) {
    entry.sentAt = Date.now();
    this.raw(entry.frame);
  }

  resendOverdue() {
    const now = Date.now();
    for (const entry of this.outbox.values()) {
      if (now - entry.sentAt >= RESEND_AFTER_MS) this.transmit(entry);
    }
  }

  advance(seq) {
    if (typeof seq === 'number' && seq > this.lastSeq) this.lastSeq = seq;
  }

  /** Remembers a message id; false when it was already seen. */
  remember(id) {
    if (this.seen.has(id)) return false;
    this.seen.add(id);
    if (this.seen.size > 50000) this.seen.delete(this.seen.values().next().value);
    return true;
  }

  onFrame(data) {
    let f;
    try {
      f = JSON.parse(data);
    } catch {
      return;
    }
    switch (f.type) {
      case 'private_message':
        this.advance(f.message.seq);
        if (this.remember(f.message.id)) this.emit('message', { message: f.message });
        break;
      case 'message_ack': {
        this.advance(f.message.seq);
        this.remember(f.message.id);
        const entry = this.outbox.get(f.client_msg_id);
        if (entry) {
          this.outbox.delete(f.client_msg_id);
          entry.resolve(f.message);
        }
        this.emit('ack', { clientMsgId: f.client_msg_id, message: f.message, duplicate: !!f.duplicate });
        break;
      }
      case 'read_receipt':
        this.advance(f.seq);
        this.emit('receipt', { messageId: f.message_id, readerId: f.reader_id, readAt: f.read_at, seq: f.seq });
        break;
      case 'typing':
        this.emit('typing', { userId: f.user_id });
        break;
      case 'user_status':
        this.emit('status', { userId: f.user_id, online: f.online });
        break;
      case 'feed_update':
        this.emit('feed', { update: f.update });
        break;
      case 'error':
        this.onError(f);
        break;
      default:
        break;
    }
  }

  onError(f) {
    const entry = f.client_msg_id ? this.outbox.get(f.client_msg_id) : null;
    if (entry && (f.code === 'unavailable' || f.code === 'rate_limited')) {
      // Retryable: the same client_msg_id again after a short pause.
      entry.sentAt = Date.now() - RESEND_AFTER_MS + 1000 + Math.random() * 1000;
    } else if (entry) {
      this.outbox.delete(f.client_msg_id);
      entry.reject(new ApiError(400, f.code, f.message));
    }
    this.emit('error', { code: f.code, message: f.message, clientMsgId: f.client_msg_id });
  }

  /**
   * Sends a private message; resolves with the stored message once it is
   * durable (`message_ack`). It is sent again, with the same
   * `client_msg_id`, after a reconnect and whenever no ack came in time, so
   * it is stored exactly once. Options: `messageType`, `clientMsgId`.
   */
  send(receiverId, content, { messageType = 'text', clientMsgId = newClientMsgId() } = {}) {
    const frame = { type: 'private_message', receiver_id: receiverId, content, client_msg_id: clientMsgId, message_type: messageType };
    const promise = new Promise((resolve, reject) => {
      const entry = { frame, resolve, reject, sentAt: 0 };
      this.outbox.set(clientMsgId, entry);
      this.transmit(entry);
    });
    promise.clientMsgId = clientMsgId;
    return promise;
  }

  /** Messages sent and not acknowledged yet (their frames, in send order). */
  unacknowledged() {
    return [...this.outbox.values()].map((e) => e.frame);
  }

  /** Tells `receiverId` the user is typing (ephemeral; dropped when offline). */
  typing(receiverId) {
    return this.raw({ type: 'typing', receiver_id: receiverId });
  }

  /** Marks a received message read (its sender gets a `read_receipt`); sent
   * again after a reconnect within [`REREAD_WINDOW_MS`], or when the socket
   * was down at the time. */
  markRead(messageId) {
    this.recentReads.set(messageId, Date.now());
    if (this.recentReads.size > 1000) this.recentReads.delete(this.recentReads.keys().next().value);
    return this.raw({ type: 'read_receipt', message_id: messageId });
  }

  /** Asks for everything in the user's stream after `afterSeq` (default: the last processed). */
  sync(afterSeq = this.lastSeq) {
    return this.raw({ type: 'sync', after_seq: afterSeq });
  }

  // ---- REST ----------------------------------------------------------------

  /**
   * Calls the REST API on the current gateway. A GET that cannot reach it
   * is tried on the next gateway of the list (once per gateway).
   */
  async api(method, path, body) {
    let lastError;
    const tries = method === 'GET' ? this.servers.length : 1;
    for (let i = 0; i < tries; i += 1) {
      const server = this.server;
      let res;
      try {
        await this.freshToken(false);
        res = await fetch(`${server}${path}`, {
          method,
          headers: {
            authorization: `Bearer ${this.token}`,
            ...(body === undefined ? {} : { 'content-type': 'application/json' }),
          },
          body: body === undefined ? undefined : JSON.stringify(body),
        });
      } catch (e) {
        lastError = e;
        if (this.server === server) this.serverIndex = (this.serverIndex + 1) % this.servers.length;
        continue;
      }
      const text = await res.text();
      let json = null;
      try {
        json = text ? JSON.parse(text) : null;
      } catch {
        if (res.ok) throw new ApiError(res.status, 'invalid_json', 'the answer is not JSON');
      }
      if (!res.ok) throw new ApiError(res.status, json?.code, json?.error);
      return json;
    }
    throw lastError;
  }

  /** Messages between the user and `partnerId`, newest first. */
  history(partnerId, { limit = 30, offset = 0 } = {}) {
    const q = new URLSearchParams({ user1: this.userId, user2: partnerId, limit, offset });
    return this.api('GET', `/api/messages?${q}`);
  }
  /** Partners with the last message and the unread count. */
  conversations({ limit = 50, offset = 0 } = {}) {
    return this.api('GET', `/api/conversations?limit=${limit}&offset=${offset}`);
  }
  /** Messages waiting for the user: `{pending, messages, next_after_seq}`. */
  pending({ limit = 50, afterSeq = null } = {}) {
    const q = new URLSearchParams({ limit });
    if (afterSeq !== null) q.set('after_seq', afterSeq);
    return this.api('GET', `/api/messages/pending?${q}`);
  }
  /** A contact's `{online, last_seen}` (404 for anyone else). */
  presence(userId) {
    return this.api('GET', `/api/users/${userId}/presence`);
  }
  /** The home feed, newest first. */
  timeline({ limit = 20, offset = 0 } = {}) {
    return this.api('GET', `/api/posts?limit=${limit}&offset=${offset}`);
  }
  userPosts(userId, { limit = 20, offset = 0 } = {}) {
    return this.api('GET', `/api/users/${userId}/posts?limit=${limit}&offset=${offset}`);
  }
  createPost(content, mediaUrl = null, mediaType = null) {
    const body = { content };
    if (mediaUrl) Object.assign(body, { media_url: mediaUrl, media_type: mediaType || 'photo' });
    return this.api('POST', '/api/posts', body);
  }
  deletePost(postId) {
    return this.api('DELETE', `/api/posts/${postId}`);
  }
  like(postId) {
    return this.api('POST', `/api/posts/${postId}/like`);
  }
  unlike(postId) {
    return this.api('DELETE', `/api/posts/${postId}/like`);
  }
  comment(postId, content) {
    return this.api('POST', `/api/posts/${postId}/comments`, { content });
  }
  comments(postId, { limit = 50, offset = 0 } = {}) {
    return this.api('GET', `/api/posts/${postId}/comments?limit=${limit}&offset=${offset}`);
  }
  follow(userId) {
    return this.api('POST', `/api/users/${userId}/follow`);
  }
  unfollow(userId) {
    return this.api('DELETE', `/api/users/${userId}/follow`);
  }
  followers(userId, { limit = 100, offset = 0 } = {}) {
    return this.api('GET', `/api/users/${userId}/followers?limit=${limit}&offset=${offset}`);
  }
  following(userId, { limit = 100, offset = 0 } = {}) {
    return this.api('GET', `/api/users/${userId}/following?limit=${limit}&offset=${offset}`);
  }
  topPosts(limit = 5) {
    return this.api('GET', `/api/stats/top-posts?limit=${limit}`);
  }
  activeUsers(limit = 5) {
    return this.api('GET', `/api/stats/active-users?limit=${limit}`);
  }
  onlineCount() {
    return this.api('GET', '/api/stats/online');
  }
}
