"""``kubechaos run --api``: the run's API served to kubectl and client libraries.

The options, their checks (one line each, exit 2), the TLS material, and the service attached
to the run. The front door itself is :mod:`kubechaos.frontdoor`.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from collections.abc import Callable
from pathlib import Path
from typing import Any

import attrs
import click
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from rich.console import Console

from kubechaos.cli.common import Address, invalid
from kubechaos.cli.terminal import shown
from kubechaos.frontdoor.server import (
    APIEndpoint,
    APIServeError,
    APIService,
    TLSFiles,
    is_loopback,
    new_token,
)
from kubechaos.scenario.runner import Run

SELF_SIGNED_DAYS = 30


_META_KEY = "kubechaos.api"


@attrs.frozen
class APIRequest:
    """What the --api options asked for."""

    address: tuple[str, int] | None = None
    kubeconfig_file: Path | None = None
    tls_cert: Path | None = None
    tls_key: Path | None = None
    self_signed: bool = False


def _remember(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
    """Each --api option is kept aside in the context, read back as one APIRequest."""
    if param.name is not None:
        ctx.meta.setdefault(_META_KEY, {})[param.name] = value
    return value


def requested_api() -> APIRequest:
    return APIRequest(**click.get_current_context().meta.get(_META_KEY, {}))


def api_options(command: Callable[..., Any]) -> Callable[..., Any]:
    common: dict[str, Any] = {"expose_value": False, "callback": _remember}
    options = [
        click.option(
            "--api",
            "address",
            type=Address(),
            help="Serve the run's Kubernetes API at HOST:PORT for kubectl and client libraries "
            "(a bare PORT binds to 127.0.0.1); paces the run to --speed, 1 unless given.",
            **common,
        ),
        click.option(
            "--kubeconfig",
            "kubeconfig_file",
            type=click.Path(dir_okay=False, writable=True, path_type=Path),
            help="With --api: write a kubeconfig for it here (context named after the scenario).",
            **common,
        ),
        click.option(
            "--tls-cert",
            "tls_cert",
            type=click.Path(dir_okay=False, exists=True, path_type=Path),
            help="With --api: serve HTTPS with this certificate (PEM); needs --tls-key.",
            **common,
        ),
        click.option(
            "--tls-key",
            "tls_key",
            type=click.Path(dir_okay=False, exists=True, path_type=Path),
            help="With --api: the private key (PEM) of --tls-cert.",
            **common,
        ),
        click.option(
            "--tls-self-signed",
            "self_signed",
            is_flag=True,
            help="With --api: serve HTTPS with a self-signed certificate generated beside the "
            "kubeconfig (which trusts it).",
            **common,
        ),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def api_speed(speed: float | None) -> float | None:
    """A run serving the API is paced (1x unless --speed says otherwise): real clients need a
    clock that does not race ahead while they think."""
    if speed is None and requested_api().address is not None:
        return 1.0
    return speed


def attach_api(the_run: Run, speed: float | None) -> APIService | None:
    """Bind the front door (a bad address fails now, before the run) and attach it."""
    request = requested_api()
    if request.address is None:
        for flag, given in (
            ("--kubeconfig", request.kubeconfig_file),
            ("--tls-cert", request.tls_cert),
            ("--tls-key", request.tls_key),
            ("--tls-self-signed", request.self_signed or None),
        ):
            if given is not None:
                invalid(f"{flag} needs --api")
        return None
    host, port = request.address
    tls = _tls_files(host, request)
    token = None if is_loopback(host) and tls is None else new_token()
    try:
        endpoint = APIEndpoint(host, port, tls, token)
        service = APIService(endpoint, speed or 1.0, request.kubeconfig_file, the_run.scenario.name)
        service.bind()
    except APIServeError as exc:
        invalid(f"--api: {exc}")
    cluster = the_run.cluster
    the_run.services.append(lambda: service.run(cluster.api, the_run.events, cluster.use_kind))
    the_run.served_api = service.endpoint.url
    return service


def _tls_files(host: str, request: APIRequest) -> TLSFiles | None:
    cert, key, kubeconfig_file = request.tls_cert, request.tls_key, request.kubeconfig_file
    self_signed = request.self_signed
    if (cert is None) != (key is None):
        invalid("--tls-cert and --tls-key go together")
    if cert is not None and key is not None:
        if self_signed:
            invalid("--tls-self-signed and --tls-cert exclude each other")
        return TLSFiles(cert, key)
    if not self_signed:
        return None
    if kubeconfig_file is None:
        invalid("--tls-self-signed needs --kubeconfig (the pair is written beside it)")
    return generate_self_signed(
        host, kubeconfig_file.with_suffix(".crt"), kubeconfig_file.with_suffix(".key")
    )


def generate_self_signed(host: str, cert_path: Path, key_path: Path) -> TLSFiles:
    """A self-signed certificate for ``host`` (and localhost), valid for a month."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kubechaos")])
    alt: list[x509.GeneralName] = [x509.DNSName("localhost")]
    try:
        alt.append(x509.IPAddress(ipaddress.ip_address(host)))
    except ValueError:
        alt.append(x509.DNSName(host))
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=SELF_SIGNED_DAYS))
        .add_extension(x509.SubjectAlternativeName(alt), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    key_path.chmod(0o600)
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return TLSFiles(cert_path, key_path)


def print_api_header(console: Console, service: APIService) -> None:
    kubeconfig_file = service.kubeconfig_path
    where = f"; kubeconfig {shown(kubeconfig_file)}" if kubeconfig_file is not None else ""
    console.print(
        f"serving the Kubernetes API at {shown(service.endpoint.url)} "
        f"({service.speed:g}x real time{where}); external clients make the run unreplayable"
    )


def linger_api(console: Console, the_run: Run, service: APIService) -> None:
    """--linger: serve the run's final state until Ctrl-C."""
    console.print(f"still serving {shown(service.endpoint.url)} (the final state); Ctrl-C to stop")
    end = the_run.finished_at if the_run.finished_at is not None else 0.0
    try:
        service.serve_final_state(the_run.cluster.api, the_run.events, end)
    except KeyboardInterrupt:
        return
    except BaseExceptionGroup as group:
        if group.split(KeyboardInterrupt)[1] is not None:
            raise
    except APIServeError as exc:
        console.print(f"[red]--linger:[/] {shown(str(exc))}")


__all__ = [
    "APIRequest",
    "api_options",
    "api_speed",
    "attach_api",
    "generate_self_signed",
    "linger_api",
    "print_api_header",
]
