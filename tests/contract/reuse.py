"""Runs a contract module's tests over more adapters without copying them."""

from __future__ import annotations

import inspect
from types import ModuleType
from typing import Any


def suite_of(module: ModuleType, fixture: str) -> dict[str, Any]:
    """The module's tests that take the adapter `fixture`: those tied to one technology
    (`sql_database`, say) stay where they are. The caller defines `fixture` itself."""
    return {
        name: test
        for name, test in vars(module).items()
        if name.startswith("test_")
        and callable(test)
        and fixture in inspect.signature(test).parameters
    }
