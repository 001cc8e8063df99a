-- Message path v2: every message and read receipt takes a position in the
-- stream of each user it concerns, assigned at commit by the one transaction
-- that holds the user's `user_stream` row lock. Positions are dense (a rolled
-- back transaction gives its numbers back) and in commit order, so a gap is
-- always a message still on its way. Delivery state is a cursor per user,
-- not a second write of every message row.

create table user_stream (
    user_id uuid primary key,
    -- The highest position assigned in the user's stream.
    last_seq bigint not null default 0
);

-- Kept apart from user_stream so that moving a cursor never waits on (or
-- deadlocks with) a commit holding the stream row.
create table stream_cursor (
    user_id uuid primary key,
    -- Every position up to here was written to a live connection of the user.
    delivered_seq bigint not null default 0
);

alter table message add column sender_seq bigint, add column receiver_seq bigint;

-- Existing messages get positions in id order (the order they had until now).
with event as (
    select message_id, user_id, is_sender,
           row_number() over (partition by user_id order by message_id) as seq
    from (select message_id, sender_id as user_id, true as is_sender from message
          union all
          select message_id, receiver_id, false from message) e
)
update message m
   set sender_seq = s.seq, receiver_seq = r.seq
  from event s, event r
 where s.message_id = m.message_id and s.is_sender
   and r.message_id = m.message_id and not r.is_sender;

insert into user_stream (user_id, last_seq)
select user_id, max(seq) from (
    select sender_id as user_id, sender_seq as seq from message
    union all select receiver_id, receiver_seq from message) p
group by user_id;

-- Delivered up to just before the first undelivered message received.
insert into stream_cursor (user_id, delivered_seq)
select s.user_id,
       coalesce((select min(m.receiver_seq) - 1 from message m
                  where m.receiver_id = s.user_id and m.delivered_at is null), s.last_seq)
from user_stream s;

alter table message alter column sender_seq set not null,
                    alter column receiver_seq set not null;

drop index message_undelivered_idx;
drop index message_sender_idx;
drop index message_receiver_idx;
drop index message_conversation_idx;
alter table message drop column delivered_at;

-- A user's stream, in position order (sync, the pending drain, gap fills).
create unique index message_sender_seq_idx on message (sender_id, sender_seq);
create unique index message_receiver_seq_idx on message (receiver_id, receiver_seq);
-- History between two users, newest first, in commit order (the position in
-- the stream of the lesser id, which orders the pair's messages as the other's does).
create index message_conversation_idx on message (
    least(sender_id, receiver_id), greatest(sender_id, receiver_id),
    (case when sender_id < receiver_id then sender_seq else receiver_seq end) desc);

-- Read receipts as durable stream events: one row in the sender's stream and
-- one in the reader's (for the reader's other devices).
create table receipt (
    user_id uuid not null,
    seq bigint not null,
    message_id uuid not null,
    sender_id uuid not null,
    reader_id uuid not null,
    read_at timestamptz not null,
    primary key (user_id, seq)
);
