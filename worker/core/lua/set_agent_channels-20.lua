--[[
  Set which channels an agent takes (owner, admin or manager; docs/DESIGN.md, "Per-channel pools"), or give
  them every channel again (ARGV[4] ''). The agent_channels hash holds only restricted agents: while it exists
  the per-channel pools are kept. The first restriction builds them from the Online agents (a few commands per
  Online agent, like a capacity change), removing the last one drops them, any other change re-files the one
  agent. Changing an agent's channels may give a waiting ticket someone with room: with auto-assign on, the
  release is rung.

  Input:
    KEYS[1] users       {rr:pNN}:a:<acct>:users           hash user → role
    KEYS[2] online      {rr:pNN}:a:<acct>:online          zset Online agents by rotation place
    KEYS[3] capacity    {rr:pNN}:a:<acct>:capacity        hash '*' / agent → capacity
    KEYS[4] ready       {rr:pNN}:a:<acct>:ready           zset Online agents below capacity by place
    KEYS[5] load        {rr:pNN}:a:<acct>:load            hash agent → open tickets assigned
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

    ARGV[1] account id  ARGV[2] actor id  ARGV[3] agent id
    ARGV[4] the channels, comma-separated in Channel order (validated by the caller; never all four), or '' for all
    ARGV[5] now ISO  ARGV[6] event id  ARGV[7] account stream MAXLEN  ARGV[8] partition stream MAXLEN
    ARGV[9] now ms   ARGV[10] release lease (ms)

  Output:
    {changed (1|0), ring}: ring 1 when the caller must enqueue a release (auto-assign on, room may have appeared).
    errors 'RR_UNKNOWN_USER ...', 'RR_FORBIDDEN ...' (actor below manager; target below agent).
]]
local usersKey, onlineKey, capacityKey, readyKey, loadKey = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local settingsKey, waitingKey, releaseDueKey, leaseKey = KEYS[6], KEYS[7], KEYS[8], KEYS[9]
local accountId, actorId, target, value, nowIso = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local cb = channel_block(12)

local err = require_manager(usersKey, actorId, 'set an agent\'s channels')
if err then return redis.error_reply(err) end
local role
role, err = role_of(usersKey, target)
if err then return redis.error_reply(err) end
if ROLE_RANK[role] < ROLE_RANK['agent'] then
  return redis.error_reply('RR_FORBIDDEN ' .. target .. ' is ' .. a_role(role) ..
                           '; only agents and higher take tickets, so only they have channels')
end
local current = rcall('HGET', cb.channels, target) or ''
if current == value then return {0, 0} end

local wasOn = pools_on(cb)
if value == '' then
  rcall('HDEL', cb.channels, target)
else
  rcall('HSET', cb.channels, target, value)
end
cb.on = nil  -- agent_channels changed: read it again
if wasOn ~= pools_on(cb) then
  rebuild_pools(cb, capacityKey, readyKey, onlineKey)  -- built for the first restriction, dropped with the last
else
  upkeep(capacityKey, readyKey, onlineKey, loadKey, cb, target)
end

local shown = 'null'
if value ~= '' then shown = '["' .. string.gsub(value, ',', '","') .. '"]' end
emit(KEYS[10], KEYS[11], accountId, ARGV[7], ARGV[8], ARGV[6], 'settings.changed', nowIso, {actor_id = actorId},
     '"changes":{"agent_channels":{"user_id":"' .. target .. '","channels":' .. shown .. '}}')
local ring = ring_release(settingsKey, waitingKey, readyKey, releaseDueKey, leaseKey, accountId, tonumber(ARGV[9]),
                          ARGV[10])
return {1, ring}
