"""Presence in Redis, shared by every process (see ``chat.presence``).

Counts live in three places, changed together by one script so they never
disagree: the room's ``user -> connections`` hash, the user's connection count
(for the per-user cap; sidebar sockets, in the pseudo-room ``SIDEBAR``, have a count
of their own for theirs), and this process's own ``room:user -> connections`` hash,
which is what a sweeper subtracts when this process dies without cleaning up.

Crash safety (guarantee 7): every process holds a lease, a member of one sorted
set scored by its expiry (Redis server time, so machines' clocks do not matter).
A heartbeat renews it every third of ``CHAT_PRESENCE_LEASE_SECONDS``; every process
also sweeps: for each expired lease, one script subtracts that process's counts,
deletes its hash and lease, and returns the users whose count reached zero, who
get a ``leave`` frame. A dead process's users leave within about 1.3 leases (40 s
with the default 30), and their connections stop counting against the cap.

Self-repair: the process also keeps its own counts in memory. When Redis lost
them (restarted, flushed, or this process was swept while stalled) its hash has
no ``_`` marker any more, and the next heartbeat writes the in-memory truth back
("resync"). The same happens after a call whose outcome is unknown (a timeout).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import time
import uuid
from collections import Counter

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError

from chat.conf import chat_settings
from chat.stores import redis_clients
from chat.stores.coalesce import FreshRead
from chat.stores.presence_types import SIDEBAR, Arrival, Arriving, LeaveListener, Unavailable
from chat.wire.protocol import Names

logger = logging.getLogger(__name__)

PREFIX = "chat:v1:presence"
LEASES_KEY = f"{PREFIX}:leases"
NAMES_KEY = f"{PREFIX}:names"
MARKER = "_"  # field of a process hash written by resync: "Redis holds my counts"
SWEEP_BATCH = 20  # dead processes withdrawn per script call (bounds the script's run time)
SWEEP_MAX_DELAY = 1.0  # seconds a sweep may wait in Redis before it is void

# Lua helpers shared by the scripts. Room and user keys are built inside the scripts
# from the process hash's fields, so this needs a single Redis (not Redis Cluster).
_NOW = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
"""

# The key of a user's connection count for the cap: sidebar sockets (room '0', see
# SIDEBAR) have their own.
_COUNTER = """
local function counter(prefix, room, user)
  if room == '0' then return prefix .. ':sidebar:' .. user end
  return prefix .. ':user:' .. user
end
"""

# Subtract the counts of process hash `proc`; append {room, user, name} to `left` for
# every user whose count in a real room reached zero (nobody hears of the sidebar).
_WITHDRAW = (
    _COUNTER
    + """
local function withdraw(prefix, proc, left)
  local fields = redis.call('HGETALL', proc)
  for i = 1, #fields, 2 do
    local field, n = fields[i], tonumber(fields[i + 1])
    local room, user = string.match(field, '^(%d+):(%d+)$')
    if room and n and n > 0 then
      local user_key = counter(prefix, room, user)
      if tonumber(redis.call('DECRBY', user_key, n)) <= 0 then redis.call('DEL', user_key) end
      local room_key = prefix .. ':room:' .. room
      if tonumber(redis.call('HINCRBY', room_key, user, -n)) <= 0 then
        redis.call('HDEL', room_key, user)
        if left and room ~= '0' then
          local name = redis.call('HGET', prefix .. ':names', user) or ''
          table.insert(left, room)
          table.insert(left, user)
          table.insert(left, name)
        end
      end
    end
  end
  redis.call('DEL', proc)
end
"""
)

