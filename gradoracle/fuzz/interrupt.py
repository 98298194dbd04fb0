"""Interrupted runs lose nothing: what SIGINT (Ctrl-C) and SIGTERM (a batch scheduler) do.

The first signal raises `Interrupted` in the main thread, wherever the run is; the check loop
(fuzz.check.run_check) catches it, keeps what was found, shrinks it for `SHRINK_SECONDS` and
returns a result that says it was interrupted; the command then prints and saves as usual and
exits 128 + the signal's number (130, 143). While it saves (`saving()`), a first signal is only
recorded, so a report is never left half written; any second signal ends the process at once,
its worker processes killed first, with the same exit code and no traceback.

Worker processes must not see the terminal's Ctrl-C or a scheduler's SIGTERM to the whole group
(a worker killed by it would look like a crash of the graph it was in): they are started with both
signals blocked (`signals_held`), and the parent stops them.

A signal ignored when the command started (a background job of a non-interactive shell ignores
SIGINT, `nohup` SIGHUP) stays ignored, as the classic Unix idiom has it.
"""

from __future__ import annotations

import atexit
import contextlib
import multiprocessing
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
# Seconds an interrupted run spends shrinking what it found (confirming each finding alone in a
# new worker comes on top: about a second each).
SHRINK_SECONDS = 3.0


class Interrupted(BaseException):
    """A stop signal arrived: a BaseException, like KeyboardInterrupt, so that no `except
    Exception` on the way swallows it."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


@dataclass
class _State:
    signum: int | None = None  # the first stop signal received
    saving: bool = False  # past the work: a first signal is recorded, not raised
    # Run by `end_now` first: what kills processes that are not multiprocessing's (cli.many).
    last_words: list[Callable[[], None]] = field(default_factory=list)


_state = _State()


def received() -> int | None:
    """The first stop signal received, if any."""
    return _state.signum


def check() -> None:
    """Raise `Interrupted` again if a stop signal came and the work goes on: the handler raises
    wherever the main thread is, and an exception raised in a garbage-collector callback or a
    `__del__` (JAX has one) is dropped by Python. Loops that wait or run long call this."""
    if _state.signum is not None and not _state.saving:
        raise Interrupted(_state.signum)


def name(signum: int) -> str:
    return signal.Signals(signum).name


def exit_code(signum: int) -> int:
    """What a shell reports for a process ended by `signum`: 130 for SIGINT, 143 for SIGTERM."""
    return 128 + signum


def begin_saving() -> None:
    """The work is over (or interrupted and winding down): from now on a first signal is only
    recorded, and a second one ends the process at once."""
    _state.saving = True


def _handle(signum: int, frame: object) -> None:
    if _state.signum is not None:
        end_now(signum)
    _state.signum = signum
    if not _state.saving:
        raise Interrupted(signum)


def end_now(signum: int) -> None:
    """A second signal: kill this process's workers and exit with no traceback and no save."""
    for last in _state.last_words:
        with contextlib.suppress(Exception):
            last()
    with contextlib.suppress(Exception):  # whatever state multiprocessing was left in
        for child in multiprocessing.active_children():
            child.kill()
    with contextlib.suppress(Exception):
        sys.stdout.flush()
    with contextlib.suppress(Exception):
        print(f"\ngradoracle: stopped at once by a second {name(signum)}", file=sys.stderr)
        sys.stderr.flush()
    os._exit(exit_code(signum))


@contextlib.contextmanager
def stopping_on(signals: tuple[int, ...] = STOP_SIGNALS) -> Iterator[None]:
    """Within: `signals` raise `Interrupted` (see the module docstring). Main thread only (Python
    runs signal handlers there); elsewhere nothing changes."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    _state.signum, _state.saving, _state.last_words = None, False, []
    previous = {}
    for signum in signals:
        if signal.getsignal(signum) != signal.SIG_IGN:
            previous[signum] = signal.signal(signum, _handle)
    hook = sys.unraisablehook

    def dropped(unraisable: Any) -> None:
        if not isinstance(unraisable.exc_value, Interrupted):  # (`check()` raises it again)
            hook(unraisable)

    sys.unraisablehook = dropped
    try:
        yield
    finally:
        sys.unraisablehook = hook
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def ending_at_once() -> None:
    """For the rest of an interrupted command (printing what it saved, the interpreter's shutdown):
    any stop signal ends it at once, with its exit code, as a second signal does while it saves.
    (Left to their defaults, a signal then would kill it with no exit code of its own.) Once the
    interpreter shuts down, where Python handlers no longer run, they are ignored: the process is
    ending with its exit code already."""
    if _state.signum is None:
        return
    for signum in STOP_SIGNALS:
        if signal.getsignal(signum) != signal.SIG_IGN:
            signal.signal(signum, lambda signum, frame: end_now(signum))
    atexit.register(_ignore_stop_signals)


def _ignore_stop_signals() -> None:
    for signum in STOP_SIGNALS:
        signal.signal(signum, signal.SIG_IGN)


def before_ending(last: Callable[[], None]) -> None:
    """Have `end_now` call `last` first (within `stopping_on`)."""
    _state.last_words.append(last)


@contextlib.contextmanager
def signals_held(signals: tuple[int, ...] = STOP_SIGNALS) -> Iterator[None]:
    """Within, `signals` wait (blocked): a process started here inherits them blocked, so a
    worker never sees them; one that arrived meanwhile is handled when the block ends."""
    before = signal.pthread_sigmask(signal.SIG_BLOCK, signals)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, before)
