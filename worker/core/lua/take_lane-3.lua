--[[
  The burst intake's lane, on the queue Redis (producers/lanes.py): a drain takes the lane, confirms the
  batch it decided and takes the next one, gives the lane up when it is empty, or hands it on. Only the lease holder ever removes entries
  (from the head; producers only append at the tail), so a batch it read is still the head when it confirms it.

  Input:
    KEYS[1] pending  {rr:lane:NN}:pending  list of JSON ticket entries, oldest first
    KEYS[2] bell     {rr:lane:NN}:bell     the id of the lane's drain job: queued (set by a push), or running
    KEYS[3] lease    {rr:lane:NN}:lease    the token of the drain deciding the lane

    ARGV[1] mode: 'start' (a drain job begins: take the lease; the bell names this job while it runs),
            'next' (the first ARGV[3] entries were decided: drop them, take the next batch) or 'handoff'
            (drop the decided ones, give the lease up and, when entries remain, ring the bell for ARGV[7])
    ARGV[2] the drain's token   ARGV[3] entries decided since the last call (dropped from the head)
    ARGV[4] most entries to return   ARGV[5] lease (ms)   ARGV[6] bell (ms)
    ARGV[7] start: this drain's job id; handoff: the id of the drain job the caller enqueues if the bell is rung

  Output:
    {'busy'}   start: another drain holds the lease (it empties the lane before giving it up); the bell is left
    {'lost'}   next/handoff: the lease lapsed and is not ours any more; nothing was dropped
    {'empty'}  the lane is empty: lease and bell were given up together (a push after this rings again)
    {'batch', entry, ...}  the next entries, oldest first; lease and bell renewed for ARGV[5]: while a drain
               runs, pushes find the bell set and ring nothing (it empties the lane before it ends), and if it
               is killed both lapse, so the workers' sweep rings the lane again
    {'rang'} / {'handed'}  handoff: entries remain and the bell now names ARGV[7] (the caller enqueues that
               job) / nothing remains (the bell is cleared)
]]
local pendingKey, bellKey, leaseKey = KEYS[1], KEYS[2], KEYS[3]
local mode, token, done, size = ARGV[1], ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4])
local leaseMs, bellMs, jobId = ARGV[5], ARGV[6], ARGV[7]

if mode == 'start' then
  if not redis.call('SET', leaseKey, token, 'NX', 'PX', leaseMs) then
    return {'busy'}
  end
  redis.call('SET', bellKey, jobId, 'PX', leaseMs)
elseif redis.call('GET', leaseKey) ~= token then
  return {'lost'}
end
if done > 0 then
  redis.call('LTRIM', pendingKey, done, -1)
end
if mode == 'handoff' then
  redis.call('DEL', leaseKey)
  if redis.call('LLEN', pendingKey) > 0 then
    redis.call('SET', bellKey, jobId, 'PX', bellMs)
    return {'rang'}
  end
  redis.call('DEL', bellKey)
  return {'handed'}
end
local batch = redis.call('LRANGE', pendingKey, 0, size - 1)
if #batch == 0 then
  redis.call('DEL', leaseKey, bellKey)
  return {'empty'}
end
redis.call('PEXPIRE', leaseKey, leaseMs)
redis.call('PEXPIRE', bellKey, leaseMs)
table.insert(batch, 1, 'batch')
return batch
