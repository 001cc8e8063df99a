-- Feed's tables, in its own schema (`feed`). Counters live on the post row
-- and change in the same transaction as the like or comment that moves them.
create table post (
    post_id uuid primary key,
    user_id uuid not null,
    content text not null,
    media_url text,
    -- feed.v1.MediaType: 0 none, 1 photo, 2 video.
    media_type smallint not null default 0,
    likes_count bigint not null default 0 check (likes_count >= 0),
    comments_count bigint not null default 0 check (comments_count >= 0),
    -- False when the author had more followers than FEED_FANOUT_MAX_FOLLOWERS
    -- at posting time: the post was not written to followers' Redis timelines
    -- and is merged into them on read instead.
    fanned_out boolean not null default true,
    created_at timestamptz not null
);
-- An author's posts, newest first (profile pages, timeline rebuilds).
create index post_user_idx on post (user_id, created_at desc, post_id desc);
-- Posts merged on read (celebrity authors), newest first.
create index post_merged_idx on post (user_id, created_at desc, post_id desc) where not fanned_out;
-- Top posts by likes.
create index post_likes_idx on post (likes_count desc, created_at desc, post_id desc);

-- One row per (post, user): liking twice changes nothing.
create table post_like (
    post_id uuid not null references post (post_id) on delete cascade,
    user_id uuid not null,
    created_at timestamptz not null default now(),
    primary key (post_id, user_id)
);

create table comment (
    comment_id uuid primary key,
    post_id uuid not null references post (post_id) on delete cascade,
    user_id uuid not null,
    content text not null,
    created_at timestamptz not null
);
-- A post's comments, oldest first.
create index comment_post_idx on comment (post_id, created_at, comment_id);

create table follow (
    follower_id uuid not null,
    followee_id uuid not null,
    created_at timestamptz not null default now(),
    primary key (follower_id, followee_id),
    check (follower_id <> followee_id)
);
-- A user's followers (fan-out, followers page).
create index follow_followee_idx on follow (followee_id, created_at desc, follower_id);
-- Whom a user follows, newest first (following page).
create index follow_follower_idx on follow (follower_id, created_at desc, followee_id);

-- Posts per author, kept with each create and delete, so the most active
-- users are read from an index instead of counting every post.
create table author_stat (
    user_id uuid primary key,
    post_count bigint not null default 0 check (post_count >= 0)
);
create index author_stat_posts_idx on author_stat (post_count desc, user_id);
