--[[
  Turn the account's round robin on or off (owner, admin or manager only).

  Input:
    KEYS[1] users    {rr:pNN}:a:<acct>:users     hash user → role
    KEYS[2] settings {rr:pNN}:a:<acct>:settings  hash round_robin
    KEYS[3] events   {rr:pNN}:a:<acct>:events    account stream
    KEYS[4] pevents  {rr:pNN}:events             partition stream
    KEYS[5] waiting     {rr:pNN}:a:<acct>:waiting         zset releasable waiting tickets by created_at ms
    KEYS[6] ready       {rr:pNN}:a:<acct>:ready           zset Online agents below capacity by place
    KEYS[7] releaseDue  {rr:pNN}:release_due              zset account → ms a release is owed from
    KEYS[8] lease       {rr:pNN}:a:<acct>:release:lease   set while a release is queued or running
    KEYS[9] later       {rr:pNN}:a:<acct>:later           zset after-hours tickets by available_at ms

    ARGV[1] account id  ARGV[2] actor id  ARGV[3] 'on' | 'off'  ARGV[4] now ISO  ARGV[5] event id
    ARGV[6] account stream MAXLEN   ARGV[7] partition stream MAXLEN   ARGV[8] now ms   ARGV[9] release lease (ms)

  Output:
    {changed (1|0), ring}: ring 1 when turning it on starts a release the caller must enqueue (turning it on
    also files the next after-hours opening as due, as turning auto-assign on does: one that passed while
    round robin was off is not lost); errors 'RR_UNKNOWN_USER ...', 'RR_FORBIDDEN ...'.
]]
local usersKey, settingsKey, eventsKey, partitionEventsKey = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local accountId, actorId, value, nowIso = ARGV[1], ARGV[2], ARGV[3], ARGV[4]

local err = require_manager(usersKey, actorId, 'turn round robin on or off')
if err then return redis.error_reply(err) end
local current = rcall('HGET', settingsKey, 'round_robin') or 'off'
if current == value then return {0, 0} end
rcall('HSET', settingsKey, 'round_robin', value)
emit(eventsKey, partitionEventsKey, accountId, ARGV[6], ARGV[7], ARGV[5], 'settings.changed', nowIso,
     {actor_id = actorId}, '"changes":{"round_robin":"' .. value .. '"}')
local ring = 0
if value == 'on' then
  local nextLater = rcall('ZRANGE', KEYS[9], 0, 0, 'WITHSCORES')
  if #nextLater > 0 and rcall('HGET', settingsKey, 'auto_assign') == 'on' then
    release_due_at(KEYS[7], accountId, nextLater[2])
  end
  ring = ring_release(settingsKey, KEYS[5], KEYS[6], KEYS[7], KEYS[8], accountId, tonumber(ARGV[8]), ARGV[9])
end
return {1, ring}
