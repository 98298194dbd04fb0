"""Train MLP(2, [16, 16, 1]) on two moons with ``engine``, as micrograd's demo notebook does.

    python examples/moons.py [--steps 100] [--plot moons.png]

Full-batch SVM hinge loss + L2 regularisation, plain SGD with the demo's decaying learning rate;
reaches 100% training accuracy within 100 steps. ``--plot`` writes the decision boundary (needs
matplotlib).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a checkout, uninstalled

import two_moons  # examples/ itself is on sys.path when this runs as a script

from engine import Value
from engine.nn import MLP

PLOT_GRID_STEP = 0.1


def plot_decision_boundary(
    model: MLP, X: list[tuple[float, float]], y: list[int], path: str
) -> None:
    """Write the sign of the model's score over a grid, with the training points on top."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        sys.exit("--plot needs matplotlib: python3 -m pip install matplotlib")

    xs = [p[0] for p in X]
    ys = [p[1] for p in X]
    x_min, x_max = min(xs) - 1.0, max(xs) + 1.0
    y_min, y_max = min(ys) - 1.0, max(ys) + 1.0
    n_x = int((x_max - x_min) / PLOT_GRID_STEP) + 1
    n_y = int((y_max - y_min) / PLOT_GRID_STEP) + 1
    grid_x = [x_min + i * PLOT_GRID_STEP for i in range(n_x)]
    grid_y = [y_min + j * PLOT_GRID_STEP for j in range(n_y)]
    positive = [[model([gx, gy]).data > 0 for gx in grid_x] for gy in grid_y]  # type: ignore[union-attr]

    fig, ax = plt.subplots(figsize=(6, 5))
    ax.contourf(grid_x, grid_y, positive, levels=[-0.5, 0.5, 1.5], cmap="Spectral", alpha=0.8)
    ax.scatter(xs, ys, c=y, s=40, cmap="jet", edgecolors="k")
    ax.set_title("engine: MLP(2, [16, 16, 1]) on two moons")
    fig.savefig(path, dpi=100, bbox_inches="tight")
    print(f"wrote {path}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=two_moons.STEPS, help="SGD steps (100)")
    parser.add_argument("--plot", metavar="PATH", help="write the decision boundary as a PNG")
    args = parser.parse_args(argv)

    X, y = two_moons.make_moons()
    model = two_moons.make_model(MLP)
    print(f"{len(X)} points, {len(model.parameters())} parameters")
    start = time.perf_counter()
    for step in range(args.steps):
        loss, accuracy = two_moons.train_step(model, X, y, Value, step)
        print(f"step {step:3d}  loss {loss:.6f}  accuracy {accuracy:6.1%}")
    seconds = time.perf_counter() - start
    print(
        f"{args.steps} steps in {seconds:.2f} s ({seconds / max(args.steps, 1) * 1e3:.1f} ms/step)"
    )

    if args.plot:
        plot_decision_boundary(model, X, y, args.plot)
    return 0


if __name__ == "__main__":
    sys.exit(main())
