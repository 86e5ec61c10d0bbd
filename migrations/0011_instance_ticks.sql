-- The service's ticks per (job, instance) (issue 22): a job that runs for several API
-- instances has a schedule, a claim and a dependency chain per instance, so one instance's
-- failing parent skips that instance's dependents only, and each instance's run is claimed on
-- its own (by any replica, within --parallel-jobs).
ALTER TABLE dw_etl_ticks ADD COLUMN IF NOT EXISTS instance_id INTEGER;
UPDATE dw_etl_ticks t SET instance_id = COALESCE(j.source_instance_id, 1)
FROM dw_etl_jobs j WHERE j.id = t.job_id AND t.instance_id IS NULL;
UPDATE dw_etl_ticks SET instance_id = 1 WHERE instance_id IS NULL;
ALTER TABLE dw_etl_ticks ALTER COLUMN instance_id SET NOT NULL;
DO $$ BEGIN
    ALTER TABLE dw_etl_ticks ADD CONSTRAINT dw_etl_ticks_instance_fkey
        FOREIGN KEY (instance_id) REFERENCES dw_api_credentials(id) ON DELETE CASCADE;
EXCEPTION WHEN duplicate_object THEN NULL;
END $$;
ALTER TABLE dw_etl_ticks DROP CONSTRAINT IF EXISTS dw_etl_ticks_job_id_due_at_source_key;
CREATE UNIQUE INDEX IF NOT EXISTS dw_etl_ticks_job_instance_due_source
    ON dw_etl_ticks (job_id, instance_id, due_at, source);
DROP INDEX IF EXISTS idx_dw_etl_ticks_job;
CREATE INDEX IF NOT EXISTS idx_dw_etl_ticks_job_instance
    ON dw_etl_ticks (job_id, instance_id, due_at DESC);
