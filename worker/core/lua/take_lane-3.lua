--[[
  The burst intake's lane, on the queue Redis (producers/lanes.py): a drain takes the lane, confirms the
  batch it decided and takes the next one, or hands the lane on. Only the lease holder ever removes entries
  (from the head; producers only append at the tail), so a batch it read is still the head when it confirms it.

  Input:
    KEYS[1] pending  {rr:lane:NN}:pending  list of JSON ticket entries, oldest first
    KEYS[2] bell     {rr:lane:NN}:bell     the id of the lane's drain job while it is queued and not started
    KEYS[3] lease    {rr:lane:NN}:lease    the token of the drain deciding the lane

    ARGV[1] mode: 'start' (a drain job begins: silence the bell, take the lease), 'next' (the first
            ARGV[3] entries were decided: drop them, take the next batch) or 'handoff' (drop the decided ones,
            give the lease up and, when entries remain, ring the bell for a new drain job)
    ARGV[2] the drain's token   ARGV[3] entries decided since the last call (dropped from the head)
    ARGV[4] most entries to return   ARGV[5] lease (ms)   ARGV[6] bell (ms)
    ARGV[7] handoff: the id of the drain job the caller enqueues if the bell is rung ('' otherwise)

  Output:
    {'busy'}   start: another drain holds the lease (it empties the lane before giving it up)
    {'lost'}   next/handoff: the lease lapsed and is not ours any more; nothing was dropped
    {'empty'}  the lane is empty: the lease was given up (a push after this rings the bell again)
    {'batch', entry, ...}  the next entries, oldest first; the lease was renewed
    {'rang'} / {'handed'}  handoff: entries remain and the bell was set to ARGV[7] (the caller enqueues that job) /
               nothing remains or a bell already rings
]]
local pendingKey, bellKey, leaseKey = KEYS[1], KEYS[2], KEYS[3]
local mode, token, done, size = ARGV[1], ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4])
local leaseMs, bellMs, nextJob = ARGV[5], ARGV[6], ARGV[7]

if mode == 'start' then
  redis.call('DEL', bellKey)
  if not redis.call('SET', leaseKey, token, 'NX', 'PX', leaseMs) then
    return {'busy'}
  end
elseif redis.call('GET', leaseKey) ~= token then
  return {'lost'}
end
if done > 0 then
  redis.call('LTRIM', pendingKey, done, -1)
end
if mode == 'handoff' then
  redis.call('DEL', leaseKey)
  if redis.call('LLEN', pendingKey) > 0 and redis.call('SET', bellKey, nextJob, 'NX', 'PX', bellMs) then
    return {'rang'}
  end
  return {'handed'}
end
local batch = redis.call('LRANGE', pendingKey, 0, size - 1)
if #batch == 0 then
  redis.call('DEL', leaseKey)
  return {'empty'}
end
redis.call('PEXPIRE', leaseKey, leaseMs)
table.insert(batch, 1, 'batch')
return batch
