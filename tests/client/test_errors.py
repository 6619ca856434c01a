"""What goes wrong before a login starts: one line on stderr each, each with its own exit status."""

from __future__ import annotations

import datetime
import ipaddress
import socket
import ssl
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from gridauth.client.errors import EXIT_CODES

from .conftest import assert_one_line_failure


def self_signed(directory: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 that nobody trusts, and its key."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(hours=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .sign(key, hashes.SHA256()))
    cert_file, key_file = directory / "cert.pem", directory / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_file, key_file


@pytest.fixture
def tls_server(tmp_path: Path) -> Iterator[str]:
    """An https URL on loopback whose certificate is self-signed (handshakes only, then closes)."""
    cert, key = self_signed(tmp_path)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    listener = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def serve() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                continue
            try:
                with context.wrap_socket(conn, server_side=True):
                    pass
            except (ssl.SSLError, OSError):
                pass  # the client rejects the certificate
            finally:
                conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield f"https://127.0.0.1:{listener.getsockname()[1]}"
    stop.set()
    thread.join(timeout=5)
    listener.close()


@pytest.fixture
def silent_server() -> Iterator[str]:
    """A URL whose server accepts connections and never answers."""
    listener = socket.create_server(("127.0.0.1", 0), backlog=16)
    yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    listener.close()


def test_each_failure_is_one_line_with_its_own_exit_status(service, cli, tls_server, silent_server, unused_port):
    env = {**cli.env, "GRIDAUTH_TIMEOUT": "1"}
    cases = {
        "unreachable": (["--issuer", f"http://127.0.0.1:{unused_port}"], 11, "connection refused"),
        "no answer": (["--issuer", silent_server], 11, "no answer within 1 s"),
        "untrusted certificate": (["--issuer", tls_server], 12, "certificate not trusted"),
        "issuer mismatch": (["--issuer", f"http://localhost:{service.port}"], 13,
                            f"names the issuer '{service.url}', not 'http://localhost:{service.port}'"),
        "no discovery": (["--issuer", service.url + "/other"], 13, "no discovery document"),
        "http to a remote host": (["--issuer", "http://auth.example.org"], 13, "https only"),
        "no issuer": ([], 10, "no issuer known"),
        "unknown client": (["--issuer", service.url, "--client-id", "nobody"], 18, "invalid_client"),
        "unknown group": (["--issuer", service.url, "nosuchgroup"], 18,
                          "has no group 'nosuchgroup' (its groups: dteam_admin, dteam_user, lhcb_user)"),
    }
    results = cli.many(*[("login", "--no-open", *args) for args, _, _ in cases.values()], env=env)
    for (what, (_, status, text)), result in zip(cases.items(), results, strict=True):
        line = assert_one_line_failure(result, status)
        assert text in line, (what, line)
    assert len(set(EXIT_CODES)) == len(EXIT_CODES) and {11, 12, 13, 14, 15, 16, 17} <= set(EXIT_CODES)
    assert not cli.bearer.exists() and not cli.client_dir.exists()

