"""The frames between the executor and a warm worker, over real pipes: one read for a small
frame, a large one read whole, a second frame unasked for refused, the end of the stream."""

from __future__ import annotations

import os
import select
import threading

import pytest

from gpuemu.engine.worker import HEADER, READ_AHEAD, FrameError, FrameReader, write_frame


@pytest.fixture
def pipe():
    r, w = os.pipe()
    yield r, w
    for fd in (r, w):
        try:
            os.close(fd)
        except OSError:
            pass


def test_small_frames_are_read_with_their_header_one_after_another(pipe):
    r, w = pipe
    frames = FrameReader(r)
    for body in (b"hello", b"", b"a longer frame than the first"):
        write_frame(w, body)
        assert bytes(frames.read()) == body


def test_a_frame_larger_than_the_read_ahead_arrives_whole_in_pieces(pipe):
    r, w = pipe
    body = bytes(range(256)) * (3 * READ_AHEAD // 256 + 7)

    def dribble() -> None:  # the pipe holds 64 KiB: the reader takes it as it comes
        frame = HEADER.pack(len(body)) + body
        for at in range(0, len(frame), 10_007):
            os.write(w, frame[at:at + 10_007])

    writer = threading.Thread(target=dribble)
    writer.start()
    assert bytes(FrameReader(r).read()) == body
    writer.join()


def test_a_non_blocking_reader_waits_through_its_callback(pipe):
    r, w = pipe
    os.set_blocking(r, False)
    writers: list[threading.Thread] = []

    def wait() -> None:  # the frame is sent only once the reader found nothing to read
        if not writers:
            writers.append(threading.Thread(target=write_frame, args=(w, b"late")))
            writers[0].start()
        select.select([r], [], [])

    assert bytes(FrameReader(r).read(wait)) == b"late"
    assert writers
    writers[0].join()


def test_a_second_frame_unasked_for_breaks_the_protocol(pipe):
    r, w = pipe
    write_frame(w, b"one")
    write_frame(w, b"two")
    with pytest.raises(FrameError, match="past the frame"):
        FrameReader(r).read()


@pytest.mark.parametrize("sent", [b"", HEADER.pack(10)[:3], HEADER.pack(10) + b"short"],
                         ids=["nothing", "half a header", "half a body"])
def test_the_end_of_the_stream_is_none(pipe, sent):
    r, w = pipe
    os.write(w, sent)
    os.close(w)
    assert FrameReader(r).read() is None
