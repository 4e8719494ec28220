"""Known-hostile inputs, sent on every run so old bugs cannot come back unnoticed.

Each value is schema-valid where it goes, so it reaches the handler; the API must answer it
with a documented 2xx or 4xx. They were found by a 15-minute schemathesis run (500s for
malformed webhook URLs, 503s for NUL bytes in text and for extreme dates) or are their close
relatives. `tests.fuzz.hooks` adds them to the loaded schema as `examples` (so the examples
phase sends each one) and `tests.fuzz.runner` binds the webhook URLs as a dictionary too (so
fuzzing mixes them into generated bodies).
"""

from __future__ import annotations

WEBHOOK_URLS = (
    "http://127.0.0.1:9/hook",  # loopback over http: allowed in development
    "https://example.com/hook",  # DNS fails fast here (no network): a 422 too
    "https://127.0.0.1:9/hook",
    "http://[::1]:9/hook",
    "https://[::1]:65536/",
    "https://example.com:0/",
    "https://example.com:/",
    "https://example.com:99999999999999999999/",
    "https://user:pw@example.com/",
    "https://127.1/",
    "https://2130706433/",
    "https://0x7f.1/",
    "https://169.254.169.254/latest/meta-data",
    "https://[::ffff:127.0.0.1]/",
    "https://[fe80::1%25eth0]/",
    "https://[1:2:3:4:5:6:7:8:9]/",
    "https://[::1/",
    "https://]/",
    "https://exa mple.com/",
    "https://ex\u0000ample.com/",
    "https://example.com\\@evil.com/",
    "https://%65xample.com/",
    "https://xn--/",
    "https://a..b/",
    "https://example.com./",
    "https://" + "a" * 64 + ".com/",
    "https://" + ".".join(["a" * 63] * 4) + ".com/",
    "https://例え.テスト/",
    "https://\u202eexample.com/",
    "https:///nohost",
    "https://",
    "ftp://example.com/",
    "javascript:alert(1)",
    "",
)

# The first value of each list is benign: the coverage phase builds its other cases around it.
TEXT = ("fuzz", "a\u0000b", "\u0000", "\u202e\u2066x", "\ufeff", " ", "x" * 200)
DATES = (
    "2024-01-01T00:00:00Z",
    "0001-01-01T00:00:00+14:00",  # before datetime.min once converted to UTC
    "9999-12-31T23:59:59-14:00",  # after datetime.max once converted to UTC
    "0001-01-01T00:00:00Z",
    "9999-12-31T23:59:59.999999Z",
    "1970-01-01T00:00:00-00:01",
)

# (component schema, property) -> examples. The examples phase sends one body per example of
# the longest list, cycling the others; a body with one hostile field is refused before anything
# else is looked at, so hostile text is not mixed into the webhook URL bodies.
PROPERTIES: dict[tuple[str, str], tuple[str, ...]] = {
    ("TaskCreate", "webhook_url"): WEBHOOK_URLS,
    ("TaskCreate", "name"): ("fuzz",),
    ("TaskCreate", "prompt"): ("a red cube",),
    ("ProjectCreate", "name"): TEXT,
    ("ProjectCreate", "description"): TEXT,
    ("ProjectUpdate", "name"): TEXT,
    ("ProjectUpdate", "description"): TEXT,
}
# query parameter name -> examples, on every operation that has it
QUERY: dict[str, tuple[str, ...]] = {
    "created_after": DATES,
    "created_before": DATES,
}
