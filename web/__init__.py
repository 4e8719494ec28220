"""The web studio (issue 11): server-rendered pages over the same domain code as the JSON API."""
