// DOM helpers and the name book (name → user id, in local storage) shared by
// the page's views.

/** Creates an element: `el('li', {class: 'x', onclick: fn}, 'text', child)`. */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith('on')) node.addEventListener(k.slice(2), v);
    else if (k === 'class') node.className = v;
    else if (k === 'dataset') Object.assign(node.dataset, v);
    else node.setAttribute(k, v === true ? '' : v);
  }
  for (const c of children.flat()) {
    if (c !== null && c !== undefined && c !== false) node.append(c);
  }
  return node;
}

export const $ = (sel, root = document) => root.querySelector(sel);

/** A random UUIDv4 (works outside secure contexts too). */
export function randomUuid() {
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  const h = [...b].map((x) => x.toString(16).padStart(2, '0')).join('');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

export const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

function load(key, fallback) {
  try {
    return JSON.parse(localStorage.getItem(key)) ?? fallback;
  } catch {
    return fallback;
  }
}

function save(key, value) {
  localStorage.setItem(key, JSON.stringify(value));
}

/** The name book: every name this browser has used, with its user id. */
export const names = {
  all() {
    return load('chat.names', {});
  },
  idOf(name) {
    return this.all()[name.trim()] ?? null;
  },
  set(name, id) {
    const all = this.all();
    all[name.trim()] = id;
    save('chat.names', all);
  },
  /** The name of a user id, or a short form of the id. */
  nameOf(id) {
    const hit = Object.entries(this.all()).find(([, v]) => v === id);
    return hit ? hit[0] : `user-${String(id).slice(0, 8)}`;
  },
  /** A name, a user id, or a name and a user id (which names it in the
   * book) typed by a person → a user id (or null). */
  resolve(text) {
    const words = text.trim().split(/\s+/);
    const id = words.find((w) => UUID_RE.test(w));
    if (!id) return this.idOf(text);
    const name = words.filter((w) => w !== id).join(' ');
    if (name) this.set(name, id.toLowerCase());
    return id.toLowerCase();
  },
};

export const store = { load, save };

/** "14:03" today, else "3 Dec 14:03". */
export function shortTime(iso) {
  if (!iso) return '';
  const d = new Date(iso);
  const today = new Date().toDateString() === d.toDateString();
  const time = d.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
  return today ? time : `${d.toLocaleDateString([], { day: 'numeric', month: 'short' })} ${time}`;
}

/** Shows a short notice at the bottom of the page. */
export function toast(text, kind = 'info') {
  const box = $('#toasts');
  const t = el('div', { class: `toast ${kind}` }, text);
  box.append(t);
  setTimeout(() => t.remove(), 5000);
}
