"""The StatefulSet controller: pods with stable names, created, replaced and updated one ordinal
at a time.

A model of kube-controller-manager's pkg/controller/statefulset (v1.32), laid out as upstream's
files are: :mod:`.controller` (stateful_set.go: informers, claiming pods, revisions, status),
:mod:`.control` (stateful_set_control.go and stateful_pod_control.go: what one sync does) and
:mod:`.utils` (stateful_set_utils.go: identity, revisions, status arithmetic).
"""

from kubechaos.control.controllers.statefulset.controller import StatefulSetController

__all__ = ["StatefulSetController"]
