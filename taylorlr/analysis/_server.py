"""A child started from multiprocessing's fork server that does not run the caller's main script.

multiprocessing prepares every child of the fork server as it prepares a spawned one: it runs the
parent's ``__main__`` again (as ``__mp_main__``) so that objects defined there unpickle. For a
library that is wrong: a user's script without the ``if __name__ == "__main__":`` guard would run
again in every exact worker, and start a worker of its own there (multiprocessing refuses: "An
attempt has been made to start a new process before the current process has finished its
bootstrapping phase"). The exact worker's task is taylorlr's own functions, SymPy objects and a
:class:`~taylorlr.loss.Loss`, all importable by name, so its child is prepared without the main
module: the stdlib's launch (``popen_forkserver.Popen._launch``, the same in CPython 3.11 to
3.13), with the two ``init_main_*`` entries left out of the preparation data.
"""

from __future__ import annotations

import io
import os
from multiprocessing import forkserver, popen_forkserver, reduction, spawn, util
from multiprocessing.context import ForkServerProcess, set_spawning_popen
from typing import Any

#: the preparation entries that make a child run the parent's main module again
_MAIN_ENTRIES = ("init_main_from_path", "init_main_from_name")


class ServerProcess(ForkServerProcess):
    """A :class:`multiprocessing.Process` forked from the fork server, the caller's main left alone."""

    @staticmethod
    def _Popen(process_obj: Any) -> Any:  # multiprocessing calls it by this name
        return _Popen(process_obj)


class _Popen(popen_forkserver.Popen):
    def _launch(self, process_obj: Any) -> None:
        prep_data = spawn.get_preparation_data(process_obj._name)
        for entry in _MAIN_ENTRIES:
            prep_data.pop(entry, None)
        buf = io.BytesIO()
        set_spawning_popen(self)
        try:
            reduction.dump(prep_data, buf)
            reduction.dump(process_obj, buf)
        finally:
            set_spawning_popen(None)
        self.sentinel, w = forkserver.connect_to_new_process(self._fds)  # type: ignore[attr-defined]
        # a duplicate of the data pipe's write end: the child's sentinel of its parent
        parent_w = os.dup(w)
        close = util.close_fds  # type: ignore[attr-defined]
        self.finalizer = util.Finalize(self, close, (parent_w, self.sentinel))
        with open(w, "wb", closefd=True) as f:
            f.write(buf.getbuffer())
        self.pid = forkserver.read_signed(self.sentinel)
