--[[
  Close a ticket (docs/DESIGN.md, "Ticket lifecycle and load"). Idempotent: closing a closed ticket
  changes nothing and emits nothing. An assigned ticket's assignee loses one unit of load; a waiting
  ticket leaves the unassigned set (and its depth counter). A close that arrives before its ticket is
  kept as a record holding only closed = 1: decide_ticket then records the ticket closed, unassigned.
  Refuses (writes nothing) a close for an account with no users.

  Input:
    KEYS[1] ticket      {rr:pNN}:a:<acct>:t:<ticket>   hash, the ticket's record (closed = 1 once closed)
    KEYS[2] users       {rr:pNN}:a:<acct>:users        hash user → role (none: nobody set the account up)
    KEYS[3] unassigned  {rr:pNN}:a:<acct>:unassigned   zset ticket → created_at ms
    KEYS[4] load        {rr:pNN}:a:<acct>:load         hash agent → open tickets assigned
    KEYS[5] uqDepth     {rr:pNN}:a:<acct>:uq_depth     unassigned depth per channel:reason
    KEYS[6] stats       {rr:pNN}:a:<acct>:stats:<DAY>  figures of the day of the close (docs/STATS.md)
    KEYS[7] events      {rr:pNN}:a:<acct>:events       the account's event stream
    KEYS[8] pevents     {rr:pNN}:events                the partition's event stream
    KEYS[9] settings    {rr:pNN}:a:<acct>:settings     hash auto_assign, round_robin
    KEYS[10] online     {rr:pNN}:a:<acct>:online       zset Online agents by rotation place
    KEYS[11] capacity   {rr:pNN}:a:<acct>:capacity     hash '*' / agent → capacity
    KEYS[12] ready      {rr:pNN}:a:<acct>:ready        zset Online agents below capacity by place
    KEYS[13] waiting    {rr:pNN}:a:<acct>:waiting      zset releasable waiting tickets by created_at ms
    KEYS[14] later      {rr:pNN}:a:<acct>:later        zset after-hours tickets by available_at ms
    KEYS[15] releaseDue {rr:pNN}:release_due           zset account → ms a release is owed from
    KEYS[16] lease      {rr:pNN}:a:<acct>:release:lease set while a release is queued or running
    KEYS[17] unansweredDue {rr:pNN}:unanswered_due     zset '<acct> <ticket>' → ms its first reply is due (a close cancels it)
    KEYS[18] agentChannels {rr:pNN}:a:<acct>:agent_channels  hash agent → channels taken (per-channel pools)
    KEYS[19] poolEmail {rr:pNN}:a:<acct>:pool:email  zset Online agents taking email, by place
    KEYS[20] poolWebchat {rr:pNN}:a:<acct>:pool:webchat  zset Online agents taking webchat, by place
    KEYS[21] poolSms {rr:pNN}:a:<acct>:pool:sms  zset Online agents taking sms, by place
    KEYS[22] poolSocial {rr:pNN}:a:<acct>:pool:social  zset Online agents taking social, by place
    KEYS[23] waitEmail {rr:pNN}:a:<acct>:waiting:email  zset waiting email tickets by created_at ms
    KEYS[24] waitWebchat {rr:pNN}:a:<acct>:waiting:webchat  zset waiting webchat tickets by created_at ms
    KEYS[25] waitSms {rr:pNN}:a:<acct>:waiting:sms  zset waiting sms tickets by created_at ms
    KEYS[26] waitSocial {rr:pNN}:a:<acct>:waiting:social  zset waiting social tickets by created_at ms

    ARGV[1] account id  ARGV[2] ticket id  ARGV[3] now ISO (occurred_at)  ARGV[4] event id
    ARGV[5] account stream MAXLEN (~)  ARGV[6] partition stream MAXLEN (~)  ARGV[7] hour HH of now (UTC)
    ARGV[8] seconds to keep the stats key   ARGV[9] seconds to keep the record of a ticket closed while
            waiting, or of a close that came first (0 = forever; an assigned one keeps its own expiry)
    ARGV[10] now ms   ARGV[11] release lease (ms)

  Output:
    {changed (1|0), agent id or '', ring}: the assignee ('' when the ticket was not assigned); ring 1 when
    the assignee's freed room starts a release the caller must enqueue (it took the release lease).
    error 'RR_UNKNOWN_ACCOUNT <message>' when the account has no users; nothing is written.
]]
local ticketKey, usersKey, unassignedKey, loadKey = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local uqDepthKey, statsKey, eventsKey, partitionEventsKey = KEYS[5], KEYS[6], KEYS[7], KEYS[8]
local accountId, ticketId, nowIso, eventId = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local maxlen, partitionMaxlen, hour, statsTtl, recordTtl = ARGV[5], ARGV[6], ARGV[7], ARGV[8], tonumber(ARGV[9])
local settingsKey, onlineKey, capacityKey, readyKey = KEYS[9], KEYS[10], KEYS[11], KEYS[12]
local waitingKey, laterKey, releaseDueKey, leaseKey = KEYS[13], KEYS[14], KEYS[15], KEYS[16]
local cb = channel_block(18)

if rcall('EXISTS', usersKey) == 0 then
  return redis.error_reply('RR_UNKNOWN_ACCOUNT account ' .. accountId .. ' has no users (nobody set it up): ' ..
                           'the close of ticket ' .. ticketId .. ' was not recorded')
end
local rec = rcall('HMGET', ticketKey, 'status', 'agent_id', 'channel', 'reason', 'closed')
local agentId = ''
if rec[1] == 'assigned' and rec[2] then agentId = rec[2] end
if rec[5] == '1' then return {0, agentId, 0} end

rcall('HSET', ticketKey, 'closed', '1', 'closed_at', nowIso)
rcall('ZREM', KEYS[17], accountId .. ' ' .. ticketId)
local ring = 0
if agentId ~= '' then
  add_load(loadKey, agentId, -1)
  upkeep(capacityKey, readyKey, onlineKey, loadKey, cb, agentId)
  ring = ring_release(settingsKey, waitingKey, readyKey, releaseDueKey, leaseKey, accountId, tonumber(ARGV[10]),
                      ARGV[11])
else
  unpark(waitingKey, laterKey, ticketId)
  unpark_channel(cb, ticketId, rec[3])
  if rec[1] == 'unassigned' and rcall('ZREM', unassignedKey, ticketId) == 1 then
    record_depth(uqDepthKey, statsKey, hour, rec[3] .. ':' .. rec[4], -1)
    rcall('EXPIRE', statsKey, statsTtl)
  end
  if recordTtl > 0 then rcall('EXPIRE', ticketKey, recordTtl) end
end
local agentJson = 'null'
if agentId ~= '' then agentJson = '"' .. agentId .. '"' end
-- Ids are validated to [A-Za-z0-9._@+-]: nothing needs JSON escaping.
emit_raw(eventsKey, partitionEventsKey, accountId, maxlen, partitionMaxlen, 'ticket.closed',
         '{"id":"' .. eventId .. '","type":"ticket.closed","schema_version":"1","account_id":"' .. accountId ..
         '","occurred_at":"' .. nowIso .. '","ticket_id":"' .. ticketId .. '","agent_id":' .. agentJson .. '}')
return {1, agentId, ring}
