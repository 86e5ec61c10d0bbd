-- Request economy: each fan-out parent's revisit state, and each job's refresh bounds.

-- A fan-out unit is one parent tuple. parent_version: the parent rows' latest updated_at when
-- the unit was last fetched (a later one means the parent changed since); refresh_seconds:
-- its revisit interval (doubles while its children stay unchanged, back to the job's
-- min_refresh after a change, never above max_refresh); due_at: when it is next revisited.
ALTER TABLE dw_etl_unit_state ADD COLUMN IF NOT EXISTS parent_version TIMESTAMP;
ALTER TABLE dw_etl_unit_state ADD COLUMN IF NOT EXISTS refresh_seconds INTEGER;
ALTER TABLE dw_etl_unit_state ADD COLUMN IF NOT EXISTS due_at TIMESTAMPTZ;
ALTER TABLE dw_etl_unit_state ADD COLUMN IF NOT EXISTS changed_in_pass BOOLEAN NOT NULL DEFAULT false;
ALTER TABLE dw_etl_unit_state ADD COLUMN IF NOT EXISTS last_changed_at TIMESTAMPTZ;

ALTER TABLE dw_etl_jobs ADD COLUMN IF NOT EXISTS min_refresh_seconds INTEGER NOT NULL DEFAULT 86400
    CHECK (min_refresh_seconds > 0);
ALTER TABLE dw_etl_jobs ADD COLUMN IF NOT EXISTS max_refresh_seconds INTEGER NOT NULL DEFAULT 2419200
    CHECK (max_refresh_seconds > 0);
