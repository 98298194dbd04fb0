"""gradoracle's scalar autograd engine: ``from engine import Value``."""

from engine.engine import Value
from engine.viz import draw_dot

__all__ = ["Value", "draw_dot"]
