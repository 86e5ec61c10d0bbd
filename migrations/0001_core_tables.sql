-- Core configuration and run-log tables. Column names follow the design document
-- (02_ETL_Jobs_and_Staging_Tables.md) so that operators' queries keep working; the
-- columns after the doc's own are what the asyncio loader needs.

CREATE TABLE IF NOT EXISTS dw_api_credentials (
    id SERIAL PRIMARY KEY,
    name VARCHAR(255) NOT NULL UNIQUE,
    base_url TEXT NOT NULL,
    api_key TEXT,
    is_active BOOLEAN NOT NULL DEFAULT true,
    created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP,
    updated_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP,
    -- The swagger and the production client send the key in "CCAPIKey"; the design doc says
    -- "X-ApiKey". Configurable per instance.
    auth_header VARCHAR(100) NOT NULL DEFAULT 'CCAPIKey'
        CHECK (auth_header ~ '^[A-Za-z0-9-]+$'),
    -- Name of an environment variable holding the key, read at run time instead of api_key.
    api_key_env VARCHAR(255) CHECK (api_key_env ~ '^[A-Za-z_][A-Za-z0-9_]*$'),
    -- Requests per second for every job of this instance together (API reference: 10);
    -- NULL = no limit (for a private simulator).
    rate_limit_per_second NUMERIC(8, 2) DEFAULT 10 CHECK (rate_limit_per_second > 0)
);

CREATE TABLE IF NOT EXISTS dw_etl_jobs (
    id SERIAL PRIMARY KEY,
    name VARCHAR(255) NOT NULL,
    source_endpoint TEXT NOT NULL,
    target_table VARCHAR(255) NOT NULL,
    is_active BOOLEAN DEFAULT true,
    requires_parameters BOOLEAN DEFAULT false,
    parameter_name VARCHAR(100),
    parameter_source_table VARCHAR(255),
    parameter_source_column VARCHAR(255),
    parent_job_id INTEGER REFERENCES dw_etl_jobs(id),
    source_instance_id INTEGER REFERENCES dw_api_credentials(id),
    last_run_status VARCHAR(50),
    last_run_at TIMESTAMP,
    last_run_records INTEGER,
    created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP,
    updated_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP,
    -- [{"name": "studyId", "path": ["study", "id"]}, ...]: one entry per endpoint placeholder,
    -- a validated JSON path inside the source table's data. parameter_name and
    -- parameter_source_column above are kept filled for humans; the loader reads this.
    parameters JSONB NOT NULL DEFAULT '[]'::jsonb,
    -- "id" | dotted paths joined by "+" | "$" (the record itself) | "none"
    record_key VARCHAR(255) NOT NULL DEFAULT 'id',
    page_size INTEGER NOT NULL DEFAULT 1000 CHECK (page_size BETWEEN 1 AND 1000),
    paged BOOLEAN NOT NULL DEFAULT true,
    schedule_minutes INTEGER CHECK (schedule_minutes > 0),
    incremental_field VARCHAR(255),
    disabled_reason TEXT
);

CREATE TABLE IF NOT EXISTS dw_etl_runs (
    run_id SERIAL PRIMARY KEY,
    job_id INTEGER REFERENCES dw_etl_jobs(id),
    run_status VARCHAR(50),  -- 'running', 'success', 'failed', 'skipped'
    records_loaded INTEGER,
    started_at TIMESTAMP,
    completed_at TIMESTAMP,
    error_message TEXT,
    credential_id INTEGER REFERENCES dw_api_credentials(id),
    -- records_loaded = records_inserted + records_updated (rows written)
    records_inserted BIGINT NOT NULL DEFAULT 0,
    records_updated BIGINT NOT NULL DEFAULT 0,
    records_unchanged BIGINT NOT NULL DEFAULT 0,
    records_deleted BIGINT NOT NULL DEFAULT 0,
    records_fetched BIGINT NOT NULL DEFAULT 0,
    requests_made BIGINT NOT NULL DEFAULT 0,
    units_total BIGINT,
    units_done BIGINT NOT NULL DEFAULT 0,
    units_failed BIGINT NOT NULL DEFAULT 0,
    -- Parameter values whose endpoint answered 404 (the parent is gone upstream).
    units_missing BIGINT NOT NULL DEFAULT 0,
    -- Where a resumable run got to (e.g. the last parameter tuple fully loaded).
    checkpoint JSONB,
    -- Which process runs it, and when it last said so: tells a crashed run from a live one.
    worker VARCHAR(255),
    heartbeat_at TIMESTAMP
);

CREATE INDEX IF NOT EXISTS idx_dw_etl_runs_job_started ON dw_etl_runs (job_id, started_at DESC);
CREATE INDEX IF NOT EXISTS idx_dw_etl_runs_status ON dw_etl_runs (run_status);

-- One row per failed work unit of a run (a parameterized job keeps going past them).
CREATE TABLE IF NOT EXISTS dw_etl_run_failures (
    id BIGSERIAL PRIMARY KEY,
    run_id INTEGER NOT NULL REFERENCES dw_etl_runs(run_id) ON DELETE CASCADE,
    parameters JSONB NOT NULL,
    error_message TEXT NOT NULL,
    failed_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP
);

CREATE INDEX IF NOT EXISTS idx_dw_etl_run_failures_run ON dw_etl_run_failures (run_id);
