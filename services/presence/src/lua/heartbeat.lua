-- A gateway's heartbeat: it is alive, and these are all the counts of its
-- users in the covered buckets as of seq. ARGV[4] = gateway, ARGV[5] = seq,
-- ARGV[6] = ms until it expires, ARGV[7] = bucket mask, ARGV[8..] = user,
-- count pairs. Returns the users who came online.
local gw, seq, mask = ARGV[4], tonumber(ARGV[5]), tonumber(ARGV[7])
redis.call('ZREM', P .. 'dead', gw)
redis.call('ZADD', P .. 'gateways', NOW + tonumber(ARGV[6]), gw)
local fkey = P .. 'gw:' .. gw .. ':floors'
-- The covered buckets this heartbeat is the newest word on.
local applies = {}
for b = 0, BUCKETS - 1 do
  if bit.band(mask, bit.lshift(1, b)) ~= 0 then
    local floor = tonumber(redis.call('HGET', fkey, b) or '0')
    if seq > floor then
      applies[b] = true
      redis.call('HSET', fkey, b, ARGV[5])
    end
  end
end
local counts = {}
for i = 8, #ARGV - 1, 2 do
  if applies[bucket(ARGV[i])] then
    counts[ARGV[i]] = tonumber(ARGV[i + 1])
  end
end
-- A user held for this gateway but missing from the heartbeat has no connection there.
for b in pairs(applies) do
  for _, user in ipairs(redis.call('HKEYS', gw_key(gw, b))) do
    if counts[user] == nil then
      counts[user] = 0
    end
  end
end
local skey = P .. 'gw:' .. gw .. ':seq'
local newer = {}
local seqs = redis.call('HGETALL', skey)
for i = 1, #seqs - 1, 2 do
  if applies[bucket(seqs[i])] then
    if tonumber(seqs[i + 1]) > seq then
      newer[seqs[i]] = true
    else
      redis.call('HDEL', skey, seqs[i])
    end
  end
end
for user, count in pairs(counts) do
  -- An event newer than the heartbeat already set this user's count.
  if not newer[user] then
    set_count(gw, user, count)
  end
end
return came_online
