--[[
  Create or update a user's role (operator provisioning). A user demoted to viewer while Online is
  taken Offline (they can no longer be in the pool), with an agent.status_changed event whose
  actor_id is null.

  Input:
    KEYS[1] users    {rr:pNN}:a:<acct>:users   hash user → role
    KEYS[2] online   {rr:pNN}:a:<acct>:online  zset Online agents
    KEYS[3] events   {rr:pNN}:a:<acct>:events  account stream
    KEYS[4] pevents  {rr:pNN}:events           partition stream
    KEYS[5] accounts {rr:pNN}:accounts         set of the partition's accounts (for metrics)
    KEYS[6] ready    {rr:pNN}:a:<acct>:ready   zset Online agents below capacity (left with Online)
    KEYS[7] presenceDue {rr:pNN}:presence_due  zset '<acct> <agent>' → ms presence times out (left with Online)
    KEYS[8] offlineSince {rr:pNN}:a:<acct>:offline_since hash agent → ms they went Offline (reassign-away)
    KEYS[9] agentChannels {rr:pNN}:a:<acct>:agent_channels  hash agent → channels taken (per-channel pools)
    KEYS[10] poolEmail {rr:pNN}:a:<acct>:pool:email  zset Online agents taking email, by place
    KEYS[11] poolWebchat {rr:pNN}:a:<acct>:pool:webchat  zset Online agents taking webchat, by place
    KEYS[12] poolSms {rr:pNN}:a:<acct>:pool:sms  zset Online agents taking sms, by place
    KEYS[13] poolSocial {rr:pNN}:a:<acct>:pool:social  zset Online agents taking social, by place
    KEYS[14] waitEmail {rr:pNN}:a:<acct>:waiting:email  zset waiting email tickets by created_at ms
    KEYS[15] waitWebchat {rr:pNN}:a:<acct>:waiting:webchat  zset waiting webchat tickets by created_at ms
    KEYS[16] waitSms {rr:pNN}:a:<acct>:waiting:sms  zset waiting sms tickets by created_at ms
    KEYS[17] waitSocial {rr:pNN}:a:<acct>:waiting:social  zset waiting social tickets by created_at ms

    ARGV[1] account id  ARGV[2] user id  ARGV[3] role (validated by the caller)  ARGV[4] now ISO
    ARGV[5] event id    ARGV[6] account stream MAXLEN   ARGV[7] partition stream MAXLEN   ARGV[8] now ms

  Output:
    {previous role or '', went_offline (1|0)}
]]
local usersKey, onlineKey, eventsKey, partitionEventsKey = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local accountId, userId, role, nowIso = ARGV[1], ARGV[2], ARGV[3], ARGV[4]

local previous = rcall('HGET', usersKey, userId) or ''
rcall('HSET', usersKey, userId, role)
rcall('SADD', KEYS[5], accountId)
if ROLE_RANK[role] < ROLE_RANK['agent'] and rcall('ZREM', onlineKey, userId) == 1 then
  rcall('ZREM', KEYS[6], userId)
  drop_from_pools(channel_block(9), userId)
  unfile_presence(KEYS[7], accountId, userId)
  rcall('HSET', KEYS[8], userId, ARGV[8])
  emit(eventsKey, partitionEventsKey, accountId, ARGV[6], ARGV[7], ARGV[5], 'agent.status_changed', nowIso,
       {user_id = userId, status = 'offline', actor_id = cjson.null, reason = 'role_change'}, nil)
  return {previous, 1}
end
return {previous, 0}
