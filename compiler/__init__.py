"""modelenv: declarative specs, hashed lockfiles and environments for ML models.

The import package is called ``compiler``; the command is ``modelenv``.
``compiler.ensure_env`` is the API a model server calls at launch; it is
imported lazily so that ``import compiler`` stays cheap.
"""

from __future__ import annotations

TYPE_CHECKING = False  # not typing's: importing typing costs launches milliseconds
if TYPE_CHECKING:
    from typing import Any

__version__ = "0.1.0"
__all__ = ["__version__", "ensure_env"]


def __getattr__(name: str) -> Any:
    if name in ("ensure_env", "Environment"):
        from . import api

        return getattr(api, name)
    raise AttributeError(f"module 'compiler' has no attribute {name!r}")
