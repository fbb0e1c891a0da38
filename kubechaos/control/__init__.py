"""The control plane: etcd, the API server in front of it (the generic request path, with one
registry strategy per kind and a watch cache per resource), the scheduler, and the controller
manager with its controllers. Processes here talk to the API server only through
:mod:`kubechaos.client`, as upstream's do over HTTP; import-linter holds that line."""
