--[[
  Decide one inbound ticket: idempotency, round-robin setting, webchat office hours, the
  least-recently-assigned pick among Online agents (below their capacity, when the account has one; taking the
  ticket's channel, while some agent is restricted to channels: pick_for_channel), the record (auto = 1 and
  assigned_ms on an assignment, and its no-first-reply timer when reassign-unanswered is on), the unassigned
  set and the release queues, the assignee's load and the events. With
  auto-assign on, a ticket never overtakes older ones waiting for a release: it joins them (reason
  older_tickets_waiting when an agent has room, and the release is rung). A ticket whose close came first (its record holds only closed = 1) is recorded
  unassigned with reason 'closed', outside the unassigned set, and never assigned.
  Refuses (writes nothing but a metrics counter) a ticket of an account with no users, and one that
  would have to wait while the account already has ARGV[20] tickets waiting (docs/DESIGN.md, "Retention").

  Input:
    KEYS[1] settings     {rr:pNN}:a:<acct>:settings                 hash round_robin, oh_active, office_hours_version
    KEYS[2] online       {rr:pNN}:a:<acct>:online                   zset Online agents by rotation place
    KEYS[3] places       {rr:pNN}:a:<acct>:places                   hash agent → rotation place (kept while Offline)
    KEYS[4] seq          {rr:pNN}:a:<acct>:seq                      counter of rotation places
    KEYS[5] unassigned   {rr:pNN}:a:<acct>:unassigned               zset ticket → created_at ms
    KEYS[6] ticket       {rr:pNN}:a:<acct>:t:<ticket>               hash, the decision (idempotency record)
    KEYS[7] counts       {rr:pNN}:a:<acct>:counts                   hash agent → tickets assigned
    KEYS[8] events       {rr:pNN}:a:<acct>:events                   the account's event stream
    KEYS[9] pevents      {rr:pNN}:events                            the partition's event stream
    KEYS[10] stats       {rr:pNN}:a:<acct>:stats:<DAY>              figures of the day the decision is made (docs/STATS.md)
    KEYS[11] statsOnline {rr:pNN}:a:<acct>:stats:<DAY>:online:<HH>  agents Online in the hour
    KEYS[12] uqDepth     {rr:pNN}:a:<acct>:uq_depth                 unassigned depth per channel:reason
    KEYS[13] metrics     {rr:pNN}:metrics                           the partition's ops counters
    KEYS[14] users       {rr:pNN}:a:<acct>:users                    hash user → role (none: nobody set the account up)
    KEYS[15] arrivals    {rr:pNN}:a:<acct>:stats:<DAY>              figures of the day the ticket was created (arrivals)
    KEYS[16] load        {rr:pNN}:a:<acct>:load                     hash agent → open tickets assigned
    KEYS[17] capacity    {rr:pNN}:a:<acct>:capacity                 hash '*' / agent → capacity
    KEYS[18] ready       {rr:pNN}:a:<acct>:ready                    zset Online agents below capacity by place
    KEYS[19] waiting     {rr:pNN}:a:<acct>:waiting                  zset releasable waiting tickets by created_at ms
    KEYS[20] later       {rr:pNN}:a:<acct>:later                    zset after-hours tickets by available_at ms
    KEYS[21] releaseDue  {rr:pNN}:release_due                       zset account → ms a release is owed from
    KEYS[22] lease       {rr:pNN}:a:<acct>:release:lease            set while a release is queued or running
    KEYS[23] unansweredDue {rr:pNN}:unanswered_due                  zset '<acct> <ticket>' → ms its first reply is due
    KEYS[24] agentChannels {rr:pNN}:a:<acct>:agent_channels         hash agent → channels taken (per-channel pools)
    KEYS[25] poolEmail   {rr:pNN}:a:<acct>:pool:email               zset Online agents taking email, by place
    KEYS[26] poolWebchat {rr:pNN}:a:<acct>:pool:webchat             zset likewise, webchat
    KEYS[27] poolSms     {rr:pNN}:a:<acct>:pool:sms                 zset likewise, sms
    KEYS[28] poolSocial  {rr:pNN}:a:<acct>:pool:social              zset likewise, social
    KEYS[29] waitEmail   {rr:pNN}:a:<acct>:waiting:email            zset the waiting zset's email tickets by created_at ms
    KEYS[30] waitWebchat {rr:pNN}:a:<acct>:waiting:webchat          zset likewise, webchat
    KEYS[31] waitSms     {rr:pNN}:a:<acct>:waiting:sms              zset likewise, sms
    KEYS[32] waitSocial  {rr:pNN}:a:<acct>:waiting:social           zset likewise, social

    ARGV[1] account id        ARGV[2] ticket id          ARGV[3] channel
    ARGV[4] created_at ISO    ARGV[5] created_at ms      ARGV[6] now ISO (occurred_at)
    ARGV[7] office-hours version the caller computed ARGV[8]/ARGV[9] from
    ARGV[8] '1' if office hours are open at created_at, else '0'
    ARGV[9] available_at ISO (next opening) or ''
    ARGV[10] event id for ticket.assigned/unassigned    ARGV[11] event id for the toast
    ARGV[12] account stream MAXLEN (~)   ARGV[13] partition stream MAXLEN (~)
    ARGV[14] seconds to keep an assigned ticket's record (0 = forever)
    ARGV[15] hour HH of now (UTC)   ARGV[16] seconds to keep the stats and statsOnline keys (the retention counted
             from the end of the day they hold, not from this write)
    ARGV[17] when the job was enqueued, ms since the epoch ('' = unknown)   ARGV[18] now, ms
    ARGV[19] '1' if the caller could not load the stored office hours and decided as if there were
             none (counted as office_hours_unloadable in the partition's metrics), else '0'
    ARGV[20] most tickets the account's unassigned set may hold (the waiting-ticket ceiling)
    ARGV[21] hour HH of created_at (UTC)   ARGV[22] seconds to keep the arrivals key, likewise; <= 0 (a ticket created longer
             ago than the retention) and the arrival is not filed
    ARGV[23] available_at in ms ('' = none)   ARGV[24] release lease (ms)

  Output:
    {outcome, agent_id_or_reason, available_at_or_empty, duplicate, channel, ring}
      outcome 'assigned' | 'unassigned' (reason 'closed': its close came first); duplicate 1 when the ticket was already decided (nothing
      written, nothing emitted: the stored decision, and the channel it arrived on, are returned).
      ring 1 when the caller must enqueue a release of the account (it took the release lease).
    error 'RR_STALE_OFFICE_HOURS <version>' when ARGV[7] is not the stored version: the caller
      reloads office hours and calls again.
    error 'RR_UNKNOWN_ACCOUNT <message>' when the account has no users (counted as
      refused:unknown_account), 'RR_WAITING_CEILING <message>' when the ticket would wait and
      ARGV[20] tickets already wait (counted as refused:waiting_ceiling); nothing else is written.
]]
local settingsKey, onlineKey, placesKey, seqKey = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local unassignedKey, ticketKey, countsKey, eventsKey, partitionEventsKey = KEYS[5], KEYS[6], KEYS[7], KEYS[8], KEYS[9]
local accountId, ticketId, channel = ARGV[1], ARGV[2], ARGV[3]
local createdAtIso, createdAtMs, nowIso = ARGV[4], ARGV[5], ARGV[6]
local maxlen, partitionMaxlen, recordTtl = ARGV[12], ARGV[13], tonumber(ARGV[14])
local statsKey, statsOnlineKey, uqDepthKey, metricsKey = KEYS[10], KEYS[11], KEYS[12], KEYS[13]
local hour, statsTtl, enqueuedMs, nowMs = ARGV[15], ARGV[16], ARGV[17], tonumber(ARGV[18])
local usersKey, maxWaiting = KEYS[14], tonumber(ARGV[20])
local arrivalsKey, arrivalHour, arrivalsTtl = KEYS[15], ARGV[21], tonumber(ARGV[22])
local loadKey, capacityKey, readyKey, waitingKey, laterKey = KEYS[16], KEYS[17], KEYS[18], KEYS[19], KEYS[20]
local releaseDueKey, leaseKey, availableMs, leaseMs = KEYS[21], KEYS[22], ARGV[23], ARGV[24]
local unansweredDueKey = KEYS[23]
local cb = channel_block(24, KEYS)  -- KEYS: decide_batch runs this body on each ticket's own keys

-- A refusal files nothing but its counter; the job fails with the message (RQ's failed registry).
local function refuse(code, reason, message)
  rcall('HINCRBY', metricsKey, 'refused:' .. reason, 1)
  return redis.error_reply(code .. ' ' .. message)
end

-- The figures every first decision files (docs/STATS.md); duplicates return before reaching this.
-- The arrival goes under the hour the ticket was created; everything else under the hour of the decision.
local function count_decision(outcome, reason)
  rcall('HINCRBY', statsKey, 'decided:' .. outcome .. ':' .. reason, 1)
  rcall('EXPIRE', statsKey, statsTtl)
  if arrivalsTtl > 0 then
    rcall('HINCRBY', arrivalsKey, 'arrived:' .. arrivalHour .. ':' .. channel, 1)
    rcall('EXPIRE', arrivalsKey, arrivalsTtl)
  end
  -- Who is Online this hour: copied from the online set 1,000 agents per decision (so a call
  -- stays short with 10,000 agents Online), starting with the hour's first decision.
  local snapField = 'online_snap:' .. hour
  local offset = tonumber(rcall('HGET', statsKey, snapField) or '0')
  if offset >= 0 then
    local online = rcall('ZRANGE', onlineKey, offset, offset + 999)
    if #online > 0 then
      sadd_all(statsOnlineKey, online)
      rcall('EXPIRE', statsOnlineKey, statsTtl)
    end
    if #online < 1000 then offset = -1 else offset = offset + 1000 end
    rcall('HSET', statsKey, snapField, offset)
  end
  rcall('HINCRBY', metricsKey, 'decisions:' .. outcome .. ':' .. reason, 1)
  if ARGV[19] == '1' then
    rcall('HINCRBY', metricsKey, 'office_hours_unloadable', 1)
  end
  if enqueuedMs ~= '' then
    local latency = math.max(0, nowMs - tonumber(enqueuedMs))
    local bucket = 'inf'
    -- LATENCY_BUCKETS_MS: the generated prelude (worker/core/shared_constants.py)
    for _, bound in ipairs(LATENCY_BUCKETS_MS) do
      if latency <= bound then bucket = tostring(bound) break end
    end
    rcall('HINCRBY', metricsKey, 'latency_ms:' .. bucket, 1)
    rcall('HINCRBY', metricsKey, 'latency_ms_sum', math.floor(latency))
    rcall('HINCRBY', metricsKey, 'latency_ms_count', 1)
  end
end

local stored = rcall('HMGET', ticketKey, 'status', 'agent_id', 'reason', 'available_at', 'channel', 'closed')
if stored[1] then
  if stored[1] == 'assigned' then
    return {'assigned', stored[2], '', 1, stored[5], 0}
  end
  return {'unassigned', stored[3], stored[4] or '', 1, stored[5], 0}
end

if rcall('EXISTS', usersKey) == 0 then
  return refuse('RR_UNKNOWN_ACCOUNT', 'unknown_account', 'account ' .. accountId ..
                ' has no users (nobody set it up): ticket ' .. ticketId .. ' was not decided; add its users ' ..
                '(helpdesk-rr user), then requeue it (helpdesk-rr failed ' .. accountId .. ' --requeue)')
end

local rrAtArrival = 'on'
-- Event JSON is built by concatenation, not cjson: every value is an id validated to
-- [A-Za-z0-9._@+-], a channel or reason of ours, or an ISO timestamp, so nothing needs escaping.
local eventHead = '","schema_version":"1","account_id":"' .. accountId .. '","occurred_at":"' .. nowIso ..
             '","ticket_id":"' .. ticketId .. '","channel":"' .. channel

local auto = {on = false}  -- auto-assign, read with the settings below
local function leave_unassigned(reason, availableAt, ring)
  local waiting = rcall('ZCARD', unassignedKey)
  if waiting >= maxWaiting then
    return refuse('RR_WAITING_CEILING', 'waiting_ceiling', 'account ' .. accountId .. ' already has ' .. waiting ..
                  ' tickets waiting (HELPDESK_RR_MAX_WAITING_TICKETS): ticket ' .. ticketId .. ' (' .. reason ..
                  ') was not decided; assign the backlog (helpdesk-rr bulk-assign --unassigned), then requeue ' ..
                  'it (helpdesk-rr failed ' .. accountId .. ' --requeue)')
  end
  local ams = ''
  if availableAt ~= '' then ams = availableMs end
  rcall('HSET', ticketKey, 'status', 'unassigned', 'channel', channel, 'created_at', createdAtIso,
        'created_ms', createdAtMs, 'reason', reason, 'available_at', availableAt, 'available_ms', ams,
        'decided_at', nowIso,
        'rr', rrAtArrival)
  rcall('ZADD', unassignedKey, createdAtMs, ticketId)
  park(waitingKey, laterKey, ticketId, reason, createdAtMs, ams)
  park_channel(cb, ticketId, channel, reason, createdAtMs)
  if auto.on and reason == 'after_hours' and ams ~= '' then
    release_due_at(releaseDueKey, accountId, ams)
  end
  count_decision('unassigned', reason)
  record_depth(uqDepthKey, statsKey, hour, channel .. ':' .. reason, 1)
  record_total_peak(statsKey, hour, rcall('ZCARD', unassignedKey))
  local available = 'null'
  if availableAt ~= '' then available = '"' .. availableAt .. '"' end
  emit_raw(eventsKey, partitionEventsKey, accountId, maxlen, partitionMaxlen, 'ticket.unassigned',
           '{"id":"' .. ARGV[10] .. '","type":"ticket.unassigned' .. eventHead .. '","reason":"' .. reason ..
           '","available_at":' .. available .. '}')
  return {'unassigned', reason, availableAt, 0, channel, ring or 0}
end

-- Closed before it arrived: recorded, never assigned, not waiting (a reopen puts it in the unassigned set).
if stored[6] == '1' then
  rcall('HSET', ticketKey, 'status', 'unassigned', 'channel', channel, 'created_at', createdAtIso,
        'created_ms', createdAtMs, 'reason', 'closed', 'available_at', '', 'decided_at', nowIso,
        'rr', rcall('HGET', settingsKey, 'round_robin') == 'on' and 'on' or 'off')
  count_decision('unassigned', 'closed')
  emit_raw(eventsKey, partitionEventsKey, accountId, maxlen, partitionMaxlen, 'ticket.unassigned',
           '{"id":"' .. ARGV[10] .. '","type":"ticket.unassigned' .. eventHead ..
           '","reason":"closed","available_at":null}')
  return {'unassigned', 'closed', '', 0, channel, 0}
end

local settings = rcall('HMGET', settingsKey, 'round_robin', 'oh_active', 'office_hours_version', 'auto_assign',
                      'unanswered_after')
auto.on = settings[4] == 'on'
if settings[1] ~= 'on' then
  rrAtArrival = 'off'
  return leave_unassigned('round_robin_off', '')
end

if channel == 'webchat' and settings[2] == '1' then
  if settings[3] ~= ARGV[7] then
    return redis.error_reply('RR_STALE_OFFICE_HOURS ' .. tostring(settings[3]))
  end
  if ARGV[8] ~= '1' then
    return leave_unassigned('after_hours', ARGV[9])
  end
end

-- Least recently assigned Online agent (below capacity, when capped; taking the channel, with pools on).
local agentId, nobody = pick_for_channel(capacityKey, readyKey, onlineKey, cb, channel, nil)
if not agentId then
  return leave_unassigned(nobody, '')
end
-- Older tickets this agent's channel shares the queue with: the whole waiting zset, or (pools on) only its
-- channel's, so a ticket of a channel nobody takes holds back no other channel.
local olderKey = waitingKey
if pools_on(cb) then olderKey = cb.waiting[channel] end
if auto.on and rcall('EXISTS', olderKey) == 1 then
  -- Older tickets wait for a release that has not reached them yet: queue behind them, and make sure
  -- the release runs (it takes this ticket in its turn).
  local ring = ring_release(settingsKey, waitingKey, readyKey, releaseDueKey, leaseKey, accountId, nowMs, leaseMs)
  return leave_unassigned('older_tickets_waiting', '', ring)
end
local place = rcall('INCR', seqKey)
rcall('ZADD', onlineKey, place, agentId)
rcall('HSET', placesKey, agentId, place)
rcall('HINCRBY', countsKey, agentId, 1)
add_load(loadKey, agentId, 1)
upkeep(capacityKey, readyKey, onlineKey, loadKey, cb, agentId)
rcall('HINCRBY', statsKey, 'assigned:' .. agentId, 1)
count_decision('assigned', 'round_robin')
rcall('HSET', ticketKey, 'status', 'assigned', 'channel', channel, 'created_at', createdAtIso,
      'created_ms', createdAtMs, 'agent_id', agentId, 'reason', 'round_robin', 'decided_at', nowIso, 'rr', 'on',
      'auto', '1', 'assigned_ms', nowMs)
-- A first assignment: below any unanswered_max (at least 1), so only the setting decides (read above).
local unansweredAfter = tonumber(settings[5] or '')
if unansweredAfter then file_timer(unansweredDueKey, accountId, ticketId, nowMs, unansweredAfter) end
if recordTtl and recordTtl > 0 then
  rcall('EXPIRE', ticketKey, recordTtl)
end
emit_raw(eventsKey, partitionEventsKey, accountId, maxlen, partitionMaxlen, 'ticket.assigned',
         '{"id":"' .. ARGV[10] .. '","type":"ticket.assigned' .. eventHead .. '","agent_id":"' .. agentId ..
         '","previous_agent_id":null,"reason":"round_robin","team_id":null}')
emit_raw(eventsKey, partitionEventsKey, accountId, maxlen, partitionMaxlen, 'toast',
         '{"id":"' .. ARGV[11] .. '","type":"toast","schema_version":"1","account_id":"' .. accountId ..
         '","occurred_at":"' .. nowIso .. '","user_id":"' .. agentId .. '","text":"New ' .. channel .. ' ticket ' ..
         ticketId .. ' assigned to you","ticket_ids":["' .. ticketId .. '"]}')
return {'assigned', agentId, '', 0, channel, 0}
