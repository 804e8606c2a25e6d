--[[
  The sweep's step for one due entry of unansweredDue (docs/DESIGN.md, "Reassignment (away, unanswered)"):
  the ticket goes to the next agent, skipping its assignee (reason no_first_reply), only if it is still
  assigned, not closed, without a first reply, assigned automatically (auto = 1), the account still has
  reassign-unanswered on (and round robin on), it was reassigned for no first reply fewer than
  unanswered_max times, and assigned_ms + unanswered_after <= now. A ticket not due yet is re-filed at its
  true time; one that no longer qualifies is dropped. Nobody else available: it stays with its assignee
  and the timer is re-filed at now + unanswered_after (only real reassignments count toward the max).
  Idempotent: sweeps of several workers may race on one entry (the second finds it not due and re-files it).

  Input:
    KEYS[1] ticket       {rr:pNN}:a:<acct>:t:<ticket>         hash, the ticket's record
    KEYS[2] settings     {rr:pNN}:a:<acct>:settings           hash unanswered_after, unanswered_max, round_robin
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
    KEYS[14] agentChannels {rr:pNN}:a:<acct>:agent_channels  hash agent → channels taken (per-channel pools)
    KEYS[15] poolEmail {rr:pNN}:a:<acct>:pool:email  zset Online agents taking email, by place
    KEYS[16] poolWebchat {rr:pNN}:a:<acct>:pool:webchat  zset Online agents taking webchat, by place
    KEYS[17] poolSms {rr:pNN}:a:<acct>:pool:sms  zset Online agents taking sms, by place
    KEYS[18] poolSocial {rr:pNN}:a:<acct>:pool:social  zset Online agents taking social, by place
    KEYS[19] waitEmail {rr:pNN}:a:<acct>:waiting:email  zset waiting email tickets by created_at ms
    KEYS[20] waitWebchat {rr:pNN}:a:<acct>:waiting:webchat  zset waiting webchat tickets by created_at ms
    KEYS[21] waitSms {rr:pNN}:a:<acct>:waiting:sms  zset waiting sms tickets by created_at ms
    KEYS[22] waitSocial {rr:pNN}:a:<acct>:waiting:social  zset waiting social tickets by created_at ms
    KEYS[23] waiting     {rr:pNN}:a:<acct>:waiting            zset releasable waiting tickets by created_at ms
    KEYS[24] releaseDue  {rr:pNN}:release_due                 zset account → ms a release is owed from
    KEYS[25] lease       {rr:pNN}:a:<acct>:release:lease      set while a release is queued or running

    ARGV[1] account id  ARGV[2] ticket id  ARGV[3] now ms  ARGV[4] now ISO  ARGV[5] hour HH of now (UTC)
    ARGV[6] event id (ticket.assigned)  ARGV[7] toast event id
    ARGV[8] account stream MAXLEN  ARGV[9] partition stream MAXLEN  ARGV[10] seconds to keep the stats key
    ARGV[11] assigned record TTL (s, 0 = forever)  ARGV[12] release lease (ms)

  Output:
    {outcome, agent id or '', previous agent id or '', ring}: outcome 'reassigned', 'stays' (nobody else
    available: re-filed at now + after), 'later' (not due yet: re-filed at its time) or 'dropped'. ring 1 when
    the caller must enqueue a release: the reassignment gave the (Online) previous assignee room, which
    waiting tickets may use (with per-channel pools, ones nobody else could take), like a close.
]]
local k, a = reassign_context(KEYS, ARGV, 14)
local member = a.accountId .. ' ' .. a.ticketId

local r = rcall('HMGET', k.ticket, 'status', 'closed', 'ttfr', 'auto', 'unanswered_reassignments', 'assigned_ms',
                'agent_id')
local s = rcall('HMGET', k.settings, 'unanswered_after', 'unanswered_max', 'round_robin')
local after, maxCount = tonumber(s[1] or ''), tonumber(s[2] or '1')
if r[1] ~= 'assigned' or r[2] == '1' or r[3] or r[4] ~= '1' or not r[6] or not after or s[3] ~= 'on'
   or tonumber(r[5] or '0') >= maxCount then
  rcall('ZREM', k.unansweredDue, member)
  return {'dropped', '', '', 0}
end
local due = tonumber(r[6]) + after * 1000
if due > a.nowMs then
  rcall('ZADD', k.unansweredDue, due, member)
  return {'later', '', '', 0}
end
local rec = assigned_record(k)
local agentId = reassign(k, a, rec, 'no_first_reply')
if agentId then
  local ring = ring_release(k.settings, KEYS[23], k.ready, KEYS[24], KEYS[25], a.accountId, a.nowMs, a.leaseMs)
  return {'reassigned', agentId, rec.agent, ring}
end
rcall('ZADD', k.unansweredDue, a.nowMs + after * 1000, member)
return {'stays', r[7], '', 0}
