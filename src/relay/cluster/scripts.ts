/**
 * Redis scripts for tunnel ownership (spec/CLUSTER.md). Every change to an owner key is one atomic
 * script: a stale node can never overwrite a newer claim, and nothing is read-then-written.
 *
 * Keys: owner:<address> = "<nodeId> <epoch>" with a lease (PX); epoch:<address> = fencing counter.
 */

/** KEYS: owner, epoch. ARGV: nodeId, leaseMs, channel, address. Newest tunnel wins: always claims. */
export const CLAIM = `
local epoch = redis.call('INCR', KEYS[2])
redis.call('PEXPIRE', KEYS[2], 604800000)
redis.call('SET', KEYS[1], ARGV[1] .. ' ' .. epoch, 'PX', ARGV[2])
redis.call('PUBLISH', ARGV[3], ARGV[4] .. ' ' .. ARGV[1] .. ' ' .. epoch)
return epoch
`;

/**
 * KEYS: owner, epoch. ARGV: "<nodeId> <epoch>", leaseMs, epoch.
 * Extends our lease. If the key is gone (lease lapsed while Redis was away, or Redis lost its data),
 * takes it back unless a newer epoch was issued since. Returns 1 if we still own it, 0 if not.
 */
export const RENEW = `
local v = redis.call('GET', KEYS[1])
if v == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
if v then return 0 end
local cur = tonumber(redis.call('GET', KEYS[2]) or '0')
local mine = tonumber(ARGV[3])
if cur > mine then return 0 end
if cur < mine then redis.call('SET', KEYS[2], ARGV[3], 'PX', 604800000) end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1
`;

/** KEYS: owner. ARGV: "<nodeId> <epoch>". Compare-and-delete. */
export const RELEASE = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
`;
