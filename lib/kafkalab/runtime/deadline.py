"""A blocking call with a deadline the caller can walk away from.

A client library call that hangs inside C (librdkafka's transactional calls have been seen to
block far past their own timeout after a broker outage) cannot be interrupted from Python. It
runs in a daemon thread instead; when it outlives the deadline the caller gets `CallOverran`
and carries on (typically by replacing the client), while the stuck thread keeps its client
alive: a hung handle is never flushed or destroyed, since that would block as well, and no
other thread may use it while the call is still inside it (`CallOverran.returned` says when
it has come back).
"""

from __future__ import annotations

import threading
from typing import Callable, TypeVar

T = TypeVar("T")


class CallOverran(Exception):
    """The call did not return within its deadline; it may still be running (until `returned` is set)."""

    def __init__(self, message: str, returned: threading.Event) -> None:
        super().__init__(message)
        self.returned = returned


def call_with_deadline(call: Callable[[], T], deadline_s: float, what: str) -> T:
    """`call()`'s result or exception, or CallOverran once `deadline_s` has passed."""
    done = threading.Event()
    outcome: dict[str, object] = {}

    def target() -> None:
        try:
            outcome["value"] = call()
        except BaseException as exc:  # handed to the caller, whatever it is
            outcome["error"] = exc
        finally:
            done.set()

    threading.Thread(target=target, name=f"deadline: {what}", daemon=True).start()
    if not done.wait(deadline_s):
        raise CallOverran(f"{what} did not return within {deadline_s:g} s", done)
    if "error" in outcome:
        raise outcome["error"]  # type: ignore[misc]
    return outcome.get("value")  # type: ignore[return-value]
