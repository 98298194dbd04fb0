"""The second quick pass (fuzz.float64_pass) accepts only what compare() passes at once, and most of
what JAX's quick pass leaves because XLA flushed a subnormal."""

from __future__ import annotations

import math
import random

import numpy as np
import pytest
from test_quick_verdicts import graphs as edge_and_sampled_graphs
from test_quick_verdicts import one_by_one, spoiled

from gradoracle.fuzz.adapters import ImplResult, Outcome, load_adapter
from gradoracle.fuzz.float64_pass import accept
from gradoracle.fuzz.oracle import quick_outcomes
from gradoracle.fuzz.runner import InProcess
from gradoracle.fuzz.sampler import SamplerConfig, sample_graphs
from gradoracle.fuzz.sampler_kernel import FORMS, op_unstable
from gradoracle.reference.compare import (
    FAIL,
    NOT_COMPARABLE,
    PASS,
    QUICK_PASS,
    SCALED_PASS,
    Verdict,
    compare,
)
from gradoracle.reference.graph import Graph, Node
from gradoracle.reference.jax_ref import JaxReference
from gradoracle.reference.ops import OPS
from gradoracle.reference.tape import OPCODES


@pytest.fixture(scope="module")
def ref() -> JaxReference:
    return JaxReference()


def left_by_jax(ref: JaxReference, gs: list[Graph], results: list[ImplResult]) -> list[int]:
    outcomes = quick_outcomes(results)
    quick = ref.evaluate_batch(gs).quick_pass(outcomes)
    return [k for k, ok in enumerate(quick) if not ok and outcomes[k] is not None]


def test_it_gives_compares_verdict_where_it_gives_one(ref: JaxReference) -> None:
    """Engine results, spoiled or not (near, far, NaN, a None gradient), on sampled and edge
    graphs: wherever the kernel gives a verdict (QUICK_PASS, SCALED_PASS), compare() gives the
    same one."""
    gs = edge_and_sampled_graphs() + sample_graphs(21, 3000)
    refs = ref.evaluate(gs)
    rng = random.Random(3)
    engine = InProcess(load_adapter("engine:Value")).run(gs)
    results = [r if rng.random() < 0.5 else spoiled(j, rng) for r, j in zip(engine, refs)]
    left = left_by_jax(ref, gs, results)
    outcomes = quick_outcomes(results)
    accepted = accept([gs[k] for k in left], [outcomes[k] for k in left], [refs[k] for k in left])
    verdicts = [one_by_one(gs[k], results[k], refs[k]) for k in left]
    wrongly = [
        (gs[k].to_json(), mine, theirs)
        for k, mine, theirs in zip(left, accepted, verdicts, strict=True)
        if mine is not None and not same_verdict(mine, theirs)
    ]
    assert not wrongly
    # and it does its job: most graphs compare() passes without the exact answer, it passes too
    for kind in (QUICK_PASS, SCALED_PASS):
        theirs = sum(v is kind for v in verdicts)
        mine = sum(v is kind for v in accepted)
        assert theirs >= 20 and mine >= 0.8 * theirs, (kind.reason, mine, theirs)


def test_the_engine_through_subnormals_is_accepted_and_a_small_error_is_not(
    ref: JaxReference,
) -> None:
    x, op = Node.input, Node.apply
    graph = Graph((x(-710.0), op("exp", 0), x(1e300), op("mul", 1, 2)))  # exp(-710) is subnormal
    (r,) = ref.evaluate([graph])
    assert r.value == 0.0  # XLA flushed it: JAX's quick pass cannot accept
    value, grads = math.exp(-710.0) * 1e300, (math.exp(-710.0) * 1e300, math.exp(-710.0))
    assert accept([graph] * 2, [(value, grads), (value * (1 + 1e-8), grads)], [r, r]) == [
        QUICK_PASS,
        None,
    ]


