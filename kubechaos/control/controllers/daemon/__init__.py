"""The DaemonSet controller (pkg/controller/daemon): one pod per eligible node.

:mod:`.controller` (event handlers, manage, status), :mod:`.update` (RollingUpdate),
:mod:`.util` (eligibility, the daemon pod and its tolerations), :mod:`.index` (pods by
DaemonSet and node, expectations, the failed-pod back-off).
"""

from kubechaos.control.controllers.daemon.controller import DaemonSetController

__all__ = ["DaemonSetController"]
