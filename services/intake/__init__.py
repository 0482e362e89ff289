"""Intake: the front door. Takes residents' demands from every channel and publishes complaint events."""
