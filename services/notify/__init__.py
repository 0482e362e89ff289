"""Notify: tells residents, responders and subscribers what happened, once per event, recipient and channel."""
