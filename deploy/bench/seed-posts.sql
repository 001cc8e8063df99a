-- GET /api/posts scenario (g) of deploy/bench-pinned.sh: :users users
-- (ids ...-9000-<i in hex>, as loadgen/src/conn.rs computes them), :posts
-- posts each spread over the last 30 days, and each user following :follows
-- others (user i follows (i + k * 487) mod :users, k = 1..:follows; 487 is
-- prime to 1,000 and 10,000, so they are distinct and never i itself).
set search_path = feed;
create temp table seed_user as
  select i, ('00000000-0000-7000-9000-' || lpad(to_hex(i), 12, '0'))::uuid as id
  from generate_series(0, :users - 1) i;
insert into post (post_id, user_id, content, created_at)
select gen_random_uuid(), u.id,
       'seeded post ' || k || ' by user ' || u.i || ', about as long as a short status update',
       now() - interval '30 days' * random()
from seed_user u cross join generate_series(1, :posts) k;
insert into author_stat (user_id, post_count)
select id, :posts from seed_user
on conflict (user_id) do update set post_count = author_stat.post_count + excluded.post_count;
insert into follow (follower_id, followee_id)
select a.id, b.id
from seed_user a cross join generate_series(1, :follows) k
join seed_user b on b.i = (a.i + k * 487) % :users
on conflict do nothing;
vacuum analyze post;
vacuum analyze follow;
analyze author_stat;
