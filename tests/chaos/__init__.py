"""Fault-injection suite: real processes on loopback, faults injected, invariants checked.

`make chaos` runs every scenario at full size and prints a table; `make test` runs a fast
subset (tests/test_chaos.py).
"""
