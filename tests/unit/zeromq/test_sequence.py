"""The transport-free gap/duplicate counter (kafkalab.core.sequence)."""

from kafkalab.core.sequence import SequenceTracker, Verdict


def test_in_order_stream_has_no_gap_and_no_duplicate():
    tracker = SequenceTracker()
    assert [tracker.note("p", s) for s in (1, 2, 3)] == [Verdict.IN_ORDER] * 3
    assert (tracker.gaps, tracker.duplicates, tracker.last("p")) == (0, 0, 3)


def test_a_hole_counts_every_missing_message():
    tracker = SequenceTracker()
    tracker.note("p", 1)
    assert tracker.note("p", 5) is Verdict.AFTER_GAP
    assert tracker.note("p", 6) is Verdict.IN_ORDER
    assert tracker.gaps == 3


def test_a_producer_first_seen_late_counts_what_was_sent_before():
    tracker = SequenceTracker()
    assert tracker.note("p", 4) is Verdict.AFTER_GAP
    assert tracker.gaps == 3


def test_repeated_or_older_sequence_is_a_duplicate_and_not_received():
    tracker = SequenceTracker()
    for s in (1, 2, 2, 1, 3):
        tracker.note("p", s)
    assert tracker.duplicates == 2
    assert dict(tracker.items())["p"].received == 3


def test_resume_counts_only_what_came_after_the_durable_position():
    tracker = SequenceTracker()
    tracker.resume("p", 100)
    assert tracker.note("p", 100) is Verdict.DUPLICATE
    assert tracker.note("p", 110) is Verdict.AFTER_GAP
    assert (tracker.gaps, tracker.duplicates) == (9, 1)


def test_producers_are_counted_apart():
    tracker = SequenceTracker()
    tracker.note(("trades", "a"), 1)
    tracker.note(("trades", "b"), 3)
    tracker.note(("trades", "a"), 2)
    assert tracker.gaps == 2
    assert tracker.last(("trades", "a")) == 2 and tracker.last(("trades", "b")) == 3
