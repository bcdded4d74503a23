-- Tollgate schema, PostgreSQL dialect. Times are timestamptz (microseconds);
-- money is bigint pico-USD (usage) or micro-USD (budgets).

CREATE TABLE tiers (
	name                  text        PRIMARY KEY,
	rpm                   bigint      NOT NULL DEFAULT 0 CHECK (rpm >= 0),
	rpd                   bigint      NOT NULL DEFAULT 0 CHECK (rpd >= 0),
	tpm                   bigint      NOT NULL DEFAULT 0 CHECK (tpm >= 0),
	tpd                   bigint      NOT NULL DEFAULT 0 CHECK (tpd >= 0),
	monthly_budget_micros bigint      NOT NULL DEFAULT 0 CHECK (monthly_budget_micros >= 0),
	models                text[]      NOT NULL DEFAULT '{}',
	created_at            timestamptz NOT NULL DEFAULT now(),
	updated_at            timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE customers (
	id          text        PRIMARY KEY,
	name        text        NOT NULL,
	tier        text        NOT NULL REFERENCES tiers (name) ON DELETE RESTRICT,
	external_id text        NOT NULL DEFAULT '',
	created_at  timestamptz NOT NULL,
	updated_at  timestamptz NOT NULL
);
-- An external id, when given, names one customer.
CREATE UNIQUE INDEX customers_external_id ON customers (external_id) WHERE external_id <> '';
CREATE INDEX customers_tier ON customers (tier);

CREATE TABLE keys (
	id          text        PRIMARY KEY,
	hash        bytea       NOT NULL UNIQUE CHECK (length(hash) = 32),
	prefix      text        NOT NULL,
	customer_id text        NOT NULL REFERENCES customers (id) ON DELETE RESTRICT,
	name        text        NOT NULL DEFAULT '',
	tier        text        REFERENCES tiers (name) ON DELETE RESTRICT,
	models      text[]      NOT NULL DEFAULT '{}',
	expires_at  timestamptz,
	revoked_at  timestamptz,
	created_at  timestamptz NOT NULL,
	updated_at  timestamptz NOT NULL
);
CREATE INDEX keys_updated_at ON keys (updated_at);
CREATE INDEX keys_customer_id ON keys (customer_id);
CREATE INDEX keys_tier ON keys (tier);

CREATE TABLE settings (
	name       text        PRIMARY KEY,
	value      text        NOT NULL,
	created_at timestamptz NOT NULL DEFAULT now()
);

-- The usage ledger: one row per metered request, written once. No foreign
-- keys: the ledger must accept every event, and it outlives what it names.
CREATE TABLE usage_events (
	request_id        text        PRIMARY KEY,
	key_id            text        NOT NULL,
	customer_id       text        NOT NULL,
	model             text        NOT NULL,
	provider          text        NOT NULL,
	upstream_model    text        NOT NULL,
	endpoint          text        NOT NULL,
	prompt_tokens     bigint      NOT NULL,
	completion_tokens bigint      NOT NULL,
	cached_tokens     bigint      NOT NULL,
	cost_picos        bigint      NOT NULL,
	priced            boolean     NOT NULL,
	estimated         boolean     NOT NULL,
	cache_hit         boolean     NOT NULL,
	stream            boolean     NOT NULL,
	status            integer     NOT NULL,
	latency_ms        bigint      NOT NULL,
	created_at        timestamptz NOT NULL
);
CREATE INDEX usage_events_created_at ON usage_events (created_at);

-- Exact hourly rollup of usage_events, maintained in the transaction that
-- inserts the events (only for rows actually inserted), so that grouped
-- queries read it instead of the ledger. hour is the UTC hour's start.
CREATE TABLE usage_hourly (
	hour              timestamptz NOT NULL,
	customer_id       text        NOT NULL,
	key_id            text        NOT NULL,
	model             text        NOT NULL,
	provider          text        NOT NULL,
	requests          bigint      NOT NULL,
	cached_requests   bigint      NOT NULL,
	unpriced_requests bigint      NOT NULL,
	prompt_tokens     bigint      NOT NULL,
	completion_tokens bigint      NOT NULL,
	cost_picos        bigint      NOT NULL,
	PRIMARY KEY (hour, customer_id, key_id, model, provider)
);
CREATE INDEX usage_hourly_customer_hour ON usage_hourly (customer_id, hour);
