// The feed view: posting (text, photo or video URL), the home feed with
// live updates, likes, comments, deleting one's posts, follows, and stats.
import { $, el, names, shortTime, store, toast } from './ui.js';

const PAGE = 20;

export class FeedView {
  constructor(client, me) {
    this.client = client;
    this.me = me;
    this.cards = new Map(); // post id → element
    this.following = new Set();
    this.likedKey = `chat.liked.${me}`;
    this.liked = new Set(store.load(this.likedKey, []));
    this.offset = 0;
    this.bind();
  }

  bind() {
    this.client.on('feed', ({ update }) => this.onUpdate(update));
    $('#post-form').addEventListener('submit', (e) => {
      e.preventDefault();
      this.post();
    });
    $('#follow-form').addEventListener('submit', (e) => {
      e.preventDefault();
      const input = $('#follow-input');
      const id = names.resolve(input.value);
      if (!id) return toast('Unknown name: add their user id', 'error');
      input.value = '';
      this.setFollow(id, true);
    });
    $('#more-posts').addEventListener('click', () => this.loadMore());
    $('#refresh-stats').addEventListener('click', () => this.stats());
  }

  async start() {
    const following = await this.client.following(this.me);
    following.forEach((u) => this.following.add(u.user_id));
    this.renderFollowing();
    await this.loadMore();
    await this.stats();
  }

  async loadMore() {
    const page = await this.client.timeline({ limit: PAGE, offset: this.offset });
    this.offset += page.length;
    $('#more-posts').hidden = page.length < PAGE;
    for (const p of page) if (!this.cards.has(p.id)) $('#posts').append(this.card(p));
  }

  /** Puts the posts of the first page that are not shown yet on top; when
   * `expected` is not among them yet (the timeline is written just after
   * the event), asks again a few times. */
  async loadNew(expected = null, tries = 3) {
    const page = await this.client.timeline({ limit: PAGE, offset: 0 });
    for (const p of page.reverse()) {
      if (this.cards.has(p.id)) continue;
      this.offset += 1;
      $('#posts').prepend(this.card(p));
    }
    if (expected && !this.cards.has(expected) && tries > 1) {
      setTimeout(() => this.loadNew(expected, tries - 1).catch(() => {}), 700);
    }
  }

  async post() {
    const content = $('#post-content').value;
    const media = $('#post-media').value.trim();
    try {
      const p = await this.client.createPost(content, media || null, $('#post-media-type').value);
      $('#post-content').value = '';
      $('#post-media').value = '';
      this.offset += 1;
      $('#posts').prepend(this.card(p));
      this.stats();
    } catch (e) {
      toast(`not posted: ${e.message}`, 'error');
    }
  }

  card(p) {
    const own = p.user_id === this.me;
    const media = p.media_url
      ? p.media_type === 'video'
        ? el('video', { class: 'media', src: p.media_url, controls: true, preload: 'metadata' })
        : el('img', { class: 'media', src: p.media_url, alt: 'photo', loading: 'lazy' })
      : null;
    const liked = this.liked.has(p.id);
    const card = el('li', { class: 'post', dataset: { id: p.id, author: p.user_id } },
      el('div', { class: 'post-head' },
        el('b', {}, own ? 'You' : names.nameOf(p.user_id)),
        el('span', { class: 'time' }, shortTime(p.created_at)),
        own ? el('button', { class: 'link delete', onclick: () => this.remove(p.id) }, 'Delete')
          : el('button', { class: 'link follow', dataset: { user: p.user_id }, onclick: () => this.setFollow(p.user_id, !this.following.has(p.user_id)) },
            this.following.has(p.user_id) ? 'Unfollow' : 'Follow')),
      el('p', { class: 'post-content' }, p.content),
      media,
      el('div', { class: 'post-actions' },
        el('button', { class: `like${liked ? ' on' : ''}`, onclick: () => this.toggleLike(p.id) },
          liked ? '♥ Liked' : '♡ Like'),
        el('span', { class: 'likes' }, String(p.likes_count)),
        el('button', { class: 'link show-comments', onclick: () => this.toggleComments(p.id) }, 'Comments'),
        el('span', { class: 'comments-count' }, String(p.comments_count))),
      el('div', { class: 'comments', hidden: true },
        el('ul', { class: 'comment-list' }),
        el('form', { class: 'comment-form', onsubmit: (e) => { e.preventDefault(); this.comment(p.id); } },
          el('input', { class: 'comment-input', placeholder: 'Write a comment', maxlength: 5000, required: true }),
          el('button', {}, 'Comment'))));
    this.cards.set(p.id, card);
    return card;
  }

