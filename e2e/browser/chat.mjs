// The try-it page in headless Chromium (Debian's, driven by playwright-core):
// two users chat both ways (typing, read ticks, online dots), one follows the
// other, who posts; the first sees it live and likes and comments on it, and
// the counters move on both pages. Then the gateway the pages were loaded
// from is SIGKILLed while both send, and each page goes on with the second
// gateway: every message shows exactly once on both sides. Last, a phone-sized
// viewport must not scroll sideways. Screenshots go to OUT_DIR.
//
// Env: GW_A, GW_B (gateway base URLs), GW_A_PID (the process to kill),
// OUT_DIR (screenshots), CHROMIUM (default /usr/bin/chromium).
import { mkdirSync } from 'node:fs';
import { chromium } from 'playwright-core';

const GW_A = must('GW_A');
const GW_B = must('GW_B');
const GW_A_PID = Number(must('GW_A_PID'));
const OUT = process.env.OUT_DIR || 'target/browser';
const WAIT = 20000;
mkdirSync(OUT, { recursive: true });

function must(name) {
  const v = process.env[name];
  if (!v) {
    console.error(`${name} is required`);
    process.exit(2);
  }
  return v;
}

function step(text) {
  console.log(`[${new Date().toISOString().slice(11, 23)}] ${text}`);
}

function check(cond, text) {
  if (!cond) throw new Error(`check failed: ${text}`);
}

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--disable-background-networking',
    '--disable-component-update', '--disable-sync'],
});
const pages = {};
const problems = [];

async function user(name, { gateways = [GW_A, GW_B], viewport = { width: 1200, height: 800 }, extra = {} } = {}) {
  const context = await browser.newContext({ viewport, ...extra });
  const page = await context.newPage();
  page.setDefaultTimeout(WAIT);
  page.on('pageerror', (e) => problems.push(`${name}: page error: ${e.message}`));
  page.on('console', (m) => {
    if (m.type() === 'error') console.log(`  (${name} console) ${m.text()}`);
  });
  await page.goto(`${gateways[0]}/?servers=${encodeURIComponent(gateways.join(','))}`);
  await page.fill('#login-name', name);
  await page.click('#login-form button');
  await page.waitForSelector('body[data-ready="true"]');
  const id = (await page.textContent('#me-id')).trim();
  pages[name] = page;
  step(`${name} logged in as ${id}`);
  return { page, id };
}

/** The number of message bubbles in a page's open thread whose text is `text`. */
function bubbles(page, text) {
  return page.locator('#messages .msg .content', { hasText: new RegExp(`^${text}$`) }).count();
}

async function waitBubble(page, text, n = 1) {
  await page.waitForFunction(([t, n]) =>
    [...document.querySelectorAll('#messages .msg .content')].filter((e) => e.textContent === t).length >= n,
  [text, n]);
}

async function send(page, text) {
  await page.fill('#message-input', text);
  await page.click('#composer button');
}

