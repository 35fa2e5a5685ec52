"""Fixtures of the fault-injection suite (defined in faultkit.py)."""

from faultkit import prepared, project  # noqa: F401
