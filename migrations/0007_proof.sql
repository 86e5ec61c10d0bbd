-- Proof before every delete and skip: what the API claimed for each walk, what staging holds
-- for each fan-out parent, and how much a pass may delete.

-- A done unit's evidence: the records the API claimed for its walk (the smaller of its first
-- and last count; NULL when no answer carried one) and those the walk could not prove it
-- received (count shortfall plus ids repeated inside one answer). A pass with any shortfall
-- settles no deletions.
ALTER TABLE dw_etl_unit_state ADD COLUMN IF NOT EXISTS reported BIGINT;
ALTER TABLE dw_etl_unit_state ADD COLUMN IF NOT EXISTS shortfall BIGINT NOT NULL DEFAULT 0;
-- Fan-outs: live rows of the unit's scope in the job's staging table right after its last
-- fetch. Fewer now means rows vanished (a TRUNCATE, a restore, a DELETE): the parent is not
-- fresh however recent its fetch, it is refetched as 'lost'.
ALTER TABLE dw_etl_unit_state ADD COLUMN IF NOT EXISTS staged_rows BIGINT;
ALTER TABLE dw_etl_unit_state ADD COLUMN IF NOT EXISTS lost BOOLEAN NOT NULL DEFAULT false;

-- Records that repeated an id inside one API answer (the last of each is kept).
ALTER TABLE dw_etl_runs ADD COLUMN IF NOT EXISTS duplicates_in_source BIGINT NOT NULL DEFAULT 0;
-- A continued pass keeps its mode: the runs of a pass are found by pass_id.
CREATE INDEX IF NOT EXISTS idx_dw_etl_runs_pass ON dw_etl_runs (pass_id);

-- The mass-deletion guard: the share of a job's live rows (per instance) one pass may mark or
-- delete before it stops and asks for confirmation (`--allow-deletes`).
ALTER TABLE dw_etl_jobs ADD COLUMN IF NOT EXISTS max_delete_share NUMERIC NOT NULL DEFAULT 0.10
    CHECK (max_delete_share >= 0 AND max_delete_share <= 1);