# KEYS: process hash, names hash, leases
# ARGV: prefix, process_id, lease seconds, then quadruples (room_id, user_id, limit, username)
# Registers a crowd's connections in order, as that many single arrivals would; returns
# {accepted, first in room} per connection (1/0 each).
_ARRIVE = (
    _COUNTER
    + """
local out = {}
for i = 4, #ARGV, 4 do
  local room, user, limit, name = ARGV[i], ARGV[i + 1], tonumber(ARGV[i + 2]), ARGV[i + 3]
  local user_key = counter(ARGV[1], room, user)
  if tonumber(redis.call('GET', user_key) or '0') >= limit then
    table.insert(out, 0)
    table.insert(out, 0)
  else
    redis.call('INCR', user_key)
    redis.call('HINCRBY', KEYS[1], room .. ':' .. user, 1)
    redis.call('HSET', KEYS[2], user, name)
    local in_room = redis.call('HINCRBY', ARGV[1] .. ':room:' .. room, user, 1)
    table.insert(out, 1)
    table.insert(out, in_room == 1 and 1 or 0)
  end
end
-- Counts without a lease would never be swept: make sure one exists (a crash before
-- the first heartbeat, or after Redis lost the lease set).
if not redis.call('ZSCORE', KEYS[3], ARGV[2]) then
"""
    + _NOW
    + """
  redis.call('ZADD', KEYS[3], now + tonumber(ARGV[3]), ARGV[2])
end
return out
"""
)

# KEYS: room hash, names hash. The room's online usernames in one round trip (HKEYS,
# then HMGET, would be two: a connect storm pays one per connection).
# HMGET in chunks: Lua's unpack() is limited to a few thousand values.
_ONLINE = """
local users = redis.call('HKEYS', KEYS[1])
local names = {}
for i = 1, #users, 1000 do
  local chunk = redis.call('HMGET', KEYS[2], unpack(users, i, math.min(i + 999, #users)))
  for _, name in ipairs(chunk) do table.insert(names, name) end
end
return names
"""

# KEYS: room hash, user counter, process hash; ARGV: user_id, field
_DEPART = """
local mine = tonumber(redis.call('HGET', KEYS[3], ARGV[2]) or '0')
if mine <= 0 then return 0 end
if mine == 1 then redis.call('HDEL', KEYS[3], ARGV[2]) else redis.call('HINCRBY', KEYS[3], ARGV[2], -1) end
if tonumber(redis.call('DECR', KEYS[2])) <= 0 then redis.call('DEL', KEYS[2]) end
local left = redis.call('HINCRBY', KEYS[1], ARGV[1], -1)
if left <= 0 then redis.call('HDEL', KEYS[1], ARGV[1]) return 1 end
return 0
"""

# KEYS: leases, process hash; ARGV: process_id, lease seconds
# Renews the lease; returns {1 when Redis still holds this process's counts (marker
# set) else 0, Redis's clock}.
_HEARTBEAT = (
    _NOW
    + """
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[1])
return {redis.call('HEXISTS', KEYS[2], '_'), tostring(now)}
"""
)

# KEYS: leases, process hash, names hash
# ARGV: prefix, process_id, lease seconds, then triples (field, count, username)
# Replaces whatever Redis holds for this process by the process's own counts; returns
# {room, user, name, ...} of users who are gone from a room now (their depart failed).
_RESYNC = (
    _WITHDRAW
    + _NOW
    + """
local dropped = {}
withdraw(ARGV[1], KEYS[2], dropped)
for i = 4, #ARGV, 3 do
  local field, n, name = ARGV[i], tonumber(ARGV[i + 1]), ARGV[i + 2]
  local room, user = string.match(field, '^(%d+):(%d+)$')
  redis.call('HSET', KEYS[2], field, n)
  redis.call('INCRBY', counter(ARGV[1], room, user), n)
  redis.call('HINCRBY', ARGV[1] .. ':room:' .. room, user, n)
  redis.call('HSET', KEYS[3], user, name)
end
redis.call('HSET', KEYS[2], '_', 1)
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[3]), ARGV[2])
local gone = {}
for i = 1, #dropped, 3 do
  if redis.call('HEXISTS', ARGV[1] .. ':room:' .. dropped[i], dropped[i + 1]) == 0 then
    table.insert(gone, dropped[i])
    table.insert(gone, dropped[i + 1])
    table.insert(gone, dropped[i + 2])
  end
end
return gone
"""
)

