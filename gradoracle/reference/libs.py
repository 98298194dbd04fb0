"""Tiny math namespaces ("libs") that the op registry's formulas are written against.

Every formula in `reference.ops` is written once, against a lib: `lib.mul(a, b)`, `lib.tanh(a)`, ...
The same formula then serves three number types:

- `FLOAT`: Python floats with Python-float semantics. Domain errors raise like Python floats do and
  name the op: `log(x<=0)` ValueError, `x/0` ZeroDivisionError, `exp`/`pow` overflow OverflowError,
  `(-8)**0.5` ValueError (Python would return a complex number). `+ - *` overflow to inf silently.
- `MP`: mpmath `mpf` at whatever precision the caller set (see `reference.highprec`). Same errors
  as FLOAT for real domain violations; mpmath never overflows, but astronomically large exponentials
  are refused with OverflowError so a runaway graph cannot exhaust memory.
Ints: a graph's leaves and constants may be Python ints (`x ** 2`). Every lib computes with the
float nearest an int, as Python does wherever an int meets a float: `lift` makes an int the lib's
float type (FLOAT: `float(n)`, MP: the mpf of `float(n)`, JAX: float64), and FLOAT's arithmetic
converts plain ints it is handed directly (`FLOAT.mul(2, 3)`, `FLOAT.pow(2, -1)`), so that no
formula ever runs in exact big-int arithmetic or integer power.

- `JAX`: float64 jax.numpy, imported lazily on first use. Out-of-domain inputs give NaN (never an
  exception, it is traced) and every function has finite derivatives at every input (double-where
  trick), so that a branch computed but not selected (vmapped `lax.switch` becomes a select) never
  leaks NaN into gradients. relu'(0) = 0, like `jax.nn.relu` (`jnp.maximum(x, 0)` would give 0.5).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from types import ModuleType
from typing import Any, Protocol

import mpmath

# Largest argument of exp that mpmath is asked to evaluate: exp(1e5) ~ 10**43429 is far beyond any
# float already, and the limit keeps exp(exp(exp(x))) from building numbers with gigabyte exponents.
MP_EXP_LIMIT = 1e5
# Largest float64 exponent argument: exp(x) overflows to inf for x above log(DBL_MAX) ~ 709.78.
FLOAT_LOG_MAX = math.log(1.7976931348623157e308)


# Primitives total on the reals with no convention to choose: each lib takes them from its module by
# name (math, mpmath, jax.numpy), and the compiled sampler's generated table (reference.generate)
# writes the numba spelling. Guarded primitives (domains, overflow, kinks) are methods below.
PRIMITIVES: dict[str, tuple[str, str, str, str]] = {
    # name: (math, mpmath, jax.numpy, numba kernel)
    "tanh": ("tanh", "tanh", "tanh", "math.tanh"),
    "sin": ("sin", "sin", "sin", "math.sin"),
    "cos": ("cos", "cos", "cos", "math.cos"),
}


class _Primitive:
    """A lib attribute looked up by name in the lib's module (PRIMITIVES, column `lib.column`)."""

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def __get__(self, lib: Any, owner: type | None = None) -> Callable[[Any], Any]:
        fn: Callable[[Any], Any] = getattr(lib.module, PRIMITIVES[self.name][lib.column])
        return fn


class _SaturatingTanh(_Primitive):
    """jnp.tanh whose derivative is `sech2`, as the registry's partial is: JAX's own rule,
    1 - tanh(a)**2, cancels where tanh saturates (5e-11 relative at a = 6.9, 0 past 19)."""

    def __get__(self, lib: Any, owner: type | None = None) -> Callable[[Any], Any]:
        if lib._tanh is None:
            import jax

            jnp, sech2 = lib.jnp, lib.sech2

            @jax.custom_jvp
            def tanh(a: Any) -> Any:
                return jnp.tanh(a)

            @tanh.defjvp
            def _(primals: tuple[Any], tangents: tuple[Any]) -> tuple[Any, Any]:
                (a,), (t,) = primals, tangents
                return jnp.tanh(a), sech2(a) * t

            lib._tanh = tanh
        fn: Callable[[Any], Any] = lib._tanh
        return fn


