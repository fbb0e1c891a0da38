"""kubechaos: a deterministic, virtual-time model of a whole Kubernetes cluster on Trio."""

__version__ = "0.1.0"
