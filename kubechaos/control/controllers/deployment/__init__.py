"""The Deployment controller: roll a pod template out through ReplicaSets, one revision each.

A model of kube-controller-manager's pkg/controller/deployment (v1.32), laid out as upstream's
files are. A Deployment owns one ReplicaSet per pod template it has had. The **new** ReplicaSet is
the one whose template equals the Deployment's (ignoring the ``pod-template-hash`` label); all
others are **old**. A sync:

- claims the ReplicaSets the selector matches (adopt orphans, release strays), like the
  ReplicaSet controller claims pods (:mod:`.controller`, deployment_controller.go);
- if ``spec.replicas`` changed (the ReplicaSets' desired-replicas annotation disagrees), only
  scales: the one active ReplicaSet takes the new count, or, mid-rollout, every active ReplicaSet
  grows or shrinks in proportion to its size (:mod:`.sync`, sync.go);
- otherwise rolls out: **RollingUpdate** (:mod:`.rolling`, rolling.go) or **Recreate**
  (:mod:`.recreate`, recreate.go);
- writes status and the Available / Progressing conditions (:mod:`.progress`, progress.go), and
  deletes the oldest empty ReplicaSets beyond ``revisionHistoryLimit``.

:mod:`.util` holds the pure pieces all of them share (deployment util: revisions, annotations,
the template hash, finding the new ReplicaSet, conditions); the maxSurge / maxUnavailable
arithmetic is :mod:`kubechaos.api.rollout`, since more than this controller reads it.

All decisions read the informers' caches, which lag; upstream tolerates that by re-reading on every
ReplicaSet event, and so does the model. Like upstream, the controller keeps no state of its own
beyond indexes, so a fresh one after a crash simply relists.
"""

from kubechaos.control.controllers.deployment.controller import DeploymentController

__all__ = ["DeploymentController"]