class _Plain:
    """The PRIMITIVES, for a lib with a `module` and its `column` in the table."""

    tanh = _Primitive()
    sin = _Primitive()
    cos = _Primitive()


class Lib(Protocol):
    """What a formula in the op registry may use."""

    name: str

    def lift(self, x: float | int) -> Any: ...
    def add(self, a: Any, b: Any) -> Any: ...
    def sub(self, a: Any, b: Any) -> Any: ...
    def mul(self, a: Any, b: Any) -> Any: ...
    def div(self, a: Any, b: Any) -> Any: ...
    def neg(self, a: Any) -> Any: ...
    def pow(self, a: Any, b: Any) -> Any: ...
    @property
    def tanh(self) -> Callable[[Any], Any]: ...
    @property
    def sin(self) -> Callable[[Any], Any]: ...
    @property
    def cos(self) -> Callable[[Any], Any]: ...
    def exp(self, a: Any) -> Any: ...
    def log(self, a: Any) -> Any: ...
    def relu(self, a: Any) -> Any: ...
    def sigmoid(self, a: Any) -> Any: ...
    def sech2(self, a: Any) -> Any: ...
    def step(self, a: Any) -> Any: ...
    def sqrt(self, a: Any) -> Any: ...
    def abs(self, a: Any) -> Any: ...
    def sign(self, a: Any) -> Any: ...


def _is_integral(x: float) -> bool:
    return math.isfinite(x) and float(x).is_integer()


class FloatLib(_Plain):
    """Python floats; errors are Python's, with the op named in the message."""

    name = "float"
    module = math
    column = 0

    def lift(self, x: float | int) -> float:
        return float(x)

    # float() of a float is the float itself: these cost little and keep int operands handed in
    # directly (a sampler checking a constant) out of exact integer arithmetic.

    def add(self, a: float, b: float) -> float:
        return float(a) + float(b)

    def sub(self, a: float, b: float) -> float:
        return float(a) - float(b)

    def mul(self, a: float, b: float) -> float:
        return float(a) * float(b)

    def div(self, a: float, b: float) -> float:
        try:
            return float(a) / float(b)
        except ZeroDivisionError:
            raise ZeroDivisionError("div: float division by zero") from None

    def neg(self, a: float) -> float:
        return -float(a)

    def pow(self, a: float, b: float) -> float:
        x, y = float(a), float(b)
        if x < 0 and math.isfinite(y) and not y.is_integer():
            raise ValueError(f"pow: negative base {x!r} with non-integer exponent {y!r}")
        try:
            return x**y
        except ZeroDivisionError:
            raise ZeroDivisionError(f"pow: 0.0 cannot be raised to the power {y!r}") from None
        except OverflowError:
            raise OverflowError(f"pow: overflow in {x!r} ** {y!r}") from None

    def exp(self, a: float) -> float:
        try:
            return math.exp(a)
        except OverflowError:
            raise OverflowError(f"exp: overflow at {a!r}") from None

    def log(self, a: float) -> float:
        try:
            return math.log(float(a))  # (math.log of an int would be exact)
        except ValueError:
            raise ValueError(f"log: math domain error at {a!r} (needs x > 0)") from None

    def relu(self, a: float) -> float:
        return float(a) if a > 0 else 0.0

    def sigmoid(self, a: float) -> float:
        # Two branches so exp never overflows: sigmoid is defined (and stable) for every float.
        if a >= 0:
            return 1.0 / (1.0 + math.exp(-a))
        e = math.exp(a)
        return e / (1.0 + e)

    def sech2(self, a: float) -> float:
        """tanh' = sech(a)**2 = 4e/(1+e)**2 with e = exp(-2|a|): no cancellation, no overflow
        (1 - tanh(a)**2 is 0 for |a| > 19 while the true value is representable up to ~372)."""
        e = math.exp(-2.0 * abs(a))
        return 4.0 * e / ((1.0 + e) * (1.0 + e))

    def step(self, a: float) -> float:
        """relu's derivative with the kink convention relu'(0) = 0."""
        return 1.0 if a > 0 else 0.0

    def sqrt(self, a: float) -> float:
        try:
            return math.sqrt(float(a))
        except ValueError:
            raise ValueError(f"sqrt: math domain error at {a!r} (needs x >= 0)") from None

    def abs(self, a: float) -> float:
        return abs(float(a))

    def sign(self, a: float) -> float:
        """abs's derivative with the kink convention abs'(0) = 0 (PyTorch)."""
        return 1.0 if a > 0 else -1.0 if a < 0 else 0.0


