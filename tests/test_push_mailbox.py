"""A push stream's mailbox (dashboard/web/api/hub.py `Stream`): nothing handed is lost or reordered, however the
hand-overs and the reads interleave; a full mailbox ends the stream as slow; an end wakes a waiting reader."""

from __future__ import annotations

import threading
import time

from hypothesis import given
from hypothesis import strategies as st

from dashboard.web.api.hub import DROPPED_SLOW, Stream


def drain(s: Stream) -> list[bytes]:
    """Everything queued now, without waiting."""
    items, _ = s.take(0)
    return items


@given(st.lists(st.one_of(st.binary(min_size=1, max_size=8), st.none()), max_size=60))
def test_messages_come_out_once_and_in_order_whatever_the_interleaving(steps: list[bytes | None]) -> None:
    s = Stream(1000, None)
    sent: list[bytes] = []
    got: list[bytes] = []
    for step in steps:  # None: the reader takes what is there
        if step is None:
            got.extend(drain(s))
        else:
            assert s.offer(step)
            sent.append(step)
    got.extend(drain(s))
    assert got == sent


def test_a_reader_racing_a_writer_thread_gets_every_message_in_order() -> None:
    s = Stream(100_000, None)
    n = 20_000
    got: list[bytes] = []

    def write() -> None:
        for i in range(n):
            s.offer(str(i).encode())
        s.end("done")

    writer = threading.Thread(target=write)
    writer.start()
    while True:
        items, ended = s.take(1.0)
        got.extend(items)
        if ended is not None:  # everything handed before the end came with it
            break
    writer.join()
    assert got == [str(i).encode() for i in range(n)]


def test_a_full_mailbox_ends_the_stream_as_slow_and_drops_what_it_held() -> None:
    s = Stream(3, None)
    assert all(s.offer(b"x") for _ in range(3))
    assert s.offer(b"one too many") is False
    items, ended = s.take(0)
    assert items == [] and ended == DROPPED_SLOW
    assert s.offer(b"after the end") is True  # accepted and ignored: the stream is going
    assert drain(s) == []


def test_an_end_wakes_a_reader_waiting_on_an_empty_mailbox_and_the_first_reason_wins() -> None:
    s = Stream(8, None)
    seen: list[tuple[list[bytes], str | None]] = []
    reader = threading.Thread(target=lambda: seen.append(s.take(30.0)))
    reader.start()
    time.sleep(0.05)
    s.end("redis")
    s.end("lifetime")
    reader.join(5.0)
    assert not reader.is_alive()
    assert seen == [([], "redis")]
