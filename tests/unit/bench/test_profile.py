"""The latency bench's profile: each py-spy sample charged to the running function and to the
innermost function of the project's own code."""

from tests.bench.profile import charge

RAW = """\
<module> (/repo/services/notify/main.py);run (/usr/lib/python3.11/asyncio/runners.py);on_batch (/repo/services/notify/handlers.py);fetch (/repo/.venv/lib/python3.11/site-packages/asyncpg/connection.py) 30
<module> (/repo/services/notify/main.py);run (/usr/lib/python3.11/asyncio/runners.py);on_batch (/repo/services/notify/handlers.py);learn (/repo/services/notify/domain.py) 10
<module> (/repo/services/notify/main.py);_run_once (/usr/lib/python3.11/asyncio/base_events.py) 5
run (/usr/lib/python3.11/asyncio/runners.py);_run_once (/usr/lib/python3.11/asyncio/base_events.py) 5
_run_code (<frozen runpy>);<module> (services/intake/main.py);on_batch (shared/consumer.py);fetch (asyncpg/connection.py) 4
not a sample line
"""


def test_each_sample_is_charged_to_its_leaf_and_to_the_innermost_own_function():
    leaves, owners, total = charge(RAW)
    assert total == 54
    assert leaves["asyncpg/connection.py:fetch"] == 34
    assert leaves["notify/domain.py:learn"] == 10
    assert leaves["asyncio/base_events.py:_run_once"] == 10
    assert owners["notify/handlers.py:on_batch"] == 30
    assert owners["notify/domain.py:learn"] == 10
    assert owners["notify/main.py:<module>"] == 5
    assert (
        owners["shared/consumer.py:on_batch"] == 4
    )  # as py-spy names them run from the repository
    assert owners["(no own frame: event loop, libraries)"] == 5
