"""What `manifest.json` and `manifest.csv` of a ZIP export say about each image: its name in
the archive, prompt, parameters, model and model version, state, lineage and cost (if known)."""

from __future__ import annotations

import csv
import io
import json
import re
from typing import Any

from db.exports import ExportAssetRow
from kernel.object_keys import MIME_EXTENSION

CSV_COLUMNS = (
    "file",
    "asset_id",
    "task_id",
    "task_name",
    "variation_index",
    "asset_type",
    "state",
    "prompt",
    "model",
    "model_version",
    "width",
    "height",
    "byte_size",
    "sha256",
    "cost_micro_usd",
    "parent_asset_ids",
    "created_at",
    "parameters",
)


def _slug(text: str) -> str:
    """A file-name-safe form of a task name (ASCII letters, digits, dashes; at most 40)."""
    return re.sub(r"[^A-Za-z0-9]+", "-", text).strip("-").lower()[:40] or "image"


def entry_name(position: int, row: ExportAssetRow) -> str:
    """`images/0001-<task name>-v<variation>.<ext>` (`upload` for an upload): unique by the
    1-based `position`, readable by the rest."""
    asset = row.asset
    ext = MIME_EXTENSION.get(asset.content_type, "bin")
    label = f"{_slug(row.task.name)}-v{asset.variation_index}" if row.task is not None else "upload"
    return f"images/{position:04d}-{label}.{ext}"


def manifest_record(position: int, row: ExportAssetRow) -> dict[str, Any]:
    """One image's manifest entry (JSON-ready)."""
    asset, task = row.asset, row.task
    meta = asset.metadata_ or {}
    return {
        "file": entry_name(position, row),
        "asset_id": str(asset.id),
        "task_id": str(asset.task_id) if asset.task_id else None,
        "task_name": task.name if task is not None else None,
        "variation_index": asset.variation_index,
        "asset_type": asset.asset_type,
        "state": asset.state,
        "prompt": task.prompt if task is not None else None,
        "final_prompt": meta.get("prompt"),
        "parameters": task.parameters if task is not None else None,
        "model": meta.get("model") or (task.parameters.get("model") if task is not None else None),
        "model_version": meta.get("model_version"),
        "width": asset.width,
        "height": asset.height,
        "content_type": asset.content_type,
        "byte_size": asset.byte_size,
        "sha256": asset.sha256,
        "cost_micro_usd": asset.cost_micro_usd,
        "lineage": {"parent_asset_ids": [str(p) for p in row.parent_ids], **(meta.get("lineage") or {})},
        "created_at": asset.created_at.isoformat(),
    }


def manifest_json(export_id: str, records: list[dict[str, Any]]) -> bytes:
    """`manifest.json`: `{"export_id", "images": [...]}`, UTF-8."""
    return json.dumps({"export_id": export_id, "images": records}, indent=2, ensure_ascii=False).encode()


def manifest_csv(records: list[dict[str, Any]]) -> bytes:
    """`manifest.csv`: one row per image, CSV_COLUMNS, UTF-8 with a BOM (spreadsheets read it)."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    for record in records:
        row = dict(record)
        row["parent_asset_ids"] = " ".join(record["lineage"]["parent_asset_ids"])
        row["parameters"] = json.dumps(record["parameters"], sort_keys=True) if record["parameters"] else ""
        writer.writerow(["" if row.get(c) is None else row[c] for c in CSV_COLUMNS])
    return ("\ufeff" + out.getvalue()).encode()
