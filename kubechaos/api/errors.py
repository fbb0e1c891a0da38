"""API errors as typed exceptions carrying the upstream HTTP status code and reason.

Clients catch the class they can act on: a controller retries on :class:`Conflict`, an informer
relists on :class:`Gone`, everyone backs off on :class:`TooManyRequests` and
:class:`ServiceUnavailable`.
"""

from __future__ import annotations


class APIError(Exception):
    code = 500
    reason = "InternalError"
    # the Status's details.retryAfterSeconds (the Retry-After header): 0 is none
    retry_after_seconds = 0
    # the Status's details.causes (metav1.StatusCause as JSON: reason, message, field), if any
    status_causes: list[dict[str, str]] | None = None

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return f"{self.code} {self.reason}: {self.message}"


class BadRequest(APIError):
    code = 400
    reason = "BadRequest"


class Forbidden(APIError):
    """Refused by admission (upstream's ``admission.NewForbidden``): the message names the
    resource and object as ``<resource>.<group> "<name>" is forbidden: <why>``."""

    code = 403
    reason = "Forbidden"


class NotFound(APIError):
    code = 404
    reason = "NotFound"


class AlreadyExists(APIError):
    code = 409
    reason = "AlreadyExists"


class Conflict(APIError):
    code = 409
    reason = "Conflict"


class Gone(APIError):
    code = 410
    reason = "Expired"


class Invalid(APIError):
    code = 422
    reason = "Invalid"

    def __init__(self, kind: str, name: str, causes: list[str]) -> None:
        super().__init__(f'{kind} "{name}" is invalid: ' + "; ".join(causes))
        self.causes = causes


class TooManyRequests(APIError):
    code = 429
    reason = "TooManyRequests"

    def __init__(self, message: str, retry_after_seconds: int = 0) -> None:
        super().__init__(message)
        self.retry_after_seconds = retry_after_seconds


class InternalError(APIError):
    code = 500
    reason = "InternalError"


class ServiceUnavailable(APIError):
    code = 503
    reason = "ServiceUnavailable"
