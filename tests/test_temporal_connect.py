"""How a process connects to Temporal: plain for the dev server, TLS for Temporal Cloud."""

from __future__ import annotations

from pathlib import Path

import pytest
import trustme
from temporalio.service import TLSConfig

from clients.settings import Settings
from clients.temporal_client import connect, tls_config


def test_tls_settings_become_the_sdks_tls_config(tmp_path: Path) -> None:
    ca = trustme.CA()
    cert = ca.issue_cert("worker.example")
    cert_file, key_file = tmp_path / "client.pem", tmp_path / "client.key"
    cert.cert_chain_pems[0].write_to_path(str(cert_file))
    cert.private_key_pem.write_to_path(str(key_file))

    plain = Settings(_env_file=None)
    mtls = Settings(_env_file=None, temporal_tls_cert_file=str(cert_file), temporal_tls_key_file=str(key_file))

    assert tls_config(plain) is None  # the SDK's default: plain, or TLS when an API key is set
    assert tls_config(Settings(_env_file=None, temporal_tls=True)) is True
    config = tls_config(mtls)
    assert isinstance(config, TLSConfig)
    assert config.client_cert == cert_file.read_bytes() and config.client_private_key == key_file.read_bytes()


async def test_an_api_key_turns_tls_on_and_a_plain_server_refuses_it(settings: Settings) -> None:
    """The session's dev server speaks plain gRPC: a client configured for Cloud (API key, so
    TLS) fails to connect instead of silently sending the key in clear text."""
    cloud_like = settings.model_copy(update={"temporal_api_key": "not-a-real-key"})
    with pytest.raises(RuntimeError):
        await connect(cloud_like)
    assert (await connect(settings)).namespace == settings.temporal_namespace
