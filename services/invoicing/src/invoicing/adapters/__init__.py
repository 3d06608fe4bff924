"""Invoicing's adapters: PostgreSQL, Kafka, the clock and the payment processor."""