def test_what_compare_must_look_at_is_never_accepted(ref: JaxReference) -> None:
    x, c, op = Node.input, Node.const, Node.apply
    cases = {
        # outside a domain: JAX's finite answer means nothing
        "x ** x at -1": Graph((x(-1.0), op("pow", 0, 0))),
        # an overflowing node
        "exp(800)": Graph((x(800.0), op("exp", 0))),
    }
    for name, graph in cases.items():
        (r,) = ref.evaluate([graph])
        numbers = (r.value, r.grads)
        assert accept([graph], [numbers], [r]) == [None], name
    # float64 loses the sign of pow's slope (Op.unstable): JAX's numbers pass at once; a gradient
    # that differs from JAX's is set aside, and the value passes, as compare() says
    graph = Graph((x(-1.0), c(-1e300), op("pow", 0, 1)))
    (r,) = ref.evaluate([graph])
    outcomes = [(r.value, r.grads), (r.value, (-r.grads[0],))]
    mine = accept([graph] * 2, outcomes, [r] * 2)
    assert mine[0] is QUICK_PASS and mine[1] is not None
    assert (
        mine[1].reason
        == "not comparable: float64 loses a local derivative on its path (x0: node 2)"
    )
    for numbers, verdict in zip(outcomes, mine, strict=True):
        theirs = compare(graph, *numbers, r.value, r.grads, "", None, None, r.sweeps, r.in_domain)
        assert same_verdict(verdict, theirs)
    # a None gradient, and a gradient count that does not match
    graph = Graph((x(0.5), x(2.0), op("mul", 0, 1)))
    (r,) = ref.evaluate([graph])
    three = [(1.0, (2.0, None)), (1.0, (2.0,)), (1.0, (2.0, 0.5))]
    assert accept([graph] * 3, three, [r] * 3) == [None, None, QUICK_PASS]
    assert compare(graph, 1.0, (2.0, 0.5), r.value, r.grads) is QUICK_PASS


def test_the_unstable_table_is_the_registrys() -> None:
    """op_unstable (generated) says what Op.unstable_partial says, at points on both sides."""
    rng = np.random.default_rng(0)
    points = [-1.0, -2.5, 0.0, 3.0, 2.0**53, -(2.0**53), 1e300, -1e300, 2.0**53 - 1]
    for name, op in OPS.items():
        for form in op.forms:
            for a in points + list(rng.normal(size=5) * 1e3):
                for b in points if op.arity == 2 else [a]:
                    expected = bool(op.unstable_partial(form, a, b if op.arity == 2 else None))
                    got = op_unstable(OPCODES[name], FORMS[form], a, b)
                    assert got == expected, (name, form, a, b)


def test_oracle_verdicts_use_it(ref: JaxReference) -> None:
    """The Oracle's verdicts on a run through subnormals: QUICK_PASS, without compare()."""
    from gradoracle.fuzz.oracle import Oracle

    x, op = Node.input, Node.apply
    graph = Graph((x(-710.0), op("exp", 0), x(1e300), op("mul", 1, 2)))
    oracle = Oracle(load_adapter("engine:Value"), ref)
    result = ImplResult(
        "ok", Outcome(math.exp(-710.0) * 1e300, (4.47628622567513e-09, math.exp(-710.0))), "", 0.0
    )
    assert oracle.verdicts([graph], [result]) == [QUICK_PASS]
    assert oracle.stats.adjudicate_seconds < 0.05


def test_a_slope_computed_as_one_minus_tanh_squared_passes_by_its_error_scale(
    ref: JaxReference,
) -> None:
    """tanh(log(x * x)) near saturation: an engine computing tanh' as 1 - t*t loses ~1e-9 of
    the slope to cancellation. Neither float64 evaluation is that close (the registry's slope is
    sech2), and the error scale (tanh's partial is known within 1, Op.partial_floors) allows
    it: SCALED_PASS, without the exact answer, here as in compare(). Off by 1e-6, it is not."""
    x, op = Node.input, Node.apply
    graph = Graph((x(-0.01874948708629468), op("mul", 0, 0), op("log", 1), op("tanh", 2)))
    (r,) = ref.evaluate([graph])
    t = math.tanh(math.log(graph.nodes[0].value ** 2))
    a = graph.nodes[0].value
    slope = (1 - t * t) * (1 / (a * a)) * 2 * a
    assert abs(slope - r.grads[0]) > 1e-10 * abs(r.grads[0])  # not a quick pass
    numbers = [(t, (slope,)), (t, (slope * (1 + 1e-6),))]
    assert accept([graph] * 2, numbers, [r] * 2) == [SCALED_PASS, None]
    columns = (r.kink_distance, r.magnitude, r.sweeps, r.in_domain)
    assert compare(graph, t, (slope,), r.value, r.grads, "", *columns) is SCALED_PASS


