-- The group commit in one round trip. chat-persistence used to run it as
-- five statements from the client (BEGIN, lock the streams, look up repeated
-- client_msg_ids, insert + move the streams, COMMIT); on a loaded core each
-- round trip costs two context switches and the lock is held across them.
-- This function does the same in one call, in one transaction (the caller's
-- autocommit statement).
--
-- It is VOLATILE, so under READ COMMITTED each statement in it takes a fresh
-- snapshot: the look-up of repeated client_msg_ids and the read of the last
-- positions run after the stream locks are granted, and see every commit of
-- whoever held them before.
--
-- Input: the batch as parallel arrays, in batch order (each connection's
-- send order). Output: one row per input (idx 1-based, in input order):
--   sender_seq, receiver_seq   the new message's positions, or null when it
--                              is a repeat;
--   repeat_of                  the idx of an earlier send of the same batch
--                              with the same (sender, client_msg_id);
--   original_id                the committed message it repeats.
-- Locks the streams of `p_users` (sorted, no repeats) for the rest of the
-- transaction, always in user-id order so commits never deadlock; creates
-- the rows of users new to the chat first.
create function chat_lock_streams(p_users uuid[]) returns void
language plpgsql volatile as $$
declare
    v_locked int;
begin
    select count(*) into v_locked from (
        select 1 from user_stream where user_id = any(p_users) order by user_id for update) l;
    if v_locked < cardinality(p_users) then
        insert into user_stream (user_id) select u from unnest(p_users) u order by u
            on conflict do nothing;
        perform 1 from user_stream where user_id = any(p_users) order by user_id for update;
    end if;
end;
$$;

create function chat_commit_messages(
    p_ids uuid[], p_senders uuid[], p_receivers uuid[], p_cids text[],
    p_types int2[], p_contents bytea[], p_times timestamptz[])
returns table (idx int, sender_seq bigint, receiver_seq bigint, repeat_of int, original_id uuid)
language plpgsql volatile
-- PL/pgSQL keeps a generic plan of each statement once it has run a few
-- times; planned while `message` was small, the client_msg_id look-up was a
-- sequential scan and a hash join, kept as the table grew (one full scan
-- per commit). Every access to `message` here is by an index.
set enable_seqscan = off
as $$
#variable_conflict use_column
declare
    v_users uuid[];
begin
    select array_agg(u order by u) into v_users
      from (select distinct u from unnest(p_senders || p_receivers) u) d;

    perform chat_lock_streams(v_users);

    return query
    with input as (
        select t.ord::int as i, t.id, t.s, t.r, t.cid, t.ty, t.c, t.at
          from unnest(p_ids, p_senders, p_receivers, p_cids, p_types, p_contents, p_times)
               with ordinality as t(id, s, r, cid, ty, c, at, ord)
    ), keyed as (
        select n.i,
               case when n.cid is null then null
                    else min(n.i) over (partition by n.s, n.cid) end as first_i,
               m.message_id as original
          from input n
          left join message m on n.cid is not null and m.sender_id = n.s and m.client_msg_id = n.cid
    ), fresh as (
        select n.* from input n join keyed k using (i)
         where k.original is null and (k.first_i is null or k.first_i = n.i)
    ), event as (
        -- Each new message is two events: its sender's (role 0), then its receiver's.
        select f.*, 0 as role, f.s as u from fresh f
        union all
        select f.*, 1, f.r from fresh f
    ), pos as (
        select e.*, s.last_seq + row_number() over (partition by e.u order by e.i, e.role) as seq
          from event e join user_stream s on s.user_id = e.u
    ), paired as (
        -- The receiver's position beside the sender's, without a join (the
        -- planner cannot size these CTEs: a join was a nested loop, O(n²)).
        select p.*, lead(p.seq) over (order by p.i, p.role) as receiver_seq
          from pos p
    ), inserted as (
        insert into message (message_id, sender_id, receiver_id, client_msg_id, message_type,
                             content_enc, created_at, sender_seq, receiver_seq)
        select p.id, p.s, p.r, p.cid, p.ty, p.c, p.at, p.seq, p.receiver_seq
          from paired p where p.role = 0
        returning 1
    ), moved as (
        -- (Data-modifying CTEs run to completion whether read or not.)
        update user_stream s set last_seq = m.last
          from (select pos.u, max(pos.seq) as last from pos group by pos.u) m
         where s.user_id = m.u
        returning 1
    )
    select p.i, p.seq, p.receiver_seq, null::int, null::uuid from paired p where p.role = 0
    union all
    select k.i, null, null,
           case when k.original is null then k.first_i end,
           k.original
      from keyed k
     where k.original is not null or k.first_i <> k.i
     order by 1;
end;
$$;

-- A read receipt in one round trip: locks the sender's and the reader's
-- streams (user-id order), marks the message read, and adds the receipt to
-- both streams at their next positions. No row when it was already read.
create function chat_record_read(
    p_message uuid, p_sender uuid, p_reader uuid, p_read_at timestamptz)
returns table (sender_seq bigint, reader_seq bigint)
language plpgsql volatile as $$
#variable_conflict use_column
declare
    v_users uuid[] := array(select distinct u from unnest(array[p_sender, p_reader]) u order by u);
    v_sender bigint;
    v_reader bigint;
begin
    perform chat_lock_streams(v_users);
    update message set read_at = p_read_at where message_id = p_message and read_at is null;
    if not found then
        return;
    end if;
    update user_stream set last_seq = last_seq + 1 where user_id = p_sender
        returning last_seq into v_sender;
    if p_reader = p_sender then
        v_reader := v_sender;
    else
        update user_stream set last_seq = last_seq + 1 where user_id = p_reader
            returning last_seq into v_reader;
        insert into receipt (user_id, seq, message_id, sender_id, reader_id, read_at)
        values (p_reader, v_reader, p_message, p_sender, p_reader, p_read_at);
    end if;
    insert into receipt (user_id, seq, message_id, sender_id, reader_id, read_at)
    values (p_sender, v_sender, p_message, p_sender, p_reader, p_read_at);
    return query select v_sender, v_reader;
end;
$$;
