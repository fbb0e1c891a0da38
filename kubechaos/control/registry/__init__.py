"""The API server's registry: one strategy per kind, and the table that names them.

Upstream keeps what is particular to a kind in ``pkg/registry/<group>/<kind>/strategy.go`` (how a
new object is prepared, how an update may change it, how it is validated) and runs every kind
through one generic store (``staging/src/k8s.io/apiserver/pkg/registry/generic/registry/
store.go``). The same split here: :class:`~kubechaos.control.apiserver.APIServer` is the generic
request path, and it asks the kind's :class:`~kubechaos.control.registry.strategy.Strategy` at
each step. A new kind is one new module here (its strategy and its
:class:`~kubechaos.control.registry.strategy.ResourceType`) plus its line in
:mod:`kubechaos.control.registry.resources`.
"""
