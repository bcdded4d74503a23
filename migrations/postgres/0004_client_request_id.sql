-- The X-Request-ID a client sent, kept beside the gateway's own request id.
-- request_id stays the ledger's idempotency key, and is always the
-- gateway's: a client that sends the same X-Request-ID twice (a trace id
-- propagated to several calls) must be billed twice, not deduplicated.
-- Empty when the client sent none (or an unusable one).
ALTER TABLE usage_events ADD COLUMN client_request_id text NOT NULL DEFAULT '';