# KEYS: leases; ARGV: prefix, batch size, process_id to retire (or ''), latest valid
# Redis time (or '')
# Withdraws up to ARGV[2] expired processes (or just the named one, expired or not);
# returns {processes withdrawn, room, user, name, room, user, name, ...}. A sweep that
# runs later than ARGV[4] was held up (Redis paused or slow): every lease may have run
# out meanwhile, live ones included, so it withdraws nothing and returns {-1}.
_SWEEP = (
    _WITHDRAW
    + _NOW
    + """
if ARGV[4] ~= '' and now > tonumber(ARGV[4]) then return {-1} end
local dead
if ARGV[3] ~= '' then
  dead = {ARGV[3]}
else
  dead = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, tonumber(ARGV[2]))
end
local out = {0}
for _, process_id in ipairs(dead) do
  withdraw(ARGV[1], ARGV[1] .. ':process:' .. process_id, out)
  redis.call('ZREM', KEYS[1], process_id)
end
out[1] = #dead
return out
"""
)


def room_key(room_id: int) -> str:
    return f"{PREFIX}:room:{room_id}"


def user_key(user_id: int) -> str:
    return f"{PREFIX}:user:{user_id}"


def counter_key(room_id: int, user_id: int) -> str:
    """The user's connection count that a connection to ``room_id`` counts in."""
    return f"{PREFIX}:sidebar:{user_id}" if room_id == SIDEBAR else user_key(user_id)


def process_key(process_id: str) -> str:
    return f"{PREFIX}:process:{process_id}"


