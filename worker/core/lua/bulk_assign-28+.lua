--[[
  One batch of a bulk team assignment: spread the batch's tickets over the team's Online members in
  the account's rotation order (least recently assigned first, the same places inbound tickets use).
  Safe to retry: a ticket this job already handled (its record's bulk_job is this job) is skipped.
  A closed ticket (its record's closed = 1) is never assigned: skipped and counted as closed. Load
  (open tickets per agent) moves from the previous assignee to the new one.
  Capacity and channels are not checked (a manager's explicit act) but load counts, and ready and the
  per-channel pools stay true.
  Hot loop: per ticket only the record and the two XADDs are touched; the unassigned set, rotation
  places, counts and figures are written once per batch (per agent where they are per agent).
  The reply carries the call's own duration (TIME at both ends) so the job can size its next batch
  to keep each call within a few milliseconds on whatever machine it runs (worker/core/bulk.py).

  Bounded whatever the team's size: the job keeps its own rotation queue (the 'queue' key below, the team's
  Online members scored by rotation place), built and refreshed a slice at a time by the member
  lists the calls carry (ARGV tail), instead of intersecting Online and the team on every call.
  Every member picked from it is checked against the Online zset and the team set in this call
  (an Offline or removed member is dropped from the queue, a member whose place moved is re-filed),
  so nobody Offline gets a ticket and the order is the account's rotation order. If more than
  MAX_SKIPPED stale entries stand in the way, the call assigns nothing and replies again = 1 (the
  job sends the same tickets again: the stale entries it removed are gone). docs/DESIGN.md.

  Input:
    KEYS[1] online      {rr:pNN}:a:<acct>:online            zset Online agents by rotation place
    KEYS[2] places      {rr:pNN}:a:<acct>:places            hash agent → rotation place
    KEYS[3] seq         {rr:pNN}:a:<acct>:seq               counter of rotation places
    KEYS[4] unassigned  {rr:pNN}:a:<acct>:unassigned        zset ticket → created_at ms
    KEYS[5] counts      {rr:pNN}:a:<acct>:counts            hash agent → tickets assigned
    KEYS[6] team        {rr:pNN}:a:<acct>:team:<team>       set of members
    KEYS[7] events      {rr:pNN}:a:<acct>:events            account stream
    KEYS[8] pevents     {rr:pNN}:events                     partition stream
    KEYS[9] done        {rr:pNN}:a:<acct>:bulk:<job>:done   list of 'agent ticket' this job assigned
    KEYS[10] progress   {rr:pNN}:a:<acct>:bulk:<job>        hash of the job's bookkeeping
    KEYS[11] stats      {rr:pNN}:a:<acct>:stats:<DAY>       the day's figures (docs/STATS.md)
    KEYS[12] uqDepth    {rr:pNN}:a:<acct>:uq_depth          unassigned depth per channel:reason
    KEYS[13] metrics    {rr:pNN}:metrics                    the partition's ops counters
    KEYS[14] queue      {rr:pNN}:a:<acct>:bulk:<job>:queue  zset the job's rotation queue: member → place
    KEYS[15] load       {rr:pNN}:a:<acct>:load              hash agent → open tickets assigned
    KEYS[16] capacity   {rr:pNN}:a:<acct>:capacity          hash '*' / agent → capacity (bulk ignores it)
    KEYS[17] ready      {rr:pNN}:a:<acct>:ready             zset Online agents below capacity (kept true)
    KEYS[18] waiting    {rr:pNN}:a:<acct>:waiting           zset releasable waiting tickets (left when taken)
    KEYS[19] later      {rr:pNN}:a:<acct>:later             zset after-hours tickets (left when taken)
    KEYS[20] agentChannels {rr:pNN}:a:<acct>:agent_channels  hash agent → channels taken (per-channel pools)
    KEYS[21] poolEmail {rr:pNN}:a:<acct>:pool:email  zset Online agents taking email, by place
    KEYS[22] poolWebchat {rr:pNN}:a:<acct>:pool:webchat  zset Online agents taking webchat, by place
    KEYS[23] poolSms {rr:pNN}:a:<acct>:pool:sms  zset Online agents taking sms, by place
    KEYS[24] poolSocial {rr:pNN}:a:<acct>:pool:social  zset Online agents taking social, by place
    KEYS[25] waitEmail {rr:pNN}:a:<acct>:waiting:email  zset waiting email tickets by created_at ms
    KEYS[26] waitWebchat {rr:pNN}:a:<acct>:waiting:webchat  zset waiting webchat tickets by created_at ms
    KEYS[27] waitSms {rr:pNN}:a:<acct>:waiting:sms  zset waiting sms tickets by created_at ms
    KEYS[28] waitSocial {rr:pNN}:a:<acct>:waiting:social  zset waiting social tickets by created_at ms
    KEYS[29...] tickets {rr:pNN}:a:<acct>:t:<ticket>        one ticket record per ticket (ARGV[11...] order)

    ARGV[1] account id  ARGV[2] team id  ARGV[3] job id  ARGV[4] now ISO
    ARGV[5] account stream MAXLEN  ARGV[6] partition stream MAXLEN  ARGV[7] assigned record TTL (s)
    ARGV[8] hour HH of now (UTC)   ARGV[9] seconds to keep the stats key (the retention counted from the end of
            the day it holds, not from this write)
    ARGV[10] position of the batch's first ticket in the job (event ids are '<job>.<position>')
    ARGV[11...] the ticket ids, in KEYS order (T of them: T = #KEYS - 28, may be 0)
    ARGV[11+T] seconds to keep the queue (optional: absent = no refresh, the queue as it is)
    ARGV[12+T...] team members to refresh in the queue first (Online: filed at their place; else removed)

  Output:
    {assigned, unassigned, unknown, already_done, redis_us, again, closed}: closed = closed tickets skipped
    (untouched); unknown = tickets with no record (never
    seen by helpdesk-rr, or expired); unassigned = left/made unassigned as no_team_member_online;
    redis_us = microseconds the call ran, by Redis's clock (0 if that clock is frozen in scripts);
    again = 1 when too many stale queue entries were cleared to pick in this call (no ticket was touched).
]]
local onlineKey, placesKey, seqKey, unassignedKey, countsKey = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local teamKey, eventsKey, partitionEventsKey, doneKey, progressKey = KEYS[6], KEYS[7], KEYS[8], KEYS[9], KEYS[10]
local statsKey, uqDepthKey, metricsKey, rotationKey, loadKey = KEYS[11], KEYS[12], KEYS[13], KEYS[14], KEYS[15]
local accountId, teamId, jobId, nowIso = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local maxlen, partitionMaxlen, recordTtl = ARGV[5], ARGV[6], tonumber(ARGV[7])
local hour, statsTtl, firstPosition = ARGV[8], ARGV[9], tonumber(ARGV[10])
local capacityKey, readyKey, waitingKey, laterKey = KEYS[16], KEYS[17], KEYS[18], KEYS[19]
local FIRST_TICKET_KEY, FIRST_TICKET_ARG = 29, 11
local cb = channel_block(20)
local started = rcall('TIME')

local MAX_SKIPPED = 256  -- stale queue entries one call clears before it gives up (again = 1)
local WINDOW = 64        -- queue entries read per ZRANGE while picking
local batchSize = #KEYS - FIRST_TICKET_KEY + 1
local tail = FIRST_TICKET_ARG + batchSize

-- Refresh a slice of the team: Online members are filed at their current place, others leave.
if ARGV[tail] then
  for i = tail + 1, #ARGV do
    local member = ARGV[i]
    local place = rcall('ZSCORE', onlineKey, member)
    if place and rcall('SISMEMBER', teamKey, member) == 1 then
      rcall('ZADD', rotationKey, place, member)
    else
      rcall('ZREM', rotationKey, member)
    end
  end
  if rcall('EXISTS', rotationKey) == 1 then rcall('EXPIRE', rotationKey, ARGV[tail]) end
end

-- The first `need` members of the queue by their true place. Places only grow (every assignment
-- takes INCR seq), so a queue score is at most the member's true place: a member whose place moved
-- is re-filed further back and the walk goes on from where it was; one that went Offline (or left
-- the team) is dropped. Returns the picked members, or nil when MAX_SKIPPED was exceeded.
local function pick(need)
  local picked, skipped = {}, 0
  while #picked < need do
    local from = #picked
    local head = rcall('ZRANGE', rotationKey, from, from + math.min(need - from, WINDOW) - 1, 'WITHSCORES')
    if #head == 0 then break end
    local gone = {}
    for j = 1, #head, 2 do
      local member, filed = head[j], tonumber(head[j + 1])
      local place = rcall('ZSCORE', onlineKey, member)
      if not place or rcall('SISMEMBER', teamKey, member) == 0 then
        gone[#gone + 1] = member
        skipped = skipped + 1
      elseif tonumber(place) ~= filed then
        rcall('ZADD', rotationKey, place, member)
        skipped = skipped + 1
        if tonumber(place) < filed then picked = {} end  -- not expected (places only grow): start over
        break
      elseif #gone == 0 then
        picked[#picked + 1] = member
      else
        break  -- ranks shift once the gone ones are removed: read again from #picked
      end
    end
    if #gone > 0 then rcall('ZREM', rotationKey, unpack(gone)) end
    if skipped > MAX_SKIPPED then return nil end
  end
  return picked
end

local queue = {}
if batchSize > 0 then
  queue = pick(batchSize)
  if queue == nil then
    local stopped = rcall('TIME')
    return {0, 0, 0, 0, (tonumber(stopped[1]) - tonumber(started[1])) * 1000000 + tonumber(stopped[2]) -
            tonumber(started[2]), 1, 0}
  end
end

-- Ids are validated to [A-Za-z0-9._@+-] (and channels/job ids are ours), so they need no JSON escaping.
local head = '","schema_version":"1","account_id":"' .. accountId .. '","occurred_at":"' .. nowIso .. '","ticket_id":"'
local base = tonumber(rcall('GET', seqKey) or '0')
local assigned, unassigned, unknown, already, closed = 0, 0, 0, 0, 0
local lastPlace, added, order, done, depth, leaving, loadMoved = {}, {}, {}, {}, {}, {}, {}

for i = FIRST_TICKET_KEY, #KEYS do
  local ticketKey = KEYS[i]
  local ticketId = ARGV[FIRST_TICKET_ARG + i - FIRST_TICKET_KEY]
  local eventId = jobId .. '.' .. (firstPosition + i - FIRST_TICKET_KEY)
  local rec = rcall('HMGET', ticketKey, 'status', 'agent_id', 'channel', 'bulk_job', 'reason', 'closed')
  local channel = rec[3]
  if rec[6] == '1' then
    closed = closed + 1
  elseif not rec[1] then
    unknown = unknown + 1
  elseif rec[4] == jobId then
    already = already + 1
  elseif #queue == 0 then
    if rec[1] == 'unassigned' then
      local old = channel .. ':' .. rec[5]
      depth[old] = (depth[old] or 0) - 1
      unpark(waitingKey, laterKey, ticketId)
      unpark_channel(cb, ticketId, channel)
    elseif rec[2] then
      loadMoved[rec[2]] = (loadMoved[rec[2]] or 0) - 1
    end
    local new = channel .. ':no_team_member_online'
    depth[new] = (depth[new] or 0) + 1
    rcall('HSET', ticketKey, 'status', 'unassigned', 'reason', 'no_team_member_online', 'available_at', '',
          'team_id', teamId, 'bulk_job', jobId, 'decided_at', nowIso)
    rcall('HDEL', ticketKey, 'agent_id', 'auto', 'assigned_ms')
    rcall('PERSIST', ticketKey)
    rcall('ZADD', unassignedKey, rcall('HGET', ticketKey, 'created_ms') or 0, ticketId)
    emit_raw(eventsKey, partitionEventsKey, accountId, maxlen, partitionMaxlen, 'ticket.unassigned',
             '{"id":"' .. eventId .. '","type":"ticket.unassigned' .. head .. ticketId .. '","channel":"' .. channel ..
             '","reason":"no_team_member_online","available_at":null}')
    unassigned = unassigned + 1
  else
    local agentId = queue[(assigned % #queue) + 1]
    assigned = assigned + 1
    if not added[agentId] then
      added[agentId] = 0
      order[#order + 1] = agentId
    end
    added[agentId] = added[agentId] + 1
    lastPlace[agentId] = base + assigned
    local previous = 'null'
    if rec[1] == 'assigned' and rec[2] then
      previous = '"' .. rec[2] .. '"'
      loadMoved[rec[2]] = (loadMoved[rec[2]] or 0) - 1
    else
      local old = channel .. ':' .. rec[5]
      depth[old] = (depth[old] or 0) - 1
      leaving[#leaving + 1] = ticketId
      unpark(waitingKey, laterKey, ticketId)
      unpark_channel(cb, ticketId, channel)
    end
    rcall('HSET', ticketKey, 'status', 'assigned', 'agent_id', agentId, 'reason', 'bulk_team', 'team_id', teamId,
          'bulk_job', jobId, 'available_at', '', 'decided_at', nowIso)
    rcall('HDEL', ticketKey, 'auto', 'assigned_ms')  -- a manager's act: never reassigned for no first reply
    if recordTtl and recordTtl > 0 then rcall('EXPIRE', ticketKey, recordTtl) end
    done[#done + 1] = agentId .. ' ' .. ticketId
    emit_raw(eventsKey, partitionEventsKey, accountId, maxlen, partitionMaxlen, 'ticket.assigned',
             '{"id":"' .. eventId .. '","type":"ticket.assigned' .. head .. ticketId .. '","channel":"' .. channel ..
             '","agent_id":"' .. agentId .. '","previous_agent_id":' .. previous ..
             ',"reason":"bulk_team","team_id":"' .. teamId .. '"}')
  end
end

-- Once per batch: rotation places, counts, the toast list and the figures.
if assigned > 0 then
  rcall('INCRBY', seqKey, assigned)
  local byPlace, byAgent = {}, {}
  for _, agentId in ipairs(order) do
    byPlace[#byPlace + 1] = lastPlace[agentId]
    byPlace[#byPlace + 1] = agentId
    byAgent[#byAgent + 1] = agentId
    byAgent[#byAgent + 1] = lastPlace[agentId]
    rcall('HINCRBY', countsKey, agentId, added[agentId])
    loadMoved[agentId] = (loadMoved[agentId] or 0) + added[agentId]
    rcall('HINCRBY', statsKey, 'assigned:' .. agentId, added[agentId])
  end
  for i = 1, #byPlace, 1000 do  -- pairs: 1000 is even
    rcall('ZADD', onlineKey, unpack(byPlace, i, math.min(i + 999, #byPlace)))
    rcall('HSET', placesKey, unpack(byAgent, i, math.min(i + 999, #byAgent)))
    rcall('ZADD', rotationKey, unpack(byPlace, i, math.min(i + 999, #byPlace)))  -- the job's queue, too
  end
  for i = 1, #done, 1000 do
    rcall('RPUSH', doneKey, unpack(done, i, math.min(i + 999, #done)))
  end
  for i = 1, #leaving, 1000 do
    rcall('ZREM', unassignedKey, unpack(leaving, i, math.min(i + 999, #leaving)))
  end
  rcall('HINCRBY', statsKey, 'decided:assigned:bulk_team', assigned)
  rcall('HINCRBY', metricsKey, 'decisions:assigned:bulk_team', assigned)
end
for agentId, delta in pairs(loadMoved) do
  if delta ~= 0 then add_load(loadKey, agentId, delta) end
  upkeep(capacityKey, readyKey, onlineKey, loadKey, cb, agentId)  -- its place may have moved too
end
if unassigned > 0 then
  rcall('HINCRBY', statsKey, 'decided:unassigned:no_team_member_online', unassigned)
  rcall('HINCRBY', metricsKey, 'decisions:unassigned:no_team_member_online', unassigned)
end
local grew = false
for field, delta in pairs(depth) do
  if delta ~= 0 then record_depth(uqDepthKey, statsKey, hour, field, delta) end
  if delta > 0 then grew = true end
end
if grew then record_total_peak(statsKey, hour, rcall('ZCARD', unassignedKey)) end
rcall('EXPIRE', statsKey, statsTtl)
rcall('HSETNX', progressKey, 'toasted', '0')
local finished = rcall('TIME')
local redisUs = (tonumber(finished[1]) - tonumber(started[1])) * 1000000 + tonumber(finished[2]) - tonumber(started[2])
return {assigned, unassigned, unknown, already, redisUs, 0, closed}
