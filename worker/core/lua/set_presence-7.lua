--[[
  Set or clear the account's presence timeout (owner, admin or manager): with one, an Online agent
  without a heartbeat for that long is set Offline by the workers' sweep (expire_presence). Every Online
  agent is (re)filed in presenceDue at their last heartbeat (or now, if they never sent one) + the new
  timeout, or taken out when it is cleared: a few commands per Online agent, like a capacity change.

  Input:
    KEYS[1] users       {rr:pNN}:a:<acct>:users         hash user → role
    KEYS[2] settings    {rr:pNN}:a:<acct>:settings      hash presence_timeout (seconds)
    KEYS[3] online      {rr:pNN}:a:<acct>:online        zset Online agents by rotation place
    KEYS[4] heartbeats  {rr:pNN}:a:<acct>:heartbeats    hash user → last heartbeat ms
    KEYS[5] presenceDue {rr:pNN}:presence_due           zset '<acct> <agent>' → ms presence times out
    KEYS[6] events      {rr:pNN}:a:<acct>:events        account stream
    KEYS[7] pevents     {rr:pNN}:events                 partition stream

    ARGV[1] account id  ARGV[2] actor id  ARGV[3] timeout in whole seconds (>= 1) or '' to clear
    ARGV[4] now ISO  ARGV[5] event id  ARGV[6] account stream MAXLEN  ARGV[7] partition stream MAXLEN
    ARGV[8] now ms

  Output:
    {changed (1|0)}; errors 'RR_UNKNOWN_USER ...', 'RR_FORBIDDEN ...'.
]]
local usersKey, settingsKey, onlineKey, heartbeatsKey, presenceDueKey = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local accountId, actorId, value, nowIso, nowMs = ARGV[1], ARGV[2], ARGV[3], ARGV[4], tonumber(ARGV[8])

local err = require_manager(usersKey, actorId, 'set the presence timeout')
if err then return redis.error_reply(err) end
local current = rcall('HGET', settingsKey, 'presence_timeout') or ''
if current == value then return {0} end
if value == '' then
  rcall('HDEL', settingsKey, 'presence_timeout')
else
  rcall('HSET', settingsKey, 'presence_timeout', value)
end
local from = 0
while true do
  local online = rcall('ZRANGE', onlineKey, from, from + 999)
  if #online == 0 then break end
  local beats = rcall('HMGET', heartbeatsKey, unpack(online))
  for i, agentId in ipairs(online) do
    if value == '' then
      unfile_presence(presenceDueKey, accountId, agentId)
    else
      rcall('ZADD', presenceDueKey, tonumber(beats[i] or nowMs) + tonumber(value) * 1000, accountId .. ' ' .. agentId)
    end
  end
  from = from + 1000
end
local shown = 'null'
if value ~= '' then shown = value end
emit(KEYS[6], KEYS[7], accountId, ARGV[6], ARGV[7], ARGV[5], 'settings.changed', nowIso,
     {actor_id = actorId}, '"changes":{"presence_timeout_seconds":' .. shown .. '}')
return {1}
