"""Every route is in the OpenAPI schema with the error responses it can give."""

from __future__ import annotations

from api.app import create_app
from clients.settings import Settings

PUBLIC = {"/healthz", "/readyz", "/api/v1/models", "/api/v1/asset-types", "/api/v1/public/assets/{asset_id}"}


def test_every_route_documents_its_errors() -> None:
    spec = create_app(Settings(_env_file=None)).openapi()
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            codes = set(operation["responses"])
            if path not in PUBLIC:
                assert "401" in codes, (method, path)
            if "{" in path:
                assert "404" in codes, (method, path)
            if method in ("post", "patch") and path != "/api/v1/projects":
                assert "422" in codes, (method, path)
            error = operation["responses"].get("404") or operation["responses"].get("401")
            if error:
                assert error["content"]["application/json"]["schema"]["$ref"].endswith("/ErrorResponse"), (method, path)
    assert spec["paths"]["/api/v1/projects/{project_id}/tasks"]["post"]["responses"].keys() >= {"429", "413", "503"}
