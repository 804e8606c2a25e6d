--[[
  Set or clear one of the account's webhook secrets (owner, admin or manager; docs/HTTP.md, "Webhooks in"):
  the role check and the write are this one call, so a demoted actor can never slip a secret in. The
  settings.changed event names the secret (name, provider, kind) and whether it is set, never its value.
  Setting the value already stored, or clearing one not set, changes nothing and emits nothing.

  Input:
    KEYS[1] users       {rr:pNN}:a:<acct>:users                 hash user → role
    KEYS[2] secrets     {rr:pNN}:a:<acct>:webhook_secrets       hash name → secret
    KEYS[3] secretsSet  {rr:pNN}:a:<acct>:webhook_secrets:set   hash name → JSON {set_at, set_by}
    KEYS[4] events      {rr:pNN}:a:<acct>:events                account stream
    KEYS[5] pevents     {rr:pNN}:events                         partition stream

    ARGV[1] account id  ARGV[2] actor id  ARGV[3] secret name  ARGV[4] the secret, '' to clear
    ARGV[5] now ISO  ARGV[6] event id  ARGV[7] account stream MAXLEN  ARGV[8] partition stream MAXLEN
    ARGV[9] the event's changes: {"webhook_secret": {"name", "provider", "kind", "set"}} (JSON, no secret)
    ARGV[10] the {set_at, set_by} JSON to file when setting

  Output:
    {changed (1|0)}; errors 'RR_UNKNOWN_USER ...', 'RR_FORBIDDEN ...'.
]]
local usersKey, secretsKey, secretsSetKey = KEYS[1], KEYS[2], KEYS[3]
local accountId, actorId, name, secret, nowIso = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]

local err = require_manager(usersKey, actorId, 'set or clear webhook secrets')
if err then return redis.error_reply(err) end
local current = rcall('HGET', secretsKey, name) or ''
if current == secret then return {0} end
if secret == '' then
  rcall('HDEL', secretsKey, name)
  rcall('HDEL', secretsSetKey, name)
else
  rcall('HSET', secretsKey, name, secret)
  rcall('HSET', secretsSetKey, name, ARGV[10])
end
emit(KEYS[4], KEYS[5], accountId, ARGV[7], ARGV[8], ARGV[6], 'settings.changed', nowIso,
     {actor_id = actorId}, '"changes":' .. ARGV[9])
return {1}
