"""Serving the front door on the run's own Trio loop with hypercorn, and the kubeconfig for it.

hypercorn runs inside the model's Trio run (no thread, no second loop), so a request is served
between the model's events on the same virtual clock, paced to the wall clock (``--speed``):
a run with ``--api`` is never unpaced, since an unpaced clock would race ahead while a client
thinks. Timestamps a client sees are anchored at the wall-clock instant of virtual time zero.

Loopback by default. Any other address needs TLS (a certificate and key, given or generated)
and a bearer token, which the kubeconfig carries; a request without it gets 401.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import secrets
import ssl
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import attrs
import yaml
from hypercorn.config import Config
from hypercorn.trio.run import worker_serve
from hypercorn.utils import wrap_app

from kubechaos.control.apiserver import APIServer
from kubechaos.frontdoor.app import FrontDoor
from kubechaos.frontdoor.timefmt import Anchor
from kubechaos.sim.clock import now, run_virtual
from kubechaos.sim.events import EventLog

# How long an idle keep-alive connection stays open (kube-apiserver's HTTP/1.1 idle timeout is
# 90 s; virtual seconds here, which a paced run keeps close to wall seconds).
KEEP_ALIVE_SECONDS = 90.0


class APIServeError(Exception):
    """The front door cannot be served as asked (address in use, TLS missing, ...)."""


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@attrs.frozen
class TLSFiles:
    certfile: Path
    keyfile: Path


@attrs.define
class APIEndpoint:
    """Where and how one run's API is served."""

    host: str
    port: int
    tls: TLSFiles | None = None
    token: str | None = None

    def __attrs_post_init__(self) -> None:
        if not is_loopback(self.host) and (self.tls is None or self.token is None):
            raise APIServeError(
                f"serving the API on {self.host} (not loopback) needs TLS and a token: "
                "give --tls-cert and --tls-key (or --tls-self-signed)"
            )

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        scheme = "https" if self.tls is not None else "http"
        return f"{scheme}://{host}:{self.port}"

    def hypercorn_config(self, speed: float = 1.0) -> Config:
        config = Config()
        host = f"[{self.host}]" if ":" in self.host else self.host
        config.bind = [f"{host}:{self.port}"]
        config.keep_alive_timeout = KEEP_ALIVE_SECONDS * speed  # hypercorn times in virtual s
        config.accesslog = None
        config.errorlog = _quiet_logger()
        config.include_server_header = False
        if self.tls is not None:
            config.certfile = str(self.tls.certfile)
            config.keyfile = str(self.tls.keyfile)
        return config


def _quiet_logger() -> logging.Logger:
    """hypercorn's error log, kept off the run's terminal (a dropped client is not news)."""
    logger = logging.getLogger("kubechaos.frontdoor")
    logger.propagate = False
    logger.addHandler(logging.NullHandler())
    return logger


def new_token() -> str:
    return secrets.token_urlsafe(32)


def kubeconfig(endpoint: APIEndpoint, name: str) -> dict[str, Any]:
    """A kubeconfig with one cluster, user and context, all named after the scenario."""
    cluster: dict[str, Any] = {"server": endpoint.url}
    if endpoint.tls is not None:
        cluster["certificate-authority"] = str(endpoint.tls.certfile.resolve())
    user: dict[str, Any] = {"token": endpoint.token} if endpoint.token else {}
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": name, "cluster": cluster}],
        "users": [{"name": name, "user": user}],
        "contexts": [{"name": name, "context": {"cluster": name, "user": name}}],
        "current-context": name,
        "preferences": {},
    }


def write_kubeconfig(path: Path, endpoint: APIEndpoint, name: str) -> None:
    write_config(path, kubeconfig(endpoint, name))


def write_config(path: Path, config: dict[str, Any]) -> None:
    """Written owner-only: it may carry the bearer token."""
    text = yaml.safe_dump(config, sort_keys=False)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(text)


class APIService:
    """The front door of one run: bound before the run (a bad address fails at once), then
    served on the run's nursery once the cluster is up."""

    def __init__(
        self,
        endpoint: APIEndpoint,
        speed: float,
        kubeconfig_path: Path | None = None,
        context_name: str = "kubechaos",
    ) -> None:
        self.endpoint = endpoint
        self.speed = speed
        self.kubeconfig_path = kubeconfig_path
        self.context_name = context_name
        self.app: FrontDoor | None = None
        # bearer token -> client name: each external process of the run has its own
        self.client_tokens: dict[str, str] = {}
        self._config = endpoint.hypercorn_config(speed)
        self._sockets: Any = None

    def bind(self) -> None:
        """Bind the listening socket (``:0`` picks a free port) and write the kubeconfig."""
        try:
            self._sockets = self._config.create_sockets()
        except OSError as exc:
            raise APIServeError(
                f"cannot serve the API on {self.endpoint.host}:{self.endpoint.port}: "
                f"{exc.strerror or exc}"
            ) from None
        except ssl.SSLError as exc:  # pragma: no cover - create_sockets does not load TLS
            raise APIServeError(f"TLS: {exc}") from None
        listening = [*self._sockets.secure_sockets, *self._sockets.insecure_sockets]
        for sock in listening:
            sock.listen(self._config.backlog)
        self.endpoint.port = listening[0].getsockname()[1]
        if self.kubeconfig_path is not None:
            write_kubeconfig(self.kubeconfig_path, self.endpoint, self.context_name)

    def close(self) -> None:
        """Release the sockets of a service that never ran (the run failed before it)."""
        if self._sockets is not None:
            for sock in [*self._sockets.secure_sockets, *self._sockets.insecure_sockets]:
                sock.close()

    async def run(
        self, api: APIServer, events: EventLog, on_kind: Callable[[str], None] | None = None
    ) -> None:
        """Serve until cancelled (the end of the run)."""
        if self._sockets is None:
            self.bind()
        if self.app is None:
            # virtual time zero as a wall-clock instant: the one place the front door reads it
            anchor = Anchor(time.time() - now())
            address = f"{self.endpoint.host}:{self.endpoint.port}"
            self.app = FrontDoor(
                api, events, anchor, address, self.endpoint.token, self.speed, on_kind
            )
            self.app.client_tokens = self.client_tokens
        sockets, self._sockets = self._sockets, None  # serving closes them when it ends
        await worker_serve(
            wrap_app(self.app, self._config.wsgi_max_body_size, "asgi"),  # type: ignore[arg-type]
            self._config,
            sockets=sockets,
        )

    def serve_final_state(self, api: APIServer, events: EventLog, end: float) -> None:
        """After the run: serve its final state (the model stopped at virtual ``end``, its
        clock going on paced, so ages keep growing) until Ctrl-C, on the same address."""
        self.endpoint.port = self.endpoint.port or 0
        self.bind()
        run_virtual(self.run, api, events, speed=self.speed, start=end)


__all__ = [
    "KEEP_ALIVE_SECONDS",
    "APIEndpoint",
    "APIServeError",
    "APIService",
    "TLSFiles",
    "is_loopback",
    "kubeconfig",
    "new_token",
    "write_config",
    "write_kubeconfig",
]
