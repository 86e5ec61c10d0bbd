-- Operator overrides of job settings (`jobs set`, `jobs enable`, `jobs disable`), kept apart
-- from the inventory's values: `jobs sync` and `migrate` write the file's values, then these on
-- top, so an override survives a sync. `value` is the setting as the inventory spells it
-- (seconds for durations); for is_active = false, `reason` is the job's disabled_reason.
CREATE TABLE IF NOT EXISTS dw_etl_job_overrides (
    job_id INTEGER NOT NULL REFERENCES dw_etl_jobs(id) ON DELETE CASCADE,
    setting VARCHAR(50) NOT NULL CHECK (setting ~ '^[a-z_]+$'),
    value JSONB NOT NULL,
    set_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    reason TEXT,
    PRIMARY KEY (job_id, setting)
);

-- The settable settings as the inventory last wrote them ({"page_size": 1000, ...}): what
-- `jobs set --reset` restores, and how `jobs sync` tells an operator's UPDATE of a column
-- from a change of the file (a column that differs from it was edited: kept as an override).
-- NULL: the row predates this migration (any difference from the file is then kept).
ALTER TABLE dw_etl_jobs ADD COLUMN IF NOT EXISTS inventory_settings JSONB;
