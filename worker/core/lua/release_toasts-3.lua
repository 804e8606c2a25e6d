--[[
  Send the toasts of a release: one per agent ("3 waiting tickets assigned to you", with the ticket
  ids), for the tickets released to them that no toast has named yet. Each agent's entry is taken and
  deleted in one step, so concurrent releases never toast a ticket twice.

  Input:
    KEYS[1] toasts   {rr:pNN}:a:<acct>:release:toasts   hash agent → '"t1","t2"' released, not yet toasted
    KEYS[2] events   {rr:pNN}:a:<acct>:events           account stream
    KEYS[3] pevents  {rr:pNN}:events                    partition stream

    ARGV[1] account id  ARGV[2] now ISO  ARGV[3] account stream MAXLEN  ARGV[4] partition stream MAXLEN
    ARGV[5] release run id (toast ids are '<run>.toast.<agent>')   ARGV[6...] agent ids

  Output:
    {toasts sent}
]]
local toastsKey, eventsKey, partitionEventsKey = KEYS[1], KEYS[2], KEYS[3]
local accountId, nowIso, runId = ARGV[1], ARGV[2], ARGV[5]
local sent = 0
for i = 6, #ARGV do
  local agentId = ARGV[i]
  local ids = rcall('HGET', toastsKey, agentId)
  if ids then
    rcall('HDEL', toastsKey, agentId)
    local _, commas = string.gsub(ids, ',', '')
    local count = commas + 1
    local text = count .. ' waiting tickets assigned to you'
    if count == 1 then text = '1 waiting ticket assigned to you' end
    emit_raw(eventsKey, partitionEventsKey, accountId, ARGV[3], ARGV[4], 'toast',
             '{"id":"' .. runId .. '.toast.' .. agentId .. '","type":"toast","schema_version":"1","account_id":"' ..
             accountId .. '","occurred_at":"' .. nowIso .. '","user_id":"' .. agentId .. '","text":"' .. text ..
             '","ticket_ids":[' .. ids .. ']}')
    sent = sent + 1
  end
end
return {sent}
