--[[
  After-hours tickets whose opening has come join the waiting queue at their arrival time (created_at),
  so a release takes them in order with the others. A ticket no longer waiting after hours (assigned,
  closed, its record gone) just leaves 'later'. Idempotent; any number may run at once.

  Input:
    KEYS[1] later       {rr:pNN}:a:<acct>:later         zset after-hours tickets by available_at ms
    KEYS[2] waiting     {rr:pNN}:a:<acct>:waiting       zset releasable waiting tickets by created_at ms
    KEYS[3] agentChannels {rr:pNN}:a:<acct>:agent_channels  hash agent → channels taken (per-channel pools)
    KEYS[4] poolEmail {rr:pNN}:a:<acct>:pool:email  zset Online agents taking email, by place
    KEYS[5] poolWebchat {rr:pNN}:a:<acct>:pool:webchat  zset Online agents taking webchat, by place
    KEYS[6] poolSms {rr:pNN}:a:<acct>:pool:sms  zset Online agents taking sms, by place
    KEYS[7] poolSocial {rr:pNN}:a:<acct>:pool:social  zset Online agents taking social, by place
    KEYS[8] waitEmail {rr:pNN}:a:<acct>:waiting:email  zset waiting email tickets by created_at ms
    KEYS[9] waitWebchat {rr:pNN}:a:<acct>:waiting:webchat  zset waiting webchat tickets by created_at ms
    KEYS[10] waitSms {rr:pNN}:a:<acct>:waiting:sms  zset waiting sms tickets by created_at ms
    KEYS[11] waitSocial {rr:pNN}:a:<acct>:waiting:social  zset waiting social tickets by created_at ms
    KEYS[12...] tickets {rr:pNN}:a:<acct>:t:<ticket>    the records of the tickets in ARGV[2...]

    ARGV[1] now ms   ARGV[2...] ticket ids the caller read as due in 'later' (KEYS order)

  Output:
    {promoted}: tickets moved into 'waiting' (ones not yet due, or no longer in 'later', are left alone).
]]
local laterKey, waitingKey, nowMs = KEYS[1], KEYS[2], tonumber(ARGV[1])
local cb, FIRST_TICKET_KEY = channel_block(3), 12
local promoted = 0
for i = FIRST_TICKET_KEY, #KEYS do
  local ticketId = ARGV[i - FIRST_TICKET_KEY + 2]
  local due = rcall('ZSCORE', laterKey, ticketId)
  if due and tonumber(due) <= nowMs then
    rcall('ZREM', laterKey, ticketId)
    local rec = rcall('HMGET', KEYS[i], 'status', 'closed', 'reason', 'created_ms', 'channel')
    if rec[1] == 'unassigned' and rec[2] ~= '1' and rec[3] == 'after_hours' then
      rcall('ZADD', waitingKey, rec[4] or 0, ticketId)
      park_channel(cb, ticketId, rec[5], 'no_agent_online', rec[4] or 0)
      promoted = promoted + 1
    end
  end
end
return {promoted}
