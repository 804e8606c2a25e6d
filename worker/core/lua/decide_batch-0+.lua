--[[
  Decide a batch of inbound tickets of one partition, in order, in one call: each ticket runs exactly the
  body of decide_ticket-32.lua (sent before this file as the function decide_one(KEYS, ARGV), see
  worker/core/script_sources.py), on its own 32 keys and 24 arguments. Used by the burst intake's drain
  (worker/core/drain.py); a ticket decided twice is decided once, as with decide_ticket.

  Input:
    KEYS[1...] key {rr:pNN}:<any> every distinct key the batch's tickets take (one partition: one slot)

    ARGV[1] number of tickets n; then per ticket i (from a = 2 + (i - 1) * 25):
    ARGV[a] the ticket's 32 keys as a comma list of indexes into KEYS, in decide_ticket's KEYS order
    ARGV[a + 1 .. a + 24] the ticket's ARGV[1..24] of decide_ticket

  Output:
    one reply per ticket decided, in order: decide_ticket's reply, or {'refused', message} for a ticket
    decide_ticket refuses (unknown account, waiting ceiling: its counter is filed, nothing else); when a
    webchat ticket finds the office hours stale, the batch stops there and its last reply is
    {'stale', version}: that ticket and the ones after it were not decided (the caller reloads and goes on).
]]
local count = tonumber(ARGV[1])
local replies = {}
for i = 1, count do
  local a = 2 + (i - 1) * 25
  local ticketKeys, ticketArgs = {}, {}
  for index in string.gmatch(ARGV[a], '%d+') do
    ticketKeys[#ticketKeys + 1] = KEYS[tonumber(index)]
  end
  for j = 1, 24 do
    ticketArgs[j] = ARGV[a + j]
  end
  local reply = decide_one(ticketKeys, ticketArgs)
  if reply.err then
    local code, message = string.match(reply.err, '^(%S+) (.*)$')
    if code == 'RR_STALE_OFFICE_HOURS' then
      replies[#replies + 1] = {'stale', message}
      return replies
    end
    replies[#replies + 1] = {'refused', reply.err}
  else
    replies[#replies + 1] = reply
  end
end
return replies
