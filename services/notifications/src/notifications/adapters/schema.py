"""Tables of the notifications schema: the projection and the sent-mail log."""

from __future__ import annotations

from typing import Final

from billing_events.postgres import Migration

# Notified (at commit) whenever a mail is queued. One channel per schema, because tests and
# several deployments may share one database; hashed, because a channel name is at most 63
# bytes and a schema name alone may be that long.
QUEUED_CHANNEL_SQL: Final = "'mail_queued:' || md5(current_schema())"

COMPONENT: Final = "notifications"

PROJECTION_SQL = """
CREATE TABLE merchants (
    merchant_id text PRIMARY KEY,
    name text NOT NULL,
    support_email text,
    logo_url text,
    brand_color text,
    version integer NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE customers (
    merchant_id text NOT NULL,
    customer_id text NOT NULL,
    email text NOT NULL,
    name text NOT NULL,
    locale text NOT NULL,
    version integer NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (merchant_id, customer_id)
);
CREATE TABLE invoices (
    merchant_id text NOT NULL,
    invoice_id text NOT NULL,
    number text NOT NULL,
    customer_id text NOT NULL,
    subscription_id text,
    currency text NOT NULL,
    amount_due bigint NOT NULL,
    issued_at timestamptz NOT NULL,
    plan_name text,
    period_start timestamptz,
    period_end timestamptz,
    lines jsonb NOT NULL,
    version integer NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (merchant_id, invoice_id)
);
CREATE TABLE subscriptions (
    merchant_id text NOT NULL,
    subscription_id text NOT NULL,
    customer_id text NOT NULL,
    plan_id text NOT NULL,
    plan_name text NOT NULL,
    version integer NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (merchant_id, subscription_id)
);
"""

# One row per mail an event called for, whatever became of it:
#   waiting  its facts are not projected yet (customer_id/invoice_id/subscription_id say
#            which records it waits for, missing says it in words);
#   queued   composed, due for delivery at next_attempt_at;
#   sent     accepted by the mail server;
#   failed   refused for good by the mail server (last_error says why).
# The key (event_id, kind) makes a redelivered event unable to queue a second copy.
MAIL_LOG_SQL = """
CREATE TABLE mail_log (
    event_id uuid NOT NULL,
    kind text NOT NULL,
    merchant_id text NOT NULL,
    status text NOT NULL CHECK (status IN ('waiting', 'queued', 'sent', 'failed')),
    trigger jsonb NOT NULL,
    customer_id text,
    invoice_id text,
    subscription_id text,
    missing text[] NOT NULL DEFAULT '{}',
    to_email text,
    to_name text,
    sender_name text,
    reply_to text,
    subject text,
    text_body text,
    html_body text,
    attempts integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz,
    last_error text,
    created_at timestamptz NOT NULL DEFAULT now(),
    queued_at timestamptz,
    sent_at timestamptz,
    PRIMARY KEY (event_id, kind),
    CHECK (status = 'waiting' OR (to_email IS NOT NULL AND subject IS NOT NULL
                                  AND text_body IS NOT NULL AND html_body IS NOT NULL))
);
CREATE INDEX mail_log_due ON mail_log (next_attempt_at) WHERE status = 'queued';
CREATE INDEX mail_log_waiting_merchant ON mail_log (merchant_id) WHERE status = 'waiting';
CREATE INDEX mail_log_waiting_customer ON mail_log (merchant_id, customer_id)
    WHERE status = 'waiting';
CREATE INDEX mail_log_waiting_invoice ON mail_log (merchant_id, invoice_id)
    WHERE status = 'waiting';
CREATE INDEX mail_log_waiting_subscription ON mail_log (merchant_id, subscription_id)
    WHERE status = 'waiting';
"""

# Wakes the delivery loop when a mail becomes queued, inside the statement that queues it
# instead of in a round trip of its own. A notification is delivered at commit (not at all on
# rollback), and identical ones of a transaction are sent once. The function keeps the
# search_path it is created with (the service's schema), so the channel is the service's
# whoever writes the row.
QUEUED_TRIGGER_SQL = f"""
CREATE FUNCTION notify_mail_queued() RETURNS trigger
LANGUAGE plpgsql
SET search_path FROM CURRENT
AS $$
BEGIN
    PERFORM pg_notify({QUEUED_CHANNEL_SQL}, '');
    RETURN NULL;
END
$$;
CREATE TRIGGER mail_log_queued
    AFTER INSERT OR UPDATE OF status ON mail_log
    FOR EACH ROW WHEN (NEW.status = 'queued')
    EXECUTE FUNCTION notify_mail_queued();
"""

MIGRATIONS: Final = (
    Migration(COMPONENT, 1, PROJECTION_SQL),
    Migration(COMPONENT, 2, MAIL_LOG_SQL),
    Migration(COMPONENT, 3, QUEUED_TRIGGER_SQL),
)
