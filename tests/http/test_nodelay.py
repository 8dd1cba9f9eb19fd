"""The server's accepted connections have TCP_NODELAY, embedded and on a supervisor's socket.

Without it a response written in two parts (head, then body) waits for the client's delayed ACK:
every sequential call over the HTTP dependency transport took ~40 ms instead of < 1 ms. asyncio
sets the option only on sockets created with ``IPPROTO_TCP``, so the listeners must say TCP."""

from __future__ import annotations

import asyncio
import socket

from reverie._private.host.host import Host
from reverie._private.http.server import HttpServer
from reverie._private.serve.httpd import listening_socket
from tests.http.services import Feed


async def test_the_embedded_server_answers_on_a_nodelay_socket() -> None:
    host = Host(env={}, name="nodelay")
    await host.start(Feed)
    try:
        async with HttpServer(host, port=0, access_log=False) as srv:
            reader, writer = await asyncio.open_connection("127.0.0.1", srv.port)
            writer.write(b"GET /Feed/hello HTTP/1.1\r\nHost: x\r\n\r\n")
            data = b""
            while not data.endswith(b'"hello"'):
                data += await reader.read(4096)
            conns = list(srv._server.server_state.connections)
            assert len(conns) == 1
            sock = conns[0].transport.get_extra_info("socket")
            assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 1
            writer.close()
    finally:
        await host.stop()


def test_the_supervisor_socket_says_tcp() -> None:
    sock = listening_socket("127.0.0.1", 0)
    try:
        assert sock.proto == socket.IPPROTO_TCP
    finally:
        sock.close()