async function scenario() {
  const alice = await user('alice');
  const bob = await user('bob');
  const [a, b] = [alice.page, bob.page];

  step('alice opens a chat with bob by id and writes');
  await a.fill('#new-chat-input', `bob ${bob.id}`);
  await a.click('#new-chat button');
  await a.locator('#message-input').pressSequentially('Hi Bob', { delay: 20 });
  await a.click('#composer button');
  await a.waitForSelector('#messages .msg.own[data-state="sent"], #messages .msg.own[data-state="delivered"], #messages .msg.own[data-state="read"]');

  step('bob sees the conversation with an unread count, opens it; alice sees the read tick');
  await b.waitForSelector(`#conv-list .conv[data-partner="${alice.id}"] .badge.unread`);
  check((await b.textContent(`#conv-list .conv[data-partner="${alice.id}"] .conv-last`)).includes('Hi Bob'), 'last message in the list');
  await b.click(`#conv-list .conv[data-partner="${alice.id}"]`);
  await waitBubble(b, 'Hi Bob');
  b.once('dialog', (d) => d.accept('alice'));
  await b.click('#rename');
  await b.waitForSelector(`#conv-list .conv[data-partner="${alice.id}"] .conv-name:text-is("alice")`);
  await a.waitForSelector('#messages .msg.own[data-state="read"]');

  step('bob types (alice sees it), answers; alice reads it (bob sees the read tick)');
  await b.locator('#message-input').pressSequentially('Hi Alice', { delay: 60 });
  await a.waitForFunction(() => document.querySelector('#typing').textContent.includes('is typing'));
  await b.click('#composer button');
  await waitBubble(a, 'Hi Alice');
  await b.waitForSelector('#messages .msg.own[data-state="read"]');
  await a.locator('#message-input').pressSequentially('How are you?', { delay: 60 });
  await b.waitForFunction(() => document.querySelector('#typing').textContent.includes('is typing'));
  await a.click('#composer button');
  await waitBubble(b, 'How are you?');

  step('each sees the other online');
  await a.waitForSelector('#thread-dot.online');
  await b.waitForSelector('#thread-dot.online');
  check((await a.textContent('#thread-seen')) === 'online', 'alice sees bob online');

  step('alice follows bob; bob posts a photo; alice sees it live, likes and comments; counters move on both');
  await a.click('.tab[data-tab="feed"]');
  await b.click('.tab[data-tab="feed"]');
  await a.fill('#follow-input', 'bob');
  await a.click('#follow-form button');
  await a.waitForSelector('#following-list li');
  await b.fill('#post-content', 'Sunset seen from the second gateway');
  await b.fill('#post-media', `${GW_B}/logo.svg`);
  await b.click('#post-form button');
  const post = '#posts .post:has-text("Sunset seen from the second gateway")';
  await b.waitForSelector(post);
  await a.waitForSelector(post);
  const img = await a.waitForSelector(`${post} img.media`);
  await a.waitForFunction((i) => i.complete && i.naturalWidth > 0, img);
  await a.click(`${post} .like`);
  await a.waitForSelector(`${post} .likes:text-is("1")`);
  await b.waitForSelector(`${post} .likes:text-is("1")`);
  await a.click(`${post} .show-comments`);
  await a.fill(`${post} .comment-input`, 'Lovely colours');
  await a.click(`${post} .comment-form button`);
  await a.waitForSelector(`${post} .comment-list li:has-text("Lovely colours")`);
  await b.waitForSelector(`${post} .comments-count:text-is("1")`);
  await b.click('#refresh-stats');
  await b.waitForFunction(() => Number(document.querySelector('#online-count').textContent) >= 2);
  await b.waitForSelector('#top-posts li:has-text("Sunset")');
  await b.waitForSelector('#active-users li');
  await b.screenshot({ path: `${OUT}/feed-bob.png` });
  await a.click(`${post} .like`);
  await a.waitForSelector(`${post} .likes:text-is("0")`);
  await a.waitForSelector(`${post} .like:text-is("♡ Like")`);
  step('bob posts and deletes a post: it comes and goes live on alice\'s page');
  const brief = '#posts .post:has-text("A short-lived post")';
  await b.fill('#post-content', 'A short-lived post');
  await b.click('#post-form button');
  await a.waitForSelector(brief);
  await b.click(`${brief} .delete`);
  await b.waitForSelector(brief, { state: 'detached' });
  await a.waitForSelector(brief, { state: 'detached' });

  step('messages across a SIGKILL of the gateway both pages are on');
  await a.click('.tab[data-tab="chat"]');
  await b.click('.tab[data-tab="chat"]');
  check((await a.textContent('#conn-server')) === GW_A, 'alice starts on the first gateway');
  const before = ['before kill 1', 'before kill 2'];
  for (const t of before) await send(a, t);
  await send(b, 'bob before kill');
  process.kill(GW_A_PID, 'SIGKILL');
  step(`killed gateway ${GW_A} (pid ${GW_A_PID})`);
  const during = ['during outage 1', 'during outage 2', 'during outage 3'];
  for (const t of during) await send(a, t);
  await send(b, 'bob during outage');
  await a.waitForFunction((gw) => document.body.dataset.conn === 'open' && document.querySelector('#conn-server').textContent === gw, GW_B);
  await b.waitForFunction((gw) => document.body.dataset.conn === 'open' && document.querySelector('#conn-server').textContent === gw, GW_B);
  step('both pages are on the second gateway');
  const after = ['after failover'];
  for (const t of after) await send(a, t);
  await send(b, 'bob after failover');
  const fromAlice = [...before, ...during, ...after];
  const fromBob = ['bob before kill', 'bob during outage', 'bob after failover'];
  for (const t of [...fromAlice, ...fromBob]) {
    await waitBubble(a, t);
    await waitBubble(b, t);
  }
  // Every own message acknowledged (no pending tick left), then nothing doubled.
  await a.waitForFunction(() => !document.querySelector('#messages .msg.own[data-state="pending"]'));
  await b.waitForFunction(() => !document.querySelector('#messages .msg.own[data-state="pending"]'));
  await a.waitForTimeout(1500);
  for (const t of [...fromAlice, ...fromBob]) {
    check((await bubbles(a, t)) === 1, `alice shows "${t}" once (${await bubbles(a, t)})`);
    check((await bubbles(b, t)) === 1, `bob shows "${t}" once (${await bubbles(b, t)})`);
  }
  for (const [page, who] of [[a, 'alice'], [b, 'bob']]) {
    const shown = await page.$$eval('#messages .msg .content', (els) => els.map((e) => e.textContent));
    for (const list of [fromAlice, fromBob]) {
      const order = list.map((t) => shown.indexOf(t));
      check(order.every((v, i) => i === 0 || v > order[i - 1]), `${who} shows ${list.join(', ')} in send order: ${shown.join(' | ')}`);
    }
  }
  step('every message shows exactly once on both pages, in send order');

  step('the history on the second gateway agrees: every message stored once');
  const history = await b.evaluate((id) => window.chatClient.history(id, { limit: 100 }), alice.id);
  for (const t of [...fromAlice, ...fromBob]) {
    const n = history.filter((m) => m.content === t).length;
    check(n === 1, `history holds "${t}" once (${n})`);
  }
  await a.screenshot({ path: `${OUT}/chat-alice.png` });
  await b.screenshot({ path: `${OUT}/chat-bob.png` });

  step('alice leaves (bob sees her go offline); bob writes; alice comes back on the second gateway to pending messages');
  await a.goto('about:blank');
  await b.waitForSelector('#thread-dot:not(.online)');
  await b.waitForFunction(() => document.querySelector('#thread-seen').textContent.startsWith('last seen'));
  const away = ['while you were away 1', 'while you were away 2'];
  for (const t of away) await send(b, t);
  await b.waitForFunction(() => !document.querySelector('#messages .msg.own[data-state="pending"]'));
  // Another origin, another local storage: the name book is carried over by hand.
  await a.goto(`${GW_B}/?servers=${encodeURIComponent(GW_B)}`);
  await a.evaluate(([me, other]) => localStorage.setItem('chat.names', JSON.stringify({ alice: me, bob: other })), [alice.id, bob.id]);
  await a.reload();
  await a.click('#known-users .chip:text-is("alice")');
  await a.waitForSelector('body[data-ready="true"]');
  const note = await a.textContent('#pending-note');
  check(/^2 message\(s\) arrived while you were away \(from bob\)/.test(note), `the pending note: ${note}`);
  await a.waitForSelector(`#conv-list .conv[data-partner="${bob.id}"] .badge.unread:text-is("2")`);
  await a.click(`#conv-list .conv[data-partner="${bob.id}"]`);
  for (const t of [...away, ...fromAlice, ...fromBob]) {
    await waitBubble(a, t);
    check((await bubbles(a, t)) === 1, `alice's page shows "${t}" once after coming back`);
  }
  await b.waitForSelector('#thread-dot.online');
  await b.waitForFunction(() => [...document.querySelectorAll('#messages .msg.own')].slice(-2).every((m) => m.dataset.state === 'read'));

  step('a phone-sized viewport does not scroll sideways');
  const phone = await user('carol', {
    gateways: [GW_B],
    viewport: { width: 390, height: 844 },
    extra: { isMobile: true, hasTouch: true, deviceScaleFactor: 2 },
  });
  const p = phone.page;
  const overflow = () => p.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  check((await overflow()) <= 0, `chat list fits (${await overflow()} px too wide)`);
  step('scroll-back: bob has written carol 40 messages; her thread shows the newest 30, then the rest');
  await b.evaluate(async (id) => {
    for (let i = 0; i < 40; i += 1) await window.chatClient.send(id, `older ${i}`);
  }, phone.id);
  await p.fill('#new-chat-input', `bob ${bob.id}`);
  await p.click('#new-chat button');
  await waitBubble(p, 'older 39');
  await p.waitForFunction(() => document.querySelectorAll('#messages .msg').length === 30);
  check(await p.isVisible('#older'), 'the load-older button shows');
  check((await bubbles(p, 'older 10')) === 1 && (await bubbles(p, 'older 9')) === 0, 'the newest 30 first');
  await p.click('#older');
  await waitBubble(p, 'older 0');
  await p.waitForFunction(() => document.querySelectorAll('#messages .msg').length === 40);
  const shownOlder = await p.$$eval('#messages .msg .content', (els) => els.map((e) => e.textContent));
  check(shownOlder.every((t, i) => t === `older ${i}`), `all 40 once, in order: ${shownOlder.join(', ')}`);
  check(!(await p.isVisible('#older')), 'nothing older');
  await send(p, 'Hello from a phone, with a long word: Donaudampfschifffahrtsgesellschaftskapitänsmütze');
  await p.waitForSelector('#messages .msg.own:not([data-state="pending"])');
  check((await overflow()) <= 0, `thread fits (${await overflow()} px too wide)`);
  check(await p.isVisible('#composer button'), 'the send button is on screen');
  await p.screenshot({ path: `${OUT}/phone-chat.png` });
  await p.click('#back');
  await p.click('.tab[data-tab="feed"]');
  await p.fill('#follow-input', 'bob');
  await p.click('#follow-form button');
  await p.waitForSelector('#following-list li');
  await p.waitForSelector(post, { timeout: 5000 }).catch(() => step('(bob\'s older post is not in a new follower\'s feed)'));
  check((await overflow()) <= 0, `feed fits (${await overflow()} px too wide)`);
  await p.screenshot({ path: `${OUT}/phone-feed.png` });

  step('a gateway without DEV_MODE gives no token: the page takes a pasted one');
  const plain = await (await browser.newContext()).newPage();
  plain.setDefaultTimeout(WAIT);
  plain.on('pageerror', (e) => problems.push(`dave: page error: ${e.message}`));
  const gw = must('GW_PLAIN');
  await plain.goto(`${gw}/?servers=${encodeURIComponent(gw)}`);
  await plain.fill('#login-name', 'dave');
  await plain.click('#login-form button');
  await plain.waitForSelector('#token-box:not([hidden])');
  await plain.fill('#token-input', must('PLAIN_TOKEN'));
  await plain.click('#token-submit');
  await plain.waitForSelector('body[data-ready="true"]');
  check((await plain.textContent('#me-id')).trim() === must('PLAIN_USER'), 'dave is the user of the pasted token');
  check((await plain.getAttribute('#conn', 'class')).includes('open'), 'dave is connected');
}

let failed = false;
try {
  await scenario();
} catch (e) {
  failed = true;
  console.error(e.stack || String(e));
  for (const [name, page] of Object.entries(pages)) {
    await page.screenshot({ path: `${OUT}/failure-${name}.png` }).catch(() => {});
  }
}
await browser.close();
if (problems.length) {
  failed = true;
  console.error(problems.join('\n'));
}
console.log(failed ? 'browser scenario failed' : 'browser scenario passed');
process.exit(failed ? 1 : 0);
