"""The horizontal pod autoscaler controller (pkg/controller/podautoscaler, v1.32)."""

from kubechaos.control.controllers.podautoscaler.controller import HorizontalController

__all__ = ["HorizontalController"]
