"""The local runner's workers: `--workers` parsed, every worker on a port of its own."""

from __future__ import annotations

import pytest

from deploy.local.runner import SERVICES, StackConfig, parse_workers


def test_workers_are_parsed_per_service_and_the_rest_keep_one():
    config = StackConfig(workers=parse_workers("dispatch=3, notify=3,reporting=2"))
    assert config.worker_names("dispatch") == ["dispatch", "dispatch-2", "dispatch-3"]
    assert config.worker_names("intake") == ["intake"]
    assert len(config.all_workers()) == 9


@pytest.mark.parametrize("text", ["dispatch", "dispatch=0", "dispatch=11", "billing=2", "notify=x"])
def test_a_malformed_worker_count_is_refused(text):
    with pytest.raises(ValueError):
        parse_workers(text)


def test_first_workers_keep_the_service_ports_and_the_others_take_the_worker_block():
    config = StackConfig(workers=dict.fromkeys(SERVICES, 10))
    assert [config.port(s) for s in SERVICES] == [8001, 8002, 8003, 8004]
    assert config.port("dispatch-2") == 8111 and config.port("reporting-10") == 8139
    ports = [config.port(w) for w in config.all_workers()]
    assert len(set(ports)) == len(ports) == 40
    assert not {config.sink_port, config.smtp_port, config.broker_port, config.pg_port} & set(ports)