  counts(postId, likes, comments) {
    const card = this.cards.get(postId);
    if (!card) return;
    if (typeof likes === 'number') card.querySelector('.likes').textContent = String(likes);
    if (typeof comments === 'number') card.querySelector('.comments-count').textContent = String(comments);
  }

  async toggleLike(postId) {
    const on = !this.liked.has(postId);
    try {
      const r = on ? await this.client.like(postId) : await this.client.unlike(postId);
      if (r.liked) this.liked.add(postId);
      else this.liked.delete(postId);
      store.save(this.likedKey, [...this.liked]);
      const btn = this.cards.get(postId)?.querySelector('.like');
      if (btn) {
        btn.classList.toggle('on', r.liked);
        btn.textContent = r.liked ? '♥ Liked' : '♡ Like';
      }
      this.counts(postId, r.likes_count);
    } catch (e) {
      toast(`like: ${e.message}`, 'error');
    }
  }

  async toggleComments(postId) {
    const box = this.cards.get(postId)?.querySelector('.comments');
    if (!box) return;
    box.hidden = !box.hidden;
    if (!box.hidden) await this.loadComments(postId);
  }

  async loadComments(postId) {
    const list = this.cards.get(postId)?.querySelector('.comment-list');
    const comments = await this.client.comments(postId);
    list?.replaceChildren(...comments.map((c) => el('li', {},
      el('b', {}, c.user_id === this.me ? 'You' : names.nameOf(c.user_id)), ' ', c.content)));
  }

  async comment(postId) {
    const card = this.cards.get(postId);
    const input = card.querySelector('.comment-input');
    try {
      await this.client.comment(postId, input.value);
      input.value = '';
      await this.loadComments(postId);
      const n = card.querySelector('.comments-count');
      n.textContent = String(Number(n.textContent) + 1);
    } catch (e) {
      toast(`comment: ${e.message}`, 'error');
    }
  }

  async remove(postId) {
    try {
      await this.client.deletePost(postId);
      this.cards.get(postId)?.remove();
      this.cards.delete(postId);
    } catch (e) {
      toast(`delete: ${e.message}`, 'error');
    }
  }

  async setFollow(userId, on) {
    if (userId === this.me) return toast('You cannot follow yourself', 'error');
    try {
      if (on) await this.client.follow(userId);
      else await this.client.unfollow(userId);
      if (on) this.following.add(userId);
      else this.following.delete(userId);
      this.renderFollowing();
      if (on) await this.loadNew();
    } catch (e) {
      toast(`follow: ${e.message}`, 'error');
    }
  }

  renderFollowing() {
    $('#following-list').replaceChildren(...[...this.following].map((id) => el('li', {},
      names.nameOf(id), ' ',
      el('button', { class: 'link', onclick: () => this.setFollow(id, false) }, 'Unfollow'))));
    for (const b of document.querySelectorAll('#posts .follow')) {
      b.textContent = this.following.has(b.dataset.user) ? 'Unfollow' : 'Follow';
    }
  }

  onUpdate(u) {
    switch (u.update_type) {
      case 'newpost':
        this.loadNew(u.post_id).catch((e) => console.warn('new posts', e));
        break;
      case 'postdeleted':
        this.cards.get(u.post_id)?.remove();
        this.cards.delete(u.post_id);
        break;
      default:
        this.counts(u.post_id, u.likes_count, u.comments_count);
    }
    this.stats();
  }

  async stats() {
    try {
      const [online, top, active] = await Promise.all([
        this.client.onlineCount(), this.client.topPosts(5), this.client.activeUsers(5)]);
      $('#online-count').textContent = String(online.online);
      $('#top-posts').replaceChildren(...top.map((p) => el('li', {},
        `${p.content.slice(0, 40)} — ♥ ${p.likes_count}`)));
      $('#active-users').replaceChildren(...active.map((u) => el('li', {},
        `${u.user_id === this.me ? 'You' : names.nameOf(u.user_id)} — ${u.post_count} post${u.post_count === 1 ? '' : 's'}`)));
    } catch (e) {
      console.warn('stats', e);
    }
  }
}
