"""Certificates for the Flower transport: a private CA, a SuperLink certificate, SuperNode keys.

:func:`generate_certs` writes a self-signed CA (``ca.crt``, ``ca.key``) and
a server certificate (``server.pem``, ``server.key``) signed by it, whose
subjectAltName names every host the SuperLink is dialled as (DNS names and
IP addresses). :func:`generate_node_key` writes an ECDSA P-384 key pair in
OpenSSH format (``NAME``, ``NAME.pub``), which Flower uses to authenticate
a SuperNode. Private keys are written mode 0600; nothing is overwritten.
Everything uses the ``cryptography`` package (no ``openssl`` CLI).
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from medhaven.errors import Conflict, InvalidInput

DEFAULT_HOSTS = ("localhost", "127.0.0.1")
CA_DAYS = 3650
SERVER_DAYS = 825


@dataclass(frozen=True)
class TlsFiles:
    """The SuperLink's TLS files: the CA certificate, its certificate and its private key."""

    ca_cert: Path
    server_cert: Path
    server_key: Path

    @classmethod
    def in_dir(cls, directory: Path) -> TlsFiles:
        """The files :func:`generate_certs` writes into ``directory``."""
        return cls(directory / "ca.crt", directory / "server.pem", directory / "server.key")


def _write_new(path: Path, data: bytes, *, private: bool) -> None:
    """Create ``path`` (never overwrite); a private key is created mode 0600."""
    mode = 0o600 if private else 0o644
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    except FileExistsError:
        raise Conflict(f"{path}: already exists (not overwritten)") from None
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    os.chmod(path, mode)  # whatever the umask


def _names(hosts: list[str]) -> list[x509.GeneralName]:
    out: list[x509.GeneralName] = []
    for host in hosts:
        try:
            out.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError as exc:
            if not host or any(c in host for c in " /:\\@"):
                raise InvalidInput(
                    f"--hosts: {host!r} is neither an IP address nor a DNS name"
                ) from exc
            out.append(x509.DNSName(host))
    return out


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())  # fmt: skip


def generate_certs(
    out: Path, hosts: list[str] | None = None, *, name: str = "MedHaven"
) -> TlsFiles:
    """Write a CA and a server certificate for ``hosts`` into ``out``; the file paths.

    Refuses (nothing written) when any of the four files already exists.
    """
    hosts = [h.strip() for h in (hosts or list(DEFAULT_HOSTS)) if h.strip()]
    if not hosts:
        raise InvalidInput("--hosts: name at least one host")
    sans = _names(hosts)
    files = TlsFiles.in_dir(out)
    ca_key_path = out / "ca.key"
    for path in (files.ca_cert, files.server_cert, files.server_key, ca_key_path):
        if path.exists():
            raise Conflict(f"{path}: already exists (not overwritten)")
    out.mkdir(parents=True, exist_ok=True)
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP384R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"{name} federation CA")])
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=CA_DAYS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_cert_sign=True,
                crl_sign=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), False)
        .sign(ca_key, hashes.SHA384())
    )
    server_key = ec.generate_private_key(ec.SECP384R1())
    server_cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hosts[0])]))
        .issuer_name(ca_name)
        .public_key(server_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=SERVER_DAYS))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.SubjectAlternativeName(sans), critical=False)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False
        )
        .sign(ca_key, hashes.SHA384())
    )
    _write_new(ca_key_path, _key_pem(ca_key), private=True)
    _write_new(files.server_key, _key_pem(server_key), private=True)
    _write_new(files.ca_cert, ca_cert.public_bytes(serialization.Encoding.PEM), private=False)
    _write_new(files.server_cert, server_cert.public_bytes(serialization.Encoding.PEM),
               private=False)  # fmt: skip
    return files


def generate_node_key(out: Path, name: str) -> tuple[Path, Path]:
    """Write ``out/NAME`` (private, 0600) and ``out/NAME.pub``: ECDSA P-384, OpenSSH format."""
    if not name or not all(c.isalnum() or c in "-_." for c in name) or name.startswith("."):
        raise InvalidInput(f"--name: {name!r}: use letters, digits, '-', '_' or '.'")
    private_path, public_path = out / name, out / f"{name}.pub"
    for path in (private_path, public_path):
        if path.exists():
            raise Conflict(f"{path}: already exists (not overwritten)")
    out.mkdir(parents=True, exist_ok=True)
    key = ec.generate_private_key(ec.SECP384R1())
    private = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH,
                                serialization.NoEncryption())  # fmt: skip
    public = key.public_key().public_bytes(
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
    )
    _write_new(private_path, private, private=True)
    _write_new(public_path, public + f" medhaven-{name}\n".encode(), private=False)
    return private_path, public_path


__all__ = ["DEFAULT_HOSTS", "TlsFiles", "generate_certs", "generate_node_key"]
