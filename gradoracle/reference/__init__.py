"""The reference: op registry, Graph IR, and evaluators that say what the right gradients are.

Importing this package is light: it never imports jax (only `reference.libs.JAX` does, on first use)
and never imports `engine`. The evaluators live in submodules named like their functions
(`from reference.highprec import highprec`, `from reference.finite_diff import finite_diff`); they
are not re-exported here, so that `gradoracle.reference.highprec` stays the module.
"""

from gradoracle.reference.finite_diff import FDEstimate, FDResult
from gradoracle.reference.graph import (
    Graph,
    GraphError,
    Node,
    build,
    evaluate,
    kink_distance,
    node_values,
)
from gradoracle.reference.highprec import HighPrecResult
from gradoracle.reference.libs import FLOAT, JAX, MP, Lib
from gradoracle.reference.ops import OPS, Kink, Op, apply, get_op, readme_op_table

__all__ = [
    "FLOAT",
    "JAX",
    "MP",
    "OPS",
    "FDEstimate",
    "FDResult",
    "Graph",
    "GraphError",
    "HighPrecResult",
    "Kink",
    "Lib",
    "Node",
    "Op",
    "apply",
    "build",
    "evaluate",
    "get_op",
    "kink_distance",
    "node_values",
    "readme_op_table",
]
