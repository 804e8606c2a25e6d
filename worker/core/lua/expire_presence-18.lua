--[[
  The sweep's step for one due entry of presenceDue (docs/DESIGN.md, "Presence timeout"): if the agent is
  still Online, the account still has a timeout and no heartbeat came since (last heartbeat + timeout <=
  now), the agent is set Offline (keeping their place, like any Offline) with agent.status_changed, actor_id
  null, reason presence_timeout. Otherwise the entry is re-filed at its true time or dropped. Their
  tickets stay theirs. Idempotent: sweeps of several workers may race on one entry.

  Input:
    KEYS[1] users       {rr:pNN}:a:<acct>:users         hash user → role
    KEYS[2] online      {rr:pNN}:a:<acct>:online        zset Online agents by rotation place
    KEYS[3] ready       {rr:pNN}:a:<acct>:ready         zset Online agents below capacity (left with Online)
    KEYS[4] heartbeats  {rr:pNN}:a:<acct>:heartbeats    hash user → last heartbeat ms
    KEYS[5] settings    {rr:pNN}:a:<acct>:settings      hash presence_timeout (seconds)
    KEYS[6] presenceDue {rr:pNN}:presence_due           zset '<acct> <agent>' → ms presence times out
    KEYS[7] events      {rr:pNN}:a:<acct>:events        account stream
    KEYS[8] pevents     {rr:pNN}:events                 partition stream
    KEYS[9] offlineSince {rr:pNN}:a:<acct>:offline_since hash agent → ms they went Offline (reassign-away)
    KEYS[10] agentChannels {rr:pNN}:a:<acct>:agent_channels  hash agent → channels taken (per-channel pools)
    KEYS[11] poolEmail {rr:pNN}:a:<acct>:pool:email  zset Online agents taking email, by place
    KEYS[12] poolWebchat {rr:pNN}:a:<acct>:pool:webchat  zset Online agents taking webchat, by place
    KEYS[13] poolSms {rr:pNN}:a:<acct>:pool:sms  zset Online agents taking sms, by place
    KEYS[14] poolSocial {rr:pNN}:a:<acct>:pool:social  zset Online agents taking social, by place
    KEYS[15] waitEmail {rr:pNN}:a:<acct>:waiting:email  zset waiting email tickets by created_at ms
    KEYS[16] waitWebchat {rr:pNN}:a:<acct>:waiting:webchat  zset waiting webchat tickets by created_at ms
    KEYS[17] waitSms {rr:pNN}:a:<acct>:waiting:sms  zset waiting sms tickets by created_at ms
    KEYS[18] waitSocial {rr:pNN}:a:<acct>:waiting:social  zset waiting social tickets by created_at ms

    ARGV[1] account id  ARGV[2] user id  ARGV[3] now ms  ARGV[4] now ISO  ARGV[5] event id
    ARGV[6] account stream MAXLEN  ARGV[7] partition stream MAXLEN

  Output:
    {went_offline (1|0)}
]]
local usersKey, onlineKey, readyKey, heartbeatsKey, settingsKey = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local presenceDueKey = KEYS[6]
local accountId, userId, nowMs, nowIso = ARGV[1], ARGV[2], tonumber(ARGV[3]), ARGV[4]
local member = accountId .. ' ' .. userId

local timeout = tonumber(rcall('HGET', settingsKey, 'presence_timeout') or '')
if not timeout or not rcall('ZSCORE', onlineKey, userId) then
  rcall('ZREM', presenceDueKey, member)
  return {0}
end
local due = tonumber(rcall('HGET', heartbeatsKey, userId) or '0') + timeout * 1000
if due > nowMs then
  rcall('ZADD', presenceDueKey, due, member)
  return {0}
end
rcall('ZREM', onlineKey, userId)
rcall('ZREM', readyKey, userId)
drop_from_pools(channel_block(10), userId)
rcall('ZREM', presenceDueKey, member)
rcall('HSET', KEYS[9], userId, nowMs)
emit(KEYS[7], KEYS[8], accountId, ARGV[6], ARGV[7], ARGV[5], 'agent.status_changed', nowIso,
     {user_id = userId, status = 'offline', actor_id = cjson.null, reason = 'presence_timeout'}, nil)
return {1}
