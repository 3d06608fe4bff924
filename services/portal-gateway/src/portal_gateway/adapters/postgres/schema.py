"""The gateway's tables, in its own schema.

Two kinds. The gateway owns ``merchants``, ``api_keys`` and ``idempotency_keys``: they are the
source of truth and survive a rebuild. Everything else is a projection of the billing events
(plans, customers, payment methods, subscriptions, invoices, each stream's history, command
outcomes): :mod:`portal_gateway.adapters.postgres.rebuild` may truncate them and replay.
"""

from __future__ import annotations

from billing_events.consumer import INBOX_MIGRATIONS
from billing_events.postgres import Migration
from billing_events.store import MIGRATIONS as EVENT_STORE_MIGRATIONS

COMPONENT = "portal_gateway"

OWNED_SQL = """
CREATE TABLE merchants (
    merchant_id text PRIMARY KEY,
    slug text NOT NULL UNIQUE,
    name text NOT NULL,
    logo_url text,
    brand_color text,
    support_email text,
    cancel_mode text NOT NULL DEFAULT 'at_period_end'
        CHECK (cancel_mode IN ('immediately', 'at_period_end')),
    created_at timestamptz NOT NULL DEFAULT now()
);

-- Only the SHA-256 digest of a key is kept; the key itself is shown once.
CREATE TABLE api_keys (
    key_digest bytea PRIMARY KEY,
    merchant_id text NOT NULL REFERENCES merchants (merchant_id),
    display_prefix text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    revoked_at timestamptz
);
CREATE INDEX api_keys_merchant ON api_keys (merchant_id);

CREATE TABLE idempotency_keys (
    merchant_id text NOT NULL,
    key text NOT NULL,
    fingerprint bytea NOT NULL,
    state text NOT NULL CHECK (state IN ('in_progress', 'completed')),
    created_at timestamptz NOT NULL,
    locked_at timestamptz NOT NULL,
    response_status integer,
    response_body bytea,
    response_content_type text,
    PRIMARY KEY (merchant_id, key)
);
CREATE INDEX idempotency_keys_created ON idempotency_keys (created_at);
"""

