"""``leptotwin._exitgc.freeze_at_exit``: the objects alive at exit are frozen before the
interpreter's shutdown collections (issue 14: about 0.3 s of a 1.2 s ``fit-curves`` run)."""

from __future__ import annotations

import subprocess
import sys

_CODE = """
import atexit, gc
# registered first, so it runs last: after the handler under test
atexit.register(lambda: print("frozen", gc.get_freeze_count() > 0))
from leptotwin._exitgc import freeze_at_exit
{call}
print("before", gc.get_freeze_count())
"""


def _said(call: str) -> list[str]:
    done = subprocess.run(
        [sys.executable, "-c", _CODE.format(call=call)],
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.split()


def test_freeze_at_exit_freezes_only_at_exit() -> None:
    assert _said("freeze_at_exit(); freeze_at_exit()") == ["before", "0", "frozen", "True"]
    assert _said("pass") == ["before", "0", "frozen", "False"]  # the check can fail


def test_it_registers_once() -> None:
    code = (
        "import atexit\nfrom leptotwin._exitgc import freeze_at_exit\n"
        "n = atexit._ncallbacks()\nfreeze_at_exit(); freeze_at_exit()\n"
        "print(atexit._ncallbacks() - n)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "1"
