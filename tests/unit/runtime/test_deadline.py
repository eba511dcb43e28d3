"""call_with_deadline: a result, an exception, or CallOverran while the call keeps running."""

from __future__ import annotations

import threading

import pytest

from kafkalab.runtime.deadline import CallOverran, call_with_deadline


def test_returns_the_calls_result():
    assert call_with_deadline(lambda: 42, 5.0, "answer") == 42


def test_raises_the_calls_own_exception():
    def fail():
        raise ValueError("bad")

    with pytest.raises(ValueError, match="bad"):
        call_with_deadline(fail, 5.0, "fail")


def test_an_overrun_call_is_left_running_and_named():
    release, finished = threading.Event(), threading.Event()

    def hang():
        release.wait()
        finished.set()

    with pytest.raises(CallOverran, match="hang did not return within 0.05 s"):
        call_with_deadline(hang, 0.05, "hang")
    assert not finished.is_set()  # abandoned, not interrupted
    release.set()
    assert finished.wait(5.0)


def test_an_overrun_says_when_the_call_has_returned():
    release = threading.Event()
    with pytest.raises(CallOverran) as caught:
        call_with_deadline(release.wait, 0.05, "hang")
    assert not caught.value.returned.is_set()  # still inside the call: nobody else may touch its client
    release.set()
    assert caught.value.returned.wait(5.0)
