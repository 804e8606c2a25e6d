--[[
  Shared helpers, prepended by worker/core/script_sources.py to every script in this folder (so each script
  stays one atomic EVALSHA). Only locals: a global would poison fakeredis for later scripts.
  ROLE_RANK, LATENCY_BUCKETS_MS and TTFR_BUCKETS are not defined in any .lua file: script_sources.py
  generates them from Python (worker/core/shared_constants.py, schemas.common.Role) in a prelude
  sent before this file.
]]
local rcall = redis.call
local unpack = unpack or table.unpack

-- Append an already-encoded event to the account stream and the partition stream.
local function emit_raw(accountStream, partitionStream, accountId, maxlen, partitionMaxlen, eventType, data)
  rcall('XADD', accountStream, 'MAXLEN', '~', maxlen, '*', 'type', eventType, 'data', data)
  -- Partition streams feed consumer groups: they are trimmed by trim_events (never past what every
  -- group has read), not here, unless ops set an explicit cap ('0' = none, the default).
  if partitionMaxlen == '0' then
    rcall('XADD', partitionStream, '*', 'account_id', accountId, 'type', eventType, 'data', data)
  else
    rcall('XADD', partitionStream, 'MAXLEN', '~', partitionMaxlen, '*',
          'account_id', accountId, 'type', eventType, 'data', data)
  end
end

