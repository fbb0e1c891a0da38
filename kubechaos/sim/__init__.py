"""The ground under the model: virtual time, the event log and seeded randomness."""

from kubechaos.sim.clock import now, run_virtual
from kubechaos.sim.events import Event, EventLog
from kubechaos.sim.rand import Rng

__all__ = ["Event", "EventLog", "Rng", "now", "run_virtual"]
