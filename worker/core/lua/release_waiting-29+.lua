--[[
  One batch of a release of the waiting queue (docs/DESIGN.md, "Capacity and the waiting queue"):
  the oldest waiting tickets, each to the least recently assigned Online agent below capacity, until
  the batch is done or nobody has room. The caller passes the head of the waiting zset as it read it;
  if the head changed meanwhile (another release, a late older ticket, a close) nothing is written and
  the reply says stale: read it again. Any number of releases of one account may run at once (a retry,
  a sweep after a crash): each ticket leaves 'waiting' in the call that assigns it, so none is assigned
  twice and no automatic assignment takes a load above its capacity.
  With per-channel pools on (docs/DESIGN.md, "Per-channel pools") each ticket goes to the head of its channel's
  pool (pick_for_channel); a ticket whose channel has nobody with room stays waiting and blocks no other channel.
  Every batch renews the lease; the one that finds nothing more to do says done, and the release then
  sends its toasts (release_toasts: summed per agent in 'toasts', one per agent per release) and asks
  end_release whether it may stop: that call gives the lease back, so a trigger either sees this release
  still running (and end_release sees the trigger's room) or rings a new one. releaseDue keeps the
  account until then, so a release that dies anywhere is taken up by the sweep once its lease lapses.

  Input:
    KEYS[1] settings    {rr:pNN}:a:<acct>:settings          hash auto_assign, round_robin
    KEYS[2] online      {rr:pNN}:a:<acct>:online            zset Online agents by rotation place
    KEYS[3] ready       {rr:pNN}:a:<acct>:ready             zset Online agents below capacity by place
    KEYS[4] places      {rr:pNN}:a:<acct>:places            hash agent → rotation place
    KEYS[5] seq         {rr:pNN}:a:<acct>:seq               counter of rotation places
    KEYS[6] capacity    {rr:pNN}:a:<acct>:capacity          hash '*' / agent → capacity
    KEYS[7] load        {rr:pNN}:a:<acct>:load              hash agent → open tickets assigned
    KEYS[8] waiting     {rr:pNN}:a:<acct>:waiting           zset releasable waiting tickets by created_at ms
    KEYS[9] unassigned  {rr:pNN}:a:<acct>:unassigned        zset ticket → created_at ms
    KEYS[10] counts     {rr:pNN}:a:<acct>:counts            hash agent → tickets assigned
    KEYS[11] events     {rr:pNN}:a:<acct>:events            account stream
    KEYS[12] pevents    {rr:pNN}:events                     partition stream
    KEYS[13] stats      {rr:pNN}:a:<acct>:stats:<DAY>       the day's figures (docs/STATS.md)
    KEYS[14] uqDepth    {rr:pNN}:a:<acct>:uq_depth          unassigned depth per channel:reason
    KEYS[15] metrics    {rr:pNN}:metrics                    the partition's ops counters
    KEYS[16] toasts     {rr:pNN}:a:<acct>:release:toasts    hash agent → released tickets not yet toasted
    KEYS[17] releaseDue {rr:pNN}:release_due                zset account → ms a release is owed from
    KEYS[18] lease      {rr:pNN}:a:<acct>:release:lease     set while a release is queued or running
    KEYS[19] later      {rr:pNN}:a:<acct>:later             zset after-hours tickets by available_at ms
    KEYS[20] unansweredDue {rr:pNN}:unanswered_due          zset '<acct> <ticket>' → ms its first reply is due
    KEYS[21] agentChannels {rr:pNN}:a:<acct>:agent_channels  hash agent → channels taken (per-channel pools)
    KEYS[22] poolEmail {rr:pNN}:a:<acct>:pool:email  zset Online agents taking email, by place
    KEYS[23] poolWebchat {rr:pNN}:a:<acct>:pool:webchat  zset Online agents taking webchat, by place
    KEYS[24] poolSms {rr:pNN}:a:<acct>:pool:sms  zset Online agents taking sms, by place
    KEYS[25] poolSocial {rr:pNN}:a:<acct>:pool:social  zset Online agents taking social, by place
    KEYS[26] waitEmail {rr:pNN}:a:<acct>:waiting:email  zset waiting email tickets by created_at ms
    KEYS[27] waitWebchat {rr:pNN}:a:<acct>:waiting:webchat  zset waiting webchat tickets by created_at ms
    KEYS[28] waitSms {rr:pNN}:a:<acct>:waiting:sms  zset waiting sms tickets by created_at ms
    KEYS[29] waitSocial {rr:pNN}:a:<acct>:waiting:social  zset waiting social tickets by created_at ms
    KEYS[30...] tickets {rr:pNN}:a:<acct>:t:<ticket>        the records of the tickets in ARGV[12...]

    ARGV[1] account id  ARGV[2] now ISO  ARGV[3] now ms  ARGV[4] account stream MAXLEN
    ARGV[5] partition stream MAXLEN  ARGV[6] assigned record TTL (s, 0 = forever)  ARGV[7] hour HH of now (UTC)
    ARGV[8] seconds to keep the stats key  ARGV[9] release lease (ms)
    ARGV[10] release run id  ARGV[11] position of the batch's first ticket in the run (event ids
             '<run>.<position>')
    ARGV[12...] the ticket ids, in KEYS order (may be none): the head of the waiting zset, oldest first; with
             per-channel pools on, the oldest of the heads of the waiting:<channel> zsets of channels with room
             (each channel's tickets a prefix of its zset's head)

  Output:
    {assigned, done, stale, redis_us, due_later}: due_later 1 when an after-hours ticket in 'later' is due
    (the caller promotes before its next batch; a stale reply says 1 too). done 1 when the batches have nothing more to do now (no eligible
    ticket waits, or no Online agent has room, or auto-assign / round robin / capacity is off); the lease
    is renewed either way. stale 1: the head moved, nothing written. redis_us: the call's duration by Redis's clock.
]]
local settingsKey, onlineKey, readyKey, placesKey, seqKey = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local capacityKey, loadKey, waitingKey, unassignedKey, countsKey = KEYS[6], KEYS[7], KEYS[8], KEYS[9], KEYS[10]
local eventsKey, partitionEventsKey, statsKey, uqDepthKey, metricsKey = KEYS[11], KEYS[12], KEYS[13], KEYS[14], KEYS[15]
local toastsKey, releaseDueKey, leaseKey, laterKey = KEYS[16], KEYS[17], KEYS[18], KEYS[19]
local accountId, nowIso, nowMs, maxlen, partitionMaxlen = ARGV[1], ARGV[2], tonumber(ARGV[3]), ARGV[4], ARGV[5]
local recordTtl, hour, statsTtl, leaseMs = tonumber(ARGV[6]), ARGV[7], ARGV[8], ARGV[9]
local runId, firstPosition = ARGV[10], tonumber(ARGV[11])
local unansweredDueKey = KEYS[20]
local FIRST_TICKET_KEY, FIRST_TICKET_ARG = 30, 12
local unansweredAfter = tonumber(rcall('HGET', settingsKey, 'unanswered_after') or '')
local cb = channel_block(21)
local pooled = pools_on(cb)
local started = rcall('TIME')

