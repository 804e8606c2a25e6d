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