class MpLib(_Plain):
    """mpmath mpf at the caller's precision; same error types as FloatLib."""

    name = "mpmath"
    module = mpmath
    column = 1

    def lift(self, x: float | int) -> Any:
        return mpmath.mpf(float(x))  # exact: every float is an mpf (an int: its float)

    def add(self, a: Any, b: Any) -> Any:
        return a + b

    def sub(self, a: Any, b: Any) -> Any:
        return a - b

    def mul(self, a: Any, b: Any) -> Any:
        return a * b

    def div(self, a: Any, b: Any) -> Any:
        if b == 0:
            raise ZeroDivisionError("div: division by zero")
        return a / b

    def neg(self, a: Any) -> Any:
        return -a

    def pow(self, a: Any, b: Any) -> Any:
        a, b = mpmath.mpf(a), mpmath.mpf(b)
        if a < 0 and not mpmath.isint(b):
            raise ValueError(f"pow: negative base {mpmath.nstr(a)} with non-integer exponent")
        if a == 0:
            if b < 0:
                raise ZeroDivisionError("pow: 0.0 cannot be raised to a negative power")
            return mpmath.mpf(1) if b == 0 else mpmath.mpf(0)
        if abs(b * mpmath.log(abs(a))) > MP_EXP_LIMIT:
            raise OverflowError("pow: result too large for the high-precision reference")
        return mpmath.power(a, b)

    def exp(self, a: Any) -> Any:
        if a > MP_EXP_LIMIT:
            raise OverflowError(f"exp: argument {mpmath.nstr(a)} too large")
        return mpmath.exp(a)

    def log(self, a: Any) -> Any:
        if not a > 0:
            raise ValueError(f"log: math domain error at {mpmath.nstr(a)} (needs x > 0)")
        return mpmath.log(a)

    def relu(self, a: Any) -> Any:
        return a if a > 0 else mpmath.mpf(0)

    def sigmoid(self, a: Any) -> Any:
        if a >= 0:
            return 1 / (1 + mpmath.exp(-a))
        e = mpmath.exp(a)
        return e / (1 + e)

    def sech2(self, a: Any) -> Any:
        e = mpmath.exp(-2 * abs(a))
        return 4 * e / (1 + e) ** 2

    def step(self, a: Any) -> Any:
        return mpmath.mpf(1) if a > 0 else mpmath.mpf(0)

    def sqrt(self, a: Any) -> Any:
        if a < 0:
            raise ValueError(f"sqrt: math domain error at {mpmath.nstr(a)} (needs x >= 0)")
        return mpmath.sqrt(a)

    def abs(self, a: Any) -> Any:
        return abs(a)

    def sign(self, a: Any) -> Any:
        return mpmath.mpf(1) if a > 0 else mpmath.mpf(-1) if a < 0 else mpmath.mpf(0)


