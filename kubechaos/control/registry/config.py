"""The config kinds' rows of the resource table (ConfigMap, Secret, ServiceAccount,
PriorityClass), in discovery's order; each kind's strategy is its own module."""

from __future__ import annotations

from kubechaos.control.registry.configmap import CONFIGMAPS
from kubechaos.control.registry.priorityclass import PRIORITYCLASSES
from kubechaos.control.registry.secret import SECRETS
from kubechaos.control.registry.serviceaccount import SERVICEACCOUNTS

CONFIG = (CONFIGMAPS, SECRETS, SERVICEACCOUNTS, PRIORITYCLASSES)
