"""Connecting to Temporal the one way every process does it (API, worker, CLI, tests)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest, ListSearchAttributesRequest
from temporalio.client import Client, Interceptor
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.runtime import Runtime
from temporalio.service import TLSConfig

from clients.settings import Settings
from kernel.search_attributes import ALL_KEYS


async def connect(
    settings: Settings,
    *,
    interceptors: Sequence[Interceptor] = (),
    runtime: Runtime | None = None,
    lazy: bool = False,
) -> Client:
    """Connect to `TEMPORAL_ADDRESS` with the pydantic data converter; `interceptors` (tracing)
    also apply to workers built on this client, `runtime` carries the metrics exporter. Temporal
    Cloud: TEMPORAL_API_KEY (the SDK then turns TLS on), or mTLS with TEMPORAL_TLS_CERT_FILE and
    TEMPORAL_TLS_KEY_FILE.

    Raises RuntimeError (from the SDK) when the server cannot be reached (not when `lazy`),
    OSError when a certificate file cannot be read.
    """
    return await Client.connect(
        settings.temporal_address,
        namespace=settings.temporal_namespace,
        api_key=settings.temporal_api_key,
        tls=tls_config(settings),
        data_converter=pydantic_data_converter,
        interceptors=interceptors,
        runtime=runtime,
        lazy=lazy,
    )


def tls_config(settings: Settings) -> bool | TLSConfig | None:
    """mTLS from the certificate files, TLS on request, else the SDK's default (on with an API key)."""
    if settings.temporal_tls_cert_file and settings.temporal_tls_key_file:
        return TLSConfig(
            client_cert=Path(settings.temporal_tls_cert_file).read_bytes(),
            client_private_key=Path(settings.temporal_tls_key_file).read_bytes(),
        )
    return True if settings.temporal_tls else None


async def ensure_search_attributes(client: Client, namespace: str) -> list[str]:
    """Register the custom search attributes that are missing; return the names it added."""
    existing = await client.operator_service.list_search_attributes(ListSearchAttributesRequest(namespace=namespace))
    missing = {
        key.name: IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD
        for key in ALL_KEYS
        if key.name not in existing.custom_attributes
    }
    if missing:
        await client.operator_service.add_search_attributes(
            AddSearchAttributesRequest(namespace=namespace, search_attributes=missing)
        )
    return sorted(missing)
