"""The counts of community governance (社区治理) for the measures cube: cases a committee
dispatched (业委会派单), a community's calls and how fast the units called answered (社区点单、
部门响应), the duties units and cadres registered with a community took (双报到 报到处置), and
the residents' WeChat group messages answered within the hour (seed 002).

Each is (name, label, SQL over the orders `o`, definition); measures.py makes them counts."""

from __future__ import annotations


def governance_counts(kept: str) -> list[tuple[str, str, str, str]]:
    """`kept`: SQL saying an order counts at all (measures.py's own rule)."""
    called = f"({kept} AND o.purpose = 'community_call')"
    answered = f"({called} AND o.signed_at IS NOT NULL)"
    hours = "extract(epoch FROM o.signed_at - o.issued_at) / 3600.0"
    group_reply = f"({kept} AND o.purpose = 'group_reply' AND o.cancelled_at IS NULL)"
    return [
        (
            "committee_dispatches",
            "业委会派单量",
            f"count(*) FILTER (WHERE {kept} AND o.purpose = 'committee' AND o.resolved_at IS NOT NULL)",
            "业委会（或社区居委会）已派出的案件（居民下单、业委会派单、多方接单）",
        ),
        (
            "community_calls",
            "点单工单量",
            f"count(*) FILTER (WHERE {called})",
            "社区点单派出的工单",
        ),
        (
            "community_calls_answered",
            "点单已响应",
            f"count(*) FILTER (WHERE {answered})",
            "被点单单位已签收（响应）的点单工单",
        ),
        (
            "community_call_response_hours",
            "点单响应总时长（小时）",
            f"coalesce(sum({hours}) FILTER (WHERE {answered}), 0)",
            "点单至被点单单位签收",
        ),
        (
            "registered_duties",
            "报到处置量",
            f"count(*) FILTER (WHERE {kept} AND o.registration_id IS NOT NULL)",
            "双报到单位与干部承担的履职任务（议事分派与社区点单）",
        ),
        (
            "group_replies_due",
            "应回复群诉求量",
            f"count(*) FILTER (WHERE {group_reply} AND (o.resolved_at IS NOT NULL OR o.due_at <= $1))",
            "居民微信群诉求：值班人员已回复或1小时时限已到的（seed 002）",
        ),
        (
            "group_replied_on_time",
            "群内按时回复",
            f"count(*) FILTER (WHERE {group_reply} AND o.resolved_at <= o.due_at)",
            "值班人员在时限（1小时）内于群内公开回复",
        ),
    ]
