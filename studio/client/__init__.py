"""The `studio render`, `studio tasks` and `studio pull` commands: a client of the HTTP API.

It talks HTTP only (`/api/v1`, presigned S3 URLs), never to the database or Temporal, so it
works against any deployment: `STUDIO_API_URL` (default http://127.0.0.1:8000) and
`STUDIO_API_KEY` (default: the contents of `.studio/dev-api-key` in the current directory).
"""
