-- Exactness under faults: resumable passes, per-unit state, upstream deletions, honest counters.

-- How a job pages (auto | keyset | offset | link) and what a complete pass does with rows it
-- did not see (keep | mark | delete).
ALTER TABLE dw_etl_jobs ADD COLUMN IF NOT EXISTS paging VARCHAR(20) NOT NULL DEFAULT 'auto'
    CHECK (paging IN ('auto', 'keyset', 'offset', 'link'));
ALTER TABLE dw_etl_jobs ADD COLUMN IF NOT EXISTS deletes VARCHAR(10) NOT NULL DEFAULT 'mark'
    CHECK (deletes IN ('keep', 'mark', 'delete'));

-- A pass is one complete walk of a job; a run that continues a killed, interrupted or failed
-- run belongs to the same pass (pass_id = the pass's first run) and names the run it continues.
ALTER TABLE dw_etl_runs ADD COLUMN IF NOT EXISTS pass_id INTEGER;
ALTER TABLE dw_etl_runs ADD COLUMN IF NOT EXISTS continues_run_id INTEGER
    REFERENCES dw_etl_runs(run_id);
-- HTTP attempts that were retries (requests_made counts every attempt).
ALTER TABLE dw_etl_runs ADD COLUMN IF NOT EXISTS requests_retried BIGINT NOT NULL DEFAULT 0;
-- Records whose strings held NUL characters (jsonb refuses them): stored with U+FFFD instead.
ALTER TABLE dw_etl_runs ADD COLUMN IF NOT EXISTS records_sanitized BIGINT NOT NULL DEFAULT 0;
-- What the run met: paging strategy and fallbacks, record-key casing, warnings.
ALTER TABLE dw_etl_runs ADD COLUMN IF NOT EXISTS notes JSONB NOT NULL DEFAULT '{}'::jsonb;

CREATE INDEX IF NOT EXISTS idx_dw_etl_runs_job_run ON dw_etl_runs (job_id, run_id DESC);

-- One row per work unit of a job and instance: a parameter tuple of a fan-out job, or a key
-- range of a plain job. Written in the transaction of the batch that committed the unit's
-- rows, so after a crash it says exactly what is staged. A unit is done for a pass when
-- pass_id matches and status is 'done' (or 'missing': its parent is gone upstream).
CREATE TABLE IF NOT EXISTS dw_etl_unit_state (
    job_id INTEGER NOT NULL REFERENCES dw_etl_jobs(id) ON DELETE CASCADE,
    instance_id INTEGER NOT NULL,
    unit_key TEXT NOT NULL,
    pass_id INTEGER NOT NULL,
    run_id INTEGER NOT NULL,
    status VARCHAR(20) NOT NULL CHECK (status IN ('pending', 'partial', 'done', 'failed', 'missing')),
    parameters JSONB NOT NULL DEFAULT '{}'::jsonb,
    -- plain jobs: the unit's key range {"after": id | null, "upto": id | null}
    bounds JSONB,
    -- where a partial unit goes on: {"after": id} (keyset), {"skip": n} (offset), {"link": q}
    position JSONB,
    records BIGINT NOT NULL DEFAULT 0,
    fetched_at TIMESTAMP,
    updated_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
    PRIMARY KEY (job_id, instance_id, unit_key)
);

CREATE INDEX IF NOT EXISTS idx_dw_etl_unit_state_pass ON dw_etl_unit_state (job_id, pass_id);

-- Record keys seen by the current pass of a keyed plain job whose deletes policy is not
-- 'keep': after a complete pass, staged rows not among them are marked or deleted.
CREATE TABLE IF NOT EXISTS dw_etl_seen_keys (
    pass_id INTEGER NOT NULL,
    k TEXT NOT NULL
);
-- No index: rows are only appended (in each batch's merge) and read once, by a hash anti-join,
-- when the pass is settled.
