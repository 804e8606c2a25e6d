--[[
  Record an agent's first reply to a ticket: its time to first reply (TTFR) goes into the day's
  histograms overall, per agent, per channel and by whether round robin was on when the ticket
  arrived (docs/STATS.md). Only the first reply counts; a repeat changes nothing.

  Input:
    KEYS[1] ticket  {rr:pNN}:a:<acct>:t:<ticket>   the ticket's record
    KEYS[2] users   {rr:pNN}:a:<acct>:users        hash user → role
    KEYS[3] stats   {rr:pNN}:a:<acct>:stats:<DAY>  the day's figures (day of processing)
    KEYS[4] metrics {rr:pNN}:metrics               the partition's ops counters

    ARGV[1] agent id  ARGV[2] replied_at ISO  ARGV[3] replied_at ms  ARGV[4] seconds to keep stats

  Output:
    {ttfr seconds, duplicate (1|0)}
    errors: 'RR_UNKNOWN_TICKET ...' (never seen, or its record expired), 'RR_UNKNOWN_USER ...',
    'RR_INVALID ...' (the reply is before the ticket was created).
]]
local ticketKey, usersKey, statsKey, metricsKey = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local agentId, repliedIso, repliedMs = ARGV[1], ARGV[2], tonumber(ARGV[3])

local rec = rcall('HMGET', ticketKey, 'created_ms', 'channel', 'rr', 'ttfr')
if not rec[1] then
  return redis.error_reply('RR_UNKNOWN_TICKET no such ticket (never seen, or its record expired)')
end
local _, err = role_of(usersKey, agentId)
if err then return redis.error_reply(err) end
if rec[4] then return {tonumber(rec[4]), 1} end
local ttfr = math.floor((repliedMs - tonumber(rec[1])) / 1000)
if repliedMs < tonumber(rec[1]) then
  return redis.error_reply('RR_INVALID the reply (' .. repliedIso .. ') is before the ticket was created')
end
-- TTFR_BUCKETS: the generated prelude (worker/core/shared_constants.py)
local bucket = 'inf'
for _, bound in ipairs(TTFR_BUCKETS) do
  if ttfr <= bound then bucket = tostring(bound) break end
end
for _, dim in ipairs({'all', 'agent:' .. agentId, 'channel:' .. rec[2], 'rr:' .. (rec[3] or 'on')}) do
  rcall('HINCRBY', statsKey, 'ttfr:' .. dim .. ':' .. bucket, 1)
  rcall('HINCRBY', statsKey, 'ttfr_sum:' .. dim, ttfr)
  rcall('HINCRBY', statsKey, 'ttfr_count:' .. dim, 1)
end
rcall('EXPIRE', statsKey, ARGV[4])
rcall('HINCRBY', metricsKey, 'first_replies', 1)
rcall('HSET', ticketKey, 'first_reply_at', repliedIso, 'first_reply_agent', agentId, 'ttfr', ttfr)
return {ttfr, 0}
