"""Temporal workflows: one `RenderTaskWorkflow` per render task."""
