"""Custom scorers: a Python function named by its dotted path, called like a built-in."""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable, Mapping
from typing import Any


def load_function(path: str) -> tuple[Callable[..., Any] | None, str | None]:
    """The function at ``package.module.function`` (or ``package.module:function``).

    Returns the function and None, or None and why it cannot be loaded.
    """
    module_name, sep, attr = path.replace(":", ".").rpartition(".")
    if not sep or not module_name or not attr:
        return None, f"function {path!r} is not a dotted path like 'package.module.function'"
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:  # any import-time failure of user code is bad input
        return None, f"function {path!r}: cannot import {module_name!r}: {exc}"
    fn = getattr(module, attr, None)
    if fn is None:
        return None, f"function {path!r}: module {module_name!r} has no {attr!r}"
    if not callable(fn):
        return None, f"function {path!r} is a {type(fn).__name__}, not a function"
    return fn, None


def signature_problem(fn: Callable[..., Any], params: Mapping[str, Any]) -> str | None:
    """Why ``fn(line, **params)`` cannot be called, found before anything runs."""
    try:
        signature = inspect.signature(fn)
    except (TypeError, ValueError):
        return None  # a builtin without a signature: it will tell us when called
    try:
        signature.bind({}, **params)
    except TypeError as exc:
        return f"cannot be called as fn(result_line, **params): {exc}"
    return None
