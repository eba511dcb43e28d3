"""The added-latency fault's API bodies and one-line errors (the proxy itself is exercised in
tests/integration/test_toxiproxy.py and on real brokers in tests/integration/kafka/test_network_faults.py)."""

import pytest

from kafkalab.runtime import toxiproxy


def test_a_latency_toxic_delays_every_byte_of_one_stream():
    body = toxiproxy.latency_toxic("latency_upstream", "upstream", 100, 20)
    assert body == {"name": "latency_upstream", "type": "latency", "stream": "upstream", "toxicity": 1.0,
                    "attributes": {"latency": 100, "jitter": 20}}


@pytest.mark.parametrize("stream, latency_ms, jitter_ms", [("sideways", 100, 20), ("upstream", 0, 0),
                                                           ("downstream", 100, 150), ("upstream", 100, -1)])
def test_a_bad_toxic_is_refused(stream, latency_ms, jitter_ms):
    with pytest.raises(ValueError):
        toxiproxy.latency_toxic("t", stream, latency_ms, jitter_ms)


def test_a_missing_binary_says_how_to_install_it_in_one_line(tmp_path):
    reason = toxiproxy.unavailable(tmp_path / "server")
    assert "go install github.com/Shopify/toxiproxy/v2/cmd/server@v2.5.0" in reason and "\n" not in reason
    assert toxiproxy.unavailable(None) is not None
    with pytest.raises(toxiproxy.ToxiproxyError, match="toxiproxy-server"):
        with toxiproxy.server(tmp_path / "server", 1, tmp_path / "log"):
            pass
