"""A message in a community's residents' WeChat group (seed 002: 居民微信群…1小时内在群内公开
回复群众诉求) is filed by the WeChat channel naming its group's community, which dispatch's rota
answers; a group of another community, or another channel, is refused."""

from __future__ import annotations

from shared.events import parse_event
from tests.support import examples

GROUP = "370124001001"  # 会仙山社区居民群


async def test_a_group_message_is_filed_with_its_group_s_community(intake_server):
    body = examples.complaint_request(
        0, channel="wechat", wechat_group=GROUP, text="楼道灯坏了好几天，晚上回家摸黑上楼"
    )
    async with intake_server.client(**examples.channel_key("wechat")) as client:
        response = await client.post("/complaints", json=body)
        assert response.status_code == 201, response.text
        elsewhere = await client.post("/complaints", json=body | {"wechat_group": "370124002001"})
        assert elsewhere.status_code == 422 and "社区内" in elsewhere.text
    async with intake_server.client(**examples.channel_key("hotline")) as client:
        hotline = await client.post("/complaints", json=body | {"channel": "hotline"})
        assert hotline.status_code == 422 and "wechat" in hotline.text
    complaint_id = response.json()["complaint_id"]
    async with intake_server.runtime.pool.acquire() as conn:
        row = await conn.fetchrow(
            "SELECT type, version, data FROM events WHERE stream = $1 ORDER BY position LIMIT 1",
            f"complaint-{complaint_id}",
        )
    filed = parse_event(row["type"], row["version"], row["data"])
    assert filed.wechat_group == GROUP and filed.channel == "wechat"