-- Move the unassigned-queue depth of one channel:reason by delta, and file the new depth (and, when it
-- grew, the hour's peak) in the day's stats hash (docs/STATS.md).
local function record_depth(uqDepthKey, statsKey, hour, field, delta)
  local depth = rcall('HINCRBY', uqDepthKey, field, delta)
  rcall('HSET', statsKey, 'uq_depth:' .. hour .. ':' .. field, depth)
  local peakField = 'uq_peak:' .. hour .. ':' .. field
  if delta > 0 and depth > tonumber(rcall('HGET', statsKey, peakField) or '-1') then
    rcall('HSET', statsKey, peakField, depth)
  end
end

-- After the unassigned set grew: file its total depth (its ZCARD) as the hour's total peak if it is above
-- it, so a burst drained before the hour ends still shows (docs/STATS.md).
local function record_total_peak(statsKey, hour, total)
  local field = 'uq_peak_total:' .. hour
  if total > tonumber(rcall('HGET', statsKey, field) or '-1') then rcall('HSET', statsKey, field, total) end
end

-- SADD many members in chunks (Lua's unpack has a stack limit).
local function sadd_all(key, members)
  for i = 1, #members, 1000 do
    rcall('SADD', key, unpack(members, i, math.min(i + 999, #members)))
  end
end

-- Append one event to the account's stream and to its partition's stream (same hash slot), so a
-- decision and its events are one atomic write. `rawFields` is pre-encoded JSON members
-- (e.g. '"changes":{...}') spliced in verbatim: cjson would turn an empty JSON list into {}.
local function emit(accountStream, partitionStream, accountId, maxlen, partitionMaxlen,
                    eventId, eventType, nowIso, payload, rawFields)
  payload['id'] = eventId
  payload['type'] = eventType
  payload['schema_version'] = '1'
  payload['account_id'] = accountId
  payload['occurred_at'] = nowIso
  local data = cjson.encode(payload)
  if rawFields then
    data = string.sub(data, 1, -2) .. ',' .. rawFields .. '}'
  end
  emit_raw(accountStream, partitionStream, accountId, maxlen, partitionMaxlen, eventType, data)
end

-- Role of a user, or nil and an error message when the user is unknown.
local function role_of(usersKey, userId)
  local role = rcall('HGET', usersKey, userId)
  if not role then
    return nil, 'RR_UNKNOWN_USER unknown user ' .. userId
  end
  return role, nil
end

-- A role with its article, for messages: 'an owner', 'an admin', 'a manager', 'an agent', 'a viewer'.
local function a_role(role)
  if role == 'owner' or role == 'admin' or role == 'agent' then return 'an ' .. role end
  return 'a ' .. role
end

-- nil when `actorId` may manage the account (owner, admin, manager), else an error message.
local function require_manager(usersKey, actorId, action)
  local role, err = role_of(usersKey, actorId)
  if err then return err end
  if ROLE_RANK[role] < ROLE_RANK['manager'] then
    return 'RR_FORBIDDEN ' .. actorId .. ' is ' .. a_role(role) .. '; only owner, admin or manager may ' .. action
  end
  return nil
end

-- Change an agent's load (open tickets assigned to them) by `delta`, never below 0: tickets assigned
-- before load was tracked (an upgrade) have no unit to give back when they close or move.
local function add_load(loadKey, agentId, delta)
  if rcall('HINCRBY', loadKey, agentId, delta) < 0 then
    rcall('HSET', loadKey, agentId, 0)
  end
end

-- Capacity (docs/DESIGN.md, "Capacity and the waiting queue"). The capacity hash holds the account's
-- value under '*' and per-agent overrides under the agent's id ('*' is not a valid id). While it exists,
-- the ready zset holds exactly the Online agents whose load is below their capacity, scored by their
-- rotation place: round robin and releases pick its head. Without it nothing is capped and ready is gone.

-- An agent's capacity, or nil (no cap).
local function capacity_of(capacityKey, agentId)
  local cap = rcall('HGET', capacityKey, agentId) or rcall('HGET', capacityKey, '*')
  if cap then return tonumber(cap) end
  return nil
end

-- File one agent in or out of ready after their status, place, load or capacity changed.
local function refresh_ready(capacityKey, readyKey, onlineKey, loadKey, agentId)
  if rcall('EXISTS', capacityKey) == 0 then return end
  local place = rcall('ZSCORE', onlineKey, agentId)
  if place then
    local cap = capacity_of(capacityKey, agentId)
    if cap == nil or tonumber(rcall('HGET', loadKey, agentId) or '0') < cap then
      rcall('ZADD', readyKey, place, agentId)
      return
    end
  end
  rcall('ZREM', readyKey, agentId)
end

-- The waiting queue a release takes from: reasons whose tickets wait for any agent with room (not
-- round_robin_off or no_team_member_online: those wait for people). after_hours tickets wait in 'later'
-- (scored by available_at) until their opening, then join 'waiting' (scored by created_at).
local RELEASABLE = {no_agent_online = true, all_agents_at_capacity = true, older_tickets_waiting = true,
                    reopened = true}

-- File a ticket that just started waiting with `reason` where a release will find it.
local function park(waitingKey, laterKey, ticketId, reason, createdMs, availableMs)
  if RELEASABLE[reason] then
    rcall('ZADD', waitingKey, createdMs, ticketId)
  elseif reason == 'after_hours' and availableMs and availableMs ~= '' then
    rcall('ZADD', laterKey, availableMs, ticketId)
  end
end

-- Take a ticket out of the release queues (assigned, closed, or made to wait for people).
local function unpark(waitingKey, laterKey, ticketId)
  rcall('ZREM', waitingKey, ticketId)
  rcall('ZREM', laterKey, ticketId)
end

-- Note that the account owes a release from `dueMs` on (kept at the earliest such time).
local function release_due_at(releaseDueKey, accountId, dueMs)
  local current = rcall('ZSCORE', releaseDueKey, accountId)
  if (not current) or tonumber(current) > tonumber(dueMs) then
    rcall('ZADD', releaseDueKey, dueMs, accountId)
  end
end

-- Capacity may have appeared: when auto-assign is on, tickets wait and an agent has room, mark the
-- release due now and take its lease. Returns 1 when the caller must enqueue a release job (nobody
-- holds the lease: no release is queued or running), else 0. A release in flight sees the new room in
-- its next batch; one that died leaves the lease to expire and the sweep (release_due) to re-ring.
local function ring_release(settingsKey, waitingKey, readyKey, releaseDueKey, leaseKey, accountId, nowMs, leaseMs)
  local s = rcall('HMGET', settingsKey, 'auto_assign', 'round_robin')
  if s[1] ~= 'on' or s[2] ~= 'on' then return 0 end
  if rcall('ZCARD', waitingKey) == 0 or rcall('ZCARD', readyKey) == 0 then return 0 end
  release_due_at(releaseDueKey, accountId, nowMs)
  if rcall('SET', leaseKey, nowMs, 'NX', 'PX', leaseMs) then return 1 end
  return 0
end

-- Presence timeout (docs/DESIGN.md, "Presence timeout"): an Online agent of an account with a timeout is
-- filed in the partition's presenceDue zset at (last heartbeat + timeout); the workers' sweep sets them
-- Offline once that passes without a newer heartbeat.
local function file_presence(settingsKey, presenceDueKey, accountId, userId, heartbeatMs)
  local timeout = tonumber(rcall('HGET', settingsKey, 'presence_timeout') or '')
  if timeout then
    rcall('ZADD', presenceDueKey, heartbeatMs + timeout * 1000, accountId .. ' ' .. userId)
  end
end

local function unfile_presence(presenceDueKey, accountId, userId)
  rcall('ZREM', presenceDueKey, accountId .. ' ' .. userId)
end

-- Whether the account releases at all (auto-assign and round robin on, an account capacity), and whether
-- a release has work now: toasts not yet sent (whatever the settings), or, releasing, tickets waiting while
-- an agent has room, or an after-hours ticket whose opening has come (claim_release, end_release).
local function releasing(settingsKey, capacityKey)
  local s = rcall('HMGET', settingsKey, 'auto_assign', 'round_robin')
  return s[1] == 'on' and s[2] == 'on' and rcall('HEXISTS', capacityKey, '*') == 1
end

local function release_work(settingsKey, capacityKey, waitingKey, laterKey, readyKey, toastsKey, nowMs)
  local on = releasing(settingsKey, capacityKey)
  local dueLater = #rcall('ZRANGEBYSCORE', laterKey, '-inf', nowMs, 'LIMIT', 0, 1) > 0
  local room = rcall('ZCARD', waitingKey) > 0 and rcall('ZCARD', readyKey) > 0
  return on, rcall('HLEN', toastsKey) > 0 or (on and (room or dueLater))
end

-- Nothing to release now: the account owes a release at its next after-hours opening, or none.
local function file_next_opening(on, laterKey, releaseDueKey, accountId)
  local nextLater = rcall('ZRANGE', laterKey, 0, 0, 'WITHSCORES')
  if on and #nextLater > 0 then
    rcall('ZADD', releaseDueKey, nextLater[2], accountId)
  else
    rcall('ZREM', releaseDueKey, accountId)
  end
end

-- Reassignment (docs/DESIGN.md, "Reassignment (away, unanswered)"): a customer reply or reopen while the
-- assignee is away, or no first reply in time, sends an assigned ticket through the rotation again.

-- The next agent by the capacity rules (head of ready when the account has a capacity, else of online),
-- skipping `skipAgentId` (the previous assignee) by taking the second; nil when nobody else is there.
-- The one pick every reassignment uses (per-channel pools plug in here).
local function next_agent(capacityKey, readyKey, onlineKey, skipAgentId)
  local pool = onlineKey
  if rcall('EXISTS', capacityKey) == 1 then pool = readyKey end
  local head = rcall('ZRANGE', pool, 0, 1)
  if head[1] ~= nil and head[1] ~= skipAgentId then return head[1] end
  return head[2]
end

-- The TTFR bucket (seconds) a duration falls in: TTFR_BUCKETS, the generated prelude.
local function ttfr_bucket(seconds)
  for _, bound in ipairs(TTFR_BUCKETS) do
    if seconds <= bound then return tostring(bound) end
  end
  return 'inf'
end

-- One duration into a histogram of the day's stats hash: '<name>:<bucket>', '<name>_sum', '<name>_count'.
local function file_histogram(statsKey, name, seconds)
  rcall('HINCRBY', statsKey, name .. ':' .. ttfr_bucket(seconds), 1)
  rcall('HINCRBY', statsKey, name .. '_sum', seconds)
  rcall('HINCRBY', statsKey, name .. '_count', 1)
end

-- File the no-first-reply timer of an automatic assignment made at `assignedMs` while the account has
-- reassign-unanswered on ('<account> <ticket>' → due ms in the partition's unansweredDue zset), unless the
-- ticket was already reassigned for no first reply as often as the setting allows (`done`; nil: never).
local function file_unanswered(settingsKey, unansweredDueKey, accountId, ticketId, assignedMs, done)
  local s = rcall('HMGET', settingsKey, 'unanswered_after', 'unanswered_max')
  local after = tonumber(s[1] or '')
  if after and tonumber(done or 0) < tonumber(s[2] or '1') then
    rcall('ZADD', unansweredDueKey, tonumber(assignedMs) + after * 1000, accountId .. ' ' .. ticketId)
  end
end

-- The keys and arguments every reassignment takes, in one order (KEYS[1..13] and ARGV[1..12] of
-- customer_reply and expire_unanswered; reopen_ticket builds the same tables from its own).
local function reassign_context(K, A)
  return {ticket = K[1], settings = K[2], online = K[3], ready = K[4], places = K[5], seq = K[6],
          capacity = K[7], load = K[8], counts = K[9], stats = K[10], events = K[11], pevents = K[12],
          unansweredDue = K[13]},
         {accountId = A[1], ticketId = A[2], nowMs = tonumber(A[3]), nowIso = A[4], hour = A[5], eventId = A[6],
          toastId = A[7], maxlen = A[8], pmaxlen = A[9], statsTtl = A[10], recordTtl = tonumber(A[11]),
          leaseMs = A[12]}
end

-- The ticket leaves its assignee: their load goes down; the figures of the reassignment (by reason, and how
-- long the ticket sat with them since its assignment) go into the day's stats.
local function leave_assignee(k, a, rec, reason)
  add_load(k.load, rec.agent, -1)
  refresh_ready(k.capacity, k.ready, k.online, k.load, rec.agent)
  rcall('HINCRBY', k.stats, 'reassigned:' .. reason, 1)
  local since = tonumber(rec.assignedMs or rec.createdMs or a.nowMs)
  file_histogram(k.stats, 'reassign_held', math.max(0, math.floor((a.nowMs - since) / 1000)))
  rcall('EXPIRE', k.stats, a.statsTtl)
  rcall('ZREM', k.unansweredDue, a.accountId .. ' ' .. a.ticketId)
end

-- The record of the assigned ticket `k.ticket` as a reassignment needs it.
local function assigned_record(k)
  local r = rcall('HMGET', k.ticket, 'agent_id', 'channel', 'assigned_ms', 'created_ms')
  return {agent = r[1], channel = r[2], assignedMs = r[3], createdMs = r[4]}
end

-- Send the assigned ticket to the next agent (skipping its assignee) like round robin: place, counts,
-- load, stats, record (reason, previous_agent_id, reassignments, reassigned_at/ms, auto), the no-first-reply
-- timer, ticket.assigned and a toast. Returns the new assignee, or nil with nothing written when nobody
-- else is available.
local function reassign(k, a, rec, reason)
  local agentId = next_agent(k.capacity, k.ready, k.online, rec.agent)
  if not agentId then return nil end
  leave_assignee(k, a, rec, reason)
  local place = rcall('INCR', k.seq)
  rcall('ZADD', k.online, place, agentId)
  rcall('HSET', k.places, agentId, place)
  rcall('HINCRBY', k.counts, agentId, 1)
  add_load(k.load, agentId, 1)
  refresh_ready(k.capacity, k.ready, k.online, k.load, agentId)
  rcall('HINCRBY', k.stats, 'assigned:' .. agentId, 1)
  rcall('HSET', k.ticket, 'status', 'assigned', 'agent_id', agentId, 'previous_agent_id', rec.agent,
        'reason', reason, 'auto', '1', 'assigned_ms', a.nowMs, 'reassigned_at', a.nowIso, 'reassigned_ms', a.nowMs,
        'decided_at', a.nowIso)
  rcall('HINCRBY', k.ticket, 'reassignments', 1)
  local done = rcall('HGET', k.ticket, 'unanswered_reassignments')
  if reason == 'no_first_reply' then done = rcall('HINCRBY', k.ticket, 'unanswered_reassignments', 1) end
  if a.recordTtl and a.recordTtl > 0 then rcall('EXPIRE', k.ticket, a.recordTtl) end
  file_unanswered(k.settings, k.unansweredDue, a.accountId, a.ticketId, a.nowMs, done)
  -- Ids are validated to [A-Za-z0-9._@+-]; channels and reasons are ours: nothing needs JSON escaping.
  emit_raw(k.events, k.pevents, a.accountId, a.maxlen, a.pmaxlen, 'ticket.assigned',
           '{"id":"' .. a.eventId .. '","type":"ticket.assigned","schema_version":"1","account_id":"' ..
           a.accountId .. '","occurred_at":"' .. a.nowIso .. '","ticket_id":"' .. a.ticketId .. '","channel":"' ..
           rec.channel .. '","agent_id":"' .. agentId .. '","previous_agent_id":"' .. rec.agent ..
           '","reason":"' .. reason .. '","team_id":null}')
  emit_raw(k.events, k.pevents, a.accountId, a.maxlen, a.pmaxlen, 'toast',
           '{"id":"' .. a.toastId .. '","type":"toast","schema_version":"1","account_id":"' .. a.accountId ..
           '","occurred_at":"' .. a.nowIso .. '","user_id":"' .. agentId .. '","text":"' .. rec.channel ..
           ' ticket ' .. a.ticketId .. ' reassigned to you (' .. reason .. ')","ticket_ids":["' .. a.ticketId ..
           '"]}')
  return agentId
end

-- Nobody else available for a ticket whose assignee is away: it becomes unassigned (no_agent_online, or
-- all_agents_at_capacity when agents are Online but full), back in the unassigned set and parked in
-- waiting by its created_ms, so a release takes it in its turn (and assigns it with previous_agent_id).
-- w: {unassigned, waiting, uqDepth, releaseDue, lease}. Returns the reason and whether to enqueue a release.
local function reassign_to_waiting(k, w, a, rec, trigger)
  leave_assignee(k, a, rec, trigger)
  rcall('HINCRBY', k.stats, 'reassign_waiting:' .. trigger, 1)
  local why = 'no_agent_online'
  if rcall('EXISTS', k.capacity) == 1 and rcall('EXISTS', k.online) == 1 then why = 'all_agents_at_capacity' end
  local createdMs = rec.createdMs or a.nowMs
  rcall('HDEL', k.ticket, 'agent_id', 'assigned_ms')
  rcall('HSET', k.ticket, 'status', 'unassigned', 'reason', why, 'previous_agent_id', rec.agent,
        'reassign_reason', trigger, 'available_at', '', 'available_ms', '', 'reassigned_at', a.nowIso,
        'reassigned_ms', a.nowMs, 'decided_at', a.nowIso)
  rcall('PERSIST', k.ticket)  -- waiting: kept until assigned, like every waiting ticket
  rcall('ZADD', w.unassigned, createdMs, a.ticketId)
  rcall('ZADD', w.waiting, createdMs, a.ticketId)
  record_depth(w.uqDepth, k.stats, a.hour, rec.channel .. ':' .. why, 1)
  record_total_peak(k.stats, a.hour, rcall('ZCARD', w.unassigned))
  emit_raw(k.events, k.pevents, a.accountId, a.maxlen, a.pmaxlen, 'ticket.unassigned',
           '{"id":"' .. a.eventId .. '","type":"ticket.unassigned","schema_version":"1","account_id":"' ..
           a.accountId .. '","occurred_at":"' .. a.nowIso .. '","ticket_id":"' .. a.ticketId .. '","channel":"' ..
           rec.channel .. '","reason":"' .. why .. '","available_at":null}')
  local ring = ring_release(k.settings, w.waiting, k.ready, w.releaseDue, w.lease, a.accountId, a.nowMs, a.leaseMs)
  return why, ring
end

-- Whether the assignee is away at `atMs` for reassign-away: the setting is on, round robin is on, and the
-- assignee is Offline since at least the grace before `atMs` (Offline since before this version: since ever).
local function assignee_away(settingsKey, onlineKey, offlineSinceKey, agentId, atMs)
  local s = rcall('HMGET', settingsKey, 'reassign_away', 'reassign_away_grace', 'round_robin')
  if s[1] ~= 'on' or s[3] ~= 'on' or not agentId then return false end
  if rcall('ZSCORE', onlineKey, agentId) then return false end
  local since = tonumber(rcall('HGET', offlineSinceKey, agentId) or '0')
  return since + tonumber(s[2] or '0') * 1000 <= tonumber(atMs)
end
