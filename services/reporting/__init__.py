"""Reporting: read models built from every topic; owns nothing but rebuildable projections."""
