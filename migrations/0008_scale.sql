-- Production scale: per-run work lists, and what the statements that grow with the data need.

-- A fan-out run's selected parents live in an unlogged table of this schema for the run's life
-- (trialsync_work.parents_<run_id>): one set-based selection, then pages by number.
CREATE SCHEMA IF NOT EXISTS trialsync_work;

-- The resume chain walks runs forward through continues_run_id.
CREATE INDEX IF NOT EXISTS idx_dw_etl_runs_continues ON dw_etl_runs (continues_run_id)
    WHERE continues_run_id IS NOT NULL;
-- `failures` finds each failed unit's error by run and parameters.
CREATE INDEX IF NOT EXISTS idx_dw_etl_unit_state_failed ON dw_etl_unit_state (updated_at DESC)
    WHERE status = 'failed';
-- A unit is found by its primary key (job, instance, unit): an index on (job, pass) beside it
-- only gave a planner with stale statistics a way to reach a batch's units by scanning every
-- unit of the job. The queries by pass (plain jobs: a few key ranges) use the primary key.
DROP INDEX IF EXISTS idx_dw_etl_unit_state_pass;

-- Every job a job runs after (jobgraph.py: the loaders of its parameter source table and an
-- explicit parent), written by `jobs sync`: the service's tick claims wait for all of them,
-- as --all does (job 166 after both 9 and 160).
ALTER TABLE dw_etl_jobs ADD COLUMN IF NOT EXISTS depends_on INTEGER[] NOT NULL DEFAULT '{}';
