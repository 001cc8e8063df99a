-- Fan-out scenario (f) of deploy/bench-pinned.sh: one author followed by
-- :followers users. Ids as loadgen computes them (loadgen/src/conn.rs):
-- the author is ...-8000-000000000000, follower i is ...-8000-<i in hex>.
set search_path = feed;
insert into follow (follower_id, followee_id)
select ('00000000-0000-7000-8000-' || lpad(to_hex(i), 12, '0'))::uuid,
       '00000000-0000-7000-8000-000000000000'::uuid
from generate_series(1, :followers) i
on conflict do nothing;
analyze follow;