def test_its_gradients_are_the_float_sweeps_bit_for_bit() -> None:
    """float64_pass.gradients (the battery's expected answers) is float_gradients compiled: the
    same numbers on sampled graphs and on the battery's chains, fan-out and diamonds; None
    (ask float_gradients) where a number is not finite or an operand is outside a domain."""
    from gradoracle.fuzz.battery_graphs import chain, fan_out, stacked_diamonds
    from gradoracle.fuzz.float64_kernel import gradients
    from gradoracle.fuzz.probe import Spelling
    from gradoracle.reference.float_sweep import float_gradients

    gs = [*sample_graphs(4, 1500), fan_out("add", 512), stacked_diamonds("mul", 40)]
    gs += [chain(Spelling(op, form), 1000) for op, form in (("tanh", "v"), ("mul", "vc"))]
    compared = 0
    for graph in gs:
        got = gradients(graph)
        if got is None:
            continue
        assert repr(got) == repr(float_gradients(graph)), graph.to_json()
        compared += 1
    assert compared > 0.95 * len(gs)
    x, op = Node.input, Node.apply
    assert gradients(Graph((x(800.0), op("exp", 0)))) is None  # float_gradients raises there
    assert gradients(Graph((x(-1.0), op("log", 0)))) is None


def test_a_probe_past_float64s_range_sends_the_graph_to_compare(ref: JaxReference) -> None:
    """exp(709.69) is near the largest float; its x - x has an infinite spread, and the probe of
    tanh beyond it a NaN one: the next probe's step was NaN / 0, a ZeroDivisionError that stopped a
    campaign (Python's compare() catches it and sets the gradient aside). The kernel now gives no
    verdict there, and compare() judges."""
    graph = Graph.from_json(
        '{"format":"gradoracle-graph","nodes":[{"input":-2.8829549961534116},'
        '{"input":709.6944961389431},{"args":[1],"op":"exp"},{"args":[2,2],"op":"sub"},'
        '{"args":[3],"op":"tanh"},{"args":[1],"op":"tanh"},{"args":[0,5],"op":"sub"},'
        '{"args":[6,4],"op":"add"}],"output":7,"version":1}'
    )
    (r,) = ref.evaluate([graph])
    outcome = (-3.8829549961534116, (1.0, -1.645900246406336e308))  # products overwrote
    assert accept([graph], [outcome], [r]) == [None]
    verdict = compare(graph, outcome[0], outcome[1], r.value, r.grads, "", None, None, r.sweeps)
    assert verdict not in (QUICK_PASS, SCALED_PASS)


def same_verdict(mine: Verdict, theirs: Verdict) -> bool:
    """The kernel's verdict is compare()'s: the same constant, or equal field by field (repr:
    NaN is not equal to itself, and the quantities hold the implementation's NaNs)."""
    constants = (QUICK_PASS, SCALED_PASS)
    if mine in constants or theirs in constants:
        return mine is theirs
    return repr(mine) == repr(theirs)


