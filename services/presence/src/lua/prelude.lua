-- Shared by every presence script. ARGV[1] = key prefix (REDIS_KEY_PREFIX ..
-- "presence:"), ARGV[2] = grace in ms, ARGV[3] = last_seen retention in ms.
-- Keys (P = prefix):
--   P.."conns"        hash  user -> open connections across all gateways (> 0 only)
--   P.."leaving"      zset  user -> ms when its offline is announced (in grace)
--   P.."gateways"     zset  gateway -> ms when it expires without a heartbeat
--   P.."dead"         zset  gateway -> ms it was reaped (its late events are ignored)
--   P.."gw:"..g..":"..b  hash user -> open connections on gateway g, for the
--                     users of bucket b (0-15: the last hex digit of the id)
--   P.."gw:"..g..":floors" hash bucket -> seq of the newest heartbeat applied to it
--   P.."gw:"..g..":seq"    hash user -> seq of the newest event applied (newer than its floor)
--   P.."seen:"..user  string micros of the user's last connect or disconnect
-- Users are 32 lowercase hex digits.
-- The clock is Redis's own (TIME), so replicas on skewed hosts agree.
local P = ARGV[1]
local GRACE = tonumber(ARGV[2])
local SEEN_TTL = ARGV[3]
local t = redis.call('TIME')
local NOW = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local NOW_US = t[1] .. string.format('%06d', tonumber(t[2]))
local came_online = {}

local BUCKETS = 16

local function bucket(user)
  return tonumber(string.sub(user, -1), 16) or 0
end

local function gw_key(gw, b)
  return P .. 'gw:' .. gw .. ':' .. b
end

-- Sets a user's connection count on one gateway, keeping the total in step.
-- 0 -> n: online (announced unless the user is still within grace);
-- n -> 0: the offline is announced by the sweeper once the grace has passed.
local function set_count(gw, user, count)
  local gkey = gw_key(gw, bucket(user))
  local old = tonumber(redis.call('HGET', gkey, user) or '0')
  if count == old then
    return
  end
  if count > 0 then
    redis.call('HSET', gkey, user, count)
  else
    redis.call('HDEL', gkey, user)
  end
  local before = tonumber(redis.call('HGET', P .. 'conns', user) or '0')
  local total = redis.call('HINCRBY', P .. 'conns', user, count - old)
  if total <= 0 then
    redis.call('HDEL', P .. 'conns', user)
    if before > 0 then
      redis.call('ZADD', P .. 'leaving', NOW + GRACE, user)
      redis.call('SET', P .. 'seen:' .. user, NOW_US, 'PX', SEEN_TTL)
    end
  elseif before <= 0 then
    if redis.call('ZREM', P .. 'leaving', user) == 0 then
      table.insert(came_online, user)
    end
    redis.call('SET', P .. 'seen:' .. user, NOW_US, 'PX', SEEN_TTL)
  end
end