local function elapsed_us()
  local t = rcall('TIME')
  return (tonumber(t[1]) - tonumber(started[1])) * 1000000 + tonumber(t[2]) - tonumber(started[2])
end

local on = releasing(settingsKey, capacityKey)

if not on then
  rcall('SET', leaseKey, nowMs, 'PX', leaseMs)
  return {0, 1, 0, elapsed_us(), 0}
end

local n = #KEYS - FIRST_TICKET_KEY + 1
local channels = {}  -- the tickets' channels (pools on: read first, to check each channel's head)
local function stale_head()
  if not pooled then
    local head = rcall('ZRANGE', waitingKey, 0, n - 1)
    if #head ~= n then return true end
    for i = 1, n do
      if head[i] ~= ARGV[FIRST_TICKET_ARG + i - 1] then return true end
    end
    return false
  end
  local passed = {}
  for i = 1, n do
    local channel = rcall('HGET', KEYS[FIRST_TICKET_KEY + i - 1], 'channel')
    if not channel or not cb.waiting[channel] then return true end
    channels[i] = channel
    passed[channel] = passed[channel] or {}
    passed[channel][#passed[channel] + 1] = ARGV[FIRST_TICKET_ARG + i - 1]
  end
  for channel, tickets in pairs(passed) do
    local head = rcall('ZRANGE', cb.waiting[channel], 0, #tickets - 1)
    if #head ~= #tickets then return true end
    for i = 1, #tickets do
      if head[i] ~= tickets[i] then return true end
    end
  end
  return false
end
if n > 0 and stale_head() then return {0, 0, 1, elapsed_us(), 1} end

-- Ids are validated to [A-Za-z0-9._@+-] (channels and reasons are ours): nothing needs JSON escaping.
local eventHead = '","type":"ticket.assigned","schema_version":"1","account_id":"' .. accountId ..
                  '","occurred_at":"' .. nowIso .. '","ticket_id":"'
-- Hot loop: per ticket only the ready head, the two queues, the record, the agent's ready entry and the
-- two XADDs; places, counts, loads, figures and toasts are summed here and written once per batch.
local assigned = 0
local seq = tonumber(rcall('GET', seqKey) or '0')
local agentsInBatch, perAgent = {}, {}  -- agent → {place, added, load, cap, toasts}
local depth, waitedBuckets, waitedSum, waitedMax = {}, {}, 0, 0
-- The agent for ticket i: the head of ready (as before), or, pools on, of its channel's pool (nil: nobody
-- with room; seed path: the batch stops, pools on: this ticket waits on and the next is tried).
local function agent_for(i)
  if pooled then return (pick_for_channel(capacityKey, readyKey, onlineKey, cb, channels[i], nil)) end
  return rcall('ZRANGE', readyKey, 0, 0)[1]
end
for i = 1, n do
  local agentId = agent_for(i)
  if not agentId and not pooled then break end
  local ticketKey, ticketId = KEYS[FIRST_TICKET_KEY + i - 1], ARGV[FIRST_TICKET_ARG + i - 1]
  local rec = {}
  if agentId then
    rcall('ZREM', waitingKey, ticketId)
    rec = rcall('HMGET', ticketKey, 'status', 'closed', 'channel', 'reason', 'created_ms', 'previous_agent_id')
    unpark_channel(cb, ticketId, rec[3])
  end
  if rec[1] == 'unassigned' and rec[2] ~= '1' then
    local channel = rec[3]
    if rcall('ZREM', unassignedKey, ticketId) == 1 then
      local field = channel .. ':' .. rec[4]
      depth[field] = (depth[field] or 0) - 1
    end
    local a = perAgent[agentId]
    if not a then
      a = {added = 0, load = tonumber(rcall('HGET', loadKey, agentId) or '0'),
           cap = capacity_of(capacityKey, agentId), toasts = {}}
      perAgent[agentId] = a
      agentsInBatch[#agentsInBatch + 1] = agentId
    end
    seq = seq + 1
    a.place, a.added, a.load = seq, a.added + 1, a.load + 1
    -- Re-file the agent in ready at their new place, or take them out at capacity (refresh_ready, with
    -- the load and capacity this batch already knows).
    if a.cap == nil or a.load < a.cap then
      rcall('ZADD', readyKey, seq, agentId)
    else
      rcall('ZREM', readyKey, agentId)
    end
    if pooled then file_pools(cb, agentId, seq, not (a.cap == nil or a.load < a.cap)) end
    -- Waiting time (arrival → assignment), in the TTFR buckets (seconds; the generated prelude).
    local waited = math.max(0, math.floor((nowMs - tonumber(rec[5] or nowMs)) / 1000))
    local bucket = 'inf'
    for _, bound in ipairs(TTFR_BUCKETS) do
      if waited <= bound then bucket = tostring(bound) break end
    end
    waitedBuckets[bucket] = (waitedBuckets[bucket] or 0) + 1
    waitedSum = waitedSum + waited
    waitedMax = math.max(waitedMax, waited)
    rcall('HSET', ticketKey, 'status', 'assigned', 'agent_id', agentId, 'reason', 'waiting_queue',
          'available_at', '', 'decided_at', nowIso, 'auto', '1', 'assigned_ms', nowMs)
    if unansweredAfter then
      file_timer(unansweredDueKey, accountId, ticketId, nowMs, unansweredAfter)
    end
    -- A ticket that waits after leaving an away assignee names them (docs/EVENTS.md).
    local previous = 'null'
    if rec[6] then previous = '"' .. rec[6] .. '"' end
    if recordTtl and recordTtl > 0 then rcall('EXPIRE', ticketKey, recordTtl) end
    emit_raw(eventsKey, partitionEventsKey, accountId, maxlen, partitionMaxlen, 'ticket.assigned',
             '{"id":"' .. runId .. '.' .. (firstPosition + i - 1) .. eventHead .. ticketId .. '","channel":"' ..
             channel .. '","agent_id":"' .. agentId .. '","previous_agent_id":' .. previous .. ',"reason":"waiting_queue",' ..
             '"team_id":null}')
    a.toasts[#a.toasts + 1] = '"' .. ticketId .. '"'
    assigned = assigned + 1
  end
end

-- Once per batch: the rotation (places only grow, so each agent's last place is theirs), counts, loads,
-- figures and the toast lists.
if assigned > 0 then rcall('SET', seqKey, seq) end
for _, agentId in ipairs(agentsInBatch) do
  local a = perAgent[agentId]
  rcall('ZADD', onlineKey, a.place, agentId)
  rcall('HSET', placesKey, agentId, a.place)
  rcall('HINCRBY', countsKey, agentId, a.added)
  add_load(loadKey, agentId, a.added)
  rcall('HINCRBY', statsKey, 'assigned:' .. agentId, a.added)
  local listed = table.concat(a.toasts, ',')
  local before = rcall('HGET', toastsKey, agentId)
  if before then listed = before .. ',' .. listed end
  rcall('HSET', toastsKey, agentId, listed)
end
for field, delta in pairs(depth) do record_depth(uqDepthKey, statsKey, hour, field, delta) end
for bucket, count in pairs(waitedBuckets) do rcall('HINCRBY', statsKey, 'waited:' .. bucket, count) end
if assigned > 0 then
  rcall('HINCRBY', statsKey, 'waited_sum', waitedSum)
  rcall('HINCRBY', statsKey, 'waited_count', assigned)
  file_max(statsKey, 'waited_max', waitedMax)
  rcall('HINCRBY', statsKey, 'decided:assigned:waiting_queue', assigned)
  rcall('HINCRBY', metricsKey, 'decisions:assigned:waiting_queue', assigned)
  rcall('EXPIRE', statsKey, statsTtl)
end

local dueLater = rcall('ZRANGEBYSCORE', laterKey, '-inf', nowMs, 'LIMIT', 0, 1)
local done = rcall('ZCARD', readyKey) == 0 or (rcall('ZCARD', waitingKey) == 0 and #dueLater == 0)
if pooled then done = channel_with_room(cb) == nil and #dueLater == 0 end
rcall('SET', leaseKey, nowMs, 'PX', leaseMs)
local due = 0
if #dueLater > 0 then due = 1 end
if done then return {assigned, 1, 0, elapsed_us(), due} end
return {assigned, 0, 0, elapsed_us(), due}
