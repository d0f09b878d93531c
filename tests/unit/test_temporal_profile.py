"""Where Temporal is, the Temporal way: a profile of the client config file and
the TEMPORAL_* variables (``workers.services.connections.temporal_target``), and
the one-line errors of a profile that cannot be used."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from temporalio.service import TLSConfig

from workers.services.connections import TemporalTarget, temporal_target
from workers.services.errors import TemporalConfigError, TemporalUnreachable
from workers.settings import Settings

PROFILES = """
[profile.default]
address = "temporal.internal:7233"
namespace = "customer-success"

[profile.cloud]
address = "cs.a2b3c.tmprl.cloud:7233"
namespace = "cs.a2b3c"
api_key = "key-from-file"

[profile.mtls]
address = "temporal.internal:7233"
namespace = "cs"
[profile.mtls.tls]
server_name = "temporal.internal"
server_ca_cert_path = "{folder}/ca.pem"
client_cert_path = "{folder}/client.pem"
client_key_path = "{folder}/client.key"

[profile.nokey]
address = "temporal.internal:7233"
[profile.nokey.tls]
client_cert_path = "{folder}/client.pem"
client_key_path = "{folder}/gone.key"
"""


@pytest.fixture
def config(tmp_path: Path) -> dict[str, str]:
    """An environment whose Temporal config file holds ``PROFILES``."""
    for name in ("ca.pem", "client.pem", "client.key"):
        (tmp_path / name).write_text(f"-----{name}-----\n")
    file = tmp_path / "temporal.toml"
    file.write_text(PROFILES.format(folder=tmp_path))
    return {"TEMPORAL_CONFIG_FILE": str(file)}


def empty(tmp_path: Path) -> dict[str, str]:
    """An environment with an empty config file (nothing configured)."""
    file = tmp_path / "empty.toml"
    file.write_text("")
    return {"TEMPORAL_CONFIG_FILE": str(file)}


def test_nothing_configured_is_the_local_dev_server(tmp_path: Path) -> None:
    target = temporal_target(Settings(temporal_port=7999), empty(tmp_path))
    assert target == TemporalTarget(address="localhost:7999", namespace="default")
    assert not target.external and not target.cloud and not target.uses_tls


def test_the_default_profile_of_the_file_is_an_external_server(config: dict[str, str]) -> None:
    target = temporal_target(Settings(), config)
    assert (target.address, target.namespace) == ("temporal.internal:7233", "customer-success")
    assert target.external and not target.uses_tls and target.api_key is None


def test_variables_override_the_profile(config: dict[str, str]) -> None:
    env = {**config, "TEMPORAL_ADDRESS": "other:7233", "TEMPORAL_NAMESPACE": "ns2"}
    target = temporal_target(Settings(), env)
    assert (target.address, target.namespace) == ("other:7233", "ns2")


def test_settings_given_explicitly_win(config: dict[str, str]) -> None:
    settings = Settings(temporal_address="127.0.0.1:1234", temporal_namespace="mine")
    target = temporal_target(settings, config)
    assert (target.address, target.namespace) == ("127.0.0.1:1234", "mine")


def test_an_api_key_means_tls_and_temporal_cloud(config: dict[str, str]) -> None:
    target = temporal_target(Settings(), {**config, "TEMPORAL_PROFILE": "cloud"})
    assert target.api_key == "key-from-file" and target.tls is True and target.cloud
    assert target.profile == "cloud"
    assert "API key" in target.describe() and "key-from-file" not in target.describe()
    # ...unless TLS is turned off explicitly (a plaintext proxy in front of a cluster).
    off = temporal_target(
        Settings(), {**config, "TEMPORAL_PROFILE": "cloud", "TEMPORAL_TLS": "false"}
    )
    assert off.tls is False and off.api_key == "key-from-file"


def test_the_api_key_from_a_variable(tmp_path: Path) -> None:
    env = {**empty(tmp_path), "TEMPORAL_ADDRESS": "x:7233", "TEMPORAL_API_KEY": "k"}
    target = temporal_target(Settings(), env)
    assert target.api_key == "k" and target.tls is True


def test_mtls_profile_reads_the_certificates(config: dict[str, str], tmp_path: Path) -> None:
    target = temporal_target(Settings(), {**config, "TEMPORAL_PROFILE": "mtls"})
    assert isinstance(target.tls, TLSConfig)
    assert target.tls.server_root_ca_cert == b"-----ca.pem-----\n"
    assert target.tls.client_cert == b"-----client.pem-----\n"
    assert target.tls.client_private_key == b"-----client.key-----\n"
    assert target.tls.domain == "temporal.internal"
    assert "mTLS" in target.describe() and not target.cloud


def test_tls_from_variables_alone(tmp_path: Path) -> None:
    (tmp_path / "ca.pem").write_text("CA")
    env = {
        **empty(tmp_path),
        "TEMPORAL_ADDRESS": "x:7233",
        "TEMPORAL_TLS_SERVER_CA_CERT_PATH": str(tmp_path / "ca.pem"),
        "TEMPORAL_TLS_SERVER_NAME": "x.internal",
    }
    target = temporal_target(Settings(), env)
    assert isinstance(target.tls, TLSConfig)
    assert (target.tls.server_root_ca_cert, target.tls.domain) == (b"CA", "x.internal")
    assert target.tls.client_cert is None


@pytest.mark.parametrize(
    ("address", "namespace", "cloud"),
    [
        ("cs.a2b3c.tmprl.cloud:7233", "cs", True),
        ("eu-west-1.aws.api.temporal.io:7233", "cs", True),
        ("temporal.internal:7233", "cs.a2b3c", True),
        ("temporal.internal:7233", "customer-success", False),
        ("localhost:7233", "default", False),
    ],
)
def test_temporal_cloud_is_recognised(address: str, namespace: str, cloud: bool) -> None:
    assert TemporalTarget(address=address, namespace=namespace).cloud is cloud


def test_cli_flags_name_the_server_and_the_profile_never_the_key(config: dict[str, str]) -> None:
    target = temporal_target(Settings(), {**config, "TEMPORAL_PROFILE": "cloud"})
    assert target.cli_flags() == (
        "--address cs.a2b3c.tmprl.cloud:7233 --namespace cs.a2b3c --profile cloud"
    )


# --------------------------------------------------------------------------- errors


def test_an_unknown_profile_is_one_line(config: dict[str, str]) -> None:
    with pytest.raises(TemporalConfigError) as caught:
        temporal_target(Settings(), {**config, "TEMPORAL_PROFILE": "prod"})
    assert (
        str(caught.value)
        == f"Temporal config in {config['TEMPORAL_CONFIG_FILE']}: Profile 'prod' not found"
    )
    assert "TEMPORAL_PROFILE" in caught.value.hint
    assert isinstance(caught.value, TemporalUnreachable)  # every handler of "no Temporal" takes it


def test_a_missing_certificate_file_is_named(config: dict[str, str], tmp_path: Path) -> None:
    with pytest.raises(TemporalConfigError) as caught:
        temporal_target(Settings(), {**config, "TEMPORAL_PROFILE": "nokey"})
    assert str(caught.value) == (
        f"the TLS client key {tmp_path / 'gone.key'} does not exist "
        "(the profile's or TEMPORAL_TLS_CLIENT_KEY_PATH)"
    )


def test_a_missing_certificate_variable_is_named(tmp_path: Path) -> None:
    env = {
        **empty(tmp_path),
        "TEMPORAL_ADDRESS": "x:7233",
        "TEMPORAL_TLS_CLIENT_CERT_PATH": str(tmp_path / "none.pem"),
    }
    with pytest.raises(TemporalConfigError, match="TLS client certificate .*none.pem does not"):
        temporal_target(Settings(), env)


def test_a_missing_config_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(TemporalConfigError) as caught:
        temporal_target(Settings(), {"TEMPORAL_CONFIG_FILE": str(tmp_path / "nope.toml")})
    assert str(caught.value) == (
        f"Temporal config file {tmp_path / 'nope.toml'} (TEMPORAL_CONFIG_FILE) does not exist"
    )


def test_a_file_that_does_not_parse_is_one_line(tmp_path: Path) -> None:
    file = tmp_path / "bad.toml"
    file.write_text("[profile.default\naddress = 1\n")
    with pytest.raises(TemporalConfigError) as caught:
        temporal_target(Settings(), {"TEMPORAL_CONFIG_FILE": str(file)})
    assert "\n" not in str(caught.value) and "TOML parse error" in str(caught.value)


def test_the_command_prints_one_error_line_not_a_traceback(config: dict[str, str]) -> None:
    env = {**os.environ, **config, "TEMPORAL_PROFILE": "prod", "COLUMNS": "200"}
    done = subprocess.run(
        [sys.executable, "-m", "cli.app", "ps"], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 1
    assert "Traceback" not in done.stderr + done.stdout
    lines = done.stderr.strip().splitlines()
    assert (
        lines[0]
        == f"error: Temporal config in {config['TEMPORAL_CONFIG_FILE']}: Profile 'prod' not found"
    )
    assert lines[1].startswith("hint: check TEMPORAL_PROFILE")


def where(home: Path, **env: str) -> str:
    """The address a fresh process resolves, with ``home`` as its home directory."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("TEMPORAL_")}
    clean.pop("XDG_CONFIG_HOME", None)
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            "from workers.services.connections import temporal_target\n"
            "from workers.settings import Settings\n"
            "print(temporal_target(Settings(temporal_port=7999)).address)",
        ],
        env={**clean, "HOME": str(home), **env},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_the_cli_default_file_counts_only_when_a_profile_is_named(tmp_path: Path) -> None:
    # The Temporal CLI's default file names a production server: a local stack
    # (nothing named) still uses the local dev server; naming the profile uses it.
    folder = tmp_path / ".config" / "temporalio"
    folder.mkdir(parents=True)
    (folder / "temporal.toml").write_text('[profile.default]\naddress = "prod.internal:7233"\n')
    assert where(tmp_path) == "localhost:7999"
    assert where(tmp_path, TEMPORAL_PROFILE="default") == "prod.internal:7233"
    assert where(tmp_path, TEMPORAL_ADDRESS="other:7233") == "other:7233"


def test_the_web_endpoint_stops_at_a_bad_profile_in_one_line(
    config: dict[str, str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from workers.web import app

    monkeypatch.setenv("TEMPORAL_CONFIG_FILE", config["TEMPORAL_CONFIG_FILE"])
    monkeypatch.setenv("TEMPORAL_PROFILE", "nokey")
    assert app.main(["--port", "1"]) == 1
    err = capsys.readouterr().err.splitlines()
    assert err[0].startswith("error: the TLS client key ") and err[1].startswith("hint: ")
