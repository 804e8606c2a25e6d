--[[
  Set a team's members (owner, admin or manager only). Members must be existing users of role
  agent or higher: a team is a pool of people tickets can be assigned to.

  Bounded whatever the team's size: the caller sends at most a slice of members per call (500,
  worker/core/scripts.py). A team that fits one call is replaced in it ('only'). A larger one is
  staged over several calls ('first', 'more', 'last') into a staging set, then swapped in by the
  last call (UNLINK of the old set: freed off the main thread, RENAME of the staged one), so a reader
  sees the old team or the new one, never a mix. The meta hash holds the team's version (bumped by
  every change) and who is staging: a staged call whose set was taken over by another one fails, and
  a change made by someone else while staging counts as 'changed'.

  Input:
    KEYS[1] users   {rr:pNN}:a:<acct>:users                hash user → role
    KEYS[2] teams   {rr:pNN}:a:<acct>:teams                set of team ids
    KEYS[3] team    {rr:pNN}:a:<acct>:team:<team>          set of members
    KEYS[4] events  {rr:pNN}:a:<acct>:events               account stream
    KEYS[5] pevents {rr:pNN}:events                        partition stream
    KEYS[6] staging {rr:pNN}:a:<acct>:team:<team>:staging  set of members being staged (expires in 1 h)
    KEYS[7] meta    {rr:pNN}:a:<acct>:team:<team>:meta     hash: version, staging (event id), staged_from

    ARGV[1] account id  ARGV[2] team id  ARGV[3] actor id  ARGV[4] now ISO  ARGV[5] event id
    ARGV[6] account stream MAXLEN   ARGV[7] partition stream MAXLEN
    ARGV[8] step: only | first | more | last
    ARGV[9] members in all (sorted, deduplicated, non-empty, at most the maximum: checked by the caller)
    ARGV[10] how many of the members staged by the earlier calls were already in the team (their replies)
    ARGV[11] members as a JSON list for the event, or '' (too many to list: members null, member_count)
    ARGV[12...] this call's members

  Output:
    {changed (1|0), members of this call already in the team}; errors 'RR_UNKNOWN_USER ...',
    'RR_FORBIDDEN ...', 'RR_INVALID ...' (the staging was taken over by another call: try again).
]]
local usersKey, teamsKey, teamKey, eventsKey, partitionEventsKey = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local stagingKey, metaKey = KEYS[6], KEYS[7]
local accountId, teamId, actorId, nowIso, eventId = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local step, total, sameBefore, membersJson = ARGV[8], tonumber(ARGV[9]), tonumber(ARGV[10]), ARGV[11]
local FIRST_MEMBER = 12

local err = require_manager(usersKey, actorId, 'define teams')
if err then return redis.error_reply(err) end
local members, same = {}, 0
for i = FIRST_MEMBER, #ARGV do
  local role
  role, err = role_of(usersKey, ARGV[i])
  if err then return redis.error_reply(err) end
  if ROLE_RANK[role] < ROLE_RANK['agent'] then
    return redis.error_reply('RR_FORBIDDEN ' .. ARGV[i] .. ' is a viewer; only agent or higher can be on a team')
  end
  members[#members + 1] = ARGV[i]
  same = same + rcall('SISMEMBER', teamKey, ARGV[i])
end

local function changed_event()
  rcall('SADD', teamsKey, teamId)
  rcall('HINCRBY', metaKey, 'version', 1)
  local listed = membersJson  -- as before for teams of up to 1,000; beyond, a count instead of the list
  if listed == '' then listed = 'null,"member_count":' .. total end
  emit(eventsKey, partitionEventsKey, accountId, ARGV[6], ARGV[7], eventId, 'settings.changed', nowIso,
       {actor_id = actorId}, '"changes":{"team":{"team_id":' .. cjson.encode(teamId) .. ',"members":' .. listed .. '}}')
end

if step == 'only' then
  if same == total and rcall('SCARD', teamKey) == total then return {0, same} end
  rcall('UNLINK', teamKey)
  sadd_all(teamKey, members)
  changed_event()
  return {1, same}
end

if step == 'first' then
  rcall('UNLINK', stagingKey)
  rcall('HSET', metaKey, 'staging', eventId, 'staged_from', rcall('HGET', metaKey, 'version') or '0')
elseif rcall('HGET', metaKey, 'staging') ~= eventId then
  return redis.error_reply('RR_INVALID team ' .. teamId .. ' is being replaced by another call; try again')
end
sadd_all(stagingKey, members)
rcall('EXPIRE', stagingKey, 3600)
if step ~= 'last' then return {0, same} end

local inTeam = same + sameBefore
local untouched = (rcall('HGET', metaKey, 'version') or '0') == rcall('HGET', metaKey, 'staged_from')
rcall('HDEL', metaKey, 'staging', 'staged_from')
if untouched and inTeam == total and rcall('SCARD', teamKey) == total then
  rcall('UNLINK', stagingKey)
  return {0, same}
end
rcall('UNLINK', teamKey)
rcall('RENAME', stagingKey, teamKey)
rcall('PERSIST', teamKey)
changed_event()
return {1, same}
