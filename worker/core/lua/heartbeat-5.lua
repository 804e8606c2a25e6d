--[[
  A heartbeat: the platform says the user's app is open (docs/DESIGN.md, "Presence timeout"). Recorded
  for anyone; for an Online agent of an account with a presence timeout, their timeout moves to now +
  the timeout. A heartbeat never sets anyone Online (nobody is set Online automatically).

  Input:
    KEYS[1] users       {rr:pNN}:a:<acct>:users         hash user → role
    KEYS[2] online      {rr:pNN}:a:<acct>:online        zset Online agents by rotation place
    KEYS[3] heartbeats  {rr:pNN}:a:<acct>:heartbeats    hash user → last heartbeat ms
    KEYS[4] settings    {rr:pNN}:a:<acct>:settings      hash presence_timeout (seconds)
    KEYS[5] presenceDue {rr:pNN}:presence_due           zset '<acct> <agent>' → ms their presence times out

    ARGV[1] account id  ARGV[2] user id  ARGV[3] now ms

  Output:
    {online (1|0)}; error 'RR_UNKNOWN_USER ...'.
]]
local usersKey, onlineKey, heartbeatsKey, settingsKey, presenceDueKey = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local accountId, userId, nowMs = ARGV[1], ARGV[2], tonumber(ARGV[3])

local _, err = role_of(usersKey, userId)
if err then return redis.error_reply(err) end
rcall('HSET', heartbeatsKey, userId, nowMs)
if not rcall('ZSCORE', onlineKey, userId) then return {0} end
file_presence(settingsKey, presenceDueKey, accountId, userId, nowMs)
return {1}
