"""What every chapter's checks share: the result type and a runner for (arguments, expected) cases."""

from __future__ import annotations

from typing import Any

__all__ = ["Result", "run_cases"]

Result = tuple[bool, str]  # (passed, what happened)


def run_cases(fn: Any, name: str, cases: list, hint: str) -> Result:
    """Call ``fn(*args)`` for each (args, expected) case; report the first mismatch or crash."""
    if not callable(fn):
        return False, f"expected a function {name}"
    for args, expected in cases:
        try:
            got = fn(*args)
        except Exception as exc:
            return False, f"{name}{args!r} raised {exc!r}"
        same = abs(got - expected) < 1e-9 if isinstance(expected, float) and isinstance(got, (int, float)) else got == expected
        if not same:
            return False, f"{name}{args!r} gave {got!r}, expected {expected!r}. Hint: {hint}"
    return True, f"all {len(cases)} cases right"
