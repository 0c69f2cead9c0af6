"""The Lua scripts of RedisStore: each read-then-write runs as one atomic script.

Every field of a task hash holds JSON (`records.record_to_json`, one field per key),
so a status is stored as `"working"`, with its quotes, and an absent runner as `null`.
Scripts that look at statuses get the JSON list of the terminal ones as ARGV[1]
(built from `records.TERMINAL`, so the rules live in Python only). A script never
decodes a record's JSON: it compares fields and copies values it was given.
"""

from __future__ import annotations

_PRELUDE = """
local function set_of(json_array)
  local set = {}
  for _, item in ipairs(cjson.decode(json_array)) do set[item] = true end
  return set
end
local function expired(expires_at, now)  -- a task's `_expires` field (false: never)
  return expires_at and tonumber(now) >= tonumber(expires_at)
end
"""

# KEYS: task, sequence counter, owner index, expiry index, lease index, every task's
#       index, the status's index
# ARGV: task id, ttl ms ('' = none), expires at, expiry member, lease score ('' = ended),
#       created channel, then field, value, ... -> 1, or 0 when the id is taken
CREATE = """
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
local seq = redis.call('INCR', KEYS[2])
redis.call('HSET', KEYS[1], '_seq', seq, unpack(ARGV, 7))
if ARGV[2] ~= '' then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  redis.call('ZADD', KEYS[4], ARGV[3], ARGV[4])
end
redis.call('ZADD', KEYS[3], seq, ARGV[1])
redis.call('ZADD', KEYS[6], seq, ARGV[1])
redis.call('ZADD', KEYS[7], seq, ARGV[1])
if ARGV[5] ~= '' then redis.call('ZADD', KEYS[5], ARGV[5], ARGV[1]) end
redis.call('PUBLISH', ARGV[6], seq)
return 1
"""

# Compare-and-set: write the fields only if the version is still the one that was read.
# A task that ends loses its questions with it, as `drop_inputs` would drop them.
# KEYS: task, lease index, the index of the status read, the index of the new status,
#       inputs, input order
# ARGV: task id, version read, channel, '1' if the task ends, then field, value, ...
#       -> 1, or 0 when the record changed (or vanished) since it was read
UPDATE = """
if redis.call('HGET', KEYS[1], 'version') ~= ARGV[2] then return 0 end
redis.call('HSET', KEYS[1], unpack(ARGV, 5))
if ARGV[4] == '1' then
  redis.call('ZREM', KEYS[2], ARGV[1])
  redis.call('DEL', KEYS[5], KEYS[6])
end
local seq = redis.call('HGET', KEYS[1], '_seq')
if KEYS[3] ~= KEYS[4] and seq then
  redis.call('ZREM', KEYS[3], ARGV[1])
  redis.call('ZADD', KEYS[4], seq, ARGV[1])
end
redis.call('PUBLISH', ARGV[3], ARGV[1])
return 1
"""

# KEYS: task, lease index
# ARGV: terminal statuses, task id, runner, lease until, now, updated at, channel
#       -> the adopted record's fields (HGETALL), or nil
ADOPT = """
local terminal = set_of(ARGV[1])
local f = redis.call('HMGET', KEYS[1], 'status', 'runner', 'leaseUntil', '_expires')
if not f[1] or terminal[f[1]] or expired(f[4], ARGV[5]) then return false end
if f[2] ~= 'null' and f[3] ~= 'null' and tonumber(f[3]) >= tonumber(ARGV[5]) then
  return false  -- still vouched for, or just adopted by another engine
end
redis.call('HSET', KEYS[1], 'runner', ARGV[3], 'leaseUntil', ARGV[4], 'updatedAt', ARGV[6])
redis.call('HINCRBY', KEYS[1], 'version', 1)
redis.call('ZADD', KEYS[2], ARGV[4], ARGV[2])
redis.call('PUBLISH', ARGV[7], ARGV[2])
return redis.call('HGETALL', KEYS[1])
"""

# KEYS: lease index, task, task, ...
# ARGV: terminal statuses, runner, lease until, task id, task id, ... (one per task key)
RENEW = """
local terminal = set_of(ARGV[1])
for i = 2, #KEYS do
  local f = redis.call('HMGET', KEYS[i], 'runner', 'status')
  if f[1] == ARGV[2] and f[2] and not terminal[f[2]] then
    redis.call('HSET', KEYS[i], 'leaseUntil', ARGV[3])
    redis.call('ZADD', KEYS[1], ARGV[3], ARGV[i + 2])
  end
end
return 0
"""

