"""The Client's own REQ (gpuemu.req_socket) against NNG's real REP socket (pynng)."""

from __future__ import annotations

import threading

import pynng
import pytest

from gpuemu.req_socket import Lost, ReqConnection


@pytest.fixture
def rep(tmp_path):
    """An NNG REP socket on an ipc path, answered by the test itself."""
    path = tmp_path / "rep.sock"
    with pynng.Rep0(listen=f"ipc://{path}") as sock:
        yield sock, path


def echo(sock: pynng.Rep0, times: int = 1) -> threading.Thread:
    def run() -> None:
        for _ in range(times):
            sock.send(b"re:" + sock.recv())

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def test_requests_get_their_replies_small_and_large(rep):
    sock, path = rep
    big = bytes(range(256)) * 4096  # 1 MiB: sent apart from its header
    server = echo(sock, 3)
    conn = ReqConnection(path, 30)
    try:
        assert conn.exchange(b"one", 30) == b"re:one"
        assert conn.exchange(big, 30) == b"re:" + big
        assert conn.exchange(b"\0", 30) == b"re:\0"
    finally:
        conn.close()
    server.join()


def test_a_late_reply_is_skipped_and_the_connection_kept(rep):
    sock, path = rep
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
    conn = ReqConnection(path, 30)
    try:
        with pytest.raises(TimeoutError):
            conn.exchange(b"slow", 0.2)
        assert conn.usable
        release.set()
        assert conn.exchange(b"next", 30) == b"re:next"
    finally:
        conn.close()
    server.join()


def test_a_closed_peer_is_lost_and_seen_before_reuse(rep):
    sock, path = rep
    server = echo(sock)
    conn = ReqConnection(path, 30)
    try:
        assert conn.exchange(b"x", 30) == b"re:x"
        server.join()
        assert conn.idle_and_open()
        sock.close()
        with pytest.raises(Lost):
            conn.exchange(b"y", 30)
        assert not conn.usable and not conn.idle_and_open()
    finally:
        conn.close()


def test_abort_ends_a_wait_from_another_thread(rep):
    sock, path = rep
    conn = ReqConnection(path, 30)
    caught: list[BaseException] = []

    def wait() -> None:
        try:
            conn.exchange(b"never answered", None)
        except BaseException as exc:  # noqa: BLE001 - the test inspects it
            caught.append(exc)

    waiter = threading.Thread(target=wait)
    waiter.start()
    sock.recv()  # the request arrived: the waiter is waiting for its reply
    conn.abort()
    waiter.join()
    conn.close()
    assert len(caught) == 1 and isinstance(caught[0], Lost)


def test_a_peer_that_is_not_rep_is_refused(tmp_path):
    path = tmp_path / "pub.sock"
    with pynng.Pub0(listen=f"ipc://{path}"):
        with pytest.raises(Lost, match="not an NNG REP socket"):
            ReqConnection(path, 30)


def test_nothing_listening_is_an_os_error(tmp_path):
    with pytest.raises(OSError):
        ReqConnection(tmp_path / "none.sock", 30)
