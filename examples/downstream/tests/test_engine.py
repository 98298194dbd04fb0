"""The project's own tests; `pytest --gradoracle-impl engine:Value` runs gradoracle's property
suite beside them."""

from engine import Value


def test_a_reused_node_accumulates_its_gradient() -> None:
    x = Value(3.0)
    y = x * x + x
    y.backward()
    assert x.grad == 7.0


def test_deep_chains_do_not_recurse() -> None:
    x = Value(0.5)
    y = x
    for _ in range(5000):
        y = y * 1.0
    y.backward()
    assert x.grad == 1.0
