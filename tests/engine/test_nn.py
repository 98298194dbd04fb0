"""engine.nn has micrograd's API and behaviour: shapes, parameter counts, reprs, outputs and
gradients equal micrograd 0.1.0's for the same weights, zero_grad, ReLU on all but the last
layer."""

import random
from collections.abc import Sequence
from types import ModuleType
from typing import Any

import pytest

from engine import Value
from engine.nn import MLP, Layer, Module, Neuron

# Same weights, same inputs, same order of summation (sum(w*x, b) as micrograd does): results
# should agree to the last bit; 1e-12 allows a different but equivalent association.
MICROGRAD_RTOL = 1e-12

ARCHITECTURES = [
    pytest.param(2, [16, 16, 1], 337, id="moons-2-16-16-1"),
    pytest.param(3, [4, 4, 1], 41, id="3-4-4-1"),
    pytest.param(1, [1], 2, id="1-1"),
    pytest.param(5, [3], 18, id="5-3"),
    pytest.param(4, [8, 2], 58, id="4-8-2"),
]


@pytest.fixture(scope="module")
def micrograd_nn() -> ModuleType:
    return pytest.importorskip("micrograd.nn")


def one(out: Value | list[Value]) -> Value:
    """The single output of a model whose last layer has one neuron."""
    assert isinstance(out, Value)
    return out


# --- shapes and parameter counts ------------------------------------------------------------


def test_neuron_parameters() -> None:
    neuron = Neuron(3)
    params = neuron.parameters()
    assert len(params) == 4  # 3 weights + bias
    assert all(isinstance(p, Value) for p in params)
    assert len(neuron.w) == 3
    assert params[-1] is neuron.b
    assert neuron.b.data == 0.0  # micrograd initialises the bias to zero
    assert all(-1.0 <= w.data <= 1.0 for w in neuron.w)


def test_layer_parameters() -> None:
    layer = Layer(3, 4)
    assert len(layer.neurons) == 4
    assert len(layer.parameters()) == 16


@pytest.mark.parametrize(("nin", "nouts", "count"), ARCHITECTURES)
def test_mlp_parameter_count(nin: int, nouts: list[int], count: int) -> None:
    model = MLP(nin, nouts)
    params = model.parameters()
    assert len(params) == count
    assert len({id(p) for p in params}) == count  # no parameter listed twice
    assert [len(layer.neurons) for layer in model.layers] == nouts


@pytest.mark.parametrize(("nin", "nouts", "count"), ARCHITECTURES)
def test_mlp_parameter_count_equals_micrograds(
    micrograd_nn: ModuleType, nin: int, nouts: list[int], count: int
) -> None:
    assert len(micrograd_nn.MLP(nin, nouts).parameters()) == len(MLP(nin, nouts).parameters())


def test_base_module_has_no_parameters() -> None:
    module = Module()
    assert list(module.parameters()) == []
    module.zero_grad()  # nothing to reset, must not fail


def test_layer_of_one_neuron_returns_a_value_not_a_list() -> None:
    assert isinstance(Layer(2, 1)([1.0, 2.0]), Value)
    out = Layer(2, 3)([1.0, 2.0])
    assert isinstance(out, list)
    assert len(out) == 3
    assert all(isinstance(v, Value) for v in out)


# --- nonlinearity ---------------------------------------------------------------------------


def test_relu_on_all_but_the_last_layer() -> None:
    model = MLP(2, [3, 4, 5, 1])
    flags = [[n.nonlin for n in layer.neurons] for layer in model.layers]
    assert flags == [[True] * 3, [True] * 4, [True] * 5, [False]]


def set_weights(neuron: Neuron, weights: Sequence[float], bias: float) -> None:
    for w, value in zip(neuron.w, weights, strict=True):
        w.data = value
    neuron.b.data = bias


def test_relu_neuron_clamps_and_linear_neuron_does_not() -> None:
    relu, linear = Neuron(2), Neuron(2, nonlin=False)
    for neuron in (relu, linear):
        set_weights(neuron, [1.0, -2.0], 0.5)
    x = [1.0, 3.0]  # 1 - 6 + 0.5 = -4.5
    assert relu(x).data == 0.0
    assert linear(x).data == -4.5
    x = [3.0, 1.0]  # 3 - 2 + 0.5 = 1.5
    assert relu(x).data == 1.5
    assert linear(x).data == 1.5


