--[[
  A new customer message on an existing ticket (docs/DESIGN.md, "Reassignment (away, unanswered)"). The
  reply's time is kept on the record (customer_reply_ms): a reply at or before the last one processed is a
  repeat and changes nothing. A closed or unassigned ticket only records it. An assigned ticket whose
  assignee is away (reassign_away on, round robin on, the assignee Offline since at least the grace before
  the reply) goes through the rotation again, skipping them: reason assignee_away; nobody else available →
  it waits (no_agent_online / all_agents_at_capacity / no_agent_for_channel) in the waiting queue by its created_at. An Online
  assignee keeps it.

  Input:
    KEYS[1] ticket       {rr:pNN}:a:<acct>:t:<ticket>         hash, the ticket's record
    KEYS[2] settings     {rr:pNN}:a:<acct>:settings           hash reassign_away, reassign_away_grace, round_robin
    KEYS[3] online       {rr:pNN}:a:<acct>:online             zset Online agents by rotation place
    KEYS[4] ready        {rr:pNN}:a:<acct>:ready              zset Online agents below capacity by place
    KEYS[5] places       {rr:pNN}:a:<acct>:places             hash agent → rotation place
    KEYS[6] seq          {rr:pNN}:a:<acct>:seq                counter of rotation places
    KEYS[7] capacity     {rr:pNN}:a:<acct>:capacity           hash '*' / agent → capacity
    KEYS[8] load         {rr:pNN}:a:<acct>:load               hash agent → open tickets assigned
    KEYS[9] counts       {rr:pNN}:a:<acct>:counts             hash agent → tickets assigned
    KEYS[10] stats       {rr:pNN}:a:<acct>:stats:<DAY>        the day's figures (docs/STATS.md)
    KEYS[11] events      {rr:pNN}:a:<acct>:events             account stream
    KEYS[12] pevents     {rr:pNN}:events                      partition stream
    KEYS[13] unansweredDue {rr:pNN}:unanswered_due            zset '<acct> <ticket>' → ms its first reply is due
    KEYS[14] unassigned  {rr:pNN}:a:<acct>:unassigned         zset ticket → created_at ms
    KEYS[15] waiting     {rr:pNN}:a:<acct>:waiting            zset releasable waiting tickets by created_at ms
    KEYS[16] uqDepth     {rr:pNN}:a:<acct>:uq_depth           unassigned depth per channel:reason
    KEYS[17] releaseDue  {rr:pNN}:release_due                 zset account → ms a release is owed from
    KEYS[18] lease       {rr:pNN}:a:<acct>:release:lease      set while a release is queued or running
    KEYS[19] offlineSince {rr:pNN}:a:<acct>:offline_since     hash agent → ms they went Offline
    KEYS[20] users       {rr:pNN}:a:<acct>:users              hash user → role (none: nobody set the account up)
    KEYS[21] agentChannels {rr:pNN}:a:<acct>:agent_channels  hash agent → channels taken (per-channel pools)
    KEYS[22] poolEmail {rr:pNN}:a:<acct>:pool:email  zset Online agents taking email, by place
    KEYS[23] poolWebchat {rr:pNN}:a:<acct>:pool:webchat  zset Online agents taking webchat, by place
    KEYS[24] poolSms {rr:pNN}:a:<acct>:pool:sms  zset Online agents taking sms, by place
    KEYS[25] poolSocial {rr:pNN}:a:<acct>:pool:social  zset Online agents taking social, by place
    KEYS[26] waitEmail {rr:pNN}:a:<acct>:waiting:email  zset waiting email tickets by created_at ms
    KEYS[27] waitWebchat {rr:pNN}:a:<acct>:waiting:webchat  zset waiting webchat tickets by created_at ms
    KEYS[28] waitSms {rr:pNN}:a:<acct>:waiting:sms  zset waiting sms tickets by created_at ms
    KEYS[29] waitSocial {rr:pNN}:a:<acct>:waiting:social  zset waiting social tickets by created_at ms

    ARGV[1] account id  ARGV[2] ticket id  ARGV[3] now ms  ARGV[4] now ISO  ARGV[5] hour HH of now (UTC)
    ARGV[6] event id (ticket.assigned / ticket.unassigned)  ARGV[7] toast event id
    ARGV[8] account stream MAXLEN  ARGV[9] partition stream MAXLEN  ARGV[10] seconds to keep the stats key
    ARGV[11] assigned record TTL (s, 0 = forever)  ARGV[12] release lease (ms)
    ARGV[13] the reply's time, ms  ARGV[14] the reply's time, ISO

  Output:
    {outcome, agent id or reason or '', previous agent id or '', ring}
      outcome 'reassigned' (agent: the new assignee), 'waiting' (reason: why it waits), 'kept' (an assigned
      ticket that stays: its assignee is there, or the setting is off), 'recorded' (closed or unassigned:
      nothing moves), 'duplicate' (a reply at or before the last one processed: nothing written).
      ring 1 when the caller must enqueue a release (it took the release lease).
    errors: 'RR_UNKNOWN_ACCOUNT ...' (no users), 'RR_UNKNOWN_TICKET ...' (never seen, or its record expired).
]]
local k, a = reassign_context(KEYS, ARGV, 21)
local w = {unassigned = KEYS[14], waiting = KEYS[15], uqDepth = KEYS[16], releaseDue = KEYS[17], lease = KEYS[18]}
local offlineSinceKey, usersKey = KEYS[19], KEYS[20]
local atMs, atIso = tonumber(ARGV[13]), ARGV[14]

if rcall('EXISTS', usersKey) == 0 then
  return redis.error_reply('RR_UNKNOWN_ACCOUNT account ' .. a.accountId .. ' has no users (nobody set it up): ' ..
                           'the customer reply on ticket ' .. a.ticketId .. ' was not recorded')
end
local s = rcall('HMGET', k.ticket, 'status', 'closed', 'customer_reply_ms', 'agent_id')
if not s[1] then
  return redis.error_reply('RR_UNKNOWN_TICKET no such ticket ' .. a.ticketId ..
                           ' (never seen, or its record expired): the customer reply was not recorded')
end
if s[3] and tonumber(s[3]) >= atMs then return {'duplicate', '', '', 0} end
rcall('HSET', k.ticket, 'customer_reply_ms', atMs, 'customer_reply_at', atIso)
if s[2] == '1' or s[1] ~= 'assigned' then return {'recorded', '', '', 0} end
if not assignee_away(k.settings, k.online, offlineSinceKey, s[4], atMs) then return {'kept', s[4], '', 0} end
local rec = assigned_record(k)
local agentId, why = reassign(k, a, rec, 'assignee_away')
if agentId then return {'reassigned', agentId, rec.agent, 0} end
local ring = reassign_to_waiting(k, w, a, rec, 'assignee_away', why)
return {'waiting', why, rec.agent, ring}