# KEYS: task, inputs, input order, owner index, expiry index, lease index, steps, then
#       the operator's indexes (every task's, each status's)
# ARGV: task id, expiry member, channel, deleted channel -> 1 if the task was there, else 0
DELETE = """
local existed = redis.call('DEL', KEYS[1])
redis.call('DEL', KEYS[2], KEYS[3], KEYS[7])
redis.call('ZREM', KEYS[4], ARGV[1])
redis.call('ZREM', KEYS[5], ARGV[2])
redis.call('ZREM', KEYS[6], ARGV[1])
for i = 8, #KEYS do redis.call('ZREM', KEYS[i], ARGV[1]) end
redis.call('PUBLISH', ARGV[3], ARGV[1])
redis.call('PUBLISH', ARGV[4], ARGV[1])
return existed
"""

# Removes the tasks whose expiry entries this call takes first (another sweeper may race).
# KEYS: expiry index, lease index, the operator's indexes (every task's, each status's:
#       ARGV[2] of them), then per task: task, inputs, input order, owner index
# ARGV: channel prefix, how many operator's indexes, then per task: expiry member, task id
#       -> how many this call removed
SWEEP = """
local removed, shared = 0, 2 + tonumber(ARGV[2])
for i = 1, (#ARGV - 2) / 2 do
  local member, id, k = ARGV[2 * i + 1], ARGV[2 * i + 2], shared + 4 * (i - 1)
  if redis.call('ZREM', KEYS[1], member) == 1 then
    redis.call('DEL', KEYS[k + 1], KEYS[k + 2], KEYS[k + 3])
    redis.call('ZREM', KEYS[k + 4], id)
    for j = 2, shared do redis.call('ZREM', KEYS[j], id) end
    redis.call('PUBLISH', ARGV[1] .. id, id)
    removed = removed + 1
  end
end
return removed
"""

# Input requests of a task live in one hash: m:<key> the message (JSON), s:<key> its
# state (waiting, claimed, answered), a:<key> the answer (JSON), n:<key> its place in
# the order; the unclaimed ones are also in a sorted set by that place.

# KEYS: task, inputs, input order
# ARGV: key, message, channel, task id -> 1, 0 when the key is taken, -1 without the task
PUSH_INPUT = """
if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end
local key = ARGV[1]
if redis.call('HEXISTS', KEYS[2], 's:' .. key) == 1 then return 0 end
local n = redis.call('HINCRBY', KEYS[2], '_n', 1)
redis.call('HSET', KEYS[2], 'm:' .. key, ARGV[2], 's:' .. key, 'waiting', 'n:' .. key, n)
redis.call('ZADD', KEYS[3], n, key)
local ttl = redis.call('PTTL', KEYS[1])
if ttl > 0 then
  redis.call('PEXPIRE', KEYS[2], ttl)
  redis.call('PEXPIRE', KEYS[3], ttl)
end
redis.call('PUBLISH', ARGV[3], ARGV[4])
return 1
"""

# KEYS: task, inputs, input order
# ARGV: terminal statuses, now -> {key, message}, or nil
CLAIM_INPUT = """
local terminal = set_of(ARGV[1])
local f = redis.call('HMGET', KEYS[1], 'status', '_expires')
if not f[1] or terminal[f[1]] or expired(f[2], ARGV[2]) then return false end
local first = redis.call('ZRANGE', KEYS[3], 0, 0)
if #first == 0 then return false end
local key = first[1]
redis.call('ZREM', KEYS[3], key)
redis.call('HSET', KEYS[2], 's:' .. key, 'claimed')
return {key, redis.call('HGET', KEYS[2], 'm:' .. key)}
"""

# KEYS: inputs, input order
# ARGV: key, channel, task id
RELEASE_INPUT = """
local key = ARGV[1]
if redis.call('HGET', KEYS[1], 's:' .. key) ~= 'claimed' then return 0 end
redis.call('HSET', KEYS[1], 's:' .. key, 'waiting')
redis.call('ZADD', KEYS[2], redis.call('HGET', KEYS[1], 'n:' .. key), key)
redis.call('PUBLISH', ARGV[2], ARGV[3])
return 1
"""

# KEYS: inputs, input order
# ARGV: key, answer, channel, task id -> 1, or 0 when that request is not awaited
ANSWER_INPUT = """
local key = ARGV[1]
local state = redis.call('HGET', KEYS[1], 's:' .. key)
if state ~= 'waiting' and state ~= 'claimed' then return 0 end
redis.call('HSET', KEYS[1], 's:' .. key, 'answered', 'a:' .. key, ARGV[2])
redis.call('ZREM', KEYS[2], key)
redis.call('PUBLISH', ARGV[3], ARGV[4])
return 1
"""

