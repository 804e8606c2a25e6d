--[[
  Trim a partition event stream without ever dropping an event a consumer group has not read:
  entries go only when they are older than the retention horizon AND every group has both
  delivered them and had them acknowledged (no pending entry at or before them).

  Input:
    KEYS[1] pevents {rr:pNN}:events  the partition's event stream
    ARGV[1] horizon stream id 'ms-0': nothing at or after it is removed (the minimum age)

  Output:
    {removed, minid}: entries removed, and the MINID trimmed to ('' when nothing to do).
]]
local partitionEventsKey = KEYS[1]
local horizon = ARGV[1]

if rcall('EXISTS', partitionEventsKey) == 0 then return {0, ''} end

local function parse_id(id)
  local dash = string.find(id, '-', 1, true)
  return tonumber(string.sub(id, 1, dash - 1)), tonumber(string.sub(id, dash + 1))
end

local function before(a, b)
  local ams, aseq = parse_id(a)
  local bms, bseq = parse_id(b)
  return ams < bms or (ams == bms and aseq < bseq)
end

local minid = horizon
local groups = rcall('XINFO', 'GROUPS', partitionEventsKey)
for _, raw in ipairs(groups) do
  local group = {}
  for i = 1, #raw, 2 do group[raw[i]] = raw[i + 1] end
  local keep = group['last-delivered-id']
  if tonumber(group['pending']) > 0 then
    local summary = rcall('XPENDING', partitionEventsKey, group['name'])
    if before(summary[2], keep) then keep = summary[2] end
  end
  if before(keep, minid) then minid = keep end
end

if minid == '0-0' then return {0, ''} end
local removed = rcall('XTRIM', partitionEventsKey, 'MINID', minid)
return {removed, minid}
