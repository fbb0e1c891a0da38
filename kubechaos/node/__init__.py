"""Per-node behaviour: the kubelet (``kubelet/``), the container runtime it drives, probes and
scripted container behaviours, kube-proxy's view of Services, and the pod network that decides
whether a request reaches a serving container. Nodes reach the control plane only through
:mod:`kubechaos.client`."""
