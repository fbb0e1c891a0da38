"""The front door: a run's API served over HTTP as the Kubernetes REST API, for kubectl, the
client libraries and a user's own controllers (see :mod:`.app` and :mod:`.server`)."""
