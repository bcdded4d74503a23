-- PostgreSQL only: planner statistics for usage_hourly (see the postgres
-- dialect). SQLite needs nothing here; the version exists so that both
-- dialects keep the same version numbers.
SELECT 1;
