--[[
  Set or clear a capacity (owner, admin or manager): the account's (target '*') or one agent's
  override (docs/DESIGN.md, "Capacity and the waiting queue"). Keeps the ready zset exactly the Online
  agents below their capacity: built from the Online agents when the account's value changes or the
  first capacity appears, gone when the last one is cleared. The account's value cannot be cleared
  while auto-assign is on (without a cap the first agent Online would take the whole queue).

  Input:
    KEYS[1] users       {rr:pNN}:a:<acct>:users           hash user → role
    KEYS[2] capacity    {rr:pNN}:a:<acct>:capacity        hash '*' / agent → capacity
    KEYS[3] online      {rr:pNN}:a:<acct>:online          zset Online agents by rotation place
    KEYS[4] load        {rr:pNN}:a:<acct>:load            hash agent → open tickets assigned
    KEYS[5] ready       {rr:pNN}:a:<acct>:ready           zset Online agents below capacity by place
    KEYS[6] settings    {rr:pNN}:a:<acct>:settings        hash auto_assign, round_robin
    KEYS[7] waiting     {rr:pNN}:a:<acct>:waiting         zset releasable waiting tickets by created_at ms
    KEYS[8] releaseDue  {rr:pNN}:release_due              zset account → ms a release is owed from
    KEYS[9] lease       {rr:pNN}:a:<acct>:release:lease   set while a release is queued or running
    KEYS[10] events     {rr:pNN}:a:<acct>:events          account stream
    KEYS[11] pevents    {rr:pNN}:events                   partition stream
    KEYS[12] agentChannels {rr:pNN}:a:<acct>:agent_channels  hash agent → channels taken (per-channel pools)
    KEYS[13] poolEmail {rr:pNN}:a:<acct>:pool:email  zset Online agents taking email, by place
    KEYS[14] poolWebchat {rr:pNN}:a:<acct>:pool:webchat  zset Online agents taking webchat, by place
    KEYS[15] poolSms {rr:pNN}:a:<acct>:pool:sms  zset Online agents taking sms, by place
    KEYS[16] poolSocial {rr:pNN}:a:<acct>:pool:social  zset Online agents taking social, by place
    KEYS[17] waitEmail {rr:pNN}:a:<acct>:waiting:email  zset waiting email tickets by created_at ms
    KEYS[18] waitWebchat {rr:pNN}:a:<acct>:waiting:webchat  zset waiting webchat tickets by created_at ms
    KEYS[19] waitSms {rr:pNN}:a:<acct>:waiting:sms  zset waiting sms tickets by created_at ms
    KEYS[20] waitSocial {rr:pNN}:a:<acct>:waiting:social  zset waiting social tickets by created_at ms

    ARGV[1] account id  ARGV[2] actor id  ARGV[3] '*' (the account's) or an agent id
    ARGV[4] capacity (a whole number >= 1, validated by the caller) or '' to clear
    ARGV[5] now ISO  ARGV[6] event id  ARGV[7] account stream MAXLEN  ARGV[8] partition stream MAXLEN
    ARGV[9] now ms   ARGV[10] release lease (ms)

  Output:
    {changed (1|0), ring}: ring 1 when the caller must enqueue a release (room appeared, auto-assign on).
    errors 'RR_UNKNOWN_USER ...', 'RR_FORBIDDEN ...' (actor below manager; target below agent),
    'RR_REFUSED ...' (clearing the account's capacity while auto-assign is on).
]]
local usersKey, capacityKey, onlineKey, loadKey, readyKey = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local settingsKey, waitingKey, releaseDueKey, leaseKey = KEYS[6], KEYS[7], KEYS[8], KEYS[9]
local accountId, actorId, target, value, nowIso = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]

local err = require_manager(usersKey, actorId, 'set capacity')
if err then return redis.error_reply(err) end
if target ~= '*' then
  local role
  role, err = role_of(usersKey, target)
  if err then return redis.error_reply(err) end
  if ROLE_RANK[role] < ROLE_RANK['agent'] then
    return redis.error_reply('RR_FORBIDDEN ' .. target .. ' is ' .. a_role(role) ..
                             '; only agents and higher take tickets, so only they have a capacity')
  end
end
local current = rcall('HGET', capacityKey, target) or ''
if current == value then return {0, 0} end
if target == '*' and value == '' and rcall('HGET', settingsKey, 'auto_assign') == 'on' then
  return redis.error_reply('RR_REFUSED auto-assign is on: without an account capacity the first agent Online ' ..
                           'would take the whole waiting queue; turn auto-assign off first')
end
local wasCapped = rcall('EXISTS', capacityKey) == 1
if value == '' then
  rcall('HDEL', capacityKey, target)
else
  rcall('HSET', capacityKey, target, value)
end

local cb = channel_block(12)
if rcall('EXISTS', capacityKey) == 0 then
  rcall('DEL', readyKey)
  rebuild_pools(cb, capacityKey, readyKey, onlineKey)
elseif target == '*' or not wasCapped then
  -- Rebuild from the Online agents, 1,000 at a time (a few commands per agent).
  rcall('DEL', readyKey)
  local accountCap = tonumber(rcall('HGET', capacityKey, '*') or '')
  local from = 0
  while true do
    local online = rcall('ZRANGE', onlineKey, from, from + 999, 'WITHSCORES')
    if #online == 0 then break end
    local ids = {}
    for i = 1, #online, 2 do ids[#ids + 1] = online[i] end
    local loads = rcall('HMGET', loadKey, unpack(ids))
    local caps = rcall('HMGET', capacityKey, unpack(ids))
    local add = {}
    for j, agentId in ipairs(ids) do
      local cap = tonumber(caps[j] or '') or accountCap
      if cap == nil or tonumber(loads[j] or '0') < cap then
        add[#add + 1] = online[2 * j]
        add[#add + 1] = agentId
      end
    end
    if #add > 0 then rcall('ZADD', readyKey, unpack(add)) end
    from = from + 1000
  end
  rebuild_pools(cb, capacityKey, readyKey, onlineKey)
else
  upkeep(capacityKey, readyKey, onlineKey, loadKey, cb, target)
end

local shown = 'null'
if value ~= '' then shown = value end
local change
if target == '*' then
  change = '"changes":{"capacity":' .. shown .. '}'
else
  change = '"changes":{"agent_capacity":{"user_id":"' .. target .. '","capacity":' .. shown .. '}}'
end
emit(KEYS[10], KEYS[11], accountId, ARGV[7], ARGV[8], ARGV[6], 'settings.changed', nowIso,
     {actor_id = actorId}, change)
local ring = ring_release(settingsKey, waitingKey, readyKey, releaseDueKey, leaseKey, accountId, tonumber(ARGV[9]),
                          ARGV[10])
return {1, ring}
