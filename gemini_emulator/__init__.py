"""Emulator of Gemini's image generateContent REST API, for `make dev` and the tests.

Serves `POST /{v1,v1beta}/models/{model}:generateContent` with the wire format in
shared/GEMINI.md (thought parts on 3 Pro, Google error bodies, blocks), renders deterministic
synthetic images of the sizes in `kernel.catalog` (or, with `realistic_bytes`, of a real
model's size: 20 MB at 4K), enforces an optional per-minute and per-day quota per API key and
model like Google's (429 with RetryInfo; `gemini_emulator.quota`), and lets tests script failures
and change settings through `/_emulator/` control endpoints (see `gemini_emulator.scripts` for
the Outcome kinds, `gemini_emulator.control` for the endpoints). It also speaks the Batch API
with inline requests (`models/{model}:batchGenerateContent`, `batches/{id}` get, cancel, delete,
list), with a configurable turnaround and scripted job outcomes (`gemini_emulator.batches`).
"""

from .app import create_app
from .scripts import Outcome, ScriptRegistry
from .server import EmulatorServer

__all__ = ["EmulatorServer", "Outcome", "ScriptRegistry", "create_app"]
