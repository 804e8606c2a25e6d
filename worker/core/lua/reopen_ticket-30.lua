--[[
  Reopen a closed ticket (docs/DESIGN.md, "Ticket lifecycle and load"). Idempotent: reopening a ticket
  that is not closed (or never seen) changes nothing and emits nothing. An assigned ticket goes back
  to its assignee's load (+1); a ticket closed while waiting goes back into the unassigned set with
  the reason it waited for ('reopened' for one that arrived already closed); a close that came before
  its ticket is simply forgotten (the ticket, when it arrives, is decided as usual).
  A reopen counts as a customer message: an assigned ticket whose assignee is away (reassign_away on,
  Offline since at least the grace before the reopen's time) goes through the rotation again, skipping
  them (reason assignee_away), or waits when nobody else is available (docs/DESIGN.md, "Reassignment
  (away, unanswered)").
  Refuses (writes nothing) a reopen for an account with no users.

  Input:
    KEYS[1] ticket      {rr:pNN}:a:<acct>:t:<ticket>   hash, the ticket's record (closed = 1 while closed)
    KEYS[2] users       {rr:pNN}:a:<acct>:users        hash user → role (none: nobody set the account up)
    KEYS[3] unassigned  {rr:pNN}:a:<acct>:unassigned   zset ticket → created_at ms
    KEYS[4] load        {rr:pNN}:a:<acct>:load         hash agent → open tickets assigned
    KEYS[5] uqDepth     {rr:pNN}:a:<acct>:uq_depth     unassigned depth per channel:reason
    KEYS[6] stats       {rr:pNN}:a:<acct>:stats:<DAY>  figures of the day of the reopen (docs/STATS.md)
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
    KEYS[17] places     {rr:pNN}:a:<acct>:places       hash agent → rotation place
    KEYS[18] seq        {rr:pNN}:a:<acct>:seq          counter of rotation places
    KEYS[19] counts     {rr:pNN}:a:<acct>:counts       hash agent → tickets assigned
    KEYS[20] unansweredDue {rr:pNN}:unanswered_due     zset '<acct> <ticket>' → ms its first reply is due
    KEYS[21] offlineSince {rr:pNN}:a:<acct>:offline_since hash agent → ms they went Offline
    KEYS[22] agentChannels {rr:pNN}:a:<acct>:agent_channels  hash agent → channels taken (per-channel pools)
    KEYS[23] poolEmail {rr:pNN}:a:<acct>:pool:email  zset Online agents taking email, by place
    KEYS[24] poolWebchat {rr:pNN}:a:<acct>:pool:webchat  zset Online agents taking webchat, by place
    KEYS[25] poolSms {rr:pNN}:a:<acct>:pool:sms  zset Online agents taking sms, by place
    KEYS[26] poolSocial {rr:pNN}:a:<acct>:pool:social  zset Online agents taking social, by place
    KEYS[27] waitEmail {rr:pNN}:a:<acct>:waiting:email  zset waiting email tickets by created_at ms
    KEYS[28] waitWebchat {rr:pNN}:a:<acct>:waiting:webchat  zset waiting webchat tickets by created_at ms
    KEYS[29] waitSms {rr:pNN}:a:<acct>:waiting:sms  zset waiting sms tickets by created_at ms
    KEYS[30] waitSocial {rr:pNN}:a:<acct>:waiting:social  zset waiting social tickets by created_at ms

    ARGV[1] account id  ARGV[2] ticket id  ARGV[3] now ISO (occurred_at)  ARGV[4] event id
    ARGV[5] account stream MAXLEN (~)  ARGV[6] partition stream MAXLEN (~)  ARGV[7] hour HH of now (UTC)
    ARGV[8] seconds to keep the stats key   ARGV[9] now ms   ARGV[10] release lease (ms)
    ARGV[11] the reopen's time (at), ms   ARGV[12] event id of a reassignment's ticket.assigned / ticket.unassigned
    ARGV[13] its toast's event id   ARGV[14] assigned record TTL (s, 0 = forever)

  Output:
    {changed (1|0), agent id or '', ring, previous agent id or ''}: the assignee ('' when the ticket is not
    assigned: waiting); previous: the away assignee it left; ring 1 when a ticket back in the waiting queue
    starts a release the caller must enqueue (it took the release lease).
    A reopened assigned ticket counts toward its assignee's load even above their capacity (nobody
    chose to give it to them: it came back).
    error 'RR_UNKNOWN_ACCOUNT <message>' when the account has no users; nothing is written.
]]
local ticketKey, usersKey, unassignedKey, loadKey = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local uqDepthKey, statsKey, eventsKey, partitionEventsKey = KEYS[5], KEYS[6], KEYS[7], KEYS[8]
local accountId, ticketId, nowIso, eventId = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local maxlen, partitionMaxlen, hour, statsTtl = ARGV[5], ARGV[6], ARGV[7], ARGV[8]
local settingsKey, onlineKey, capacityKey, readyKey = KEYS[9], KEYS[10], KEYS[11], KEYS[12]
local waitingKey, laterKey, releaseDueKey, leaseKey = KEYS[13], KEYS[14], KEYS[15], KEYS[16]
local cb = channel_block(22)

if rcall('EXISTS', usersKey) == 0 then
  return redis.error_reply('RR_UNKNOWN_ACCOUNT account ' .. accountId .. ' has no users (nobody set it up): ' ..
                           'the reopen of ticket ' .. ticketId .. ' was not recorded')
end
local rec = rcall('HMGET', ticketKey, 'status', 'agent_id', 'channel', 'reason', 'closed', 'created_ms',
                  'available_ms')
local agentId = ''
if rec[1] == 'assigned' and rec[2] then agentId = rec[2] end
if rec[5] ~= '1' then return {0, agentId, 0} end

rcall('HDEL', ticketKey, 'closed', 'closed_at')
local ring = 0
if agentId ~= '' then
  add_load(loadKey, agentId, 1)
  upkeep(capacityKey, readyKey, onlineKey, loadKey, cb, agentId)
elseif rec[1] == 'unassigned' then
  local reason = rec[4]
  if reason == 'closed' then
    reason = 'reopened'
    rcall('HSET', ticketKey, 'reason', reason)
  end
  rcall('PERSIST', ticketKey)  -- waiting again: kept while it waits, like every waiting ticket
  rcall('ZADD', unassignedKey, rec[6] or 0, ticketId)
  local availableMs = rec[7] or ''  -- an after-hours ticket waits for the same opening again
  park(waitingKey, laterKey, ticketId, reason, rec[6] or 0, availableMs)
  park_channel(cb, ticketId, rec[3], reason, rec[6] or 0)
  if reason == 'after_hours' and availableMs ~= '' and rcall('HGET', settingsKey, 'auto_assign') == 'on' then
    release_due_at(releaseDueKey, accountId, availableMs)
  end
  ring = ring_release(settingsKey, waitingKey, readyKey, releaseDueKey, leaseKey, accountId, tonumber(ARGV[9]),
                      ARGV[10])
  record_depth(uqDepthKey, statsKey, hour, rec[3] .. ':' .. reason, 1)
  record_total_peak(statsKey, hour, rcall('ZCARD', unassignedKey))
  rcall('EXPIRE', statsKey, statsTtl)
end
local agentJson = 'null'
if agentId ~= '' then agentJson = '"' .. agentId .. '"' end
emit_raw(eventsKey, partitionEventsKey, accountId, maxlen, partitionMaxlen, 'ticket.reopened',
         '{"id":"' .. eventId .. '","type":"ticket.reopened","schema_version":"1","account_id":"' .. accountId ..
         '","occurred_at":"' .. nowIso .. '","ticket_id":"' .. ticketId .. '","agent_id":' .. agentJson .. '}')
if agentId == '' or not assignee_away(settingsKey, onlineKey, KEYS[21], agentId, ARGV[11]) then
  return {1, agentId, ring, ''}
end
local k = {ticket = ticketKey, settings = settingsKey, online = onlineKey, ready = readyKey, places = KEYS[17],
           seq = KEYS[18], capacity = capacityKey, load = loadKey, counts = KEYS[19], stats = statsKey,
           events = eventsKey, pevents = partitionEventsKey, unansweredDue = KEYS[20], cb = cb}
local a = {accountId = accountId, ticketId = ticketId, nowMs = tonumber(ARGV[9]), nowIso = nowIso, hour = hour,
           eventId = ARGV[12], toastId = ARGV[13], maxlen = maxlen, pmaxlen = partitionMaxlen, statsTtl = statsTtl,
           recordTtl = tonumber(ARGV[14]), leaseMs = ARGV[10]}
local rec = assigned_record(k)
local newAgent, why = reassign(k, a, rec, 'assignee_away')
if newAgent then return {1, newAgent, ring, agentId} end
local w = {unassigned = unassignedKey, waiting = waitingKey, uqDepth = uqDepthKey, releaseDue = releaseDueKey,
           lease = leaseKey}
local rang = reassign_to_waiting(k, w, a, rec, 'assignee_away', why)
return {1, '', rang, agentId}
