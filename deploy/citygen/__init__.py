"""A Beijing-size city model, generated from a seed (python -m deploy.citygen)."""
