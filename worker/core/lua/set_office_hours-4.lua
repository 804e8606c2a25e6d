--[[
  Replace (or clear) the account's office hours (owner, admin or manager only). Bumps
  office_hours_version so workers holding an older copy get RR_STALE_OFFICE_HOURS and reload.

  Input:
    KEYS[1] users    {rr:pNN}:a:<acct>:users     hash user → role
    KEYS[2] settings {rr:pNN}:a:<acct>:settings  hash office_hours, oh_active, office_hours_version
    KEYS[3] events   {rr:pNN}:a:<acct>:events    account stream
    KEYS[4] pevents  {rr:pNN}:events             partition stream

    ARGV[1] account id  ARGV[2] actor id  ARGV[3] office hours JSON, '' to clear (always open)
    ARGV[4] now ISO     ARGV[5] event id  ARGV[6] account stream MAXLEN  ARGV[7] partition stream MAXLEN

  Output:
    {changed (1|0), version}; errors 'RR_UNKNOWN_USER ...', 'RR_FORBIDDEN ...'.
]]
local usersKey, settingsKey, eventsKey, partitionEventsKey = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local accountId, actorId, hoursJson, nowIso = ARGV[1], ARGV[2], ARGV[3], ARGV[4]

local err = require_manager(usersKey, actorId, 'change office hours')
if err then return redis.error_reply(err) end
local current = rcall('HMGET', settingsKey, 'office_hours', 'office_hours_version')
if (current[1] or '') == hoursJson then return {0, current[2] or '0'} end
local version = rcall('HINCRBY', settingsKey, 'office_hours_version', 1)
if hoursJson == '' then
  rcall('HDEL', settingsKey, 'office_hours')
  rcall('HSET', settingsKey, 'oh_active', '0')
else
  rcall('HSET', settingsKey, 'office_hours', hoursJson, 'oh_active', '1')
end
local changed = hoursJson
if changed == '' then changed = 'null' end
emit(eventsKey, partitionEventsKey, accountId, ARGV[6], ARGV[7], ARGV[5], 'settings.changed', nowIso,
     {actor_id = actorId}, '"changes":{"office_hours":' .. changed .. '}')
return {1, tostring(version)}
