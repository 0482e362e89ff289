"""A downstream subscriber of the platform's topics, written against its AsyncAPI document only."""
