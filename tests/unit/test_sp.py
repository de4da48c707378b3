"""gpuemu.sp against NNG itself (pynng): the Client's REQ against a REP socket, and the
daemon's REP connections against REQ sockets."""

from __future__ import annotations

import threading

import pynng
import pytest

from gpuemu.sp import Lost, RepConnection, ReqConnection, listen

from ..conftest import wait_for


@pytest.fixture
def rep(tmp_path):
    """An NNG REP socket on an ipc path, answered by the test itself."""
    path = tmp_path / "rep.sock"
    with pynng.Rep0(listen=f"ipc://{path}") as sock:
        yield sock, path


@pytest.fixture
def conn(rep):
    """The Client's end of a connection to ``rep``, closed after the test."""
    client = ReqConnection(rep[1], 30)
    yield client
    client.close()


def echo(sock: pynng.Rep0, times: int = 1) -> threading.Thread:
    def run() -> None:
        for _ in range(times):
            sock.send(b"re:" + sock.recv())

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def test_requests_get_their_replies_small_and_large(rep, conn):
    big = bytes(range(256)) * 4096  # 1 MiB: sent apart from its header
    server = echo(rep[0], 3)
    assert conn.exchange(b"one", 30) == b"re:one"
    assert conn.exchange(big, 30) == b"re:" + big
    assert conn.exchange(b"\0", 30) == b"re:\0"
    server.join()


def test_a_late_reply_is_skipped_and_the_connection_kept(rep, conn):
    sock = rep[0]
    release = threading.Event()

    def answer_late() -> None:
        with sock.new_context() as first, sock.new_context() as second:
            late = first.recv()
            release.wait()  # withheld until the client has given up on it
            again = second.recv()
            first.send(b"re:" + late)  # the late reply arrives before the awaited one
            second.send(b"re:" + again)

    server = threading.Thread(target=answer_late, daemon=True)
    server.start()
    with pytest.raises(TimeoutError):
        conn.exchange(b"slow", 0.2)
    assert conn.usable
    release.set()
    assert conn.exchange(b"next", 30) == b"re:next"
    server.join()


def test_a_closed_peer_is_lost_and_seen_before_reuse(rep, conn):
    sock = rep[0]
    server = echo(sock)
    assert conn.exchange(b"x", 30) == b"re:x"
    server.join()
    assert conn.idle_and_open()
    sock.close()
    with pytest.raises(Lost):
        conn.exchange(b"y", 30)
    assert not conn.usable and not conn.idle_and_open()


def test_abort_ends_a_wait_from_another_thread(rep, conn):
    caught: list[BaseException] = []

    def wait() -> None:
        try:
            conn.exchange(b"never answered", None)
        except BaseException as exc:  # noqa: BLE001 - the test inspects it
            caught.append(exc)

    waiter = threading.Thread(target=wait)
    waiter.start()
    rep[0].recv()  # the request arrived: the waiter is waiting for its reply
    conn.abort()
    waiter.join()
    assert len(caught) == 1 and isinstance(caught[0], Lost)


def test_a_peer_that_is_not_rep_is_refused(tmp_path):
    path = tmp_path / "pub.sock"
    with pynng.Pub0(listen=f"ipc://{path}"):
        with pytest.raises(Lost, match="not an NNG REP socket"):
            ReqConnection(path, 30)


def test_nothing_listening_is_an_os_error(tmp_path):
    with pytest.raises(OSError):
        ReqConnection(tmp_path / "none.sock", 30)


@pytest.fixture
def listener(tmp_path):
    path = tmp_path / "daemon.sock"
    sock = listen(path)
    yield sock, path
    sock.close()


def connected(listener) -> tuple[ReqConnection, RepConnection]:
    """Both ends of one connection (each side's header exchange waits for the other's)."""
    sock, path = listener
    accepted: list[RepConnection] = []
    acceptor = threading.Thread(target=lambda: accepted.append(RepConnection(sock.accept()[0], 30)))
    acceptor.start()
    req = ReqConnection(path, 30)
    acceptor.join()
    return req, accepted[0]


def test_what_was_sent_counts_as_unread_until_the_peer_reads_it(listener):
    """What lets the daemon close only once its clients have taken their last replies."""
    req, rep = connected(listener)
    replies: list[bytes] = []
    client = threading.Thread(target=lambda: replies.append(req.exchange(b"question", 30)))
    client.start()
    wait_for(req.unread, "the request to be sent")
    backtrace, body = rep.receive(1 << 20)
    assert body == b"question" and req.unread() == 0
    assert rep.reply(backtrace, b"answer")
    client.join()
    assert replies == [b"answer"] and rep.unread() == 0
    assert not rep.hung_up()
    req.close()
    assert rep.hung_up()
    rep.close()
    assert rep.unread() == 0 and rep.hung_up()


def test_nng_req_clients_get_replies_from_a_rep_connection(listener):
    # pynng's REQ socket (the specification's client) sends from two contexts at once over
    # one connection: each reply must reach the context that asked.
    sock, path = listener
    with pynng.Req0(dial=f"ipc://{path}", block_on_dial=False, recv_timeout=30_000) as req:
        conn = RepConnection(sock.accept()[0], 30)
        try:
            with req.new_context() as first, req.new_context() as second:
                first.send(b"one")
                second.send(b"two")
                requests = [conn.receive(1 << 20) for _ in range(2)]
                for backtrace, body in reversed(requests):  # answered out of order
                    assert conn.reply(backtrace, b"re:" + bytes(body))
                assert second.recv() == b"re:two" and first.recv() == b"re:one"
        finally:
            conn.close()


def test_a_request_over_the_limit_loses_the_connection(listener):
    req, conn = connected(listener)
    try:
        req._send(b"\x01" + (1 << 20).to_bytes(8, "big"), b"")  # only the header is read
        with pytest.raises(Lost, match="over the limit"):
            conn.receive(1024)
    finally:
        conn.close()
        req.close()


def test_a_request_without_a_request_id_is_dropped(listener):
    req, conn = connected(listener)
    try:
        req._send(b"\x01" + (8).to_bytes(8, "big"), b"\0\0\0\1\0\0\0\2")  # no top bit set
        assert conn.receive(1024) is None
    finally:
        conn.close()
        req.close()


def test_a_client_that_is_not_req_is_refused(listener):
    sock, path = listener
    with pynng.Sub0(dial=f"ipc://{path}", block_on_dial=False):
        conn, _ = sock.accept()
        with pytest.raises(Lost, match="not an NNG REQ socket"):
            RepConnection(conn, 30)
