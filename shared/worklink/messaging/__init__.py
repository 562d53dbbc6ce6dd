"""Kafka plumbing: topics, producers and consumers, the outbox relay, the idempotent consumer."""
