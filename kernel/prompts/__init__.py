"""The prompt engine: asset types (YAML templates with exact output sizes), project brand kits,
and the rendering of a user's text into the final prompt."""
