"""Dispatch: routes complaints to the units that must act (派单) and follows their work orders."""
