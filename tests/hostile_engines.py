"""Engines that attack the oracle itself (hang, kill their process, lie about types): the isolation
tests run them in a worker. Each is `planted_engines.ClosureValue` (a correct micrograd-style
engine) with one hostile method, plus a few functions for `IsolatedImpl.call`. Not shipped.
"""

from __future__ import annotations

import ctypes
import os
import time
from typing import Any

from planted_engines import ClosureValue


class HangingTanh(ClosureValue):
    """tanh never returns."""

    def tanh(self) -> Any:
        while True:
            pass


class ExitingExp(ClosureValue):
    """exp ends the process, skipping every handler: os._exit(3)."""

    def exp(self) -> Any:
        os._exit(3)


class SegfaultingLog(ClosureValue):
    """log reads address 0: the process dies of SIGSEGV."""

    def log(self) -> Any:
        return ctypes.string_at(0)


class SysExitRelu(ClosureValue):
    """relu raises SystemExit(5), which is not an Exception: the worker exits."""

    def relu(self) -> Any:
        raise SystemExit(5)


class StrData(ClosureValue):
    """Computes right, but after backward() the output's .data is a str."""

    def backward(self) -> None:
        super().backward()
        self.data = str(self.data)  # type: ignore[assignment]


class RaisingBackward(ClosureValue):
    """backward() raises RuntimeError."""

    def backward(self) -> None:
        raise RuntimeError("backward exploded\nsecond line")


class Printing(ClosureValue):
    """Prints from every backward() call."""

    def backward(self) -> None:
        print("engine says hello")
        super().backward()


class SlowBackward(ClosureValue):
    """Correct, but each backward() takes 50 ms."""

    def backward(self) -> None:
        time.sleep(0.05)
        super().backward()


BUSY_SECONDS = 0.02


class BusyBackward(ClosureValue):
    """Correct, but each backward() keeps a core busy for BUSY_SECONDS of this thread's CPU."""

    def backward(self) -> None:
        until = time.thread_time() + BUSY_SECONDS
        while time.thread_time() < until:
            pass
        super().backward()


# ---- functions for IsolatedImpl.call: function(adapter, *args) ----------------------------------


def doubled(adapter: Any, x: float) -> float:
    return float(adapter.data(adapter.cls(x) * 2))


def spin(adapter: Any) -> None:
    while True:
        pass


def die(adapter: Any) -> None:
    os._exit(4)


def fail(adapter: Any) -> None:
    raise ValueError("failing on purpose")


class Unpicklable(Exception):
    def __init__(self, a: int, b: int) -> None:  # pickles, but does not unpickle
        super().__init__(f"{a} {b}")


def fail_oddly(adapter: Any) -> None:
    raise Unpicklable(1, 2)


def returns_value(adapter: Any) -> Any:
    return adapter.cls(1.0)  # an engine object: it pickles only by reference to its class
