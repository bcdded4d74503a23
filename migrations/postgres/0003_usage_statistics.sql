-- Group-count statistics for the planner: without them it guesses far too
-- many groups for "by day/month, customer, model" and sorts millions of
-- rollup rows on disk instead of hashing them (2x slower at 10M events).
-- The expressions are the ones store/postgres groups by.
CREATE STATISTICS usage_hourly_groups (ndistinct) ON
	(date_trunc('day', hour AT TIME ZONE 'UTC')), (date_trunc('month', hour AT TIME ZONE 'UTC')),
	customer_id, key_id, model, provider
FROM usage_hourly;
