"""Autograded checks for the end-of-chapter exercises.

``check("1.2", answer)`` runs the check for exercise 1.2, prints what passed or a hint,
and returns True or False. It never raises on a learner's answer, whatever its type or
whatever it raises, so a notebook with an unsolved exercise still runs top to bottom.
The checks themselves live in ``ftlib/checks/chNN.py``, one small module per chapter.

Taught in chapter 1 (exercises); every chapter adds its module of checks.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from typing import Any

__all__ = ["check", "exercises"]


def _registry() -> dict[str, Callable[[Any], tuple[bool, str]]]:
    """Every check of every chapter module in ``ftlib.checks``, by exercise number."""
    import ftlib.checks

    found: dict[str, Callable[[Any], tuple[bool, str]]] = {}
    for info in pkgutil.iter_modules(ftlib.checks.__path__):
        if info.name.startswith("ch"):
            found.update(importlib.import_module(f"ftlib.checks.{info.name}").CHECKS)
    return found


def exercises() -> list[str]:
    """The exercise numbers that have an autograded check, in order."""
    return sorted(_registry(), key=lambda k: tuple(int(x) for x in k.split(".")))


def check(exercise: str, answer: Any) -> bool:
    """Check an answer to an exercise, print the verdict (and a hint when wrong), return whether it passed.

    Raises:
        KeyError: for an exercise number with no check (a typo in the notebook, not a wrong answer).
    """
    checks = _registry()
    if exercise not in checks:
        raise KeyError(f"no check for exercise {exercise!r}; checks exist for {', '.join(exercises())}")
    try:
        passed, message = checks[exercise](answer)
    except Exception as exc:  # whatever the answer does to the check, the learner gets a hint, not a traceback
        passed = False
        message = (f"the check could not use your answer ({type(exc).__name__}: {exc}). "
                   "Hint: compare the type and shape of what you return with what the exercise asks for.")
    print(f"{'PASSED' if passed else 'NOT YET'} exercise {exercise}: {message}")
    return bool(passed)
