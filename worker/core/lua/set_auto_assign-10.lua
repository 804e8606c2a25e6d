--[[
  Turn the release of the waiting queue on or off (owner, admin or manager). Refused while the account
  has no capacity of its own ('*' in the capacity hash): without a cap the first agent Online would take
  the whole queue. Turning it on releases at once when tickets wait and an agent has room, and notes the
  next after-hours opening as due.

  Input:
    KEYS[1] users       {rr:pNN}:a:<acct>:users           hash user → role
    KEYS[2] settings    {rr:pNN}:a:<acct>:settings        hash auto_assign, round_robin
    KEYS[3] capacity    {rr:pNN}:a:<acct>:capacity        hash '*' / agent → capacity
    KEYS[4] waiting     {rr:pNN}:a:<acct>:waiting         zset releasable waiting tickets by created_at ms
    KEYS[5] later       {rr:pNN}:a:<acct>:later           zset after-hours tickets by available_at ms
    KEYS[6] ready       {rr:pNN}:a:<acct>:ready           zset Online agents below capacity by place
    KEYS[7] releaseDue  {rr:pNN}:release_due              zset account → ms a release is owed from
    KEYS[8] lease       {rr:pNN}:a:<acct>:release:lease   set while a release is queued or running
    KEYS[9] events      {rr:pNN}:a:<acct>:events          account stream
    KEYS[10] pevents    {rr:pNN}:events                   partition stream

    ARGV[1] account id  ARGV[2] actor id  ARGV[3] 'on' | 'off'  ARGV[4] now ISO  ARGV[5] event id
    ARGV[6] account stream MAXLEN  ARGV[7] partition stream MAXLEN  ARGV[8] now ms  ARGV[9] release lease (ms)

  Output:
    {changed (1|0), ring}: ring 1 when the caller must enqueue a release.
    errors 'RR_UNKNOWN_USER ...', 'RR_FORBIDDEN ...', 'RR_REFUSED ...' (on without an account capacity).
]]
local usersKey, settingsKey, capacityKey, waitingKey, laterKey = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local readyKey, releaseDueKey, leaseKey = KEYS[6], KEYS[7], KEYS[8]
local accountId, actorId, value, nowIso = ARGV[1], ARGV[2], ARGV[3], ARGV[4]

local err = require_manager(usersKey, actorId, 'turn auto-assign on or off')
if err then return redis.error_reply(err) end
local current = rcall('HGET', settingsKey, 'auto_assign') or 'off'
if current == value then return {0, 0} end
if value == 'on' and not rcall('HGET', capacityKey, '*') then
  return redis.error_reply('RR_REFUSED account ' .. accountId .. ' has no capacity: without a cap the first ' ..
                           'agent Online would take the whole waiting queue; set one first (helpdesk-rr capacity)')
end
rcall('HSET', settingsKey, 'auto_assign', value)
emit(KEYS[9], KEYS[10], accountId, ARGV[6], ARGV[7], ARGV[5], 'settings.changed', nowIso,
     {actor_id = actorId}, '"changes":{"auto_assign":"' .. value .. '"}')
local ring = 0
if value == 'on' then
  local nextLater = rcall('ZRANGE', laterKey, 0, 0, 'WITHSCORES')
  if #nextLater > 0 then release_due_at(releaseDueKey, accountId, nextLater[2]) end
  ring = ring_release(settingsKey, waitingKey, readyKey, releaseDueKey, leaseKey, accountId, tonumber(ARGV[8]),
                      ARGV[9])
else
  rcall('ZREM', releaseDueKey, accountId)
end
return {1, ring}
