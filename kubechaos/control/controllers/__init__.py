"""The controllers the controller manager runs, one module (or one folder, for the deployment
controller) each, as pkg/controller: each an informer-driven, level-triggered reconcile over a
rate-limited work queue. They never import each other; what they share lives in
``ownership`` (adopting and releasing by owner references) and ``podsbynode`` (the pod index
by node)."""
