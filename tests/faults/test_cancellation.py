"""Item 3: a client that disconnects from POST /Api/slow cancels the handler in every process
of the chain (Api -> Logic -> Store, real processes, NATS between them). Shown by the files the
handlers write when cancelled, never by timing."""

from __future__ import annotations

import os
import socket
import threading
from pathlib import Path
from typing import Any

from tests.serve.conftest import GRAPH


def _wait_file(directory: Path, prefix: str, tries: int = 600) -> bool:
    stop = threading.Event()
    for _ in range(tries):  # bounded wait for a state: the file appears
        if any(p.name.startswith(prefix) for p in directory.iterdir()):
            return True
        stop.wait(0.05)
    return False


def test_client_disconnect_cancels_the_handler_everywhere(serve: Any, tmp_path: Path) -> None:
    run = serve(GRAPH, "--processes", env={"REVERIE_TEST_MARKS": str(tmp_path)})
    run.ready()
    body = b"30"
    req = (
        b"POST /Api/slow HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"
        b"content-length: " + str(len(body)).encode() + b"\r\n\r\n" + body
    )
    s = socket.create_connection(("127.0.0.1", run.port), timeout=10)
    s.sendall(req)
    try:
        for who in ("Api", "Logic", "Store"):
            assert _wait_file(tmp_path, f"slow-started-{who}"), sorted(os.listdir(tmp_path))
    finally:
        s.close()  # the client goes away mid-call
    for who in ("Api", "Logic", "Store"):
        assert _wait_file(tmp_path, f"slow-cancelled-{who}"), (who, sorted(os.listdir(tmp_path)))
    run.signal(15)
    assert run.wait(30) == 0
