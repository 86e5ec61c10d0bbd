-- The service: cron schedules, tick claims shared by replicas, replica leases, cancellation.

-- Five cron fields, or six with seconds first (croniter); NULL: not scheduled.
ALTER TABLE dw_etl_jobs ADD COLUMN IF NOT EXISTS schedule_cron VARCHAR(100);

-- One row per (job, due moment): a scheduled tick or a "run now". Inserting is idempotent
-- (any replica may insert a due tick); a replica claims a pending tick with
-- FOR UPDATE SKIP LOCKED, so each tick runs once. A tick whose claimer's lease expired goes
-- back to pending and is run again, continuing the dead run (resume).
CREATE TABLE IF NOT EXISTS dw_etl_ticks (
    tick_id BIGSERIAL PRIMARY KEY,
    job_id INTEGER NOT NULL REFERENCES dw_etl_jobs(id) ON DELETE CASCADE,
    due_at TIMESTAMPTZ NOT NULL,
    source VARCHAR(20) NOT NULL DEFAULT 'schedule' CHECK (source IN ('schedule', 'manual', 'resume')),
    status VARCHAR(20) NOT NULL DEFAULT 'pending'
        CHECK (status IN ('pending', 'running', 'success', 'failed', 'interrupted', 'skipped')),
    claimed_by TEXT,
    claimed_at TIMESTAMPTZ,
    run_id INTEGER,
    finished_at TIMESTAMPTZ,
    UNIQUE (job_id, due_at, source)
);
CREATE INDEX IF NOT EXISTS idx_dw_etl_ticks_pending ON dw_etl_ticks (due_at) WHERE status = 'pending';
CREATE INDEX IF NOT EXISTS idx_dw_etl_ticks_job ON dw_etl_ticks (job_id, due_at DESC);

-- Live `serve` processes. A replica renews its lease every heartbeat; one whose lease expired
-- is dead: its claimed ticks are released and its database sessions ended (which frees its
-- job locks), so a live replica continues its runs.
CREATE TABLE IF NOT EXISTS dw_etl_replicas (
    replica_id TEXT PRIMARY KEY,
    host TEXT NOT NULL,
    pid INTEGER NOT NULL,
    started_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    heartbeat_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    lease_until TIMESTAMPTZ NOT NULL,
    stopping BOOLEAN NOT NULL DEFAULT false
);

-- POST /api/runs/{id}/cancel sets this; the replica running the run stops it (interrupted).
ALTER TABLE dw_etl_runs ADD COLUMN IF NOT EXISTS cancel_requested_at TIMESTAMPTZ;
