"""A supervisor whose output reader went away (``reverie serve | head``, a log shipper that
died) keeps supervising: writes to the closed pipe are dropped, never raised into the signal
handler or the restart logic (found when a benchmark's reader died: SIGTERM did nothing)."""

from __future__ import annotations

import os

import pytest

from reverie._private.serve.output import Output


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_a_closed_pipe_does_not_break_the_output(fmt: str) -> None:
    r, w = os.pipe()
    os.close(r)
    with os.fdopen(w, "w") as fh:
        out = Output(fmt, file=fh)
        out.info("SIGTERM: shutting down")  # would raise BrokenPipeError before
        out.line("Api-1", "a child's line", "stderr", "error")
        out.startup_table(
            [{"service": "Api", "processes": ["Api"], "pids": [1], "state": "ready", "url": None}],
            0.1,
        )
        assert out.gone
        try:
            fh.close()
        except BrokenPipeError:
            pass