class RedisPresence(redis_clients.OnRunningLoop):
    """Presence of every process in one Redis, with this process's lease and sweeper."""

    def __init__(self, url: str, *, lease_seconds: float | None = None) -> None:
        # Joins wait on presence: the shared pool gives up after one quick retry.
        self.url = url
        self.process_id = f"{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self.lease = float(lease_seconds or chat_settings().presence_lease_seconds)
        self._arrive = self.redis.register_script(_ARRIVE)
        self._depart = self.redis.register_script(_DEPART)
        self._online_script = self.redis.register_script(_ONLINE)
        self._heartbeat = self.redis.register_script(_HEARTBEAT)
        self._resync = self.redis.register_script(_RESYNC)
        self._sweep = self.redis.register_script(_SWEEP)
        # A crowd joining one room shares its reads of the online list.
        self._online = FreshRead(self._read_online)
        # This process's own connections: the truth a resync writes back.
        self._mine: Counter[tuple[int, int]] = Counter()
        self._names: dict[int, str] = {}
        self._dirty = False  # a call failed half-way: resync at the next heartbeat
        self._inflight = 0
        self._quiet: asyncio.Event | None = None  # set when _inflight drops to 0
        self._resyncing: asyncio.Event | None = None  # set when a resync ends
        self._task: asyncio.Task | None = None
        self._ok_since: float | None = None  # start of the current run of good heartbeats
        self._last_ok: float | None = None  # monotonic time of the last good heartbeat
        self._clock: tuple[float, float] | None = None  # (Redis time, monotonic time) then
        self._failures = 0  # heartbeats failed in a row
        self.retired = False
        self.on_leave: LeaveListener | None = None

    # --- connections ----------------------------------------------------------

    async def arrive(self, *, room_id: int, user_id: int, username: str, limit: int) -> Arrival:
        (arrival,) = await self.arrive_many([Arriving(room_id, user_id, username, limit)])
        return arrival

    async def arrive_many(self, arrivals: list[Arriving]) -> list[Arrival]:
        # One script for the crowd: a thousand connections arriving together cost one
        # round trip and one script run, not a thousand of each.
        self.start()
        if not arrivals:
            return []
        args: list = [PREFIX, self.process_id, self.lease]
        for a in arrivals:
            args += [a.room_id, a.user_id, a.limit, a.username]
        results = []
        async with self._call(f"arrive connections={len(arrivals)}"):
            flat = await self._run(
                self._arrive, keys=[process_key(self.process_id), NAMES_KEY, LEASES_KEY], args=args
            )
            for a, accepted, first in zip(arrivals, flat[0::2], flat[1::2], strict=True):
                if accepted:
                    self._mine[(a.room_id, a.user_id)] += 1
                    self._names[a.user_id] = a.username
                results.append(Arrival(accepted=bool(accepted), first_in_room=bool(first)))
        return results

    async def depart(self, *, room_id: int, user_id: int) -> bool:
        key = (room_id, user_id)
        async with self._call(f"depart room={room_id} user={user_id}"):
            # The connection is gone whatever Redis says: forget it here (inside the
            # gate, so no resync runs in between), and a failed call below is
            # repaired by the next resync.
            self._mine[key] -= 1
            if self._mine[key] <= 0:
                del self._mine[key]
            last = await self._run(
                self._depart,
                keys=[
                    room_key(room_id),
                    counter_key(room_id, user_id),
                    process_key(self.process_id),
                ],
                args=[user_id, f"{room_id}:{user_id}"],
            )
        return bool(last)

    async def online(self, room_id: int) -> Names:
        self.start()
        return await self._online(room_id)

    async def _read_online(self, room_id: int) -> Names:
        try:
            names = await self._online_script(
                keys=[room_key(room_id), NAMES_KEY], client=self.redis
            )
        except (RedisError, OSError) as exc:
            raise Unavailable() from exc
        return Names(sorted(name.decode() for name in names if name is not None))

    async def online_counts(self, room_ids: list[int]) -> dict[int, int]:
        self.start()
        try:
            async with self.redis.pipeline(transaction=False) as pipe:
                for room_id in room_ids:
                    pipe.hlen(room_key(room_id))
                counts = await pipe.execute()
        except (RedisError, OSError) as exc:
            # Not zeros: the lobby shows no counts rather than wrong ones.
            raise Unavailable() from exc
        return dict(zip(room_ids, counts, strict=True))

    async def _run(self, script, *, keys: list, args: list):
        """Run ``script``, once more after a ConnectionError.

        After Redis restarted, the first command on each pooled connection fails
        (redis-py does not retry it). The script may have run before a connection
        broke, so a retry marks the counts as unsure: the next heartbeat resyncs.
        """
        try:
            return await script(keys=keys, args=args, client=self.redis)
        except RedisConnectionError:
            self._dirty = True
            return await script(keys=keys, args=args, client=self.redis)

    @contextlib.asynccontextmanager
    async def _call(self, what: str):
        """Run one arrive/depart: never during a resync, and marked dirty if it fails."""
        while self._resyncing is not None:
            await self._resyncing.wait()
        self._inflight += 1
        try:
            yield
        except (RedisError, OSError) as exc:
            # A timeout may hide a script that did run: the next heartbeat repairs.
            self._dirty = True
            logger.warning("presence unavailable op=%s process=%s: %r", what, self.process_id, exc)
            raise Unavailable() from exc
        finally:
            self._inflight -= 1
            if self._inflight == 0 and self._quiet is not None:
                self._quiet.set()

    # --- lease, repair and sweep ----------------------------------------------

    def start(self) -> None:
        """Start the heartbeat and sweeper in the running loop (idempotent)."""
        if self._task is None or self._task.done():
            if self.retired:
                return
            self._task = asyncio.get_running_loop().create_task(self._keep_alive())

    def stop(self) -> None:
        """Stop the heartbeat (the lease then runs out unless ``retire`` removed it)."""
        if self._task is not None:
            self._task.cancel()
            self._task = None

    async def _keep_alive(self) -> None:
        interval = self.lease / 3
        next_sweep = time.monotonic() + random.uniform(0, interval)
        while True:
            try:
                await self.heartbeat()
                if time.monotonic() >= next_sweep:
                    next_sweep = time.monotonic() + interval * random.uniform(0.8, 1.2)
                    await self.sweep()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - Redis away: keep beating
                self._ok_since = None
                self._failures += 1
                # One line per outage, not one per beat.
                log = logger.warning if self._failures == 1 else logger.debug
                log("presence heartbeat failed process=%s: %r", self.process_id, exc)
            await asyncio.sleep(interval)

    async def heartbeat(self) -> None:
        """Renew this process's lease; write its counts back if Redis lost them."""
        held, redis_now = await self._heartbeat(
            keys=[LEASES_KEY, process_key(self.process_id)],
            args=[self.process_id, self.lease],
            client=self.redis,
        )
        now = time.monotonic()
        self._clock = (float(redis_now), now)
        if self._failures:
            logger.warning(
                "presence heartbeat back process=%s after failures=%d",
                self.process_id,
                self._failures,
            )
            self._failures = 0
        # A beat that came late (Redis paused, loop stalled) means other processes'
        # beats were held up too: start the wait before sweeping again.
        first = self._last_ok is None
        late = first or now - self._last_ok > self.lease / 2
        if late or self._ok_since is None:
            self._ok_since = now
        self._last_ok = now
        if not held or self._dirty:
            # The first beat always writes the marker: that is no repair worth a log line.
            reason = "unsure" if held else ("start" if first else "lost")
            await self.resync(reason=reason)

    async def resync(self, *, reason: str) -> None:
        """Replace what Redis holds for this process by its in-memory counts."""
        if self._resyncing is not None:
            return
        self._resyncing = asyncio.Event()
        try:
            while self._inflight:
                self._quiet = asyncio.Event()
                await self._quiet.wait()
            self._quiet = None
            self._dirty = False
            args: list = [PREFIX, self.process_id, self.lease]
            for (room_id, user_id), count in self._mine.items():
                args += [f"{room_id}:{user_id}", count, self._names.get(user_id, "")]
            try:
                gone = await self._resync(
                    keys=[LEASES_KEY, process_key(self.process_id), NAMES_KEY],
                    args=args,
                    client=self.redis,
                )
            except BaseException:
                self._dirty = True
                raise
            if reason != "start":
                logger.info(
                    "presence resynced process=%s reason=%s connections=%d",
                    self.process_id,
                    reason,
                    sum(self._mine.values()),
                )
        finally:
            event, self._resyncing = self._resyncing, None
            event.set()
        await self._announce_leaves(gone, why="repaired")

    async def sweep(self, *, force: bool = False) -> int:
        """Withdraw processes whose lease expired and announce who left; return how many.

        Skipped until this process's own heartbeats have succeeded for half a lease:
        after Redis was away, every live process must get a chance to renew first,
        or the first sweeper would evict them all.
        """
        if not force and (
            self._ok_since is None or time.monotonic() - self._ok_since < self.lease / 2
        ):
            return 0
        total = 0
        while True:
            redis_then, then = self._clock or (0.0, time.monotonic())
            valid_until = redis_then + (time.monotonic() - then) + SWEEP_MAX_DELAY
            result = await self._sweep(
                keys=[LEASES_KEY],
                args=[PREFIX, SWEEP_BATCH, "", repr(valid_until)],
                client=self.redis,
            )
            count = int(result[0])
            if count < 0:
                logger.info("presence sweep void process=%s: it was held up", self.process_id)
                return total
            if count:
                logger.warning(
                    "presence swept processes=%d by=%s (lease expired)", count, self.process_id
                )
            await self._announce_leaves(result[1:], why="lease expired")
            total += count
            if count < SWEEP_BATCH:
                return total

    async def retire(self) -> None:
        """Withdraw this process now (graceful shutdown) and stop the heartbeat."""
        self.retired = True
        self.stop()
        self._mine.clear()
        try:
            result = await self._sweep(
                keys=[LEASES_KEY], args=[PREFIX, 1, self.process_id, ""], client=self.redis
            )
        except (RedisError, OSError) as exc:
            logger.warning(
                "presence retire failed process=%s: %r (the lease will expire)",
                self.process_id,
                exc,
            )
            return
        await self._announce_leaves(result[1:], why="process stopped")

    async def _announce_leaves(self, flat: list, *, why: str) -> None:
        for i in range(0, len(flat), 3):
            room_id, user_id, name = int(flat[i]), int(flat[i + 1]), flat[i + 2].decode()
            logger.info("presence leave room=%s user=%s reason=%s", room_id, user_id, why)
            if name and self.on_leave is not None:
                self.on_leave(room_id, name)
