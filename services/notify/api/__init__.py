"""Notify's HTTP routes: webhook subscriptions, the directory, notifications, dead letters and
the live stream (SSE)."""

from __future__ import annotations

from services.notify.api import directory, notifications, subscriptions

routers = [subscriptions.router, directory.router, notifications.router]