def test_mlp_output_can_be_negative() -> None:
    # The last layer is linear: with a negative bias and zero weights the output is the bias.
    model = MLP(2, [3, 1])
    for p in model.layers[-1].parameters():
        p.data = 0.0
    model.layers[-1].neurons[0].b.data = -2.0
    assert one(model([1.0, 1.0])).data == -2.0


def test_neuron_gradient_by_hand() -> None:
    neuron = Neuron(2)
    set_weights(neuron, [0.5, -0.25], 1.0)
    out = neuron([2.0, 4.0])  # 1 - 1 + 1 = 1 > 0: relu passes the gradient
    out.backward()
    assert out.data == 1.0
    assert [w.grad for w in neuron.w] == [2.0, 4.0]
    assert neuron.b.grad == 1.0


# --- repr -----------------------------------------------------------------------------------


def test_reprs_match_micrograds_format() -> None:
    assert repr(Neuron(3)) == "ReLUNeuron(3)"
    assert repr(Neuron(3, nonlin=False)) == "LinearNeuron(3)"
    assert repr(Layer(2, 2)) == "Layer of [ReLUNeuron(2), ReLUNeuron(2)]"
    assert repr(MLP(2, [3, 1])) == (
        "MLP of [Layer of [ReLUNeuron(2), ReLUNeuron(2), ReLUNeuron(2)], "
        "Layer of [LinearNeuron(3)]]"
    )


@pytest.mark.parametrize(("nin", "nouts", "count"), ARCHITECTURES)
def test_reprs_equal_micrograds(
    micrograd_nn: ModuleType, nin: int, nouts: list[int], count: int
) -> None:
    assert repr(MLP(nin, nouts)) == repr(micrograd_nn.MLP(nin, nouts))
    assert repr(Layer(nin, nouts[0], nonlin=False)) == repr(
        micrograd_nn.Layer(nin, nouts[0], nonlin=False)
    )


# --- same weights, same numbers as micrograd ------------------------------------------------


def twin_models(micrograd_nn: ModuleType, nin: int, nouts: list[int]) -> tuple[MLP, Any]:
    """Our MLP and micrograd's with identical (random, non-trivial) weights and biases."""
    ours = MLP(nin, nouts)
    theirs = micrograd_nn.MLP(nin, nouts)
    rng = random.Random(20240917)
    for p, q in zip(ours.parameters(), theirs.parameters(), strict=True):
        p.data = q.data = rng.uniform(-1.0, 1.0)  # biases too: micrograd's zeros hide bugs
    return ours, theirs


def scalar_score(out: Any) -> Any:
    """A model with several outputs is scored by a weighted sum of them (weights 1, 2, ...)."""
    if not isinstance(out, list):
        return out
    return sum(v * float(k + 1) for k, v in enumerate(out))


def hinge_loss(model: Any, points: list[list[float]], labels: list[float]) -> Any:
    """micrograd's demo loss: mean hinge loss + L2, written once for either engine."""
    scores = [scalar_score(model(x)) for x in points]
    losses = [(1 + -y * s).relu() for y, s in zip(labels, scores)]
    data_loss = sum(losses) * (1.0 / len(losses))
    reg_loss = 1e-4 * sum(p * p for p in model.parameters())
    return data_loss + reg_loss


def sample_points(nin: int, n: int, seed: int) -> tuple[list[list[float]], list[float]]:
    rng = random.Random(seed)
    points = [[rng.uniform(-2.0, 2.0) for _ in range(nin)] for _ in range(n)]
    labels = [rng.choice([-1.0, 1.0]) for _ in range(n)]
    return points, labels


def close(expected: float) -> object:
    return pytest.approx(expected, rel=MICROGRAD_RTOL, abs=1e-15)


