--[[
  Set a user's Online/Offline status, enforcing the role rules. Going Offline keeps the agent's
  rotation place; an agent never assigned before joins at the back of the line. Going Online counts as a
  heartbeat (presence timeout); going Offline takes the agent out of the presence sweep. Going Online with room
  below capacity may start a release of the waiting queue (auto-assign on): the reply says to enqueue it.

  Input:
    KEYS[1] users       {rr:pNN}:a:<acct>:users                    hash user → role
    KEYS[2] online      {rr:pNN}:a:<acct>:online                   zset Online agents by rotation place
    KEYS[3] places      {rr:pNN}:a:<acct>:places                   hash agent → rotation place
    KEYS[4] seq         {rr:pNN}:a:<acct>:seq                      counter of rotation places
    KEYS[5] events      {rr:pNN}:a:<acct>:events                   account stream
    KEYS[6] pevents     {rr:pNN}:events                            partition stream
    KEYS[7] statsOnline {rr:pNN}:a:<acct>:stats:<DAY>:online:<HH>  agents Online in this hour
    KEYS[8] load        {rr:pNN}:a:<acct>:load                     hash agent → open tickets assigned
    KEYS[9] capacity    {rr:pNN}:a:<acct>:capacity                 hash '*' / agent → capacity
    KEYS[10] ready      {rr:pNN}:a:<acct>:ready                    zset Online agents below capacity by place
    KEYS[11] settings   {rr:pNN}:a:<acct>:settings                 hash auto_assign, round_robin
    KEYS[12] waiting    {rr:pNN}:a:<acct>:waiting                  zset releasable waiting tickets by created_at ms
    KEYS[13] releaseDue {rr:pNN}:release_due                       zset account → ms a release is owed from
    KEYS[14] lease      {rr:pNN}:a:<acct>:release:lease            set while a release is queued or running
    KEYS[15] heartbeats {rr:pNN}:a:<acct>:heartbeats               hash user → last heartbeat ms
    KEYS[16] presenceDue {rr:pNN}:presence_due                     zset '<acct> <agent>' → ms presence times out
    KEYS[17] offlineSince {rr:pNN}:a:<acct>:offline_since          hash agent → ms they went Offline (reassign-away)
    KEYS[18] agentChannels {rr:pNN}:a:<acct>:agent_channels  hash agent → channels taken (per-channel pools)
    KEYS[19] poolEmail {rr:pNN}:a:<acct>:pool:email  zset Online agents taking email, by place
    KEYS[20] poolWebchat {rr:pNN}:a:<acct>:pool:webchat  zset Online agents taking webchat, by place
    KEYS[21] poolSms {rr:pNN}:a:<acct>:pool:sms  zset Online agents taking sms, by place
    KEYS[22] poolSocial {rr:pNN}:a:<acct>:pool:social  zset Online agents taking social, by place
    KEYS[23] waitEmail {rr:pNN}:a:<acct>:waiting:email  zset waiting email tickets by created_at ms
    KEYS[24] waitWebchat {rr:pNN}:a:<acct>:waiting:webchat  zset waiting webchat tickets by created_at ms
    KEYS[25] waitSms {rr:pNN}:a:<acct>:waiting:sms  zset waiting sms tickets by created_at ms
    KEYS[26] waitSocial {rr:pNN}:a:<acct>:waiting:social  zset waiting social tickets by created_at ms

    ARGV[1] account id  ARGV[2] user id  ARGV[3] 'online' | 'offline'  ARGV[4] actor id
    ARGV[5] now ISO     ARGV[6] event id ARGV[7] account stream MAXLEN   ARGV[8] partition stream MAXLEN
    ARGV[9] seconds to keep the statsOnline key (the retention counted from the end of the day it holds)
    ARGV[10] now ms   ARGV[11] release lease (ms)

  Output:
    {changed (1|0), status, ring}; nothing is written or emitted when the status is already that; ring 1
    when the caller must enqueue a release of the account (it took the release lease).
    errors: 'RR_UNKNOWN_USER ...' (user or actor), 'RR_FORBIDDEN ...' (agent setting another user,
    or a viewer going Online).
]]
local usersKey, onlineKey, placesKey, seqKey, eventsKey, partitionEventsKey =
  KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6]
local accountId, userId, status, actorId, nowIso = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local cb = channel_block(18)

local actorRole, err = role_of(usersKey, actorId)
if err then return redis.error_reply(err) end
local userRole
userRole, err = role_of(usersKey, userId)
if err then return redis.error_reply(err) end
if actorId ~= userId and ROLE_RANK[actorRole] < ROLE_RANK['manager'] then
  return redis.error_reply('RR_FORBIDDEN ' .. actorId .. ' is ' .. a_role(actorRole) ..
                           '; only owner, admin or manager may set another user\'s status')
end

local isOnline = rcall('ZSCORE', onlineKey, userId)
if status == 'online' then
  if ROLE_RANK[userRole] < ROLE_RANK['agent'] then
    return redis.error_reply('RR_FORBIDDEN ' .. userId .. ' is a viewer; only agent or higher can go online')
  end
  if isOnline then return {0, status, 0} end
  local place = rcall('HGET', placesKey, userId)
  if not place then
    place = rcall('INCR', seqKey)
    rcall('HSET', placesKey, userId, place)
  end
  rcall('ZADD', onlineKey, place, userId)
  rcall('SADD', KEYS[7], userId)
  rcall('EXPIRE', KEYS[7], ARGV[9])
  upkeep(KEYS[9], KEYS[10], onlineKey, KEYS[8], cb, userId)
  rcall('HSET', KEYS[15], userId, ARGV[10])
  file_presence(KEYS[11], KEYS[16], accountId, userId, tonumber(ARGV[10]))
  rcall('HDEL', KEYS[17], userId)
else
  if not isOnline then return {0, status, 0} end
  rcall('ZREM', onlineKey, userId)
  rcall('ZREM', KEYS[10], userId)
  drop_from_pools(cb, userId)
  unfile_presence(KEYS[16], accountId, userId)
  rcall('HSET', KEYS[17], userId, ARGV[10])
end
emit(eventsKey, partitionEventsKey, accountId, ARGV[7], ARGV[8], ARGV[6], 'agent.status_changed', nowIso,
     {user_id = userId, status = status, actor_id = actorId, reason = 'manual'}, nil)
local ring = 0
if status == 'online' then
  ring = ring_release(KEYS[11], KEYS[12], KEYS[10], KEYS[13], KEYS[14], accountId, tonumber(ARGV[10]), ARGV[11])
end
return {1, status, ring}