def near_tolerance(result: ImplResult, rng: random.Random) -> ImplResult:
    """The engine's numbers moved by relative amounts around the comparator's tolerances
    (QUICK_RTOL, the rounding budgets of sweeps and error scales), or replaced by what an engine
    gives through an overflow (inf, NaN, a sign flipped), one quantity or several."""
    assert result.outcome is not None
    numbers = [result.outcome.value, *result.outcome.grads]
    for k in rng.sample(range(len(numbers)), rng.randint(1, len(numbers))):
        x = numbers[k]
        assert x is not None
        r = rng.random()
        if r < 0.15:
            numbers[k] = rng.choice((math.inf, -math.inf, math.nan, -x))
        else:  # log-uniform between 1e-17 and 1e-6, either sign, relative (or absolute near 0)
            move = 10 ** rng.uniform(-17, -6) * rng.choice((-1, 1))
            numbers[k] = x + move * (abs(x) if abs(x) > 1e-300 else 1.0)
    return ImplResult("ok", Outcome(numbers[0], tuple(numbers[1:])), "", 0.0)


@pytest.mark.parametrize("seed", [31, 32])
def test_set_aside_verdicts_are_compares_field_by_field(ref: JaxReference, seed: int) -> None:
    """Graphs JAX's quick pass leaves (subnormals XLA flushed, log of a subnormal whose slope
    overflows, error scales that overflow), deep ones too, with the engine's results and results
    near the tolerances: every verdict the kernel gives, QUICK_PASS, SCALED_PASS or a verdict
    with quantities set aside, is compare()'s, quantity by quantity and word for word."""
    gs = sample_graphs(seed, 7000) + sample_graphs(
        seed, 400, SamplerConfig(min_ops=60, max_ops=250)
    )
    batch = ref.evaluate_batch(gs)
    engine = InProcess(load_adapter("engine:Value")).run(gs)
    left = left_by_jax(ref, gs, engine)
    rng = random.Random(seed)
    cases = [(k, engine[k]) for k in left] + [(k, near_tolerance(engine[k], rng)) for k in left]
    cases += [(k, near_tolerance(engine[k], rng)) for k in left]
    graphs = [gs[k] for k, _ in cases]
    refs = [batch[k] for k, _ in cases]
    results = [r for _, r in cases]
    accepted = accept(graphs, quick_outcomes(results), refs)
    compares = [one_by_one(g, result, r) for g, result, r in zip(graphs, results, refs)]
    # the Oracle's batch path (JAX's quick pass, then the kernel on the batch's columns) too
    from gradoracle.fuzz.oracle import Oracle

    oracle = Oracle(load_adapter("engine:Value"), ref)
    assert repr(oracle.verdicts(graphs, results)) == repr(compares)
    kinds: dict[str, int] = {}
    for graph, mine, theirs in zip(graphs, accepted, compares, strict=True):
        if mine is not None:
            assert same_verdict(mine, theirs), (graph.to_json(), mine, theirs)
            key = mine.reason.partition("(")[0] if mine not in (QUICK_PASS, SCALED_PASS) else ""
            kinds[key or mine.reason] = kinds.get(key or mine.reason, 0) + 1
        elif theirs.status == PASS and not theirs.adjudicated and theirs.reason:
            kinds["left to compare()"] = kinds.get("left to compare()", 0) + 1
    # and it gives each kind of verdict often, near the tolerances too
    assert kinds.get("not comparable: float64 overflows on its path ", 0) >= 20, kinds
    assert kinds.get("not comparable: an intermediate derivative is not finite ", 0) >= 2, kinds
    assert kinds.get(QUICK_PASS.reason, 0) >= 100 and kinds.get(SCALED_PASS.reason, 0) >= 20, kinds