@pytest.mark.parametrize(("nin", "nouts", "count"), ARCHITECTURES)
def test_forward_equals_micrograds_for_the_same_weights(
    micrograd_nn: ModuleType, nin: int, nouts: list[int], count: int
) -> None:
    ours, theirs = twin_models(micrograd_nn, nin, nouts)
    points, _ = sample_points(nin, 10, seed=1)
    for x in points:
        a, b = ours(x), theirs(x)
        a_list = a if isinstance(a, list) else [a]
        b_list = b if isinstance(b, list) else [b]
        assert [v.data for v in a_list] == [close(v.data) for v in b_list]


@pytest.mark.parametrize(("nin", "nouts", "count"), ARCHITECTURES)
def test_gradients_equal_micrograds_for_the_same_weights(
    micrograd_nn: ModuleType, nin: int, nouts: list[int], count: int
) -> None:
    ours, theirs = twin_models(micrograd_nn, nin, nouts)
    points, labels = sample_points(nin, 20, seed=2)
    loss_ours, loss_theirs = hinge_loss(ours, points, labels), hinge_loss(theirs, points, labels)
    assert loss_ours.data == close(loss_theirs.data)
    loss_ours.backward()
    loss_theirs.backward()
    ours_grads = [p.grad for p in ours.parameters()]
    theirs_grads = [q.grad for q in theirs.parameters()]
    assert ours_grads == [close(g) for g in theirs_grads]
    assert any(g != 0.0 for g in ours_grads)  # the comparison must not be vacuous


def test_moons_model_gradients_equal_micrograds_with_value_inputs(
    micrograd_nn: ModuleType,
) -> None:
    # Inputs as Values too (micrograd's demo wraps them): input gradients must agree as well.
    mg_engine = pytest.importorskip("micrograd.engine")
    ours, theirs = twin_models(micrograd_nn, 2, [16, 16, 1])
    xs_ours = [Value(0.7), Value(-1.3)]
    xs_theirs = [mg_engine.Value(0.7), mg_engine.Value(-1.3)]
    out_ours, out_theirs = one(ours(xs_ours)), theirs(xs_theirs)
    assert out_ours.data == close(out_theirs.data)
    out_ours.backward()
    out_theirs.backward()
    assert [v.grad for v in xs_ours] == [close(v.grad) for v in xs_theirs]
    assert [p.grad for p in ours.parameters()] == [close(q.grad) for q in theirs.parameters()]


def test_same_seed_gives_micrograds_initial_weights(micrograd_nn: ModuleType) -> None:
    # A micrograd user who seeds `random` and switches the import gets the same model.
    random.seed(1337)
    ours = MLP(2, [16, 16, 1])
    random.seed(1337)
    theirs = micrograd_nn.MLP(2, [16, 16, 1])
    assert [p.data for p in ours.parameters()] == [q.data for q in theirs.parameters()]


# --- zero_grad ------------------------------------------------------------------------------


def test_zero_grad_resets_every_parameter_including_biases() -> None:
    model = MLP(3, [4, 4, 1])
    for p in model.parameters():
        p.data = 0.5  # all positive: every ReLU is active, so every grad is non-zero
    loss = one(model([1.0, 2.0, 3.0]))
    loss.backward()
    biases = [n.b for layer in model.layers for n in layer.neurons]
    assert all(b.grad != 0.0 for b in biases)
    assert all(p.grad != 0.0 for p in model.parameters())
    model.zero_grad()
    assert all(p.grad == 0.0 for p in model.parameters())
    assert all(b.grad == 0.0 for b in biases)


def test_zero_grad_between_steps_gives_fresh_gradients() -> None:
    model = MLP(2, [3, 1])
    for p in model.parameters():
        p.data = 0.25
    one(model([1.0, -0.5])).backward()
    first = [p.grad for p in model.parameters()]
    model.zero_grad()
    one(model([1.0, -0.5])).backward()
    assert [p.grad for p in model.parameters()] == first


def test_zero_grad_on_neuron_and_layer() -> None:
    for module in (Neuron(2), Layer(2, 3)):
        for p in module.parameters():
            p.grad = 7.0
        module.zero_grad()
        assert all(p.grad == 0.0 for p in module.parameters())
