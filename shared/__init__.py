"""What the services share: event contracts, envelope, topics, settings and the store/outbox/consumer machinery."""
