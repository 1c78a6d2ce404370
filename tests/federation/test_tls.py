"""Certificates for the Flower transport: CA, SuperLink certificate, node keys (no network)."""

from __future__ import annotations

import ipaddress
import json
import stat
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from typer.testing import CliRunner

from medhaven.cli.main import app
from medhaven.errors import ConfigError, Conflict, InvalidInput
from medhaven.federation.node import NodeConfig
from medhaven.federation.tls import generate_certs, generate_node_key


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_server_certificate_names_every_host_and_is_signed_by_the_ca(tmp_path: Path) -> None:
    files = generate_certs(tmp_path / "c", ["localhost", "127.0.0.1", "hub.example.org"])
    ca = x509.load_pem_x509_certificate(files.ca_cert.read_bytes())
    server = x509.load_pem_x509_certificate(files.server_cert.read_bytes())
    san = server.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["localhost", "hub.example.org"]
    assert san.get_values_for_type(x509.IPAddress) == [ipaddress.ip_address("127.0.0.1")]
    server.verify_directly_issued_by(ca)  # raises when the CA did not sign it
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is True
    assert server.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is False
    other = generate_certs(tmp_path / "other")
    with pytest.raises(InvalidSignature):  # same CA name, another key
        server.verify_directly_issued_by(x509.load_pem_x509_certificate(other.ca_cert.read_bytes()))
    key = serialization.load_pem_private_key(files.server_key.read_bytes(), password=None)
    assert key.public_key().public_numbers() == server.public_key().public_numbers()  # type: ignore[union-attr]


def test_private_keys_are_0600_and_nothing_is_overwritten(tmp_path: Path) -> None:
    files = generate_certs(tmp_path)
    assert _mode(files.server_key) == 0o600
    assert _mode(tmp_path / "ca.key") == 0o600
    assert _mode(files.ca_cert) == 0o644
    before = files.ca_cert.read_bytes()
    with pytest.raises(Conflict, match="already exists"):
        generate_certs(tmp_path)
    assert files.ca_cert.read_bytes() == before


def test_bad_host_is_one_line_and_writes_nothing(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="--hosts: 'a b'"):
        generate_certs(tmp_path / "x", ["localhost", "a b"])
    assert not (tmp_path / "x").exists()


def test_node_key_is_p384_openssh_with_a_private_file_0600(tmp_path: Path) -> None:
    private, public = generate_node_key(tmp_path, "site1")
    assert _mode(private) == 0o600
    assert public.read_text().startswith("ecdsa-sha2-nistp384 ")
    key = serialization.load_ssh_private_key(private.read_bytes(), password=None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    assert key.curve.name == "secp384r1"
    pub = serialization.load_ssh_public_key(public.read_bytes())
    assert isinstance(pub, ec.EllipticCurvePublicKey)
    assert pub.public_numbers() == key.public_key().public_numbers()
    with pytest.raises(Conflict):
        generate_node_key(tmp_path, "site1")
    with pytest.raises(InvalidInput, match="--name"):
        generate_node_key(tmp_path, "../evil")


def test_cli_certs_and_node_key(tmp_path: Path) -> None:
    runner = CliRunner()
    done = runner.invoke(app, ["federation", "certs", "--out", str(tmp_path / "c"), "--json"])
    assert done.exit_code == 0, done.output
    doc = json.loads(done.stdout)
    assert Path(doc["ca_cert"]).is_file() and _mode(Path(doc["server_key"])) == 0o600
    again = runner.invoke(app, ["federation", "certs", "--out", str(tmp_path / "c")])
    assert isinstance(again.exception, Conflict)  # main() turns it into exit code 11
    done = runner.invoke(app, ["federation", "node-key", "--out", str(tmp_path / "k"),
                               "--name", "n1", "--json"])  # fmt: skip
    assert done.exit_code == 0, done.output
    assert Path(json.loads(done.stdout)["public_key"]).name == "n1.pub"


def test_node_toml_transport_table_resolves_relative_paths(tmp_path: Path) -> None:
    from medhaven.federation.jobs import generate_hub_keypair

    _priv, public = generate_hub_keypair(tmp_path / "hub")
    toml = tmp_path / "node.toml"
    toml.write_text(f'name = "n1"\ncdm = "cdm.duckdb"\nhub_public_key = "{public}"\n'
                    '[transport]\nsuperlink_ca = "certs/ca.crt"\nauth_key = "keys/n1"\n')  # fmt: skip
    cfg = NodeConfig.load(toml)
    assert cfg.transport.superlink_ca == tmp_path / "certs/ca.crt"
    assert cfg.transport.auth_key == tmp_path / "keys/n1"
    toml.write_text(f'name = "n1"\ncdm = "cdm.duckdb"\nhub_public_key = "{public}"\n'
                    '[transport]\nca = "x"\n')  # fmt: skip
    with pytest.raises(ConfigError, match=r"transport\.ca"):
        NodeConfig.load(toml)


def test_auth_without_tls_is_refused_before_anything_starts(tmp_path: Path) -> None:
    from medhaven.federation.processes import start_superlink, start_supernode

    with pytest.raises(InvalidInput, match="needs TLS"):
        start_superlink(tmp_path / "run", supernode_auth=True)
    assert not (tmp_path / "run").exists()
    from medhaven.federation.jobs import generate_hub_keypair

    _priv, public = generate_hub_keypair(tmp_path / "hub")
    toml = tmp_path / "node.toml"
    toml.write_text(f'name = "n1"\ncdm = "cdm.duckdb"\nhub_public_key = "{public}"\n')
    key, _pub = generate_node_key(tmp_path / "keys", "n1")
    with pytest.raises(InvalidInput, match="needs TLS"):
        start_supernode(toml, superlink="127.0.0.1:1", work=tmp_path / "run", auth_key=key)
    from medhaven.errors import NotFound

    with pytest.raises(NotFound, match="--root-ca: no such file"):
        start_supernode(toml, superlink="127.0.0.1:1", work=tmp_path / "run",
                        root_ca=tmp_path / "missing.crt")  # fmt: skip


def test_connection_names_the_ca_instead_of_insecure(tmp_path: Path) -> None:
    import tomllib

    from medhaven.federation.processes import CONNECTION, write_connection

    write_connection(tmp_path / "a", "127.0.0.1:9092")
    plain = tomllib.loads((tmp_path / "a" / "config.toml").read_text())
    assert plain["superlink"][CONNECTION] == {"address": "127.0.0.1:9092", "insecure": True}
    files = generate_certs(tmp_path / "c")
    write_connection(tmp_path / "b", "localhost:9092", root_ca=files.ca_cert)
    tls = tomllib.loads((tmp_path / "b" / "config.toml").read_text())
    assert tls["superlink"][CONNECTION] == {"address": "localhost:9092",
                                            "root-certificates": str(files.ca_cert.resolve())}  # fmt: skip


def test_cli_superlink_refuses_a_network_address_without_tls(tmp_path: Path) -> None:
    done = CliRunner().invoke(app, ["federation", "superlink", "--work", str(tmp_path / "w"),
                                    "--host", "0.0.0.0"])  # fmt: skip
    assert isinstance(done.exception, InvalidInput)
    assert "not loopback: give --tls-dir" in done.exception.message
    assert not (tmp_path / "w").exists()
