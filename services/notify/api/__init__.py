"""Notify's HTTP routes: webhook subscriptions, the directory, notifications, dead letters,
the live stream (SSE), and area notices (区域通知)."""

from __future__ import annotations

from services.notify.api import directory, notices, notifications, subscriptions

routers = [subscriptions.router, directory.router, notifications.router, notices.router]
