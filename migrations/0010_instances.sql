-- Several API instances, one inventory (issue 22): which instances a job runs for.
--
-- dw_etl_jobs.source_instance_id stays what the seed (the inventory) configured: the job's
-- own instance, which always runs it. instance_scope says whether the job also runs for
-- every other active instance of dw_api_credentials ('all', the default) or only for its own
-- ('own'). A run is one (job, instance): dw_etl_runs.credential_id names the instance, and
-- the unit state, passes, deletions and the job lock are all per (job, instance).
ALTER TABLE dw_etl_jobs ADD COLUMN IF NOT EXISTS instance_scope TEXT NOT NULL DEFAULT 'all';
DO $$ BEGIN
    ALTER TABLE dw_etl_jobs ADD CONSTRAINT dw_etl_jobs_instance_scope_check
        CHECK (instance_scope IN ('all', 'own'));
EXCEPTION WHEN duplicate_object THEN NULL;
END $$;

-- `runs --instance N`, and a (job, instance)'s latest runs.
CREATE INDEX IF NOT EXISTS idx_dw_etl_runs_job_credential ON dw_etl_runs (job_id, credential_id, run_id);
