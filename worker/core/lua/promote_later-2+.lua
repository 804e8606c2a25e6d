--[[
  After-hours tickets whose opening has come join the waiting queue at their arrival time (created_at),
  so a release takes them in order with the others. A ticket no longer waiting after hours (assigned,
  closed, its record gone) just leaves 'later'. Idempotent; any number may run at once.

  Input:
    KEYS[1] later       {rr:pNN}:a:<acct>:later         zset after-hours tickets by available_at ms
    KEYS[2] waiting     {rr:pNN}:a:<acct>:waiting       zset releasable waiting tickets by created_at ms
    KEYS[3...] tickets  {rr:pNN}:a:<acct>:t:<ticket>    the records of the tickets in ARGV[2...]

    ARGV[1] now ms   ARGV[2...] ticket ids the caller read as due in 'later' (KEYS order)

  Output:
    {promoted}: tickets moved into 'waiting' (ones not yet due, or no longer in 'later', are left alone).
]]
local laterKey, waitingKey, nowMs = KEYS[1], KEYS[2], tonumber(ARGV[1])
local promoted = 0
for i = 3, #KEYS do
  local ticketId = ARGV[i - 1]
  local due = rcall('ZSCORE', laterKey, ticketId)
  if due and tonumber(due) <= nowMs then
    rcall('ZREM', laterKey, ticketId)
    local rec = rcall('HMGET', KEYS[i], 'status', 'closed', 'reason', 'created_ms')
    if rec[1] == 'unassigned' and rec[2] ~= '1' and rec[3] == 'after_hours' then
      rcall('ZADD', waitingKey, rec[4] or 0, ticketId)
      promoted = promoted + 1
    end
  end
end
return {promoted}
