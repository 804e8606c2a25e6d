--[[
  Set a team's members (owner, admin or manager only). Members must be existing users of role
  agent or higher: a team is a pool of people tickets can be assigned to.

  Input:
    KEYS[1] users   {rr:pNN}:a:<acct>:users        hash user → role
    KEYS[2] teams   {rr:pNN}:a:<acct>:teams        set of team ids
    KEYS[3] team    {rr:pNN}:a:<acct>:team:<team>  set of members
    KEYS[4] events  {rr:pNN}:a:<acct>:events       account stream
    KEYS[5] pevents {rr:pNN}:events                partition stream

    ARGV[1] account id  ARGV[2] team id  ARGV[3] actor id  ARGV[4] now ISO  ARGV[5] event id
    ARGV[6] account stream MAXLEN   ARGV[7] partition stream MAXLEN
    ARGV[8] members as a JSON list (sorted, deduplicated, non-empty: checked by the caller)
    ARGV[9...] the members again, one per argument

  Output:
    {changed (1|0)}; errors 'RR_UNKNOWN_USER ...', 'RR_FORBIDDEN ...'.
]]
local usersKey, teamsKey, teamKey, eventsKey, partitionEventsKey = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local accountId, teamId, actorId, nowIso = ARGV[1], ARGV[2], ARGV[3], ARGV[4]

local err = require_manager(usersKey, actorId, 'define teams')
if err then return redis.error_reply(err) end
local members = {}
for i = 9, #ARGV do
  local role
  role, err = role_of(usersKey, ARGV[i])
  if err then return redis.error_reply(err) end
  if ROLE_RANK[role] < ROLE_RANK['agent'] then
    return redis.error_reply('RR_FORBIDDEN ' .. ARGV[i] .. ' is a viewer; only agent or higher can be on a team')
  end
  members[#members + 1] = ARGV[i]
end

local current = rcall('SMEMBERS', teamKey)
table.sort(current)
if #current == #members then
  local same = true
  for i = 1, #members do
    if current[i] ~= members[i] then same = false end
  end
  if same then return {0} end
end
rcall('DEL', teamKey)
for _, member in ipairs(members) do rcall('SADD', teamKey, member) end
rcall('SADD', teamsKey, teamId)
emit(eventsKey, partitionEventsKey, accountId, ARGV[6], ARGV[7], ARGV[5], 'settings.changed', nowIso,
     {actor_id = actorId}, '"changes":{"team":{"team_id":' .. cjson.encode(teamId) .. ',"members":' .. ARGV[8] .. '}}')
return {1}
