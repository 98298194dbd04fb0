"""Local-derivative engine (subclass of `_local.LocalValue`); planted bug: leaf grads in float32.

"Like the GPU frameworks", a leaf's gradient is a `numpy.float32` (`self.grad = np.float32(0)`).
Interior gradients are Python floats, but every leaf accumulates `grad += slope * out_grad` in
float32 (NumPy 2 keeps float32 + Python float in float32): relative error ~6e-8.
"""

from __future__ import annotations

import numpy as np
from _local import LocalValue

EXPECT = "bug"
STYLE = "local derivatives, numpy float32 leaf grads"
MECHANISM = "precision"
BUG = "leaf gradients accumulate in numpy.float32 (~1e-7 relative error)"


class Value(LocalValue):
    def __init__(self, data: float) -> None:
        super().__init__(data)
        self.grad = np.float32(0.0)  # type: ignore[assignment]
