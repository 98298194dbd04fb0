"""gradoracle: a correctness oracle for scalar autograd engines.

`gradoracle.reference` says what the right gradients are (the op registry, the graph IR, JAX,
finite differences, mpmath, the comparator); `gradoracle.fuzz` attacks an implementation (random
graphs, probing, the battery, isolation, campaigns, shrinking, reports, the command line).

The oracle lives under this one name so that a user's folder of modules called `engine`, `fuzz`
or `reference` never shadows it; the project's own engine stays `from engine import Value`.
"""
