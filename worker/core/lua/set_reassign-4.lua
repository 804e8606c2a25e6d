--[[
  Set the account's reassignment settings (owner, admin or manager; docs/DESIGN.md, "Reassignment (away,
  unanswered)"): kind 'away' sets reassign_away (on|off) and reassign_away_grace (seconds); kind
  'unanswered' sets unanswered_after (seconds, '' = off) and unanswered_max. Emits settings.changed
  when anything changed. Turning reassign-unanswered on files timers only for assignments made from then
  on; turning it off leaves filed timers to the sweep, which drops them.

  Input:
    KEYS[1] users     {rr:pNN}:a:<acct>:users      hash user → role
    KEYS[2] settings  {rr:pNN}:a:<acct>:settings   hash reassign_away, reassign_away_grace, unanswered_after, unanswered_max
    KEYS[3] events    {rr:pNN}:a:<acct>:events     account stream
    KEYS[4] pevents   {rr:pNN}:events              partition stream

    ARGV[1] account id  ARGV[2] actor id  ARGV[3] 'away' | 'unanswered'  ARGV[4] now ISO  ARGV[5] event id
    ARGV[6] account stream MAXLEN  ARGV[7] partition stream MAXLEN
    ARGV[8] away: 'on' | 'off'; unanswered: after in whole seconds, or '' for off
    ARGV[9] away: grace in whole seconds (>= 0); unanswered: max reassignments per ticket (>= 1), '' when off

  Output:
    {changed (1|0)}; errors 'RR_UNKNOWN_USER ...', 'RR_FORBIDDEN ...'.
]]
local usersKey, settingsKey = KEYS[1], KEYS[2]
local accountId, actorId, kind, nowIso = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local first, second = ARGV[8], ARGV[9]

local err = require_manager(usersKey, actorId, 'change reassignment')
if err then return redis.error_reply(err) end
local fields = {'reassign_away', 'reassign_away_grace'}
if kind == 'unanswered' then fields = {'unanswered_after', 'unanswered_max'} end
local current = rcall('HMGET', settingsKey, fields[1], fields[2])
if kind == 'away' and (current[1] or 'off') == first and (current[2] or '0') == second then return {0} end
if kind == 'unanswered' and (current[1] or '') == first and (first == '' or current[2] == second) then return {0} end
local changes
if kind == 'away' then
  rcall('HSET', settingsKey, 'reassign_away', first, 'reassign_away_grace', second)
  changes = '"reassign_away":' .. tostring(first == 'on') .. ',"reassign_away_grace_seconds":' .. second
elseif first == '' then
  rcall('HDEL', settingsKey, 'unanswered_after', 'unanswered_max')
  changes = '"reassign_unanswered_after_seconds":null,"reassign_unanswered_max":null'
else
  rcall('HSET', settingsKey, 'unanswered_after', first, 'unanswered_max', second)
  changes = '"reassign_unanswered_after_seconds":' .. first .. ',"reassign_unanswered_max":' .. second
end
emit(KEYS[3], KEYS[4], accountId, ARGV[6], ARGV[7], ARGV[5], 'settings.changed', nowIso,
     {actor_id = actorId}, '"changes":{' .. changes .. '}')
return {1}
