--[[
  Does the account owe a release now, and may this caller start it? Used by the workers' sweep of
  releaseDue (after-hours openings, releases whose worker died: their lease expired) and after a bulk
  job (which may have moved load off agents). With work to do (toasts a dead release did not send; or,
  auto-assign, round robin and a capacity on, tickets waiting and an Online agent with room, or an
  after-hours ticket due) the account is marked due now and the lease taken if free: reply 1, the caller
  enqueues the release. Without work, releaseDue
  is set to the next after-hours opening (or the account removed): reply 0.

  Input:
    KEYS[1] settings    {rr:pNN}:a:<acct>:settings          hash auto_assign, round_robin
    KEYS[2] capacity    {rr:pNN}:a:<acct>:capacity          hash '*' / agent → capacity
    KEYS[3] waiting     {rr:pNN}:a:<acct>:waiting           zset releasable waiting tickets by created_at ms
    KEYS[4] later       {rr:pNN}:a:<acct>:later             zset after-hours tickets by available_at ms
    KEYS[5] ready       {rr:pNN}:a:<acct>:ready             zset Online agents below capacity by place
    KEYS[6] releaseDue  {rr:pNN}:release_due                zset account → ms a release is owed from
    KEYS[7] lease       {rr:pNN}:a:<acct>:release:lease     set while a release is queued or running
    KEYS[8] toasts      {rr:pNN}:a:<acct>:release:toasts    hash agent → released tickets not yet toasted
    KEYS[9] agentChannels {rr:pNN}:a:<acct>:agent_channels  hash agent → channels taken (per-channel pools)
    KEYS[10] poolEmail {rr:pNN}:a:<acct>:pool:email  zset Online agents taking email, by place
    KEYS[11] poolWebchat {rr:pNN}:a:<acct>:pool:webchat  zset Online agents taking webchat, by place
    KEYS[12] poolSms {rr:pNN}:a:<acct>:pool:sms  zset Online agents taking sms, by place
    KEYS[13] poolSocial {rr:pNN}:a:<acct>:pool:social  zset Online agents taking social, by place
    KEYS[14] waitEmail {rr:pNN}:a:<acct>:waiting:email  zset waiting email tickets by created_at ms
    KEYS[15] waitWebchat {rr:pNN}:a:<acct>:waiting:webchat  zset waiting webchat tickets by created_at ms
    KEYS[16] waitSms {rr:pNN}:a:<acct>:waiting:sms  zset waiting sms tickets by created_at ms
    KEYS[17] waitSocial {rr:pNN}:a:<acct>:waiting:social  zset waiting social tickets by created_at ms

    ARGV[1] account id  ARGV[2] now ms  ARGV[3] release lease (ms)

  Output:
    {ring (1|0)}
]]
local settingsKey, capacityKey, waitingKey, laterKey, readyKey = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local releaseDueKey, leaseKey, toastsKey = KEYS[6], KEYS[7], KEYS[8]
local accountId, nowMs, leaseMs = ARGV[1], tonumber(ARGV[2]), ARGV[3]

local on, work = release_work(settingsKey, capacityKey, waitingKey, laterKey, readyKey, toastsKey, nowMs,
                              channel_block(9))
if work then
  release_due_at(releaseDueKey, accountId, nowMs)
  if rcall('SET', leaseKey, nowMs, 'NX', 'PX', leaseMs) then return {1} end
  return {0}
end
if rcall('EXISTS', leaseKey) == 1 then return {0} end  -- a release in flight files releaseDue when it ends
file_next_opening(on, laterKey, releaseDueKey, accountId)  -- not yet come: it would be work
return {0}
