"""Programs a downstream system could write, using only what the platform publishes."""
