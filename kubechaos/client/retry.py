"""client-go's transparent retry of a request the API server asked it to repeat.

Every component in the model talks to the API server through client-go, whose ``rest.Request``
retries a response of 429 (or any 5xx) that carries a ``Retry-After`` header by itself: it waits
the header's seconds and sends the request again, up to ``maxRetries`` 10 times (client-go
rest/request.go ``NewRequest``; rest/with_retry.go ``IsNextRetry``, ``checkWait``). The caller
sees an error only when the eleventh answer is still one. The API server's overload filters
answer 429 with ``Retry-After: 1`` (apiserver pkg/server/filters/maxinflight.go
``tooManyRequests``; API Priority and Fairness rejects through the same helper), so an APF
rejection costs a component about a second, not a failed sync.

Answers without the header are returned at once: a 503 from a load balancer with no healthy API
server behind it, the Eviction API's 429 for a PodDisruptionBudget (no retry interval given).
Only the model's own components retry here; a request through the HTTP front door gets the 429
itself (kubectl and client libraries do their own retrying).
"""

from __future__ import annotations

from kubechaos.api import errors
from kubechaos.client.identity import retries_requests

MAX_RETRIES = 10  # client-go rest.Request maxRetries (request.go NewRequest)


def retry_wait(refused: errors.APIError | None, retries: int) -> float | None:
    """How long client-go waits before sending a refused request again (None: it does not).

    ``retries`` is how many times the request was already sent again."""
    if refused is None or retries >= MAX_RETRIES or not retries_requests():
        return None
    if refused.code != 429 and refused.code < 500:
        return None
    return float(refused.retry_after_seconds) if refused.retry_after_seconds > 0 else None
