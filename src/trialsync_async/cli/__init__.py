"""The command line, the only package that parses arguments or prints: one module per command
family (run, plan, history, jobs, instances, validate, demo, serve, migrate), the shared
options and exit codes (common.py), tables and JSON (tables.py), the live display (live.py)."""

from trialsync_async.cli.main import main

__all__ = ["main"]
