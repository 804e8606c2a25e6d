--[[
  Turn the account's round robin on or off (owner, admin or manager only).

  Input:
    KEYS[1] users    {rr:pNN}:a:<acct>:users     hash user → role
    KEYS[2] settings {rr:pNN}:a:<acct>:settings  hash round_robin
    KEYS[3] events   {rr:pNN}:a:<acct>:events    account stream
    KEYS[4] pevents  {rr:pNN}:events             partition stream

    ARGV[1] account id  ARGV[2] actor id  ARGV[3] 'on' | 'off'  ARGV[4] now ISO  ARGV[5] event id
    ARGV[6] account stream MAXLEN   ARGV[7] partition stream MAXLEN

  Output:
    {changed (1|0)}; errors 'RR_UNKNOWN_USER ...', 'RR_FORBIDDEN ...'.
]]
local usersKey, settingsKey, eventsKey, partitionEventsKey = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local accountId, actorId, value, nowIso = ARGV[1], ARGV[2], ARGV[3], ARGV[4]

local err = require_manager(usersKey, actorId, 'turn round robin on or off')
if err then return redis.error_reply(err) end
local current = rcall('HGET', settingsKey, 'round_robin') or 'off'
if current == value then return {0} end
rcall('HSET', settingsKey, 'round_robin', value)
emit(eventsKey, partitionEventsKey, accountId, ARGV[6], ARGV[7], ARGV[5], 'settings.changed', nowIso,
     {actor_id = actorId}, '"changes":{"round_robin":"' .. value .. '"}')
return {1}
