--[[
  Finish a bulk team assignment: one toast per agent for the whole job ("12 tickets from team
  billing"), not one per ticket. Called repeatedly: each call groups at most ARGV[8] entries of the
  job's done list (so no call blocks Redis long, whatever the job's size); the call that reaches the
  end sends the toasts. Safe to retry: the grouping offset and the toasted flag are stored.

  Input:
    KEYS[1] progress  rr:{rr:pNN}:a:<acct>:bulk:<job>       hash: grouped offset, per-agent ids, toasted
    KEYS[2] done      rr:{rr:pNN}:a:<acct>:bulk:<job>:done  list of 'agent ticket' the job assigned
    KEYS[3] events    rr:{rr:pNN}:a:<acct>:events           account stream
    KEYS[4] pevents   {rr:pNN}:events                       partition stream

    ARGV[1] account id  ARGV[2] team id  ARGV[3] job id  ARGV[4] now ISO
    ARGV[5] account stream MAXLEN  ARGV[6] partition stream MAXLEN
    ARGV[7] seconds to keep the job's bookkeeping afterwards   ARGV[8] entries to group per call

  Output:
    {toasts sent by this call, finished (1|0)}
]]
local progressKey, doneKey, eventsKey, partitionEventsKey = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local accountId, teamId, jobId, nowIso = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local chunk = tonumber(ARGV[8])

if rcall('HGET', progressKey, 'toasted') == '1' then return {0, 1} end
local from = tonumber(rcall('HGET', progressKey, 'grouped') or '0')
local entries = rcall('LRANGE', doneKey, from, from + chunk - 1)
local order, ids = {}, {}
for _, entry in ipairs(entries) do
  local space = string.find(entry, ' ', 1, true)
  local agentId, ticketId = string.sub(entry, 1, space - 1), string.sub(entry, space + 1)
  if not ids[agentId] then
    ids[agentId] = {}
    order[#order + 1] = agentId
  end
  local list = ids[agentId]
  list[#list + 1] = '"' .. ticketId .. '"'
end
local agents = rcall('HGET', progressKey, 'agents') or ''
for _, agentId in ipairs(order) do
  local so_far = rcall('HGET', progressKey, 'ids:' .. agentId)
  local more = table.concat(ids[agentId], ',')
  if so_far then
    more = so_far .. ',' .. more
  else
    agents = agents .. agentId .. ' '
  end
  rcall('HSET', progressKey, 'ids:' .. agentId, more)
  rcall('HINCRBY', progressKey, 'n:' .. agentId, #ids[agentId])
end
rcall('HSET', progressKey, 'grouped', from + #entries, 'agents', agents)
if #entries == chunk then return {0, 0} end

local toasts = 0
for agentId in string.gmatch(agents, '%S+') do
  local n = tonumber(rcall('HGET', progressKey, 'n:' .. agentId))
  local noun = 'tickets'
  if n == 1 then noun = 'ticket' end
  emit_raw(eventsKey, partitionEventsKey, accountId, ARGV[5], ARGV[6], 'toast',
           '{"id":"' .. jobId .. '.toast.' .. agentId .. '","type":"toast","schema_version":"1","account_id":"' ..
           accountId .. '","occurred_at":"' .. nowIso .. '","user_id":"' .. agentId .. '","text":"' .. n .. ' ' ..
           noun .. ' from team ' .. teamId .. '","ticket_ids":[' .. rcall('HGET', progressKey, 'ids:' .. agentId) .. ']}')
  toasts = toasts + 1
end
rcall('HSET', progressKey, 'toasted', '1')
rcall('EXPIRE', progressKey, ARGV[7])
rcall('EXPIRE', doneKey, ARGV[7])
return {toasts, 1}
