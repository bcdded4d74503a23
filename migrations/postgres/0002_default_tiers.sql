-- The tiers every installation starts with (issue: default tiers on first
-- start). Limits of 0 mean unlimited; an empty model list allows every model.
INSERT INTO tiers (name, rpm, rpd, tpm, tpd, monthly_budget_micros, models) VALUES
	('free',       10,    100,   0, 100000,   0, '{}'),
	('pro',        600,   10000, 0, 10000000, 0, '{}'),
	('enterprise', 0,     0,     0, 0,        0, '{}')
ON CONFLICT (name) DO NOTHING;
