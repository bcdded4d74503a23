-- The X-Request-ID a client sent, kept beside the gateway's own request id
-- (see the postgres dialect). Empty when the client sent none.
ALTER TABLE usage_events ADD COLUMN client_request_id TEXT NOT NULL DEFAULT '';
