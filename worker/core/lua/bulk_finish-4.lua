--[[
  Finish a bulk team assignment: one toast per agent for the whole job ("12 tickets from team
  billing"), not one per ticket. The worker groups the job's done list by agent (in Python, where
  it costs far less than in Lua) and sends the toasts in chunks of agents, so no call blocks Redis
  long whatever the job's or the team's size. Safe to retry: each agent's toast is flagged in the
  job's hash before it is sent, so a re-run call skips it; the call marked last stores 'toasted'.

  Input:
    KEYS[1] progress {rr:pNN}:a:<acct>:bulk:<job>       hash: toast:<agent> flags, toasted
    KEYS[2] done     {rr:pNN}:a:<acct>:bulk:<job>:done  list of 'agent ticket' the job assigned
    KEYS[3] events   {rr:pNN}:a:<acct>:events           account stream
    KEYS[4] pevents  {rr:pNN}:events                    partition stream

    ARGV[1] account id  ARGV[2] team id  ARGV[3] job id  ARGV[4] now ISO
    ARGV[5] account stream MAXLEN  ARGV[6] partition stream MAXLEN
    ARGV[7] seconds to keep the job's bookkeeping afterwards   ARGV[8] '1' if this is the last chunk
    ARGV[9...] triples: agent id, number of tickets, the tickets as JSON strings joined by ','

  Output:
    {toasts sent by this call}
]]
local progressKey, doneKey, eventsKey, partitionEventsKey = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local accountId, teamId, jobId, nowIso = ARGV[1], ARGV[2], ARGV[3], ARGV[4]

local toasts = 0
if rcall('HGET', progressKey, 'toasted') ~= '1' then
  for i = 9, #ARGV, 3 do
    local agentId, n, ids = ARGV[i], ARGV[i + 1], ARGV[i + 2]
    if rcall('HSETNX', progressKey, 'toast:' .. agentId, '1') == 1 then
      local noun = 'tickets'
      if n == '1' then noun = 'ticket' end
      emit_raw(eventsKey, partitionEventsKey, accountId, ARGV[5], ARGV[6], 'toast',
               '{"id":"' .. jobId .. '.toast.' .. agentId .. '","type":"toast","schema_version":"1","account_id":"' ..
               accountId .. '","occurred_at":"' .. nowIso .. '","user_id":"' .. agentId .. '","text":"' .. n .. ' ' ..
               noun .. ' from team ' .. teamId .. '","ticket_ids":[' .. ids .. ']}')
      toasts = toasts + 1
    end
  end
end
if ARGV[8] == '1' then
  rcall('HSET', progressKey, 'toasted', '1')
  rcall('EXPIRE', progressKey, ARGV[7])
  rcall('EXPIRE', doneKey, ARGV[7])
end
return {toasts}
