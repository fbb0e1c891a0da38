"""etcd as a Raft cluster of N members, at the level chaos cares about: who leads, whether a
majority is up, how long an election stalls writes.

The members share one replicated state machine (:class:`~kubechaos.control.etcd.Etcd` and its
store): a committed entry is on a majority, and a member that comes back catches up from the
leader (log entries or a snapshot) before it serves, so modelling one copy of the log is exact for
every client that reaches a member with a leader. What differs per member is only whether it is up,
who it believes leads, and how many leader changes it has seen.

Upstream facts modelled (etcd docs "Failure modes", "FAQ: Why an odd number of cluster members?",
etcd ``raft/raft.go``):

* a write commits only on a majority: ``n // 2 + 1`` members (2 of 3, 3 of 5). With fewer up the
  cluster has no leader (the old leader steps down by CheckQuorum) and every write and every
  linearizable read fails: etcd's ``etcdserver: no leader``, as the ``etcd-unavailable`` fault
  already answers through :meth:`Etcd.lose_leader`. The API server's watch cache keeps serving
  what it holds (``resourceVersion=0`` reads, open watches: nothing new arrives);
* the leader's death is noticed by followers when their election timer fires: a randomized
  timeout in ``[electionTimeout, 2 * electionTimeout)`` (raft's ``resetRandomizedElectionTimeout``;
  ``--election-timeout`` 1000 ms, ``--heartbeat-interval`` 100 ms). Until then no leader: "write
  requests sent during the election are queued for processing until a new leader is elected"
  (etcd docs "Failure modes", Leader failure), so a write arriving meanwhile stalls rather than
  fails; one already sent to the old leader and not committed fails;
* a follower's death is invisible to clients while a majority remains;
* a returning member catches up from the leader (entries or a snapshot: upstream within a few
  heartbeats, ``--heartbeat-interval`` 100 ms; here at once, since no client reads a member
  directly) and counts the leader it finds as a leader change
  (``etcd_server_leader_changes_seen_total`` is per member process).

With one member (the default) none of this runs: :class:`EtcdCluster` exists only for N > 1, or
when a fault crashes the only member (quorum 1 of 1, lost at once).
"""

from __future__ import annotations

import random

import attrs
import trio

from kubechaos.control.etcd import Etcd
from kubechaos.defaults import Settings
from kubechaos.sim import timers
from kubechaos.sim.clock import now
from kubechaos.sim.events import EventLog

COMPONENT = "etcd"
FORWARD_DELAY = 1e-6  # a queued proposal reaches the new leader just after it is elected


@attrs.define
class Member:
    """One etcd member process on a control-plane node."""

    name: str
    holds: int = 0  # faults keeping it down; it runs while none does
    leader_changes_seen: int = 1  # the leader elected at bootstrap
    started_at: float = 0.0

    @property
    def up(self) -> bool:
        return self.holds == 0


