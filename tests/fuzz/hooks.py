"""Schemathesis hooks, loaded by the `st` process (config `hooks = "tests.fuzz.hooks"`).

`before_load_schema` adds the known-hostile inputs of `tests.fuzz.corpus` to the schema as
`examples` (only in the fuzzer's copy), so the examples phase sends each of them every run.

POST /projects/{id}/tasks has cross-field rules the schema cannot state (`review` needs `n >= 2`,
`review_timeout_s` needs `review`, `image_size` is 3 Pro only, `asset_type` must be one of
GET /asset-types, and an asset type with its own aspect ratio takes no other). Left alone, nearly
every schema-valid body breaks one of them and stops at a 422 in the model validator, so the
handler (webhook URL policy, references, quota, workflow start) is hardly reached. `map_case`
repairs three positive cases out of four (the body, and an Idempotency-Key unique to the case);
the fourth is sent as generated, so the 422 and idempotent-replay paths stay tested too.
Negative cases are never touched: they must stay invalid.

`filter_failure` accepts one answer `ignored_auth` does not know: 429 to a request with invalid
credentials. That is the API's failed-authentication throttle (api/auth_throttle.py: past a
limit of failures per minute per address or key prefix it answers 429 `auth_throttled` without
a database query), documented as a 429 on every authenticated operation. An invalid key never
reaches anything else that answers 429 (the creation rate and quota need a user), and a 2xx
(auth not enforced) still fails.
"""

from __future__ import annotations

import zlib
from typing import Any

import schemathesis
from schemathesis import Case, GenerationMode, HookContext, Response
from schemathesis.core.failures import Failure

from kernel.catalog import DEFAULT_MODEL, MODELS
from kernel.prompts.asset_types import asset_types
from tests.fuzz import corpus

CREATE_TASK = "POST /api/v1/projects/{project_id}/tasks"
IDEMPOTENCY_KEY = "Idempotency-Key"


@schemathesis.hook
def before_load_schema(context: HookContext, raw_schema: dict[str, Any]) -> None:
    components = raw_schema.get("components", {}).get("schemas", {})
    for (model, name), values in corpus.PROPERTIES.items():
        components[model]["properties"][name]["examples"] = list(values)
    for operations in raw_schema.get("paths", {}).values():
        for operation in operations.values():
            for parameter in operation.get("parameters", []):
                if parameter.get("in") == "query" and parameter["name"] in corpus.QUERY:
                    parameter["schema"]["examples"] = list(corpus.QUERY[parameter["name"]])


def _repair(body: dict[str, Any]) -> None:
    """Make a schema-valid task body also satisfy the rules the schema cannot express."""
    model = MODELS.get(body.get("model", DEFAULT_MODEL), MODELS[DEFAULT_MODEL])
    if not model.supports_image_size:
        body.pop("image_size", None)
    if body.get("review") is True:
        if isinstance(body.get("n"), int) and body["n"] < 2:
            body["n"] = 2
    else:
        body.pop("review_timeout_s", None)
    kinds = asset_types()
    kind = kinds.get(body.get("asset_type", "image"))
    if kind is None:
        body["asset_type"] = "image"
        kind = kinds.get("image")
    if kind is not None and kind.aspect_ratio is not None:
        body.pop("aspect_ratio", None)
    refs = body.get("reference_asset_ids")
    if isinstance(refs, list):
        body["reference_asset_ids"] = list(dict.fromkeys(refs))[: model.max_reference_images]


@schemathesis.hook
def map_case(context: HookContext, case: Case) -> Case:
    operation = context.operation
    if operation is None or operation.label != CREATE_TASK:
        return case
    meta = case.meta
    if meta is None or meta.generation.mode != GenerationMode.POSITIVE or not isinstance(case.body, dict):
        return case
    if zlib.crc32(case.id.encode()) % 4 != 0:
        _repair(case.body)
        # The coverage phase sends one Idempotency-Key value with every body: a replay with
        # another body is a 422. Make the key unique to the case (the fourth case still reuses).
        key = case.headers.get(IDEMPOTENCY_KEY) if case.headers else None
        if isinstance(key, str) and key:
            case.headers[IDEMPOTENCY_KEY] = f"{key[: 200 - len(case.id) - 1]}-{case.id}"
    return case


@schemathesis.hook
def filter_failure(context: HookContext, failure: Failure, case: Case, response: Response) -> bool:
    """Keep every failure except ignored_auth's "got 429" for credentials it made invalid."""
    throttled = (failure.title or "").startswith("Unexpected response") and "got `429 " in failure.message
    return not (failure.code == "ST401" and throttled)
