-- Read only. How many users are online: connected, or within grace.
return redis.call('HLEN', P .. 'conns') + redis.call('ZCARD', P .. 'leaving')