class EtcdCluster:
    """Members, quorum and leader of one etcd cluster in front of one :class:`Etcd`."""

    def __init__(
        self,
        etcd: Etcd,
        names: tuple[str, ...],
        settings: Settings,
        rng: random.Random,
        events: EventLog,
    ) -> None:
        self.etcd = etcd
        self.members = [Member(name) for name in names]
        self.settings = settings
        self._rng = rng
        self._events = events
        self.leader: int | None = 0  # member 0 won the bootstrap election
        self._holding = False  # whether this cluster holds etcd.lose_leader()
        self._election: trio.CancelScope | None = None
        self._election_due = 0.0
        self._stall_key: tuple[object, float] | None = None

    # ------------------------------------------------------------------ state
    @property
    def quorum(self) -> int:
        """Members a commit needs: a majority (etcd FAQ: 2 of 3, 3 of 5)."""
        return len(self.members) // 2 + 1

    def up_count(self) -> int:
        return sum(1 for m in self.members if m.up)

    def has_quorum(self) -> bool:
        return self.up_count() >= self.quorum

    def index(self, which: str | int) -> int:
        """A member by index or ``"leader"``; raises ValueError naming the choices."""
        if which == "leader":
            if self.leader is None:
                raise ValueError("etcd has no leader now")
            return self.leader
        if isinstance(which, int) and 0 <= which < len(self.members):
            return which
        raise ValueError(f"etcd member {which!r}: expected 0..{len(self.members) - 1} or leader")

    def member_has_leader(self, i: int) -> bool:
        return self.members[i].up and self.leader is not None

    # ------------------------------------------------------------------ faults
    def crash(self, i: int, nursery: trio.Nursery) -> None:
        """Member ``i`` dies (or stays dead one more hold)."""
        member = self.members[i]
        member.holds += 1
        if member.holds > 1:
            return
        had_quorum = self.up_count() + 1 >= self.quorum
        self._events.record(COMPONENT, "Member", member.name, "MemberDown", self._summary())
        if self.leader == i:
            self.leader = None
            self._lose()
        if not self.has_quorum():
            self._cancel_election()
            self.leader = None
            self._lose()
            if had_quorum:
                self._events.record(
                    COMPONENT,
                    "Cluster",
                    "etcd",
                    "QuorumLost",
                    f"{self.up_count()} of {len(self.members)} members up, {self.quorum} needed",
                )
        elif self.leader is None and self._election is None:
            self._start_election(nursery)

    def restore(self, i: int, nursery: trio.Nursery) -> None:
        """Let go of one :meth:`crash` of member ``i``; the last one starts it again."""
        member = self.members[i]
        if member.holds == 0:
            return
        member.holds -= 1
        if member.holds:
            return
        member.started_at = now()
        self._events.record(COMPONENT, "Member", member.name, "MemberUp", self._summary())
        if self.leader is not None:
            member.leader_changes_seen += 1  # the leader it finds (a new process counts afresh)
            self._events.record(
                COMPONENT,
                "Member",
                member.name,
                "MemberCaughtUp",
                f"caught up with leader {self.members[self.leader].name}",
            )
        elif self.has_quorum() and self._election is None:
            self._start_election(nursery)

    # ------------------------------------------------------------------ elections
    def _start_election(self, nursery: trio.Nursery) -> None:
        timeout = self.settings.etcd_election_timeout
        delay = timeout + self._rng.random() * timeout  # raft's randomized election timeout
        self._election_due = now() + delay
        scope = trio.CancelScope()
        self._election = scope
        if self._stall not in self.etcd.latency_hooks:
            self.etcd.latency_hooks.append(self._stall)
        nursery.start_soon(self._elect, scope, delay, name="etcd-election")

    async def _elect(self, scope: trio.CancelScope, delay: float) -> None:
        with scope:
            await timers.sleep(delay)
            self._election = None
            self._detach_stall()
            up = [i for i, m in enumerate(self.members) if m.up]
            if len(up) < self.quorum:
                return
            self.leader = self._rng.choice(up)  # whose timer fired first
            for i in up:
                self.members[i].leader_changes_seen += 1
            self._events.record(
                COMPONENT,
                "Member",
                self.members[self.leader].name,
                "LeaderElected",
                f"elected leader after {delay:.3f}s; {self._summary()}",
            )
            self._regain()

    def _cancel_election(self) -> None:
        if self._election is not None:
            self._election.cancel()
            self._election = None
        self._detach_stall()

    def _stall(self) -> float:
        """A request arriving mid-election waits for the new leader (once per request)."""
        key = (trio.lowlevel.current_task(), now())
        if key == self._stall_key:
            return 0.0
        self._stall_key = key
        # just after the election, so the request runs once the new leader leads
        return max(0.0, self._election_due - now()) + FORWARD_DELAY

    def _detach_stall(self) -> None:
        if self._stall in self.etcd.latency_hooks:
            self.etcd.latency_hooks.remove(self._stall)

    def _lose(self) -> None:
        if not self._holding:
            self._holding = True
            self.etcd.lose_leader()

    def _regain(self) -> None:
        if self._holding:
            self._holding = False
            self.etcd.regain_leader()

    def _summary(self) -> str:
        return f"{self.up_count()} of {len(self.members)} members up (quorum {self.quorum})"


__all__ = ["EtcdCluster", "Member"]
