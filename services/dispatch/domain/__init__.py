"""Dispatch's domain: the case and its rules, the decisions on orders, supervision, deadlines and
deliberation, and the city model they route by. Pure: no I/O, no HTTP."""
