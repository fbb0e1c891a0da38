"""What a request meets when it reaches a pod's IP: the honest outcome, from the processes.

A Service request that kube-proxy routed to a pod is answered by the pod's processes, not by
the kubelet's verdict about them: probes notice a hung or failing process only after
``failureThreshold`` periods, and the endpoints controller and kube-proxy take it out of the
Service later still. Until then requests keep reaching it, and a real client sees what the
process does:

==================== ==========================================================================
the process is ...   a request meets
==================== ==========================================================================
not running          ``connection_refused`` (nothing listens: a RST), as is a pod whose
                     sandbox is gone or whose containers are not all running
starting             ``connection_refused`` (``startup=D`` in its behaviour: not listening yet)
hung                 ``timeout`` (``liveness-fail-after=D``: the kernel accepts the connection,
                     the process never answers; the client gives up after its timeout)
failing readiness    ``not_ready`` (an error answer), unless its behaviour has
                     ``serves-while-unready``
in preStop, and     what it did before, until it exits (upstream runs the preStop hook, then
after SIGTERM        sends SIGTERM and the process decides; the Endpoints controller drops the
                     pod when its deletion begins, kube-proxy a sync later), or
                     ``connection_refused`` from SIGTERM on if its behaviour has
                     ``closes-on-term``
otherwise            ``success``
==================== ==========================================================================

A pod with several app containers answers with the worst of them (hung, then refused, then
not-ready): the model does not follow a Service's ``targetPort`` to one container. Init
containers (done before the app starts) and sidecars (a log shipper, a proxy in front of the
app) do not answer the Service's requests here: the app containers do.

:class:`PodAnswerer` is attached by the kubelet to the pod's :class:`~kubechaos.node.network.
Endpoint`; the endpoint caches its answer until the next time the behaviours say it changes, or
until the kubelet reports a container change, so the per-request cost is one comparison.
"""

from __future__ import annotations

import math

from kubechaos.node.behaviour import HUNG, STARTING, UNREADY
from kubechaos.node.initstate import APP
from kubechaos.node.network import ANSWERED, ERRORED, HUNG_UP, REFUSED
from kubechaos.node.podstate import RUNNING, SANDBOX_READY, PodState

_OUTCOME = {HUNG: HUNG_UP, STARTING: REFUSED, UNREADY: ERRORED}
_RANK = {ANSWERED: 0, ERRORED: 1, REFUSED: 2, HUNG_UP: 3}


class PodAnswerer:
    """The answer of one pod's processes (see the module docstring)."""

    __slots__ = ("ps",)

    def __init__(self, ps: PodState) -> None:
        self.ps = ps

    def answer(self, t: float) -> tuple[str, float]:
        ps = self.ps
        if ps.sandbox != SANDBOX_READY or not ps.runs:
            return REFUSED, math.inf
        worst, until = ANSWERED, math.inf
        for run in ps.runs:
            if run.kind != APP:
                continue
            behaviour, started = run.behaviour, run.started_at
            if run.state != RUNNING or behaviour is None or started is None:
                return REFUSED, math.inf
            if run.stop_at is not None and behaviour.closes_on_term:
                term_at = run.term_at if run.term_at is not None else t
                if t >= term_at:  # SIGTERM came (after any preStop hook): listener closed
                    return REFUSED, math.inf
                until = min(until, term_at)
            state, state_until = behaviour.answer(t - started)
            until = min(until, started + state_until)
            outcome = _OUTCOME.get(state, ANSWERED)
            if _RANK[outcome] > _RANK[worst]:
                worst = outcome
        return worst, until


__all__ = ["PodAnswerer"]
