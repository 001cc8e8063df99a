-- Run often by every replica. Reaps gateways whose heartbeat expired (their
-- users lose those connections, with no further grace: they have been gone
-- for the gateway's whole TTL), then pops the users whose grace ran out.
-- ARGV[4] = tombstone retention in ms, ARGV[5] = most users popped.
-- Returns { came_online, went_offline }.
local reaped = redis.call('ZRANGEBYSCORE', P .. 'gateways', '-inf', NOW, 'LIMIT', 0, 16)
local grace = GRACE
GRACE = 0
for _, gw in ipairs(reaped) do
  for b = 0, BUCKETS - 1 do
    for _, user in ipairs(redis.call('HKEYS', gw_key(gw, b))) do
      set_count(gw, user, 0)
    end
    redis.call('DEL', gw_key(gw, b))
  end
  redis.call('DEL', P .. 'gw:' .. gw .. ':seq', P .. 'gw:' .. gw .. ':floors')
  redis.call('ZREM', P .. 'gateways', gw)
  redis.call('ZADD', P .. 'dead', NOW, gw)
end
GRACE = grace
redis.call('ZREMRANGEBYSCORE', P .. 'dead', '-inf', NOW - tonumber(ARGV[4]))
local gone = redis.call('ZRANGEBYSCORE', P .. 'leaving', '-inf', NOW, 'LIMIT', 0, tonumber(ARGV[5]))
if #gone > 0 then
  redis.call('ZREM', P .. 'leaving', unpack(gone))
end
return { came_online, gone }