# Takes an answer once: it is forgotten as it is returned.
# KEYS: task, inputs
# ARGV: key, now -> {'answer', answer}, {'wait', expires at or ''}, or {'gone'}
TAKE_ANSWER = """
local key = ARGV[1]
local f = redis.call('HMGET', KEYS[1], 'status', '_expires')
if not f[1] or expired(f[2], ARGV[2]) then return {'gone'} end
local state = redis.call('HGET', KEYS[2], 's:' .. key)
if not state then return {'gone'} end
if state ~= 'answered' then return {'wait', f[2] or ''} end
local answer = redis.call('HGET', KEYS[2], 'a:' .. key)
redis.call('HDEL', KEYS[2], 'm:' .. key, 's:' .. key, 'a:' .. key, 'n:' .. key)
return {'answer', answer}
"""

# Reads only: as a script it sees no request half answered, and the task's status as of
# the same moment.
# KEYS: task, inputs
# ARGV: terminal statuses, now -> {key, message, key, message, ...} in the order pushed
PENDING_INPUTS = """
local terminal = set_of(ARGV[1])
local f = redis.call('HMGET', KEYS[1], 'status', '_expires')
if not f[1] or terminal[f[1]] or expired(f[2], ARGV[2]) then return {} end
local fields = redis.call('HGETALL', KEYS[2])
local hash = {}
for i = 1, #fields, 2 do hash[fields[i]] = fields[i + 1] end
local keys = {}
for name, state in pairs(hash) do
  if string.sub(name, 1, 2) == 's:' and (state == 'waiting' or state == 'claimed') then
    keys[#keys + 1] = string.sub(name, 3)
  end
end
local function place(key) return tonumber(hash['n:' .. key]) end
table.sort(keys, function(a, b) return place(a) < place(b) end)
local pending = {}
for _, key in ipairs(keys) do
  pending[#pending + 1] = key
  pending[#pending + 1] = hash['m:' .. key]
end
return pending
"""

# KEYS: inputs, input order
# ARGV: channel, task id
DROP_INPUTS = """
redis.call('DEL', KEYS[1], KEYS[2])
redis.call('PUBLISH', ARGV[1], ARGV[2])
return 0
"""

# Step results live in a hash per task (name -> JSON), expiring with the task's hash.
# KEYS: task, steps
# ARGV: terminal statuses, runner (as JSON), now, name, value -> 1 stored (or kept), 0 refused
SAVE_STEP = """
local terminal = set_of(ARGV[1])
local f = redis.call('HMGET', KEYS[1], 'status', 'runner', '_expires')
if not f[1] or terminal[f[1]] or f[2] ~= ARGV[2] or expired(f[3], ARGV[3]) then return 0 end
redis.call('HSETNX', KEYS[2], ARGV[4], ARGV[5])
local ttl = redis.call('PTTL', KEYS[1])
if ttl > 0 then redis.call('PEXPIRE', KEYS[2], ttl) end
return 1
"""

# KEYS: task, steps; ARGV: now -> HGETALL of the steps, empty without a live task
LOAD_STEPS = """
local f = redis.call('HMGET', KEYS[1], 'status', '_expires')
if not f[1] or expired(f[2], ARGV[1]) then return {} end
return redis.call('HGETALL', KEYS[2])
"""

# A dedupe key holds JSON [task id, until]; Redis drops it a little after `until`.
# KEYS: the dedupe key; ARGV: task id, until, now, ms to keep it -> the task id it holds
CLAIM_DEDUPE = """
local held = redis.call('GET', KEYS[1])
if held then
  local h = cjson.decode(held)
  if tonumber(h[2]) > tonumber(ARGV[3]) then return h[1] end
end
redis.call('SET', KEYS[1], cjson.encode({ARGV[1], tonumber(ARGV[2])}), 'PX', ARGV[4])
return ARGV[1]
"""

# KEYS: the dedupe key; ARGV: task id -> 1 if forgotten
RELEASE_DEDUPE = """
local held = redis.call('GET', KEYS[1])
if held and cjson.decode(held)[1] == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""

SCRIPTS: dict[str, str] = {
    name: _PRELUDE + source
    for name, source in {
        "create": CREATE,
        "update": UPDATE,
        "adopt": ADOPT,
        "renew": RENEW,
        "delete": DELETE,
        "sweep": SWEEP,
        "push_input": PUSH_INPUT,
        "claim_input": CLAIM_INPUT,
        "release_input": RELEASE_INPUT,
        "answer_input": ANSWER_INPUT,
        "take_answer": TAKE_ANSWER,
        "pending_inputs": PENDING_INPUTS,
        "drop_inputs": DROP_INPUTS,
        "save_step": SAVE_STEP,
        "load_steps": LOAD_STEPS,
        "claim_dedupe": CLAIM_DEDUPE,
        "release_dedupe": RELEASE_DEDUPE,
    }.items()
}
