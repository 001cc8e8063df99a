-- A connection opened or closed. ARGV[4] = gateway, ARGV[5] = user,
-- ARGV[6] = the user's connections on that gateway now, ARGV[7] = seq,
-- ARGV[8] = ms a gateway not heard from before lives without a heartbeat.
-- Returns the users who came online.
local gw, user = ARGV[4], ARGV[5]
local count, seq = tonumber(ARGV[6]), tonumber(ARGV[7])
if redis.call('ZSCORE', P .. 'dead', gw) then
  return came_online
end
-- Tracked from its first event, so a gateway that dies before its first
-- heartbeat still expires.
redis.call('ZADD', P .. 'gateways', 'NX', NOW + tonumber(ARGV[8]), gw)
local floor = tonumber(redis.call('HGET', P .. 'gw:' .. gw .. ':floors', bucket(user)) or '0')
local skey = P .. 'gw:' .. gw .. ':seq'
local last = tonumber(redis.call('HGET', skey, user) or '0')
if seq <= floor or seq <= last then
  return came_online
end
redis.call('HSET', skey, user, ARGV[7])
set_count(gw, user, count)
return came_online
