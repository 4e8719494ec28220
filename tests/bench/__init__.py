"""`make bench`: the service side by side with a plain asyncio peer and the physical bound.

A benchmark, not a test: it prints one table from one run (tests/bench/__main__.py) and asserts
nothing. The stack and the emulator run in processes of their own (env.py, stack.py), the service
as `studio api` and `studio worker` processes, the peer as a script (peer.py).
"""
