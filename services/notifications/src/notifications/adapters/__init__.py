"""PostgreSQL projection and mail log, Jinja rendering, SMTP delivery, Kafka consumption."""
