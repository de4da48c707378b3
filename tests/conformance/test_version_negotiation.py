"""Version negotiation (seeds 000/001): the client checks the daemon's protocol version on
connecting and says what to do when it differs; a request that carries another protocol
version is answered with VersionMismatch (test_wire_messages)."""

from __future__ import annotations

import threading

import pynng
import pytest

from gpuemu import paths
from gpuemu.client import Client, ClientError
from gpuemu.errors import VersionMismatch


@pytest.mark.parametrize("theirs,newer", [(2, "daemon"), (0, "client")])
def test_the_client_refuses_a_daemon_of_another_protocol_version(short_tmp, theirs, newer):
    socket = short_tmp / "fake.sock"
    pongs = []
    with pynng.Rep0(listen=paths.socket_url(socket)) as rep:
        def answer():  # a daemon of another gpuemu: it answers the client's Ping, nothing else
            rep.recv()
            reply = b'{"type":"Pong","version":"9.9","protocol_version":%d,"uptime_secs":1}' % theirs
            rep.send(reply)
            pongs.append(reply)

        server = threading.Thread(target=answer)
        server.start()
        client = Client(socket_path=socket, auto_start=False, timeout_ms=10_000)
        with pytest.raises(ClientError, match=rf"speaks protocol version {theirs}.*the {newer} is"
                                              r" newer.*gpuemu daemon stop") as info:
            client.list_results()
        assert isinstance(info.value, VersionMismatch)
        server.join(timeout=10)
        assert pongs  # refused on the Ping, before the request itself was sent
        client.close()


@pytest.mark.e2e
def test_the_client_accepts_its_own_daemon(daemon):
    with daemon.client() as client:
        assert client.list_results() == []
        assert client.ping().protocol_version == 1
