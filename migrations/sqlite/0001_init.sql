-- Tollgate schema, SQLite dialect. STRICT tables, so that a value of the
-- wrong type (say an integer sum that overflowed into a REAL) is an error.
-- Times are INTEGER microseconds since the Unix epoch, UTC; booleans are
-- INTEGER 0/1; money is INTEGER pico-USD (usage) or micro-USD (budgets);
-- model lists are JSON arrays of strings.

CREATE TABLE tiers (
	name                  TEXT    PRIMARY KEY,
	rpm                   INTEGER NOT NULL DEFAULT 0 CHECK (rpm >= 0),
	rpd                   INTEGER NOT NULL DEFAULT 0 CHECK (rpd >= 0),
	tpm                   INTEGER NOT NULL DEFAULT 0 CHECK (tpm >= 0),
	tpd                   INTEGER NOT NULL DEFAULT 0 CHECK (tpd >= 0),
	monthly_budget_micros INTEGER NOT NULL DEFAULT 0 CHECK (monthly_budget_micros >= 0),
	models                TEXT    NOT NULL DEFAULT '[]',
	created_at            INTEGER NOT NULL,
	updated_at            INTEGER NOT NULL
) STRICT;

CREATE TABLE customers (
	id          TEXT    PRIMARY KEY,
	name        TEXT    NOT NULL,
	tier        TEXT    NOT NULL REFERENCES tiers (name),
	external_id TEXT    NOT NULL DEFAULT '',
	created_at  INTEGER NOT NULL,
	updated_at  INTEGER NOT NULL
) STRICT;
-- An external id, when given, names one customer.
CREATE UNIQUE INDEX customers_external_id ON customers (external_id) WHERE external_id <> '';
CREATE INDEX customers_tier ON customers (tier);

CREATE TABLE keys (
	id          TEXT    PRIMARY KEY,
	hash        BLOB    NOT NULL UNIQUE CHECK (length(hash) = 32),
	prefix      TEXT    NOT NULL,
	customer_id TEXT    NOT NULL REFERENCES customers (id),
	name        TEXT    NOT NULL DEFAULT '',
	tier        TEXT    REFERENCES tiers (name),
	models      TEXT    NOT NULL DEFAULT '[]',
	expires_at  INTEGER,
	revoked_at  INTEGER,
	created_at  INTEGER NOT NULL,
	updated_at  INTEGER NOT NULL
) STRICT;
CREATE INDEX keys_updated_at ON keys (updated_at);
CREATE INDEX keys_customer_id ON keys (customer_id);
CREATE INDEX keys_tier ON keys (tier);

CREATE TABLE settings (
	name       TEXT    PRIMARY KEY,
	value      TEXT    NOT NULL,
	created_at INTEGER NOT NULL
) STRICT;

-- The usage ledger: one row per metered request, written once. No foreign
-- keys: the ledger must accept every event, and it outlives what it names.
CREATE TABLE usage_events (
	request_id        TEXT    PRIMARY KEY,
	key_id            TEXT    NOT NULL,
	customer_id       TEXT    NOT NULL,
	model             TEXT    NOT NULL,
	provider          TEXT    NOT NULL,
	upstream_model    TEXT    NOT NULL,
	endpoint          TEXT    NOT NULL,
	prompt_tokens     INTEGER NOT NULL,
	completion_tokens INTEGER NOT NULL,
	cached_tokens     INTEGER NOT NULL,
	cost_picos        INTEGER NOT NULL,
	priced            INTEGER NOT NULL,
	estimated         INTEGER NOT NULL,
	cache_hit         INTEGER NOT NULL,
	stream            INTEGER NOT NULL,
	status            INTEGER NOT NULL,
	latency_ms        INTEGER NOT NULL,
	created_at        INTEGER NOT NULL
) STRICT;
CREATE INDEX usage_events_created_at ON usage_events (created_at);

-- Exact hourly rollup of usage_events, maintained in the transaction that
-- inserts the events (only for rows actually inserted), so that grouped
-- queries read it instead of the ledger. hour is the UTC hour's start, in
-- microseconds since the epoch.
CREATE TABLE usage_hourly (
	hour              INTEGER NOT NULL,
	customer_id       TEXT    NOT NULL,
	key_id            TEXT    NOT NULL,
	model             TEXT    NOT NULL,
	provider          TEXT    NOT NULL,
	requests          INTEGER NOT NULL,
	cached_requests   INTEGER NOT NULL,
	unpriced_requests INTEGER NOT NULL,
	prompt_tokens     INTEGER NOT NULL,
	completion_tokens INTEGER NOT NULL,
	cost_picos        INTEGER NOT NULL,
	PRIMARY KEY (hour, customer_id, key_id, model, provider)
) STRICT, WITHOUT ROWID;
CREATE INDEX usage_hourly_customer_hour ON usage_hourly (customer_id, hour);
