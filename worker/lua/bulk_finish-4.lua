--[[
  Finish a bulk team assignment: one toast per agent for the whole job ("12 tickets from team
  Billing"), not one per ticket. Safe to retry: the toasts are sent once.

  Input:
    KEYS[1] progress  rr:{rr:pNN}:a:<acct>:bulk:<job>       hash of the job (toasted flag)
    KEYS[2] done      rr:{rr:pNN}:a:<acct>:bulk:<job>:done  list of 'agent ticket' the job assigned
    KEYS[3] events    rr:{rr:pNN}:a:<acct>:events           account stream
    KEYS[4] pevents   {rr:pNN}:events                       partition stream

    ARGV[1] account id  ARGV[2] team id  ARGV[3] job id  ARGV[4] now ISO
    ARGV[5] account stream MAXLEN  ARGV[6] partition stream MAXLEN
    ARGV[7] seconds to keep the job's bookkeeping afterwards

  Output:
    {toasts emitted}; 0 when this job's toasts were already sent.
]]
local progressKey, doneKey, eventsKey, partitionEventsKey = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local accountId, teamId, jobId, nowIso = ARGV[1], ARGV[2], ARGV[3], ARGV[4]

if rcall('HGET', progressKey, 'toasted') == '1' then return {0} end
local order, tickets = {}, {}
for _, entry in ipairs(rcall('LRANGE', doneKey, 0, -1)) do
  local space = string.find(entry, ' ', 1, true)
  local agentId, ticketId = string.sub(entry, 1, space - 1), string.sub(entry, space + 1)
  if not tickets[agentId] then
    tickets[agentId] = {}
    order[#order + 1] = agentId
  end
  local list = tickets[agentId]
  list[#list + 1] = ticketId
end
for _, agentId in ipairs(order) do
  local list = tickets[agentId]
  local noun = 'tickets'
  if #list == 1 then noun = 'ticket' end
  emit(eventsKey, partitionEventsKey, accountId, ARGV[5], ARGV[6], jobId .. '.toast.' .. agentId, 'toast', nowIso,
       {user_id = agentId, text = #list .. ' ' .. noun .. ' from team ' .. teamId},
       '"ticket_ids":' .. cjson.encode(list))
end
rcall('HSET', progressKey, 'toasted', '1')
rcall('EXPIRE', progressKey, ARGV[7])
rcall('EXPIRE', doneKey, ARGV[7])
return {#order}
