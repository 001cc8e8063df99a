-- Private messages. Content rests only as an AES-256-GCM envelope (key id,
-- nonce, ciphertext, tag) bound to message_id; there is no plaintext column.
create table message (
    message_id uuid primary key,
    sender_id uuid not null,
    receiver_id uuid not null,
    client_msg_id text,
    message_type smallint not null default 0,
    content_enc bytea not null,
    created_at timestamptz not null,
    delivered_at timestamptz,
    read_at timestamptz,
    -- The same client_msg_id from the same sender is accepted once.
    constraint message_sender_client_msg_id unique (sender_id, client_msg_id)
);

-- History between two users, newest first.
create index message_conversation_idx
    on message (least(sender_id, receiver_id), greatest(sender_id, receiver_id), message_id desc);
-- Sync and conversations: every message to or from a user, in id order.
create index message_sender_idx on message (sender_id, message_id);
create index message_receiver_idx on message (receiver_id, message_id);
-- The pending queue's source of truth: undelivered rows per receiver.
create index message_undelivered_idx on message (receiver_id, message_id) where delivered_at is null;
-- Unread counts per conversation.
create index message_unread_idx on message (receiver_id, sender_id) where read_at is null;
