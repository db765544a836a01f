"""Webhooks: MSR-compatible subscriptions and durable, signed delivery of outbox events."""
