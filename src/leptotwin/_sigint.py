"""Imports that must not lose a Ctrl-C.

libsbml's ``__init__`` (SWIG-generated, libsbml 5.20) starts with::

    try:
      _filename = inspect.getframeinfo(inspect.currentframe()).filename
    except:
      _filename = __file__

``inspect.getframeinfo`` walks every loaded module (``inspect.getmodule`` resolves each one's
file with ``os.path.realpath``): a fraction of a second on an idle machine, several seconds on a
loaded one. A KeyboardInterrupt raised in that walk is swallowed by the bare ``except`` and the
command runs on to the end as if Ctrl-C had never been pressed (``leptotwin reproduce`` imports
libsbml in its first section). :func:`libsbml` imports it with SIGINT held off and delivers a
SIGINT that arrived meanwhile once the import is done.

Python also *prints and drops* an exception raised in a weakref callback, a ``__del__`` or the
garbage collector ("Exception ignored in ..."): a Ctrl-C that lands while matplotlib's transform
nodes are being collected is lost that way (seen in a clean-clone proof: the run went on and
exited 0). :func:`interrupts_remembered` installs, for one command, a SIGINT handler that raises
KeyboardInterrupt as Python's own does and also remembers that it came; the command asks
:func:`interrupt_requested` at safe points (between report sections, before it keeps its
outputs) and honours an interrupt that something swallowed.
"""

from __future__ import annotations

import contextlib
import importlib
import signal
import sys
import threading
from collections.abc import Iterator
from types import ModuleType
from typing import Any

__all__ = [
    "import_holding_sigint",
    "interrupt_requested",
    "interrupts_remembered",
    "libsbml",
    "raise_if_interrupted",
    "sigint_held",
    "termination_requested",
]


@contextlib.contextmanager
def sigint_held() -> Iterator[None]:
    """Hold off SIGINT until the block is done, then deliver it to the handler of before.

    Only the main thread can change signal handlers; elsewhere (the explorer's server threads)
    the block runs as is: Python handles SIGINT in the main thread only anyway."""
    if (
        threading.current_thread() is not threading.main_thread()
        or signal.getsignal(signal.SIGINT) is None  # set outside Python: cannot be restored
    ):
        yield
        return
    caught: list[Any] = []
    previous = signal.signal(signal.SIGINT, lambda *args: caught.append(args))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
        if caught:
            # the handler of before decides: KeyboardInterrupt by default, nothing if ignored
            signal.raise_signal(signal.SIGINT)


def import_holding_sigint(name: str) -> ModuleType:
    """``importlib.import_module(name)`` with SIGINT held off while the module first loads."""
    module = sys.modules.get(name)
    if module is not None:
        return module
    with sigint_held():
        return importlib.import_module(name)


def libsbml() -> ModuleType:
    """The ``libsbml`` module (imported with SIGINT held off; see the module docstring)."""
    return import_holding_sigint("libsbml")


_requested = False
_terminated = False


def _remember_and_raise(signum: int, frame: Any) -> None:
    global _requested, _terminated
    _requested = True
    _terminated = _terminated or signum == signal.SIGTERM
    raise KeyboardInterrupt


@contextlib.contextmanager
def interrupts_remembered() -> Iterator[None]:
    """For the block (one command): SIGINT raises KeyboardInterrupt and is remembered
    (:func:`interrupt_requested`), even where the KeyboardInterrupt itself gets swallowed. A
    SIGTERM (a job scheduler's or CI's stop, ``kill``) is taken the same way, so the command's
    outputs are undone as for Ctrl-C (Python's default for SIGTERM ends the process at once,
    leaving half-written temporary files); :func:`termination_requested` tells them apart.
    Main thread only; elsewhere, or where SIGINT was set outside Python, the block runs as is."""
    global _requested, _terminated
    if (
        threading.current_thread() is not threading.main_thread()
        or signal.getsignal(signal.SIGINT) is None
    ):
        yield
        return
    _requested = _terminated = False
    previous = signal.signal(signal.SIGINT, _remember_and_raise)
    previous_term = signal.getsignal(signal.SIGTERM)
    take_term = previous_term is signal.SIG_DFL  # a handler someone set stays theirs
    if take_term:
        signal.signal(signal.SIGTERM, _remember_and_raise)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
        if take_term:
            signal.signal(signal.SIGTERM, previous_term)
        _requested = False  # outside a command nothing is remembered


def termination_requested() -> bool:
    """Whether the interrupt of the current or last command was a SIGTERM (the command's exit
    status is then 143 rather than 130)."""
    return _terminated


def interrupt_requested() -> bool:
    """Whether a SIGINT came during the current :func:`interrupts_remembered` block (False
    outside one)."""
    return _requested


def raise_if_interrupted() -> None:
    """Raise KeyboardInterrupt if a SIGINT came and was swallowed on its way (see the module
    docstring); nothing otherwise."""
    if _requested:
        raise KeyboardInterrupt
