"""PostgreSQL, Kafka and clock adapters behind the application's ports."""