def test_a_log_of_a_subnormal_is_passed_with_its_gradient_set_aside(ref: JaxReference) -> None:
    """log(2e-317) * 3: XLA flushes 2e-317 to 0 (JAX's value is -inf), the slope 1 / 2e-317
    overflows in float64. The value and x2's gradient are judged against the float64 evaluation,
    x0's gradient is not comparable: compare()'s verdict, without compare(). Off by 1e-6, x2 is
    for compare() to fail."""
    x, op = Node.input, Node.apply
    graph = Graph((x(2e-317), op("log", 0), x(3.0), op("mul", 1, 2)))
    (r,) = ref.evaluate([graph])
    value = math.log(2e-317)
    outcomes = [(3 * value, (math.inf, value)), (3 * value, (math.inf, value * (1 + 1e-6)))]
    mine = accept([graph] * 2, outcomes, [r] * 2)
    assert mine[0] is not None and mine[1] is None
    assert mine[0].reason == "not comparable: float64 overflows on its path (x0: node 1)"
    assert [q.status for q in mine[0].quantities] == [PASS, NOT_COMPARABLE, PASS]
    for numbers, verdict in zip(outcomes, mine, strict=True):
        theirs = compare(graph, *numbers, r.value, r.grads, "", None, None, r.sweeps, r.in_domain)
        assert verdict is None or same_verdict(verdict, theirs)
    assert compare(graph, *outcomes[1], r.value, r.grads, "", None, None, r.sweeps).status == FAIL


def test_where_pythons_partials_raise_the_kernel_knows() -> None:
    """partial_raises (whether compare()'s float64 sweep stops at a step, so that it has no float64
    numbers) is what Op.partials in Python floats does, at points inside each op's domain where
    a partial overflows and where it does not."""
    from gradoracle.fuzz.float64_kernel import partial_raises
    from gradoracle.reference.libs import FLOAT

    points = [0.0, 5e-324, 2e-317, 1e-310, 1e-5, 0.5, 2.0, -3.0, 40.0, 310.0, 1e10, 1e300, -1e300]
    checked = raising = 0
    for name, op in OPS.items():
        for form in op.forms:
            for a in points:
                for b in [*points, -2.0, 1.0, 1.5] if op.arity == 2 else [a]:
                    second = b if op.arity == 2 else None
                    if not op.in_domain(form, a, second):
                        continue
                    try:
                        out = op.forward(FLOAT, a, second)
                    except (ValueError, ArithmeticError):
                        continue  # (the kernel sends a value that overflows to compare())
                    try:
                        op.partials(FLOAT, form, a, second, out)
                        raises = False
                    except (ValueError, ArithmeticError):
                        raises = True
                    got = partial_raises(OPCODES[name], FORMS[form], a, b, out)
                    assert got == raises, (name, form, a, b)
                    checked += 1
                    raising += raises
    assert checked > 300 and raising >= 5, (checked, raising)


def test_its_error_scales_are_compares_bit_for_bit() -> None:
    """The kernel's error scales (a set-aside verdict shows them) are reference.compare's
    error_scales, to the last bit, on sampled graphs and deep ones, wherever the kernel finds
    them (it leaves to compare() a probe that leaves float64's range)."""
    from gradoracle.fuzz.float64_kernel import ARITY, error_scales, evaluate, forward_sweep
    from gradoracle.reference.compare import error_scales as compares_scales
    from gradoracle.reference.compare import float_evaluation
    from gradoracle.reference.tape import FlatGraphs, compile_graph

    gs = sample_graphs(8, 3000) + sample_graphs(9, 200, SamplerConfig(min_ops=60, max_ops=250))
    compared = 0
    for graph in gs:
        flat = FlatGraphs.of([compile_graph(graph)])
        inputs, output, n_nodes = flat.inputs, int(flat.outputs[0]), int(flat.n_nodes[0])
        evaluated, values, forms, partials, *_, shaky, _ = evaluate(
            flat.steps, flat.leaf_slots, flat.leaf_values, inputs, output, n_nodes, ARITY
        )
        if not evaluated or shaky.any():
            continue
        spread, sizes, swept = forward_sweep(flat.steps, forms, ARITY, values, partials, n_nodes)
        if not swept:
            continue
        mine = error_scales(flat.steps, forms, ARITY, sizes, spread, inputs, output, n_nodes)
        value_scale, grad_scales = compares_scales(graph, float_evaluation(graph).values)
        assert repr(mine.tolist()) == repr([value_scale, *grad_scales]), graph.to_json()
        compared += 1
    assert compared > 0.9 * len(gs)