class JaxLib(_Plain):
    """float64 jax.numpy with NaN-free gradients; jax is imported on first use."""

    name = "jax"
    column = 2

    def __init__(self) -> None:
        self._jnp: ModuleType | None = None
        self._tanh: Callable[[Any], Any] | None = None

    tanh = _SaturatingTanh()

    @property
    def jnp(self) -> Any:
        if self._jnp is None:
            import jax
            import jax.numpy as jnp

            # The whole project compares in float64; JAX would silently compute in float32.
            jax.config.update("jax_enable_x64", True)
            self._jnp = jnp
        return self._jnp

    @property
    def module(self) -> Any:
        return self.jnp

    def lift(self, x: float | int) -> Any:
        return self.jnp.asarray(float(x), dtype=self.jnp.float64)

    def add(self, a: Any, b: Any) -> Any:
        return a + b

    def sub(self, a: Any, b: Any) -> Any:
        return a - b

    def mul(self, a: Any, b: Any) -> Any:
        return a * b

    def div(self, a: Any, b: Any) -> Any:
        jnp = self.jnp
        ok = b != 0
        return jnp.where(ok, a / jnp.where(ok, b, 1.0), jnp.nan)

    def neg(self, a: Any) -> Any:
        return -a

    def pow(self, a: Any, b: Any) -> Any:
        # Valid: a > 0; a < 0 with an integer exponent; a == 0 with b >= 1 (the derivative
        # b*a**(b-1) is infinite at 0 for b < 1). Negative bases are computed as +-|a|**b so that
        # d/db = log|a| * a**b stays finite (it is only meaningful for a > 0).
        # Inputs whose result or derivative would overflow are replaced too: 0 * inf = NaN.
        jnp = self.jnp
        b_int = jnp.floor(b) == b
        odd = b_int & (jnp.fmod(b, 2.0) != 0)
        ok = (a > 0) | ((a < 0) & b_int) | ((a == 0) & (b >= 1))
        mag = jnp.where(a < 0, -a, a)  # not jnp.abs: its derivative at 0 is 0, and d(x**1)/dx is 1
        log_mag = jnp.log(jnp.where(mag > 0, mag, 1.0))
        fits = (b * log_mag < FLOAT_LOG_MAX) & ((b - 1.0) * log_mag < FLOAT_LOG_MAX)
        use = ok & fits
        r = jnp.power(jnp.where(use, mag, 1.0), jnp.where(use, b, 1.0))
        r = jnp.where(odd & (a < 0), -r, r)
        return jnp.where(use, r, jnp.where(ok, jnp.inf, jnp.nan))

    def exp(self, a: Any) -> Any:
        jnp = self.jnp
        ok = a <= FLOAT_LOG_MAX
        return jnp.where(ok, jnp.exp(jnp.where(ok, a, 0.0)), jnp.inf)

    def log(self, a: Any) -> Any:
        jnp = self.jnp
        ok = a > 0
        return jnp.where(ok, jnp.log(jnp.where(ok, a, 1.0)), jnp.nan)

    def relu(self, a: Any) -> Any:
        # where(x > 0, x, 0) sends no gradient to x at x == 0: relu'(0) = 0.
        return self.jnp.where(a > 0, a, 0.0)

    def sigmoid(self, a: Any) -> Any:
        import jax

        return jax.nn.sigmoid(a)

    def sech2(self, a: Any) -> Any:
        jnp = self.jnp
        e = jnp.exp(-2.0 * jnp.abs(a))
        return 4.0 * e / ((1.0 + e) * (1.0 + e))

    def step(self, a: Any) -> Any:
        return self.jnp.where(a > 0, 1.0, 0.0)

    def sqrt(self, a: Any) -> Any:
        # NaN below 0; at 0 the value 0 (its slope, infinite, is outside the comparable domain:
        # Op.edges), computed in a branch whose own derivative is finite.
        jnp = self.jnp
        ok = a > 0
        return jnp.where(ok, jnp.sqrt(jnp.where(ok, a, 1.0)), jnp.where(a == 0, 0.0, jnp.nan))

    def abs(self, a: Any) -> Any:
        # abs'(0) = 0 written out (PyTorch's convention), not left to jnp.abs's rule: at 0 the
        # constant branch is selected, whose derivative is 0.
        jnp = self.jnp
        return jnp.where(a > 0, a, jnp.where(a < 0, -a, 0.0))

    def sign(self, a: Any) -> Any:
        jnp = self.jnp
        return jnp.where(a > 0, 1.0, jnp.where(a < 0, -1.0, 0.0))


FLOAT = FloatLib()
MP = MpLib()
JAX = JaxLib()
