--[[
  Record an agent's first reply to a ticket: its time to first reply (TTFR) goes into the histograms
  of the day the ticket arrived (its created_at, not the day of the reply), overall, per agent, per
  channel and by whether round robin was on when the ticket arrived, with the largest TTFR seen per
  dimension, and by whether the ticket was reassigned (reassigned:yes|no; for a reassigned one also the time
  from its last reassignment to the reply, after_reassign). The reply cancels the ticket's no-first-reply
  timer (docs/STATS.md). Only the first reply counts; a repeat changes nothing.

  Input:
    KEYS[1] ticket  {rr:pNN}:a:<acct>:t:<ticket>   the ticket's record
    KEYS[2] users   {rr:pNN}:a:<acct>:users        hash user → role
    KEYS[3] stats   {rr:pNN}:a:<acct>:stats:<DAY>  figures of the day the ticket arrived (its created_ms)
    KEYS[4] metrics {rr:pNN}:metrics               the partition's ops counters
    KEYS[5] unansweredDue {rr:pNN}:unanswered_due  zset '<acct> <ticket>' → ms its first reply is due (the reply cancels it)

    ARGV[1] agent id  ARGV[2] replied_at ISO  ARGV[3] replied_at ms
    ARGV[4] seconds to keep the stats key (the retention counted from the end of the day it holds); <= 0
            (the ticket arrived longer ago than the retention): the figures are not filed, the reply is
            still recorded on the ticket
    ARGV[5] start of the UTC day the stats key holds, ms   ARGV[6] start of the next day, ms
    ARGV[7] account id   ARGV[8] ticket id

  Output:
    {ttfr seconds, duplicate (1|0)}
    {-1, created_ms} when the ticket did not arrive on the day the stats key holds (nothing written): the
      caller calls again with the stats key of that day.
    errors: 'RR_UNKNOWN_TICKET ...' (never seen, or its record expired), 'RR_UNKNOWN_USER ...',
    'RR_INVALID ...' (the reply is before the ticket was created).
]]
local ticketKey, usersKey, statsKey, metricsKey = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local agentId, repliedIso, repliedMs = ARGV[1], ARGV[2], tonumber(ARGV[3])
local statsTtl, dayStartMs, dayEndMs = tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])

local rec = rcall('HMGET', ticketKey, 'created_ms', 'channel', 'rr', 'ttfr', 'reassigned_ms')
if not rec[1] then
  return redis.error_reply('RR_UNKNOWN_TICKET no such ticket (never seen, or its record expired)')
end
local _, err = role_of(usersKey, agentId)
if err then return redis.error_reply(err) end
if rec[4] then return {tonumber(rec[4]), 1} end
local createdMs = tonumber(rec[1])
if createdMs < dayStartMs or createdMs >= dayEndMs then
  return {-1, createdMs}
end
local ttfr = math.floor((repliedMs - createdMs) / 1000)
if repliedMs < createdMs then
  return redis.error_reply('RR_INVALID the reply (' .. repliedIso .. ') is before the ticket was created')
end
if statsTtl > 0 then
  local bucket = ttfr_bucket(ttfr)  -- TTFR_BUCKETS: the generated prelude (worker/core/shared_constants.py)
  local reassigned = 'no'
  if rec[5] then
    reassigned = 'yes'
    file_histogram(statsKey, 'after_reassign', math.max(0, math.floor((repliedMs - tonumber(rec[5])) / 1000)))
  end
  for _, dim in ipairs({'all', 'agent:' .. agentId, 'channel:' .. rec[2], 'rr:' .. (rec[3] or 'on'),
                        'reassigned:' .. reassigned}) do
    rcall('HINCRBY', statsKey, 'ttfr:' .. dim .. ':' .. bucket, 1)
    rcall('HINCRBY', statsKey, 'ttfr_sum:' .. dim, ttfr)
    rcall('HINCRBY', statsKey, 'ttfr_count:' .. dim, 1)
    if ttfr > tonumber(rcall('HGET', statsKey, 'ttfr_max:' .. dim) or '-1') then
      rcall('HSET', statsKey, 'ttfr_max:' .. dim, ttfr)
    end
  end
  rcall('EXPIRE', statsKey, statsTtl)
end
rcall('HINCRBY', metricsKey, 'first_replies', 1)
rcall('HSET', ticketKey, 'first_reply_at', repliedIso, 'first_reply_agent', agentId, 'ttfr', ttfr)
rcall('ZREM', KEYS[5], ARGV[7] .. ' ' .. ARGV[8])
return {ttfr, 0}