PROJECTIONS_SQL = """
CREATE TABLE plans (
    plan_id text PRIMARY KEY,
    merchant_id text NOT NULL,
    name text NOT NULL,
    description text NOT NULL DEFAULT '',
    image_url text,
    amount bigint NOT NULL,
    currency text NOT NULL,
    interval text NOT NULL,
    created_at timestamptz NOT NULL,
    version integer NOT NULL
);
CREATE INDEX plans_merchant ON plans (merchant_id);

CREATE TABLE customers (
    customer_id text PRIMARY KEY,
    merchant_id text NOT NULL,
    email text NOT NULL,
    name text NOT NULL,
    phone text,
    locale text NOT NULL DEFAULT 'en',
    billing_address jsonb,
    tax_id text,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL,
    version integer NOT NULL
);
CREATE INDEX customers_merchant_email ON customers (merchant_id, lower(email));

CREATE TABLE payment_methods (
    payment_method_id text NOT NULL,
    customer_id text NOT NULL,
    merchant_id text NOT NULL,
    brand text NOT NULL,
    last4 text NOT NULL,
    exp_month integer NOT NULL,
    exp_year integer NOT NULL,
    attached_at timestamptz NOT NULL,
    PRIMARY KEY (customer_id, payment_method_id)
);

CREATE TABLE subscriptions (
    subscription_id text PRIMARY KEY,
    merchant_id text NOT NULL,
    customer_id text NOT NULL,
    status text NOT NULL,
    plan_id text NOT NULL,
    plan_name text NOT NULL,
    plan_description text NOT NULL,
    plan_image_url text,
    amount bigint NOT NULL,
    currency text NOT NULL,
    interval text NOT NULL,
    scheduled_plan jsonb,
    scheduled_plan_at timestamptz,
    payment_method jsonb,
    current_period_start timestamptz,
    current_period_end timestamptz,
    next_renewal_at timestamptz,
    next_renewal_amount bigint,
    cancel_at timestamptz,
    canceled_at timestamptz,
    cancellation_reason text,
    cancellation_comment text,
    activation_failure_code text,
    activation_failure_message text,
    latest_invoice_id text,
    amount_due bigint,
    discount jsonb,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL,
    version integer NOT NULL
);
CREATE INDEX subscriptions_customer ON subscriptions (merchant_id, customer_id);

CREATE TABLE invoices (
    invoice_id text PRIMARY KEY,
    merchant_id text NOT NULL,
    customer_id text NOT NULL,
    subscription_id text,
    number text NOT NULL,
    reason text NOT NULL,
    status text NOT NULL,
    amount_due bigint NOT NULL,
    amount_paid bigint NOT NULL,
    currency text NOT NULL,
    plan_name text,
    issued_at timestamptz NOT NULL,
    period_start timestamptz,
    period_end timestamptz,
    paid_at timestamptz,
    failed_attempts integer NOT NULL DEFAULT 0,
    last_decline_code text,
    last_decline_message text,
    version integer NOT NULL
);
CREATE INDEX invoices_customer ON invoices (merchant_id, customer_id, issued_at DESC);

-- Every stored event of every stream the gateway consumes, for support and operators.
CREATE TABLE stream_events (
    stream_id text NOT NULL,
    stream_version integer NOT NULL,
    event_id uuid NOT NULL UNIQUE,
    merchant_id text NOT NULL,
    event_type text NOT NULL,
    schema_version integer NOT NULL,
    occurred_at timestamptz NOT NULL,
    correlation_id uuid NOT NULL,
    causation_id uuid,
    data jsonb NOT NULL,
    projected_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (stream_id, stream_version)
);

-- What became of each command: filled from the causation id of the events it caused.
CREATE TABLE command_outcomes (
    command_id uuid PRIMARY KEY,
    merchant_id text NOT NULL,
    stream_id text NOT NULL,
    accepted boolean NOT NULL,
    code text,
    message text,
    event_types text[] NOT NULL DEFAULT '{}',
    recorded_at timestamptz NOT NULL DEFAULT now()
);

-- Which generation of the projections is current; a rebuild starts the next one with a new
-- consumer group, which replays the topics from the beginning.
CREATE TABLE projection_state (
    name text PRIMARY KEY,
    generation integer NOT NULL,
    rebuilt_at timestamptz
);
INSERT INTO projection_state (name, generation) VALUES ('gateway', 1);
"""

# Each merchant's test clock (billing.clocks.events): the time its subscriptions live in,
# once a clock was set; no row means wall-clock time.
TEST_CLOCKS_SQL = """
CREATE TABLE test_clocks (
    merchant_id text PRIMARY KEY,
    frozen_time timestamptz NOT NULL,
    advanced_at timestamptz NOT NULL,
    version integer NOT NULL
);

CREATE INDEX invoices_subscription ON invoices (merchant_id, subscription_id, issued_at DESC);

-- Clock events projected before this table existed are in the history: start from them.
INSERT INTO test_clocks (merchant_id, frozen_time, advanced_at, version)
SELECT DISTINCT ON (merchant_id)
    merchant_id, (data->>'frozen_time')::timestamptz, occurred_at, stream_version
FROM stream_events
WHERE event_type = 'TestClockAdvanced' AND stream_id = 'clock-' || merchant_id
ORDER BY merchant_id, stream_version DESC
ON CONFLICT (merchant_id) DO NOTHING;
"""

GATEWAY_MIGRATIONS: tuple[Migration, ...] = (
    Migration(COMPONENT, 1, OWNED_SQL),
    Migration(COMPONENT, 2, PROJECTIONS_SQL),
    Migration(COMPONENT, 3, TEST_CLOCKS_SQL),
)

# Everything the gateway's schema needs: its tables, the outbox (commands and
# MerchantRegistered are published through it) and the projection consumer's inbox.
MIGRATIONS: tuple[Migration, ...] = (
    *GATEWAY_MIGRATIONS,
    *EVENT_STORE_MIGRATIONS,
    *INBOX_MIGRATIONS,
)

# Truncated by a rebuild; the owned tables are not.
PROJECTION_TABLES: tuple[str, ...] = (
    "plans",
    "customers",
    "payment_methods",
    "subscriptions",
    "invoices",
    "stream_events",
    "command_outcomes",
    "test_clocks",
)
