"""A TLS-terminating proxy in front of the plaintext dev server, for tests.

    certs = Certificates.make(tmp_path)            # a CA, a server and a client certificate
    with TlsProxy(upstream, certs) as proxy:       # its own thread and event loop
        ... connect to 127.0.0.1:{proxy.port} with TLS (the server name ``localhost``)
        proxy.requests                             # (gRPC method, authorization) seen

It refuses a client without a certificate the CA signed (mutual TLS), so
whatever reaches the dev server through it came over TLS with the profile's
client certificate. The bytes a client sends are also read as HTTP/2 (the ``h2``
package) to see each gRPC call's ``:path`` and ``authorization`` header: that is
where an API key travels (``Bearer <key>``), so the test sees the key arrive as
the server would. The proxy only watches; the bytes pass unchanged.
"""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
import ssl
import threading
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

import h2.config
import h2.connection
import h2.events
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID


@dataclass(frozen=True)
class Certificates:
    """PEM files in one folder: ``ca.pem``; ``server.pem``/``server.key`` for
    ``localhost`` and 127.0.0.1; ``client.pem``/``client.key``."""

    folder: Path

    @property
    def ca(self) -> Path:
        return self.folder / "ca.pem"

    @property
    def server(self) -> tuple[Path, Path]:
        return self.folder / "server.pem", self.folder / "server.key"

    @property
    def client(self) -> tuple[Path, Path]:
        return self.folder / "client.pem", self.folder / "client.key"

    @classmethod
    def make(cls, folder: Path) -> Certificates:
        folder.mkdir(parents=True, exist_ok=True)
        ca_key = ec.generate_private_key(ec.SECP256R1())
        ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "playbook test CA")])
        ca = (
            _builder(ca_name, ca_name, ca_key)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=True,
                    crl_sign=True,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .sign(ca_key, hashes.SHA256())
        )
        (folder / "ca.pem").write_bytes(ca.public_bytes(serialization.Encoding.PEM))
        names: list[x509.GeneralName] = [
            x509.DNSName("localhost"),
            x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
        ]
        for who, usage, alt in (
            ("server", ExtendedKeyUsageOID.SERVER_AUTH, names),
            ("client", ExtendedKeyUsageOID.CLIENT_AUTH, [x509.DNSName("playbook-worker")]),
        ):
            key = ec.generate_private_key(ec.SECP256R1())
            subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"playbook {who}")])
            cert = (
                _builder(subject, ca_name, key)
                .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
                .add_extension(x509.SubjectAlternativeName(alt), critical=False)
                .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
                .add_extension(
                    x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
                    critical=False,
                )
                .sign(ca_key, hashes.SHA256())
            )
            (folder / f"{who}.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
            (folder / f"{who}.key").write_bytes(
                key.private_bytes(
                    serialization.Encoding.PEM,
                    serialization.PrivateFormat.PKCS8,
                    serialization.NoEncryption(),
                )
            )
        return cls(folder)


def _builder(
    subject: x509.Name, issuer: x509.Name, key: ec.EllipticCurvePrivateKey
) -> x509.CertificateBuilder:
    now = datetime.datetime.now(datetime.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    )


@dataclass
class TlsProxy:
    """TLS (client certificate required) on 127.0.0.1:``port``, plaintext to ``upstream``."""

    upstream: str
    certs: Certificates
    port: int = 0
    requests: list[tuple[str, str | None]] = field(default_factory=list)  # (:path, authorization)

    def __post_init__(self) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server: asyncio.Server | None = None

    def __enter__(self) -> TlsProxy:
        self._thread.start()
        self._server = asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(30)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        async def stop() -> None:
            if self._server is not None:
                self._server.close()
            for task in asyncio.all_tasks():
                if task is not asyncio.current_task():
                    task.cancel()

        asyncio.run_coroutine_threadsafe(stop(), self._loop).result(30)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(30)

    def calls(self, method: str) -> list[str | None]:
        """The authorization header of each call of ``method`` (``PollWorkflowTaskQueue``)."""
        return [auth for path, auth in list(self.requests) if path.endswith("/" + method)]

    async def _start(self) -> asyncio.Server:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(*self.certs.server)
        context.load_verify_locations(self.certs.ca)
        context.verify_mode = ssl.CERT_REQUIRED
        context.set_alpn_protocols(["h2"])
        return await asyncio.start_server(
            self._serve, "127.0.0.1", 0, ssl=context, ssl_handshake_timeout=10
        )

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        host, port = self.upstream.rsplit(":", 1)
        try:
            up_reader, up_writer = await asyncio.open_connection(host, int(port))
        except OSError:
            writer.close()
            return
        watcher = _Watcher(self.requests)
        await asyncio.gather(
            _pump(reader, up_writer, watcher.feed),
            _pump(up_reader, writer, None),
            return_exceptions=True,
        )


async def _pump(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, watch) -> None:  # noqa: ANN001
    try:
        while chunk := await reader.read(65536):
            if watch is not None:
                watch(chunk)
            writer.write(chunk)
            await writer.drain()
    except (OSError, ssl.SSLError, asyncio.IncompleteReadError):
        pass
    finally:
        writer.close()


class _Watcher:
    """Reads a client's HTTP/2 frames as a server would, to note each request's
    ``:path`` and ``authorization``; answers nothing (what it would send is dropped)."""

    def __init__(self, requests: list[tuple[str, str | None]]) -> None:
        self.requests = requests
        config = h2.config.H2Configuration(client_side=False, header_encoding="utf-8")
        self.h2: h2.connection.H2Connection | None = h2.connection.H2Connection(config=config)
        self.h2.initiate_connection()
        self.h2.data_to_send()

    def feed(self, chunk: bytes) -> None:
        if self.h2 is None:
            return
        try:
            for event in self.h2.receive_data(chunk):
                if isinstance(event, h2.events.RequestReceived):
                    headers = dict(event.headers or [])
                    self.requests.append(
                        (str(headers.get(":path", "")), headers.get("authorization"))
                    )
                elif isinstance(event, h2.events.DataReceived) and event.stream_id:
                    self.h2.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
                elif isinstance(event, h2.events.StreamEnded):
                    self.h2.reset_stream(event.stream_id)  # done with it (as the server will be)
            self.h2.data_to_send()
        except Exception:  # noqa: BLE001 - the watcher lost track (flow control it never saw): stop watching
            self.h2 = None
