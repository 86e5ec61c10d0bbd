-- Request economy, part two: parent-row changes in a pass, global lists and their probes.

-- parent_changed_in_pass: this pass fetched the unit because its parent row changed (its
-- next interval is then short even when the children were unchanged: see unit_state_revisit).
ALTER TABLE dw_etl_unit_state ADD COLUMN IF NOT EXISTS parent_changed_in_pass BOOLEAN NOT NULL DEFAULT false;

-- A fan-out job may name a global list beside its per-parent one (one paged walk instead of
-- one call per parent); fanout says which one its runs use.
ALTER TABLE dw_etl_jobs ADD COLUMN IF NOT EXISTS global_endpoint VARCHAR(500);
ALTER TABLE dw_etl_jobs ADD COLUMN IF NOT EXISTS global_parameter VARCHAR(100);
ALTER TABLE dw_etl_jobs ADD COLUMN IF NOT EXISTS fanout VARCHAR(10) NOT NULL DEFAULT 'parent'
    CHECK (fanout IN ('parent', 'global'));

-- `jobs probe N`: did the global list return the same records as the per-parent calls for a
-- sample of parents? Only a passed probe lets a job switch to its global list.
CREATE TABLE IF NOT EXISTS dw_etl_fanout_probes (
    id SERIAL PRIMARY KEY,
    job_id INTEGER NOT NULL REFERENCES dw_etl_jobs(id) ON DELETE CASCADE,
    instance_id INTEGER NOT NULL,
    probed_at TIMESTAMPTZ NOT NULL DEFAULT CURRENT_TIMESTAMP,
    passed BOOLEAN NOT NULL,
    parents_sampled INTEGER NOT NULL,
    details JSONB NOT NULL DEFAULT '{}'::jsonb
);
CREATE INDEX IF NOT EXISTS dw_etl_fanout_probes_job ON dw_etl_fanout_probes (job_id, instance_id, probed_at DESC);
