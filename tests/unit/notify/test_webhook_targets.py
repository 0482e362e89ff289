"""Webhooks reach subscribers on the internet, not this host or its network (SSRF)."""

from __future__ import annotations

import pytest

from services.notify.adapters.channels import GuardedResolver, WebhookTargets

INWARD = [
    "http://127.0.0.1:8003/admin",
    "http://localhost/hook",
    "http://[::1]/hook",
    "http://10.0.0.5/hook",
    "http://192.168.1.1/hook",
    "http://172.16.0.1/hook",
    "http://169.254.169.254/latest/meta-data/",  # a cloud's metadata service
    "http://0.0.0.0/hook",
    "http://100.64.0.1/hook",  # carrier-grade NAT
]


@pytest.mark.parametrize("url", INWARD)
async def test_a_subscription_to_this_host_or_its_network_is_refused(url):
    assert await WebhookTargets([]).refusal(url) is not None


async def test_an_outside_address_or_an_allowed_host_is_accepted():
    assert await WebhookTargets([]).refusal("https://93.184.216.34/hook") is None
    assert await WebhookTargets(["localhost"]).refusal("http://localhost:9000/hook") is None
    assert await WebhookTargets(["localhost"]).refusal("http://127.0.0.1/hook") is not None


async def test_a_name_that_resolves_inward_is_refused_on_every_connection():
    """The resolver the webhook session connects through: a name checked fine when the
    subscription was made may resolve inward later; it finds no address to connect to."""
    guarded = GuardedResolver(WebhookTargets([]))
    allowed = GuardedResolver(WebhookTargets(["localhost"]))
    try:
        with pytest.raises(OSError, match="may not reach"):
            await guarded.resolve("localhost", 80)
        assert await allowed.resolve("localhost", 80)
    finally:
        await guarded.close()
        await allowed.close()
