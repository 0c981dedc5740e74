"""Ops: the base class, the built-in ops, the registry and plugin discovery.

>>> from graphdsl.ops import Op, default_registry
>>> default_registry().get("mul").forward(3.0, 4.0)
12.0
"""

from .base import Op
from .registry import ENTRY_POINT_GROUP, Registry, default_registry

__all__ = ["Op", "Registry", "default_registry", "ENTRY_POINT_GROUP"]
