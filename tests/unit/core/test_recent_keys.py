"""RecentKeys: a copy seen lately is refused; the bound forgets the oldest first."""

from kafkalab.core.csvstore import RecentKeys


def test_a_key_seen_lately_is_refused_and_the_oldest_is_forgotten_first():
    recent = RecentKeys(capacity=3)
    assert [recent.add(k) for k in ("a", "b", "a", "c")] == [True, True, False, True]
    assert recent.add("d") and len(recent) == 3  # "a" is forgotten now
    assert recent.add("a") and not recent.add("d")
