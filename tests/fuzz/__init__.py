"""Schemathesis against the real API: a bounded run in `make test` (tests/test_fuzz.py) and a
long one in `make fuzz` (`python -m tests.fuzz`); both go through `tests.fuzz.runner`.

Kept free of imports: the `st` process imports `tests.fuzz.hooks` through this package.
"""
