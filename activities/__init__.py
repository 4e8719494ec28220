"""Temporal activities: prompt building, the Gemini call, S3 publishing and Postgres records."""
