-- Read only. ARGV[4..] = users. Returns, per user, { online (0/1), last seen
-- micros or "" }: online while connected or within grace (the status its
-- contacts were last told).
local out = {}
for i = 4, #ARGV do
  local user = ARGV[i]
  local online = redis.call('HEXISTS', P .. 'conns', user) == 1
    or redis.call('ZSCORE', P .. 'leaving', user) ~= false
  local seen = redis.call('GET', P .. 'seen:' .. user) or ''
  table.insert(out, { online and 1 or 0, seen })
end
return out
