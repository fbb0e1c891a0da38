"""Client machinery every component uses to talk to the API server, as client-go is for upstream:
the client interface, informers, the rate-limited work queue, the client identity, and the
:class:`~kubechaos.client.context.Context` each component is given."""
