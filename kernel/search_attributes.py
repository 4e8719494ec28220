"""Custom search attributes the workflows set, and their registration.

They must be registered in the namespace wherever workflows run: an unregistered one makes the
workflow task fail in a loop. The local stack registers them on the dev server's command line
(`temporal server start-dev --search-attribute ...`); `studio worker` registers any that are
missing through the operator service at start-up.
"""

from __future__ import annotations

from temporalio.common import SearchAttributeKey

PROJECT_ID = SearchAttributeKey.for_keyword("ProjectId")
TASK_ID = SearchAttributeKey.for_keyword("TaskId")
OWNER_ID = SearchAttributeKey.for_keyword("OwnerId")
MODEL = SearchAttributeKey.for_keyword("Model")
ASSET_TYPE = SearchAttributeKey.for_keyword("AssetType")
RENDER_STAGE = SearchAttributeKey.for_keyword("RenderStage")
ERROR_CODE = SearchAttributeKey.for_keyword("RenderErrorCode")

ALL_KEYS = (PROJECT_ID, TASK_ID, OWNER_ID, MODEL, ASSET_TYPE, RENDER_STAGE, ERROR_CODE)


def dev_server_flags() -> list[str]:
    """`--search-attribute Name=Keyword` flags for `temporal server start-dev`."""
    flags: list[str] = []
    for key in ALL_KEYS:
        flags += ["--search-attribute", f"{key.name}=Keyword"]
    return flags
