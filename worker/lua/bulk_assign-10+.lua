--[[
  One batch of a bulk team assignment: spread the batch's tickets over the team's Online members in
  the account's rotation order (least recently assigned first, the same places inbound tickets use).
  Safe to retry: a ticket this job already handled (its record's bulk_job is this job) is skipped.

  Input:
    KEYS[1] online      rr:{rr:pNN}:a:<acct>:online           zset Online agents by rotation place
    KEYS[2] places      rr:{rr:pNN}:a:<acct>:places           hash agent → rotation place
    KEYS[3] seq         rr:{rr:pNN}:a:<acct>:seq              counter of rotation places
    KEYS[4] unassigned  rr:{rr:pNN}:a:<acct>:unassigned       zset ticket → created_at ms
    KEYS[5] counts      rr:{rr:pNN}:a:<acct>:counts           hash agent → tickets assigned
    KEYS[6] team        rr:{rr:pNN}:a:<acct>:team:<team>      set of members
    KEYS[7] events      rr:{rr:pNN}:a:<acct>:events           account stream
    KEYS[8] pevents     {rr:pNN}:events                       partition stream
    KEYS[9] done        rr:{rr:pNN}:a:<acct>:bulk:<job>:done  list of 'agent ticket' this job assigned
    KEYS[10] progress   rr:{rr:pNN}:a:<acct>:bulk:<job>       hash of the job (toasted flag)
    KEYS[11...] one ticket record per ticket: rr:{rr:pNN}:a:<acct>:t:<ticket>

    ARGV[1] account id  ARGV[2] team id  ARGV[3] job id  ARGV[4] now ISO
    ARGV[5] account stream MAXLEN  ARGV[6] partition stream MAXLEN  ARGV[7] assigned record TTL (s)
    ARGV[8...] per ticket, in KEYS order: ticket id, event id

  Output:
    {assigned, unassigned, unknown, already_done}: unknown = tickets with no record (never seen by
    helpdesk-rr, or expired); unassigned = left/made unassigned as no_team_member_online.
]]
local onlineKey, placesKey, seqKey, unassignedKey, countsKey = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local teamKey, eventsKey, partitionEventsKey, doneKey, progressKey = KEYS[6], KEYS[7], KEYS[8], KEYS[9], KEYS[10]
local accountId, teamId, jobId, nowIso = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local maxlen, partitionMaxlen, recordTtl = ARGV[5], ARGV[6], tonumber(ARGV[7])

-- The team's Online members in rotation order. Each assignment gives its agent the next place,
-- i.e. moves them behind everyone else, so the batch simply cycles through this order.
local queue = {}
for _, member in ipairs(rcall('SMEMBERS', teamKey)) do
  local place = rcall('ZSCORE', onlineKey, member)
  if place then queue[#queue + 1] = {tonumber(place), member} end
end
table.sort(queue, function(a, b) return a[1] < b[1] or (a[1] == b[1] and a[2] < b[2]) end)

local assigned, unassigned, unknown, already = 0, 0, 0, 0
local turn = 0
for i = 11, #KEYS do
  local ticketKey = KEYS[i]
  local ticketId, eventId = ARGV[8 + (i - 11) * 2], ARGV[9 + (i - 11) * 2]
  local rec = rcall('HMGET', ticketKey, 'status', 'agent_id', 'channel', 'bulk_job', 'created_ms')
  if not rec[1] then
    unknown = unknown + 1
  elseif rec[4] == jobId then
    already = already + 1
  elseif #queue == 0 then
    rcall('HSET', ticketKey, 'status', 'unassigned', 'reason', 'no_team_member_online', 'available_at', '',
          'team_id', teamId, 'bulk_job', jobId, 'decided_at', nowIso)
    rcall('HDEL', ticketKey, 'agent_id')
    rcall('PERSIST', ticketKey)
    rcall('ZADD', unassignedKey, rec[5] or 0, ticketId)
    emit(eventsKey, partitionEventsKey, accountId, maxlen, partitionMaxlen, eventId, 'ticket.unassigned', nowIso,
         {ticket_id = ticketId, channel = rec[3], reason = 'no_team_member_online', available_at = cjson.null}, nil)
    unassigned = unassigned + 1
  else
    local agentId = queue[(turn % #queue) + 1][2]
    turn = turn + 1
    local place = rcall('INCR', seqKey)
    rcall('ZADD', onlineKey, place, agentId)
    rcall('HSET', placesKey, agentId, place)
    rcall('HINCRBY', countsKey, agentId, 1)
    local previous = cjson.null
    if rec[1] == 'assigned' and rec[2] then previous = rec[2] end
    rcall('HSET', ticketKey, 'status', 'assigned', 'agent_id', agentId, 'reason', 'bulk_team', 'team_id', teamId,
          'bulk_job', jobId, 'available_at', '', 'decided_at', nowIso)
    if recordTtl and recordTtl > 0 then rcall('EXPIRE', ticketKey, recordTtl) end
    rcall('ZREM', unassignedKey, ticketId)
    rcall('RPUSH', doneKey, agentId .. ' ' .. ticketId)
    emit(eventsKey, partitionEventsKey, accountId, maxlen, partitionMaxlen, eventId, 'ticket.assigned', nowIso,
         {ticket_id = ticketId, channel = rec[3], agent_id = agentId, previous_agent_id = previous,
          reason = 'bulk_team', team_id = teamId}, nil)
    assigned = assigned + 1
  end
end
rcall('HSETNX', progressKey, 'toasted', '0')
return {assigned, unassigned, unknown, already}
