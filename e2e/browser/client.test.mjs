// The reference client's reconnect rules, with a scripted WebSocket (the
// browser test shows them against real gateways; this pins each rule down):
// failover to the next server, `sync` after the last `seq`, resending with the
// same `client_msg_id` (and recent read receipts), one `message` event per id, close codes 1012 and 4001,
// and the back-off bounds. Run: node --test e2e/browser/client.test.mjs
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { BACKOFF, ChatClient, backoffDelay } from '../../services/gateway/web/client.js';

class FakeSocket {
  static OPEN = 1;
  static all = [];
  constructor(url) {
    this.url = url;
    this.readyState = 0;
    this.sent = [];
    FakeSocket.all.push(this);
  }
  send(data) {
    this.sent.push(JSON.parse(data));
  }
  close() {
    this.readyState = 3;
  }
  open() {
    this.readyState = 1;
    this.onopen?.();
  }
  receive(frame) {
    this.onmessage?.({ data: JSON.stringify(frame) });
  }
  drop(code) {
    this.readyState = 3;
    this.onclose?.({ code });
  }
}
globalThis.WebSocket = FakeSocket;
BACKOFF.baseMs = 5;

/** The next socket the client opens (waits for its back-off). */
async function nextSocket(after) {
  for (let i = 0; i < 400; i += 1) {
    if (FakeSocket.all.length > after) return FakeSocket.all[after];
    await new Promise((r) => setTimeout(r, 5));
  }
  throw new Error('the client did not reconnect');
}

function token(exp) {
  const b64 = (o) => Buffer.from(JSON.stringify(o)).toString('base64url');
  return `${b64({ alg: 'HS256' })}.${b64({ sub: 'u', exp })}.sig`;
}

const later = () => Math.floor(Date.now() / 1000) + 3600;
const msg = (id, seq, from = 'peer') => ({ id, seq, sender_id: from, receiver_id: 'me', content: id });

test('a dropped connection resumes on the next server: sync after the last seq, unacked sends again, each id once', async () => {
  FakeSocket.all = [];
  const client = new ChatClient({ servers: ['http://a:1', 'http://b:2'], userId: 'me', token: token(later()) });
  const seen = [];
  client.on('message', ({ message }) => seen.push(message.id));
  const connected = client.connect();
  const ws1 = await nextSocket(0);
  assert.match(ws1.url, /^ws:\/\/a:1\/ws\/chat\/me\?token=/);
  ws1.open();
  await connected;
  ws1.receive({ type: 'private_message', message: msg('m1', 3) });
  client.markRead('m1');
  const sent = client.send('peer', 'hello');
  const first = ws1.sent.find((f) => f.type === 'private_message');
  assert.equal(first.client_msg_id, sent.clientMsgId);

  ws1.drop(1006);
  const ws2 = await nextSocket(1);
  assert.match(ws2.url, /^ws:\/\/b:2\//, 'the next server');
  ws2.open();
  assert.deepEqual(ws2.sent[0], { type: 'sync', after_seq: 3 });
  assert.equal(ws2.sent[1].client_msg_id, sent.clientMsgId, 'resent with the same client_msg_id');
  assert.deepEqual(ws2.sent[2], { type: 'read_receipt', message_id: 'm1' }, 'a recent read is sent again');
  ws2.receive({ type: 'private_message', message: msg('m1', 3) });
  ws2.receive({ type: 'private_message', message: msg('m2', 5) });
  ws2.receive({ type: 'message_ack', client_msg_id: sent.clientMsgId, duplicate: true, message: msg('s1', 4, 'me') });
  const stored = await sent;
  assert.equal(stored.id, 's1');
  assert.deepEqual(seen, ['m1', 'm2'], 'each message once');
  assert.equal(client.lastSeq, 5);
  assert.deepEqual(client.unacknowledged(), []);
  client.close();
});

test('close 4001 asks for a fresh token; 1012 moves to the next server', async () => {
  FakeSocket.all = [];
  let asked = 0;
  const fresh = token(later() + 60);
  const client = new ChatClient({
    servers: ['http://a:1', 'http://b:2'],
    userId: 'me',
    token: token(later()),
    getToken: async () => {
      asked += 1;
      return fresh;
    },
  });
  client.connect();
  const ws1 = await nextSocket(0);
  ws1.open();
  ws1.drop(4001);
  const ws2 = await nextSocket(1);
  assert.equal(asked, 1);
  assert.ok(ws2.url.endsWith(encodeURIComponent(fresh)), 'reconnects with the new token');
  assert.match(ws2.url, /^ws:\/\/a:1\//, 'an expired token is no reason to change servers');
  ws2.open();
  ws2.drop(1012);
  const ws3 = await nextSocket(2);
  assert.match(ws3.url, /^ws:\/\/b:2\//);
  client.close();
});

test('an unavailable error resends the same message; another error gives up on it', async () => {
  FakeSocket.all = [];
  const client = new ChatClient({ servers: ['http://a:1'], userId: 'me', token: token(later()) });
  client.connect();
  const ws = await nextSocket(0);
  ws.open();
  const retried = client.send('peer', 'one');
  const refused = client.send('peer', 'two');
  ws.receive({ type: 'error', code: 'invalid_uuid', message: 'bad', client_msg_id: refused.clientMsgId });
  await assert.rejects(refused, (e) => e.code === 'invalid_uuid');
  ws.receive({ type: 'error', code: 'unavailable', message: 'retry', client_msg_id: retried.clientMsgId });
  for (let i = 0; i < 60 && ws.sent.filter((f) => f.client_msg_id === retried.clientMsgId).length < 2; i += 1) {
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.equal(ws.sent.filter((f) => f.client_msg_id === retried.clientMsgId).length, 2, 'resent once after unavailable');
  ws.receive({ type: 'message_ack', client_msg_id: retried.clientMsgId, message: msg('s1', 1, 'me') });
  assert.equal((await retried).id, 's1');
  client.close();
});

test('back-off doubles from the base, is capped, and jitters within ±50 %', () => {
  BACKOFF.baseMs = 500;
  assert.equal(backoffDelay(0, () => 0.5), 500);
  assert.equal(backoffDelay(3, () => 0.5), 4000);
  assert.equal(backoffDelay(30, () => 0.5), BACKOFF.maxMs);
  assert.equal(backoffDelay(0, () => 0), 250);
  assert.equal(backoffDelay(0, () => 0.999999), 750);
  BACKOFF.baseMs = 5;
});
