"""The EndpointSlice controller (pkg/controller/endpointslice) and its reconciler's plan."""

from kubechaos.control.controllers.endpointslice.controller import EndpointSliceController

__all__ = ["EndpointSliceController"]
