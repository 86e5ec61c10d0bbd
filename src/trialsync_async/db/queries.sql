-- Every SQL statement of trialsync-async, loaded by name (see queries.py).
-- Statements with {braces} are templates for staging tables: only validated, quoted
-- identifiers and expressions built from validated JSON paths are put into them.

-- name: schema_version_create
CREATE TABLE IF NOT EXISTS trialsync_schema_migrations (
    version VARCHAR(255) PRIMARY KEY,
    checksum VARCHAR(64) NOT NULL,
    applied_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP
)

-- name: schema_versions
SELECT version, checksum FROM trialsync_schema_migrations ORDER BY version

-- name: schema_versions_table_exists
-- Whether `migrate` ever ran here (the opening check of every command but migrate).
SELECT to_regclass('trialsync_schema_migrations') IS NOT NULL

-- name: schema_version_insert
INSERT INTO trialsync_schema_migrations (version, checksum) VALUES ($1, $2)

-- name: session_no_statement_timeout
-- migrate: creating an index over a large table may take longer than a loader statement may.
SET statement_timeout = 0

-- name: advisory_lock
SELECT pg_advisory_lock($1)

-- name: advisory_unlock
SELECT pg_advisory_unlock($1)

-- name: instance_default
-- Instance 1 exists from the first migrate on; it has no key until an operator sets one.
-- $2, $3: the API's auth header and recommended rate (facts.py).
INSERT INTO dw_api_credentials (id, name, base_url, auth_header, rate_limit_per_second)
VALUES (1, 'default', $1, $2, $3)
ON CONFLICT (id) DO NOTHING

-- name: instance_sequence_sync
SELECT setval(pg_get_serial_sequence('dw_api_credentials', 'id'),
              GREATEST((SELECT max(id) FROM dw_api_credentials), 1))

-- name: instance_ids_existing
SELECT id FROM dw_api_credentials WHERE id = ANY($1::int[])

-- name: instance_list
SELECT id, name, base_url, auth_header, rate_limit_per_second, is_active,
       api_key IS NOT NULL AS has_key, api_key_env, created_at, updated_at
FROM dw_api_credentials ORDER BY id

-- name: instance_get
SELECT id, name, base_url, api_key, api_key_env, auth_header, rate_limit_per_second, is_active
FROM dw_api_credentials WHERE id = $1

-- name: instance_base_url
SELECT base_url FROM dw_api_credentials WHERE id = $1::int

-- name: instance_configured
-- Whether instance $1 names a key or a key variable (NULL: no such instance; false: the key-less
-- row `migrate` creates). FOR UPDATE: of init steps starting together, one applies its settings
-- and the others, waiting on the row, then see it configured.
SELECT api_key IS NOT NULL OR api_key_env IS NOT NULL
FROM dw_api_credentials WHERE id = $1::int FOR UPDATE

-- name: instance_update
-- NULL arguments keep the stored value. A stored key ($4) and a key variable ($5) are
-- alternatives: setting one clears the other, $9 clears both. $10: the base URL moves from this
-- machine to another host, so an instance without a rate limit (the demo's) gets the API's
-- recommended one ($11) unless $7 says otherwise.
UPDATE dw_api_credentials AS c SET
    name = COALESCE($2::text, c.name),
    base_url = COALESCE($3::text, c.base_url),
    api_key = CASE WHEN $9::bool THEN NULL WHEN $4::text IS NOT NULL THEN $4::text
                   WHEN $5::text IS NOT NULL THEN NULL ELSE c.api_key END,
    api_key_env = CASE WHEN $9::bool THEN NULL WHEN $5::text IS NOT NULL THEN $5::text
                       WHEN $4::text IS NOT NULL THEN NULL ELSE c.api_key_env END,
    auth_header = COALESCE($6::text, c.auth_header),
    rate_limit_per_second = CASE WHEN $7::numeric = 0 THEN NULL
                                 WHEN $7::numeric IS NOT NULL THEN $7::numeric
                                 WHEN $10::bool AND c.rate_limit_per_second IS NULL THEN $11::numeric
                                 ELSE c.rate_limit_per_second END,
    is_active = COALESCE($8::bool, c.is_active),
    updated_at = CURRENT_TIMESTAMP
WHERE id = $1::int
RETURNING id

-- name: instance_insert
-- $9, $10: the API's auth header and recommended rate (facts.py), for unset fields.
INSERT INTO dw_api_credentials
    (id, name, base_url, api_key, api_key_env, auth_header, rate_limit_per_second, is_active)
VALUES ($1::int, COALESCE($2::text, 'instance ' || $1::int), $3::text,
        $4::text, $5::text, COALESCE($6::text, $9::text), NULLIF(COALESCE($7::numeric, $10), 0),
        COALESCE($8::bool, true))
RETURNING id

-- name: job_upsert
-- The inventory owns the configuration columns; the run columns stay as they are.
INSERT INTO dw_etl_jobs AS j (
    id, name, source_endpoint, target_table, is_active, requires_parameters,
    parameter_name, parameter_source_table, parameter_source_column, source_instance_id,
    parameters, record_key, page_size, paged, schedule_minutes, incremental_field,
    disabled_reason, paging, deletes, schedule_cron, min_refresh_seconds, max_refresh_seconds,
    global_endpoint, global_parameter, fanout, max_delete_share, instance_scope)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19,
        $20, $21, $22, $23, $24, $25, $26, $27)
ON CONFLICT (id) DO UPDATE SET
    name = EXCLUDED.name,
    source_endpoint = EXCLUDED.source_endpoint,
    target_table = EXCLUDED.target_table,
    is_active = EXCLUDED.is_active,
    requires_parameters = EXCLUDED.requires_parameters,
    parameter_name = EXCLUDED.parameter_name,
    parameter_source_table = EXCLUDED.parameter_source_table,
    parameter_source_column = EXCLUDED.parameter_source_column,
    source_instance_id = EXCLUDED.source_instance_id,
    parameters = EXCLUDED.parameters,
    record_key = EXCLUDED.record_key,
    page_size = EXCLUDED.page_size,
    paged = EXCLUDED.paged,
    schedule_minutes = EXCLUDED.schedule_minutes,
    incremental_field = EXCLUDED.incremental_field,
    disabled_reason = EXCLUDED.disabled_reason,
    paging = EXCLUDED.paging,
    deletes = EXCLUDED.deletes,
    schedule_cron = EXCLUDED.schedule_cron,
    min_refresh_seconds = EXCLUDED.min_refresh_seconds,
    max_refresh_seconds = EXCLUDED.max_refresh_seconds,
    global_endpoint = EXCLUDED.global_endpoint,
    global_parameter = EXCLUDED.global_parameter,
    fanout = EXCLUDED.fanout,
    max_delete_share = EXCLUDED.max_delete_share,
    instance_scope = EXCLUDED.instance_scope,
    updated_at = CURRENT_TIMESTAMP
WHERE (j.name, j.source_endpoint, j.target_table, j.is_active, j.parameter_source_table,
       j.source_instance_id, j.parameters, j.record_key, j.page_size, j.paged,
       j.schedule_minutes, j.incremental_field, j.disabled_reason, j.paging, j.deletes,
       j.schedule_cron, j.min_refresh_seconds, j.max_refresh_seconds, j.global_endpoint,
       j.global_parameter, j.fanout, j.max_delete_share, j.instance_scope)
  IS DISTINCT FROM
      (EXCLUDED.name, EXCLUDED.source_endpoint, EXCLUDED.target_table, EXCLUDED.is_active,
       EXCLUDED.parameter_source_table, EXCLUDED.source_instance_id, EXCLUDED.parameters,
       EXCLUDED.record_key, EXCLUDED.page_size, EXCLUDED.paged, EXCLUDED.schedule_minutes,
       EXCLUDED.incremental_field, EXCLUDED.disabled_reason, EXCLUDED.paging,
       EXCLUDED.deletes, EXCLUDED.schedule_cron, EXCLUDED.min_refresh_seconds,
       EXCLUDED.max_refresh_seconds, EXCLUDED.global_endpoint, EXCLUDED.global_parameter,
       EXCLUDED.fanout, EXCLUDED.max_delete_share, EXCLUDED.instance_scope)

-- name: job_set_parent
-- The design document's one parent, and every job this one runs after (jobgraph.py).
UPDATE dw_etl_jobs SET parent_job_id = $2, depends_on = $3::int[]
WHERE id = $1 AND (parent_job_id, depends_on) IS DISTINCT FROM ($2, $3::int[])

-- name: job_sequence_sync
SELECT setval(pg_get_serial_sequence('dw_etl_jobs', 'id'),
              GREATEST((SELECT max(id) FROM dw_etl_jobs), 1))

-- name: job_list
SELECT id, name, source_endpoint, target_table, is_active, requires_parameters,
       parameter_name, parameter_source_table, parameter_source_column, parent_job_id,
       source_instance_id, last_run_status, last_run_at, last_run_records,
       parameters, record_key, page_size, paged, schedule_minutes, incremental_field,
       disabled_reason, paging, deletes, schedule_cron, min_refresh_seconds, max_refresh_seconds,
       global_endpoint, global_parameter, fanout, max_delete_share, instance_scope
FROM dw_etl_jobs ORDER BY id

-- name: job_get
SELECT id, name, source_endpoint, target_table, is_active, requires_parameters,
       parameter_name, parameter_source_table, parameter_source_column, parent_job_id,
       source_instance_id, last_run_status, last_run_at, last_run_records,
       parameters, record_key, page_size, paged, schedule_minutes, incremental_field,
       disabled_reason, paging, deletes, schedule_cron, min_refresh_seconds, max_refresh_seconds,
       global_endpoint, global_parameter, fanout, max_delete_share, instance_scope
FROM dw_etl_jobs WHERE id = $1

-- name: staging_table_create
CREATE TABLE IF NOT EXISTS {table} (
    id SERIAL PRIMARY KEY,
    data JSONB NOT NULL,
    source_id VARCHAR(255),
    source_instance_id INTEGER,
    etl_job_id INTEGER,
    etl_run_id INTEGER,
    loaded_at TIMESTAMP DEFAULT NOW(),
    created_at TIMESTAMP DEFAULT NOW(),
    updated_at TIMESTAMP DEFAULT NOW(),
    record_key TEXT,
    scope_key TEXT,
    deleted_at TIMESTAMP
)

-- name: staging_table_add_key_columns
-- Tables made by the earlier loader lack the two key columns of keyless/composite jobs, and
-- deleted_at (set when a complete pass no longer finds the record upstream; deletes = mark).
ALTER TABLE {table} ADD COLUMN IF NOT EXISTS record_key TEXT,
                    ADD COLUMN IF NOT EXISTS scope_key TEXT,
                    ADD COLUMN IF NOT EXISTS deleted_at TIMESTAMP

-- name: staging_index_instance_entity
CREATE UNIQUE INDEX IF NOT EXISTS {index} ON {table} (source_instance_id, (data->>'id'))

-- name: staging_index_record_key
CREATE UNIQUE INDEX IF NOT EXISTS {index} ON {table} (source_instance_id, record_key)
    WHERE record_key IS NOT NULL

-- name: staging_index_scope
CREATE INDEX IF NOT EXISTS {index} ON {table} (source_instance_id, etl_job_id, scope_key)
    WHERE scope_key IS NOT NULL

-- name: staging_index_source_id
CREATE INDEX IF NOT EXISTS {index} ON {table} (source_id)

-- name: staging_index_data_gin
CREATE INDEX IF NOT EXISTS {index} ON {table} USING gin (data)

-- name: batch_temp_create
-- One per connection; emptied by every commit, so a failed batch leaves nothing behind. The
-- writer puts each key in once (the last record wins), so the merges need no DISTINCT; ``data``
-- is parsed into jsonb once, by the COPY. ``k``: the record key (id jobs: the id, as
-- data->>'id' gives it, for the pass's seen keys).
CREATE TEMP TABLE IF NOT EXISTS trialsync_batch_v2 (
    data JSONB NOT NULL,
    k TEXT,
    scope TEXT
) ON COMMIT DELETE ROWS

-- name: staging_merge_by_id
-- $1 source_id, $2 source_instance_id, $3 etl_job_id, $4 etl_run_id, $5 the pass whose seen
-- keys the batch's keys join (NULL: none). The batch holds each id once (the writer saw to it:
-- the same key twice in one INSERT … ON CONFLICT is an error). Unchanged rows are not
-- rewritten; a row marked deleted that comes back is revived.
WITH merged AS (
    INSERT INTO {table} AS s
        (data, record_key, scope_key, source_id, source_instance_id, etl_job_id, etl_run_id)
    SELECT data, NULL, scope, $1, $2, $3, $4 FROM trialsync_batch_v2
    ON CONFLICT (source_instance_id, (data->>'id')) DO UPDATE SET
        data = EXCLUDED.data,
        scope_key = EXCLUDED.scope_key,
        source_id = EXCLUDED.source_id,
        etl_job_id = EXCLUDED.etl_job_id,
        etl_run_id = EXCLUDED.etl_run_id,
        loaded_at = NOW(),
        updated_at = NOW(),
        deleted_at = NULL
    WHERE s.data IS DISTINCT FROM EXCLUDED.data OR s.deleted_at IS NOT NULL
    RETURNING (xmax = 0) AS inserted, s.scope_key AS scope
), seen AS (
    INSERT INTO dw_etl_seen_keys (pass_id, k)
    SELECT $5::int, k FROM trialsync_batch_v2 WHERE $5::int IS NOT NULL
)
SELECT (SELECT count(*) FROM trialsync_batch_v2) AS distinct_rows,
       count(*) FILTER (WHERE inserted) AS inserted,
       count(*) FILTER (WHERE NOT inserted) AS updated,
       array_remove(array_agg(DISTINCT scope), NULL) AS changed_scopes
FROM merged

-- name: staging_merge_by_record_key
-- The same, keyed by the record_key the loader computed (composite, value and keyless keys).
WITH merged AS (
    INSERT INTO {table} AS s
        (data, record_key, scope_key, source_id, source_instance_id, etl_job_id, etl_run_id)
    SELECT data, k, scope, $1, $2, $3, $4 FROM trialsync_batch_v2
    ON CONFLICT (source_instance_id, record_key) WHERE record_key IS NOT NULL DO UPDATE SET
        data = EXCLUDED.data,
        scope_key = EXCLUDED.scope_key,
        source_id = EXCLUDED.source_id,
        etl_job_id = EXCLUDED.etl_job_id,
        etl_run_id = EXCLUDED.etl_run_id,
        loaded_at = NOW(),
        updated_at = NOW(),
        deleted_at = NULL
    WHERE s.data IS DISTINCT FROM EXCLUDED.data OR s.deleted_at IS NOT NULL
    RETURNING (xmax = 0) AS inserted, s.scope_key AS scope
), seen AS (
    INSERT INTO dw_etl_seen_keys (pass_id, k)
    SELECT $5::int, k FROM trialsync_batch_v2 WHERE $5::int IS NOT NULL
)
SELECT (SELECT count(*) FROM trialsync_batch_v2) AS distinct_rows,
       count(*) FILTER (WHERE inserted) AS inserted,
       count(*) FILTER (WHERE NOT inserted) AS updated,
       array_remove(array_agg(DISTINCT scope), NULL) AS changed_scopes
FROM merged

-- name: staging_delete_unseen
-- Keyless jobs: after a unit is complete, rows of its scope that it did not return are gone.
DELETE FROM {table}
WHERE source_instance_id = $1 AND etl_job_id = $2 AND scope_key = $3
  AND NOT (record_key = ANY($4::text[]))

-- name: planner_hash_joins
-- Inside the transaction of a statement that joins a run's work against a table that grows
-- with the data (db/planning.py): no nested loop, so every join is a hash or merge join, linear
-- whatever the statistics say (a table the run just filled has none yet).
SET LOCAL enable_nestloop = off

-- name: batch_session_settings
-- The run connection's, once: a GIN index on data takes new entries into its pending list
-- until this much, then sorts them in, in bulk (4 MB by default: many small flushes cost the
-- load a third of its time).
SET gin_pending_list_limit = '64MB'

-- name: planner_key_lookups
-- Inside a batch's transaction (db/planning.py): rows are reached through the index on their
-- key (a unit's primary key, a scope), never by scanning every row of the job, whatever the
-- statistics say about how many the job has.
SET LOCAL enable_seqscan = off; SET LOCAL enable_bitmapscan = off;
SET LOCAL enable_hashjoin = off; SET LOCAL enable_mergejoin = off

-- name: parameter_reason
-- Why a run fetches a parent tuple (a fragment of parameter_selection; p is the tuple with its
-- parent rows' latest updated_at as version, u its unit state; $3 the pass, $4 full, $5 now).
-- 'fresh': not fetched, its last fetch is recent enough, its parent unchanged and its rows
-- still staged ('lost': they vanished, see unit_state_mark_lost).
CASE
    WHEN u.status IS NULL THEN 'new'
    WHEN u.pass_id = $3 AND u.status IN ('done', 'missing') THEN 'finished'
    WHEN u.pass_id = $3 AND u.status = 'partial' THEN 'resume'
    WHEN u.status IN ('failed', 'partial', 'pending') THEN 'failed'
    WHEN $4::bool THEN 'full'
    WHEN u.parent_version IS DISTINCT FROM p.version THEN 'changed'
    WHEN u.lost THEN 'lost'
    WHEN u.due_at IS NULL OR u.due_at <= $5::timestamptz THEN 'due'
    ELSE 'fresh'
END

-- name: parameter_selection
-- Every distinct, non-null parent tuple of a fan-out ($1 instance, $2 job) with its unit's
-- state and the reason a run fetches it: one aggregate of the parent table and one hash join
-- with the unit state (a fragment of the two statements below).
SELECT p.*, u.position, {reason} AS reason FROM (
    SELECT {columns}, max(updated_at) AS version FROM {table}
    WHERE source_instance_id = $1 AND deleted_at IS NULL AND {not_null}
    GROUP BY {order}
) AS p
LEFT JOIN dw_etl_unit_state AS u
    ON u.job_id = $2 AND u.instance_id = $1 AND u.unit_key = {scope}

-- name: parameter_count
-- Parent tuples by reason ($1 instance, $2 job, $3 pass, $4 full, $5 now): what `plan` says.
SELECT reason, count(*) AS n FROM ({selection}) AS s GROUP BY reason

-- name: parameter_work_create
-- A run's work list: the parents it fetches, numbered in parameter order, read in pages by
-- seq (dropped when the run ends; an unlogged table, as nothing of it need survive a crash).
CREATE UNLOGGED TABLE {work} (
    seq BIGINT PRIMARY KEY,
    vals TEXT[] NOT NULL,
    version TIMESTAMP,
    position JSONB,
    reason TEXT NOT NULL
)

-- name: parameter_work_fill
-- The run's selection in one pass: the parents it fetches ($6: those reasons) into its work
-- list, and every parent counted by reason.
WITH s AS MATERIALIZED ({selection}), kept AS (
    INSERT INTO {work} (seq, vals, version, position, reason)
    SELECT row_number() OVER (ORDER BY {names}), ARRAY[{names}], version, position, reason
    FROM s WHERE reason = ANY($6::text[])
)
SELECT reason, count(*) AS n FROM s GROUP BY reason

-- name: parameter_work_page
SELECT seq, vals, version, position, reason FROM {work} WHERE seq > $1 ORDER BY seq LIMIT $2

-- name: parameter_work_drop
DROP TABLE IF EXISTS {work}

-- name: parameter_work_orphans
-- Work lists of runs that no longer run (their process died): dropped by the next run.
SELECT c.relname FROM pg_class AS c JOIN pg_namespace AS n ON n.oid = c.relnamespace
WHERE n.nspname = 'trialsync_work' AND c.relkind = 'r'
  AND NOT EXISTS (SELECT 1 FROM dw_etl_runs AS r
                  WHERE r.run_status = 'running' AND c.relname = 'parents_' || r.run_id)

-- name: parameter_exists
-- Whether a fan-out has any parent tuple ($1 instance): its upstream has loaded something.
SELECT EXISTS (SELECT 1 FROM {table} WHERE source_instance_id = $1 AND {not_null})

-- name: fanout_gone_units
-- Units of fan-out job $1 whose parent answered 404 (missing), and those whose parent left the
-- parent table (or is marked deleted there): their children are gone upstream too. An
-- anti-join on the unit key (a hash anti-join: see planner_hash_joins), never a subquery per
-- unit.
SELECT u.unit_key, u.status FROM dw_etl_unit_state AS u
WHERE u.job_id = $1 AND u.instance_id = $2 AND u.status = 'missing'
UNION ALL
SELECT u.unit_key, u.status FROM dw_etl_unit_state AS u
LEFT JOIN (
    SELECT DISTINCT {scope} AS unit_key FROM (
        SELECT {columns} FROM {table}
        WHERE source_instance_id = $2 AND deleted_at IS NULL AND {not_null}
    ) AS p
) AS live ON live.unit_key = u.unit_key
WHERE u.job_id = $1 AND u.instance_id = $2 AND u.status <> 'missing' AND live.unit_key IS NULL

-- name: fanout_parents_exist
SELECT EXISTS (SELECT 1 FROM {table} WHERE source_instance_id = $1 AND deleted_at IS NULL)

-- name: fanout_children_mark
-- deletes = mark: the children of gone parents ($3: their scopes) are marked deleted.
UPDATE {table} SET deleted_at = CURRENT_TIMESTAMP, updated_at = CURRENT_TIMESTAMP
WHERE source_instance_id = $1 AND etl_job_id = $2 AND scope_key = ANY($3::text[])
  AND deleted_at IS NULL

-- name: fanout_children_delete
DELETE FROM {table}
WHERE source_instance_id = $1 AND etl_job_id = $2 AND scope_key = ANY($3::text[])

-- name: fanout_units_forget
-- Units whose parent left the parent table: nothing to revisit any more.
DELETE FROM dw_etl_unit_state WHERE job_id = $1 AND instance_id = $2 AND unit_key = ANY($3::text[])

-- name: incremental_watermark
-- The newest value of a job's timestamp field among its staged rows ($2: its JSON path).
SELECT max(data #>> $2::text[]) FROM {table}
WHERE source_instance_id = $1 AND deleted_at IS NULL

-- name: incremental_last_full
-- When job $1 last completed a full pass (on the clock its runs count on).
SELECT max((notes->'incremental'->>'at')::timestamptz) FROM dw_etl_runs
WHERE job_id = $1 AND credential_id = $2 AND run_status = 'success'
  AND notes->'incremental'->>'mode' = 'full'

-- name: fanout_probe_unpassed
-- The instances job $1 runs for (as job_instances, with $2 its own instance and $3 its
-- instance_scope) whose latest probe of the job's global list did not pass, or none probed.
SELECT c.id AS instance_id
FROM dw_api_credentials c
LEFT JOIN LATERAL (
    SELECT passed FROM dw_etl_fanout_probes p
    WHERE p.job_id = $1 AND p.instance_id = c.id
    ORDER BY p.probed_at DESC, p.id DESC LIMIT 1
) p ON true
WHERE (c.id = $2::int OR ($3::text = 'all' AND c.is_active)) AND NOT COALESCE(p.passed, false)
ORDER BY c.id

-- name: fanout_probe_insert
INSERT INTO dw_etl_fanout_probes (job_id, instance_id, passed, parents_sampled, details)
VALUES ($1, $2, $3, $4, $5)

-- name: fanout_probe_sample
-- Up to $2 distinct parent values of a fan-out (parent table {table}), spread over the table.
SELECT v FROM (
    SELECT DISTINCT {column} AS v FROM {table}
    WHERE source_instance_id = $1 AND deleted_at IS NULL AND {column} IS NOT NULL
) AS p
ORDER BY md5(v) LIMIT $2

-- name: fanout_last_records
-- Records the job's per-parent units returned when last fetched (the short-list guard's bar).
SELECT COALESCE(sum(records), 0) FROM dw_etl_unit_state
WHERE job_id = $1 AND instance_id = $2 AND status = 'done' AND unit_key <> 'global'

-- name: units_still_failed
-- retry-failed: of the units $3, those not finished since (no state, or not done/missing).
SELECT k AS unit_key FROM unnest($3::text[]) AS k
WHERE NOT EXISTS (SELECT 1 FROM dw_etl_unit_state AS u
                  WHERE u.job_id = $1 AND u.instance_id = $2 AND u.unit_key = k
                    AND u.status IN ('done', 'missing'))

-- name: units_of_pass
-- A plain job's planned ranges in pass $3, in plan order.
SELECT unit_key, status, parameters, bounds, position FROM dw_etl_unit_state
WHERE job_id = $1 AND instance_id = $2 AND pass_id = $3
ORDER BY unit_key

-- name: units_forget_other_passes
-- A plain job's ranges belong to one pass only.
DELETE FROM dw_etl_unit_state WHERE job_id = $1 AND instance_id = $2 AND pass_id <> $3

-- name: unit_state_upsert
-- One row per unit; arrays of equal length. records adds up within a pass; changed_in_pass
-- says whether any batch of the pass changed the unit's staged rows. A done unit records the
-- walk's evidence (reported, shortfall) and, for fan-outs, its scope's live rows (staged_rows);
-- fetching a unit clears its lost mark.
INSERT INTO dw_etl_unit_state AS u
    (job_id, instance_id, unit_key, pass_id, run_id, status, parameters, bounds, position,
     records, fetched_at, updated_at, parent_version, changed_in_pass, parent_changed_in_pass,
     reported, shortfall, staged_rows, lost)
SELECT $1, $2, k, $3, $4, st, par, b, pos, n,
       CASE WHEN st = 'done' THEN CURRENT_TIMESTAMP END, CURRENT_TIMESTAMP, pv, ch, false,
       rep, sf, sr, false
FROM unnest($5::text[], $6::text[], $7::jsonb[], $8::jsonb[], $9::jsonb[], $10::bigint[],
            $11::timestamp[], $12::bool[], $13::bigint[], $14::bigint[], $15::bigint[])
     AS t(k, st, par, b, pos, n, pv, ch, rep, sf, sr)
ON CONFLICT (job_id, instance_id, unit_key) DO UPDATE SET
    reported = EXCLUDED.reported,
    shortfall = EXCLUDED.shortfall,
    staged_rows = CASE WHEN EXCLUDED.status = 'done' THEN EXCLUDED.staged_rows
                       ELSE u.staged_rows END,
    lost = false,
    run_id = EXCLUDED.run_id,
    status = EXCLUDED.status,
    parameters = EXCLUDED.parameters,
    bounds = COALESCE(EXCLUDED.bounds, u.bounds),
    position = EXCLUDED.position,
    records = CASE WHEN u.pass_id = EXCLUDED.pass_id THEN u.records + EXCLUDED.records
                   ELSE EXCLUDED.records END,
    changed_in_pass = CASE WHEN u.pass_id = EXCLUDED.pass_id
                           THEN u.changed_in_pass OR EXCLUDED.changed_in_pass
                           ELSE EXCLUDED.changed_in_pass END,
    -- The parent row moved since the unit's last fetch (a 'changed' parent, not a new one).
    parent_changed_in_pass = (u.pass_id = EXCLUDED.pass_id AND u.parent_changed_in_pass)
        OR (u.parent_version IS NOT NULL AND EXCLUDED.parent_version IS NOT NULL
            AND EXCLUDED.parent_version > u.parent_version),
    parent_version = COALESCE(EXCLUDED.parent_version, u.parent_version),
    pass_id = EXCLUDED.pass_id,
    fetched_at = COALESCE(EXCLUDED.fetched_at, u.fetched_at),
    updated_at = CURRENT_TIMESTAMP

-- name: unit_state_revisit
-- Fan-out units just finished ($3): the next revisit, as a crawler revisits pages. $4/$5 the
-- job's min/max_refresh, $6 now, $7 whether this run is the job's initial load.
--   children changed                  -> min_refresh;
--   children unchanged, the parent has children and is active (its own row changed, or its
--   children changed within max_refresh) -> twice the interval, at most 2 x min_refresh: the
--                                        few parents where changes happen stay on a short
--                                        leash, the many quiet ones cost almost nothing;
--   unchanged                         -> twice the interval, at most max_refresh;
--   parent gone upstream (missing)    -> max_refresh;
--   first fetch                       -> max_refresh / (1 + its records), at least min_refresh
--                                        (each child gets about the same revisit rate); in the
--                                        initial load due at a stable hash-chosen point between
--                                        min_refresh and that interval, so the revisits of a
--                                        first full cycle spread evenly instead of making a
--                                        second full cycle. A parent that appears later gets
--                                        the same interval: a new study without subjects is
--                                        fetched again when its row changes, or after 28 days.
-- Each unit is found by its own primary-key lookup (a LATERAL with LIMIT, which the planner
-- cannot turn into a scan of all the job's units however few it believes they are), then
-- updated by row address; the interval is written out twice, for refresh_seconds and for
-- due_at, since SET sees the row as it was.
WITH batch AS MATERIALIZED (
    SELECT hit.tid FROM unnest($3::text[]) AS k(unit_key)
    CROSS JOIN LATERAL (
        SELECT s.ctid AS tid FROM dw_etl_unit_state AS s
        WHERE s.job_id = $1 AND s.instance_id = $2 AND s.unit_key = k.unit_key
        LIMIT 1
    ) AS hit
)
UPDATE dw_etl_unit_state AS u SET
    refresh_seconds = {refresh},
    due_at = $6::timestamptz + make_interval(secs => CASE
        WHEN u.refresh_seconds IS NULL AND $7::bool AND {refresh} > $4::int
        THEN $4::int + ({refresh} - $4::int)
             * ((hashtext(u.unit_key)::bigint & 2147483647) / 2147483647.0)
        ELSE {refresh} END),
    -- when a revisit last found its children changed (a first fetch finds them all new: no signal)
    last_changed_at = CASE WHEN u.changed_in_pass AND u.refresh_seconds IS NOT NULL
                           THEN $6::timestamptz ELSE u.last_changed_at END,
    changed_in_pass = false,
    parent_changed_in_pass = false
WHERE u.ctid = ANY (ARRAY(SELECT tid FROM batch)) AND u.status IN ('done', 'missing')

-- name: unit_state_refresh
-- The next interval of a finished unit (a fragment of unit_state_revisit; u its row as it was).
(CASE WHEN u.status = 'missing' THEN $5::int
      WHEN u.refresh_seconds IS NULL
          THEN LEAST($5::int, GREATEST($4::int, $5::int / (1 + u.records)))::int
      WHEN u.changed_in_pass THEN $4::int
      WHEN u.records > 0 AND (u.parent_changed_in_pass OR u.last_changed_at
                              > $6::timestamptz - make_interval(secs => $5::int))
          THEN LEAST($5::int, GREATEST($4::int, LEAST(u.refresh_seconds * 2, 2 * $4::int)))
      ELSE LEAST($5::int, GREATEST($4::int, u.refresh_seconds * 2)) END)

-- name: staging_live_count
-- A job's live rows of one instance (the mass-deletion guard's denominator).
SELECT count(*) FROM {table} WHERE source_instance_id = $1 AND etl_job_id = $2 AND deleted_at IS NULL

-- name: staging_scope_counts
-- Live rows of a job per scope ($3: the scopes of a batch's units), scopes without rows left
-- out. Each scope is counted by its own lookup in the scope index (a LATERAL aggregate, which
-- the planner cannot turn into a scan of all the job's rows however few it believes they are).
SELECT k.scope AS scope_key, hit.n
FROM unnest($3::text[]) AS k(scope)
CROSS JOIN LATERAL (
    SELECT count(*) AS n FROM {table} AS t
    WHERE t.source_instance_id = $1 AND t.etl_job_id = $2 AND t.scope_key IS NOT NULL
      AND t.scope_key = k.scope AND t.deleted_at IS NULL
) AS hit
WHERE hit.n > 0

-- name: unit_state_mark_lost
-- Fan-out units whose scope now holds fewer live rows than right after their last fetch: rows
-- vanished from staging (TRUNCATE, a restore, a DELETE), so the parent is not fresh however
-- recent its fetch. One hash join of the unit state with the job's rows counted per scope.
UPDATE dw_etl_unit_state AS u SET lost = true
FROM (
    SELECT s.unit_key FROM dw_etl_unit_state AS s
    LEFT JOIN (
        SELECT scope_key, count(*) AS n FROM {table}
        WHERE source_instance_id = $2 AND etl_job_id = $1 AND deleted_at IS NULL
          AND scope_key IS NOT NULL
        GROUP BY scope_key
    ) AS c ON c.scope_key = s.unit_key
    WHERE s.job_id = $1 AND s.instance_id = $2 AND s.staged_rows > 0 AND NOT s.lost
      AND COALESCE(c.n, 0) < s.staged_rows
) AS gone
WHERE u.job_id = $1 AND u.instance_id = $2 AND u.unit_key = gone.unit_key

-- name: pass_evidence
-- The done units of a pass that could not prove their walk complete, and the totals.
SELECT count(*) FILTER (WHERE shortfall > 0) AS short_units,
       COALESCE(sum(shortfall), 0)::bigint AS shortfall,
       COALESCE(sum(reported), 0)::bigint AS reported,
       COALESCE(sum(records), 0)::bigint AS received,
       (array_agg(unit_key ORDER BY unit_key) FILTER (WHERE shortfall > 0))[1:3] AS examples
FROM dw_etl_unit_state
WHERE job_id = $1 AND instance_id = $2 AND pass_id = $3 AND status = 'done'

-- name: pass_units_forget
-- A plain pass whose deletions were refused starts over: its plan and seen keys go.
DELETE FROM dw_etl_unit_state WHERE job_id = $1 AND instance_id = $2 AND pass_id = $3

-- name: pass_removed_before
-- Rows the earlier runs of a pass removed for good (their net removals, notes.removed).
SELECT COALESCE(sum((notes->>'removed')::bigint), 0)::bigint FROM dw_etl_runs
WHERE pass_id = $1 AND run_id <> $2

-- name: run_pass_full
-- Whether any run of pass $1 ran with --full: a continued pass keeps that mode.
SELECT COALESCE(bool_or((notes->>'full')::bool), false) FROM dw_etl_runs WHERE pass_id = $1

-- name: run_last_staged_rows
-- The job's live rows when its last complete plain pass settled (notes.staged_rows).
SELECT (notes->>'staged_rows')::bigint FROM dw_etl_runs
WHERE job_id = $1 AND credential_id = $2 AND run_status = 'success' AND notes ? 'staged_rows'
ORDER BY run_id DESC LIMIT 1

-- name: seen_keys_analyze
-- Fresh rows, no statistics: without this the planner may pick a nested-loop anti-join.
ANALYZE dw_etl_seen_keys

-- name: seen_keys_forget
DELETE FROM dw_etl_seen_keys WHERE pass_id = $1

-- name: unseen_mark_by_id
-- After a complete pass: rows of this job and instance the pass did not see are gone upstream.
-- A row a run of the pass wrote (etl_run_id) was seen: only the others are looked up among the
-- seen keys, so the first load of a big table settles without reading a single record's key.
UPDATE {table} AS s SET deleted_at = CURRENT_TIMESTAMP, updated_at = CURRENT_TIMESTAMP
WHERE s.source_instance_id = $1 AND s.etl_job_id = $2 AND s.deleted_at IS NULL
  AND COALESCE(s.etl_run_id, 0) <> ALL (ARRAY(SELECT r.run_id FROM dw_etl_runs AS r
                                              WHERE r.pass_id = $3))
  AND NOT EXISTS (SELECT 1 FROM dw_etl_seen_keys AS k
                  WHERE k.pass_id = $3 AND k.k = s.data->>'id')

-- name: unseen_mark_by_record_key
UPDATE {table} AS s SET deleted_at = CURRENT_TIMESTAMP, updated_at = CURRENT_TIMESTAMP
WHERE s.source_instance_id = $1 AND s.etl_job_id = $2 AND s.deleted_at IS NULL
  AND s.record_key IS NOT NULL
  AND COALESCE(s.etl_run_id, 0) <> ALL (ARRAY(SELECT r.run_id FROM dw_etl_runs AS r
                                              WHERE r.pass_id = $3))
  AND NOT EXISTS (SELECT 1 FROM dw_etl_seen_keys AS k
                  WHERE k.pass_id = $3 AND k.k = s.record_key)

-- name: unseen_delete_by_id
DELETE FROM {table} AS s
WHERE s.source_instance_id = $1 AND s.etl_job_id = $2
  AND COALESCE(s.etl_run_id, 0) <> ALL (ARRAY(SELECT r.run_id FROM dw_etl_runs AS r
                                              WHERE r.pass_id = $3))
  AND NOT EXISTS (SELECT 1 FROM dw_etl_seen_keys AS k
                  WHERE k.pass_id = $3 AND k.k = s.data->>'id')

-- name: unseen_delete_by_record_key
DELETE FROM {table} AS s
WHERE s.source_instance_id = $1 AND s.etl_job_id = $2 AND s.record_key IS NOT NULL
  AND COALESCE(s.etl_run_id, 0) <> ALL (ARRAY(SELECT r.run_id FROM dw_etl_runs AS r
                                              WHERE r.pass_id = $3))
  AND NOT EXISTS (SELECT 1 FROM dw_etl_seen_keys AS k
                  WHERE k.pass_id = $3 AND k.k = s.record_key)

-- name: run_previous
-- The job's latest run on this instance that did something (skipped runs do not count).
SELECT run_id, run_status, pass_id FROM dw_etl_runs
WHERE job_id = $1 AND credential_id = $2 AND run_status <> 'skipped' AND run_id <> $3
ORDER BY run_id DESC LIMIT 1

-- name: run_running_elsewhere
SELECT run_id, worker FROM dw_etl_runs
WHERE job_id = $1 AND credential_id = $2 AND run_status = 'running' ORDER BY run_id DESC LIMIT 1

-- name: run_start
-- $4 pass_id (NULL: this run starts a new pass), $5 the run it continues, $6 its notes (a
-- --full run says so at once: a run continuing its pass stays full).
INSERT INTO dw_etl_runs (job_id, run_status, started_at, credential_id, worker, heartbeat_at,
                         pass_id, continues_run_id, notes)
VALUES ($1, 'running', CURRENT_TIMESTAMP, $2, $3, CURRENT_TIMESTAMP, $4, $5, $6)
RETURNING run_id

-- name: run_close_bare
-- The last resort of a run whose counts could not be written: status and error only.
UPDATE dw_etl_runs SET run_status = $2, error_message = $3, completed_at = CURRENT_TIMESTAMP,
    heartbeat_at = CURRENT_TIMESTAMP
WHERE run_id = $1 AND run_status = 'running'

-- name: session_lock_wait
-- The table (or 'a row' / another kind of lock) session $1 is waiting to lock, if it waits.
-- Not the brief internal ones: extending a relation by a page, or a GIN index's pending list
-- (two writers of one run meet there for milliseconds; neither is a lock anyone holds for long).
SELECT COALESCE(l.relation::regclass::text, 'a ' || l.locktype) AS waiting_on
FROM pg_locks AS l
WHERE l.pid = $1 AND NOT l.granted AND l.locktype NOT IN ('extend', 'page')
LIMIT 1

-- name: run_set_pass
UPDATE dw_etl_runs SET pass_id = COALESCE(pass_id, run_id) WHERE run_id = $1 RETURNING pass_id

-- name: run_progress
UPDATE dw_etl_runs SET
    records_inserted = $2, records_updated = $3, records_unchanged = $4, records_deleted = $5,
    records_fetched = $6, requests_made = $7, units_total = $8, units_done = $9,
    units_failed = $10, units_missing = $11, records_loaded = $2::bigint + $3::bigint,
    requests_retried = $12, records_sanitized = $13, notes = $14, duplicates_in_source = $15,
    heartbeat_at = CURRENT_TIMESTAMP
WHERE run_id = $1

-- name: run_failure_insert
INSERT INTO dw_etl_run_failures (run_id, parameters, error_message) VALUES ($1, $2, $3)

-- name: job_instances
-- The instances each job runs for (0010_instances.sql): its own (the inventory's
-- source_instance_id) always, and every other active instance unless its scope is 'own'.
SELECT j.id AS job_id, c.id AS instance_id
FROM dw_etl_jobs AS j
JOIN dw_api_credentials AS c
    ON c.id = COALESCE(j.source_instance_id, 1) OR (j.instance_scope = 'all' AND c.is_active)
ORDER BY j.id, c.id

-- name: run_instance
-- The instance a run ran for (NULL: no such run).
SELECT COALESCE(credential_id, 1) FROM dw_etl_runs WHERE run_id = $1

-- name: instance_exists
SELECT EXISTS (SELECT 1 FROM dw_api_credentials WHERE id = $1)

-- name: run_failed_units
-- The job of run $1 and the parameters of its failed units (not those that answered 404).
SELECT r.job_id, f.parameters FROM dw_etl_runs AS r
LEFT JOIN dw_etl_run_failures AS f
    ON f.run_id = r.run_id AND f.error_message NOT LIKE 'missing:%'
WHERE r.run_id = $1

-- name: run_retries
-- The runs that retried run $1's failed units (retry-failed), newest first.
SELECT run_id, run_status AS status FROM dw_etl_runs
WHERE notes->>'retry_of' = $1::int::text
ORDER BY run_id DESC

-- name: run_finish
UPDATE dw_etl_runs SET
    run_status = $2, error_message = $3, completed_at = CURRENT_TIMESTAMP,
    heartbeat_at = CURRENT_TIMESTAMP
WHERE run_id = $1
RETURNING job_id, records_loaded

-- name: job_last_run
UPDATE dw_etl_jobs SET last_run_status = $2, last_run_at = CURRENT_TIMESTAMP,
    last_run_records = $3
WHERE id = $1

-- name: run_skipped
INSERT INTO dw_etl_runs (job_id, run_status, records_loaded, started_at, completed_at,
                         error_message, credential_id)
VALUES ($1, 'skipped', 0, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP, $2, $3)
RETURNING run_id

-- name: job_lock
-- Session-level: one run of a (job, instance) at a time across every process (released
-- explicitly); $2 is runs.job_lock_key(job, instance).
SELECT pg_try_advisory_lock($1::int, $2::int)

-- name: job_unlock
SELECT pg_advisory_unlock($1::int, $2::int)

-- name: runs_running
SELECT run_id, job_id, COALESCE(credential_id, 1) AS instance_id FROM dw_etl_runs
WHERE run_status = 'running' ORDER BY run_id

-- name: runs_abandon
-- Called holding the (job, instance)'s lock: any other 'running' run of it lost its process.
UPDATE dw_etl_runs SET run_status = 'failed', completed_at = CURRENT_TIMESTAMP,
    error_message = 'abandoned: its process stopped (last heartbeat '
                    || COALESCE(heartbeat_at::text, 'never') || ' on ' || COALESCE(worker, '?') || ')'
WHERE job_id = $1 AND COALESCE(credential_id, 1) = $3 AND run_status = 'running'
  AND run_id <> $2
RETURNING run_id

-- name: database_drop
-- {database}: a quoted identifier (tests, the demo and the benchmarks make databases).
DROP DATABASE IF EXISTS {database} WITH (FORCE)

-- name: database_create
CREATE DATABASE {database}

-- name: database_exists
SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)

-- name: database_create_from_template
CREATE DATABASE {database} TEMPLATE {template}

-- === the service: ticks, replicas, cancellation ==========================================

-- name: tick_insert
-- Idempotent: every replica may insert the same due tick of a (job $1, instance $2); one row
-- results. $5 'skipped': a baseline tick (a pair first seen: its schedule counts from there).
-- Not while the pair has a tick of this source waiting or running: the schedule's next tick
-- is computed again once that one finished, so ticks missed meanwhile run once, not queue up.
INSERT INTO dw_etl_ticks (job_id, instance_id, due_at, source, status)
SELECT $1::int, $2::int, $3::timestamptz, $4::varchar, $5::varchar
WHERE NOT EXISTS (SELECT 1 FROM dw_etl_ticks w WHERE w.job_id = $1::int
                  AND w.instance_id = $2::int AND w.source = $4::varchar
                  AND w.status IN ('pending', 'running'))
ON CONFLICT (job_id, instance_id, due_at, source) DO NOTHING
RETURNING tick_id

-- name: tick_last_scheduled
SELECT job_id, instance_id, max(due_at) AS due_at
FROM dw_etl_ticks WHERE source = 'schedule' GROUP BY job_id, instance_id

-- name: tick_claim
-- Pending due ticks whose upstream jobs (depends_on: every job loading the parameter source
-- table, and an explicit parent; due at the same moment, same source, same API instance) have
-- finished, oldest first; SKIP LOCKED lets replicas claim side by side without waiting on each
-- other. Each (job, instance) is its own chain: one instance's upstream does not hold another's.
WITH claimable AS (
    SELECT t.tick_id
    FROM dw_etl_ticks t JOIN dw_etl_jobs j ON j.id = t.job_id
    WHERE t.status = 'pending' AND t.due_at <= now()
      -- a run of the pair still going (here, elsewhere, a one-shot): wait for it
      AND NOT EXISTS (
          SELECT 1 FROM dw_etl_runs r
          WHERE r.job_id = t.job_id AND COALESCE(r.credential_id, 1) = t.instance_id
            AND r.run_status = 'running')
      AND NOT EXISTS (
          SELECT 1 FROM dw_etl_ticks p
          WHERE p.job_id = ANY(j.depends_on) AND p.instance_id = t.instance_id
            AND p.due_at = t.due_at AND p.source = t.source
            AND p.status IN ('pending', 'running'))
    ORDER BY t.due_at, t.job_id, t.instance_id
    LIMIT $2
    FOR UPDATE OF t SKIP LOCKED
)
UPDATE dw_etl_ticks t SET status = 'running', claimed_by = $1, claimed_at = now()
FROM claimable c, dw_etl_jobs j
WHERE t.tick_id = c.tick_id AND j.id = t.job_id
RETURNING t.tick_id, t.job_id, t.instance_id, j.name AS job_name, t.due_at, t.source,
    -- an upstream tick of the same moment and instance that did not succeed, if any (else
    -- one that did)
    (SELECT p.status FROM dw_etl_ticks p
     WHERE p.job_id = ANY(j.depends_on) AND p.instance_id = t.instance_id
       AND p.due_at = t.due_at AND p.source = t.source
     ORDER BY p.status = 'success', p.job_id LIMIT 1) AS parent_status

-- name: tick_finish
UPDATE dw_etl_ticks SET status = $2, run_id = $3, finished_at = now() WHERE tick_id = $1

-- name: tick_requeue
-- The job was busy elsewhere, or this replica stopped: the tick waits for the next claim.
UPDATE dw_etl_ticks SET status = 'pending', claimed_by = NULL, claimed_at = NULL
WHERE tick_id = $1

-- name: tick_release_orphans
-- Ticks claimed by a replica that is no longer live go back to pending (run again: resume).
UPDATE dw_etl_ticks SET status = 'pending', claimed_by = NULL, claimed_at = NULL
WHERE status = 'running'
  AND claimed_by NOT IN (SELECT replica_id FROM dw_etl_replicas WHERE lease_until >= now())
RETURNING tick_id, job_id, instance_id

-- name: replica_register
INSERT INTO dw_etl_replicas (replica_id, host, pid, lease_until)
VALUES ($1, $2, $3, now() + make_interval(secs => $4))
ON CONFLICT (replica_id) DO UPDATE SET
    heartbeat_at = now(), lease_until = EXCLUDED.lease_until, stopping = false

-- name: replica_heartbeat
-- Renews the lease; returns how many replicas are live (this one included).
WITH renewed AS (
    UPDATE dw_etl_replicas SET heartbeat_at = now(), lease_until = now() + make_interval(secs => $2),
        stopping = $3
    WHERE replica_id = $1 RETURNING replica_id
)
SELECT (SELECT count(*) FROM renewed) AS renewed,
       (SELECT count(*) FROM dw_etl_replicas
        WHERE lease_until >= now() AND replica_id <> $1) + 1 AS live

-- name: replica_expired
SELECT replica_id, host, pid, lease_until FROM dw_etl_replicas WHERE lease_until < now()

-- name: replica_sessions_end
-- A dead replica's sessions (its job locks among them) end; application_name names the replica.
SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) FROM pg_stat_activity
WHERE application_name = $1 AND pid <> pg_backend_pid()

-- name: replica_delete
DELETE FROM dw_etl_replicas WHERE replica_id = $1

-- name: replicas_live
SELECT replica_id, host, pid, started_at, heartbeat_at, lease_until, stopping
FROM dw_etl_replicas WHERE lease_until >= now() ORDER BY started_at

-- name: run_cancel_request
UPDATE dw_etl_runs SET cancel_requested_at = now()
WHERE run_id = $1 AND run_status = 'running'
RETURNING run_id

-- name: runs_cancel_requested
SELECT run_id FROM dw_etl_runs WHERE run_id = ANY($1::int[]) AND cancel_requested_at IS NOT NULL

-- === the status page and JSON API ========================================================
-- The run log's columns are TIMESTAMP (the session's time zone, as CURRENT_TIMESTAMP wrote
-- them): cast to timestamptz here, so the page and the API get aware times, and ages and
-- durations are the server's own arithmetic. Column aliases are the fields of db/status.py.

-- name: status_ping
SELECT 1

-- name: status_jobs
-- Every job with its latest finished run (the index on (job_id, run_id DESC) finds it) and
-- its running run, if any. A job loaded before the run log existed keeps its last_run_*.
SELECT j.id, j.name, COALESCE(j.is_active, false) AS active, j.schedule_cron,
       j.disabled_reason, j.source_endpoint, j.target_table, j.parent_job_id,
       (SELECT max(x.run_id) FROM dw_etl_runs x
        WHERE x.job_id = j.id AND x.run_status = 'running') AS running_run_id,
       r.run_id AS last_run_id,
       COALESCE(r.run_status, j.last_run_status) AS last_status,
       COALESCE(r.records_loaded, j.last_run_records) AS last_records,
       r.started_at::timestamptz AS last_started_at,
       COALESCE(r.completed_at, j.last_run_at)::timestamptz AS last_completed_at,
       EXTRACT(EPOCH FROM r.completed_at - r.started_at)::float8 AS last_seconds,
       r.records_fetched AS last_fetched
FROM dw_etl_jobs j
LEFT JOIN LATERAL (
    SELECT run_id, run_status, records_loaded, records_fetched, started_at, completed_at
    FROM dw_etl_runs
    WHERE job_id = j.id AND run_status <> 'running'
    ORDER BY run_id DESC LIMIT 1
) r ON true
ORDER BY j.id

-- name: status_job_instances
-- status_jobs per (job, instance) the job runs for (job_instances), for the page when several
-- API instances are involved: each pair's latest finished run and its running run (index
-- lookups on (job_id, credential_id, run_id)). A job's pre-run-log last_run_* count for its
-- own instance only.
SELECT j.id, j.name, COALESCE(j.is_active, false) AS active, j.schedule_cron,
       j.disabled_reason, j.source_endpoint, j.target_table, j.parent_job_id,
       (SELECT max(x.run_id) FROM dw_etl_runs x
        WHERE x.job_id = j.id AND x.credential_id = c.id AND x.run_status = 'running')
           AS running_run_id,
       r.run_id AS last_run_id,
       COALESCE(r.run_status, CASE WHEN o.own THEN j.last_run_status END) AS last_status,
       COALESCE(r.records_loaded, CASE WHEN o.own THEN j.last_run_records END) AS last_records,
       r.started_at::timestamptz AS last_started_at,
       COALESCE(r.completed_at, CASE WHEN o.own THEN j.last_run_at END)::timestamptz
           AS last_completed_at,
       EXTRACT(EPOCH FROM r.completed_at - r.started_at)::float8 AS last_seconds,
       r.records_fetched AS last_fetched,
       c.id AS instance_id
FROM dw_etl_jobs j
JOIN dw_api_credentials c
    ON c.id = COALESCE(j.source_instance_id, 1) OR (j.instance_scope = 'all' AND c.is_active)
CROSS JOIN LATERAL (SELECT c.id = COALESCE(j.source_instance_id, 1) AS own) o
LEFT JOIN LATERAL (
    SELECT run_id, run_status, records_loaded, records_fetched, started_at, completed_at
    FROM dw_etl_runs
    WHERE job_id = j.id AND credential_id = c.id AND run_status <> 'running'
    ORDER BY run_id DESC LIMIT 1
) r ON true
ORDER BY j.id, c.id

-- name: status_job_state
SELECT id, name, COALESCE(is_active, false) AS active, disabled_reason
FROM dw_etl_jobs WHERE id = $1

-- name: status_run_state
SELECT run_status FROM dw_etl_runs WHERE run_id = $1

-- name: status_runs
-- Newest first; $1 a job or NULL, $2 a status or NULL, $3 how many, $4 only runs started
-- within this interval or NULL, $5 one run or NULL, $6 one API instance or NULL.
SELECT r.run_id, r.job_id, j.name AS job_name, r.run_status AS status,
       r.started_at::timestamptz AS started_at, r.completed_at::timestamptz AS completed_at,
       EXTRACT(EPOCH FROM COALESCE(r.completed_at, LOCALTIMESTAMP) - r.started_at)::float8
           AS seconds,
       EXTRACT(EPOCH FROM LOCALTIMESTAMP - r.heartbeat_at)::float8 AS heartbeat_age_seconds,
       r.worker, r.records_loaded, r.records_inserted, r.records_updated, r.records_unchanged,
       r.records_deleted, r.records_fetched, r.records_sanitized, r.duplicates_in_source,
       r.requests_made,
       r.requests_retried, r.units_total, r.units_done, r.units_failed, r.units_missing,
       r.error_message AS error, r.cancel_requested_at IS NOT NULL AS cancel_requested,
       r.continues_run_id, r.pass_id, r.credential_id AS instance_id
FROM dw_etl_runs r LEFT JOIN dw_etl_jobs j ON j.id = r.job_id
WHERE ($1::int IS NULL OR r.job_id = $1::int) AND ($2::text IS NULL OR r.run_status = $2::text)
  AND ($4::interval IS NULL OR r.started_at >= LOCALTIMESTAMP - $4::interval)
  AND ($5::int IS NULL OR r.run_id = $5::int)
  AND ($6::int IS NULL OR r.credential_id = $6::int)
ORDER BY r.run_id DESC
LIMIT $3

-- name: status_run_failures
-- The first $2 failed units of each run in $1, and how many each run has in all.
SELECT run_id, parameters, error_message AS error, failed_at::timestamptz AS failed_at, total
FROM (
    SELECT f.id, f.run_id, f.parameters, f.error_message, f.failed_at,
           row_number() OVER (PARTITION BY f.run_id ORDER BY f.id) AS n,
           count(*) OVER (PARTITION BY f.run_id) AS total
    FROM dw_etl_run_failures f WHERE f.run_id = ANY($1::int[])
) AS numbered
WHERE n <= $2
ORDER BY run_id, id

-- name: status_ticks_pending
SELECT t.tick_id, t.job_id, t.instance_id, j.name AS job_name, t.due_at, t.source
FROM dw_etl_ticks t JOIN dw_etl_jobs j ON j.id = t.job_id
WHERE t.status = 'pending'
ORDER BY t.due_at, t.tick_id
LIMIT $1

-- name: status_last_success
-- Each (job, instance)'s latest successful run (seconds since the epoch), for /metrics on any
-- replica: the pairs of job_instances, an index lookup on (job_id, credential_id, run_id) each.
SELECT j.id AS job_id, j.name AS job_name, c.id AS instance_id,
       EXTRACT(EPOCH FROM s.completed_at::timestamptz)::float8 AS at
FROM dw_etl_jobs j
JOIN dw_api_credentials c
    ON c.id = COALESCE(j.source_instance_id, 1) OR (j.instance_scope = 'all' AND c.is_active)
JOIN LATERAL (
    SELECT completed_at FROM dw_etl_runs
    WHERE job_id = j.id AND credential_id = c.id AND run_status = 'success'
      AND completed_at IS NOT NULL
    ORDER BY run_id DESC LIMIT 1
) s ON true
ORDER BY j.id, c.id

-- name: status_resolved_by
-- Of the failed runs $1, each one's first later successful run of the same job (index lookups
-- on (job_id, run_id)); runs not resolved yet are left out.
SELECT f.run_id, s.run_id AS resolved_by
FROM dw_etl_runs f
JOIN LATERAL (
    SELECT x.run_id FROM dw_etl_runs x
    WHERE x.job_id = f.job_id AND x.run_id > f.run_id AND x.run_status = 'success'
    ORDER BY x.run_id LIMIT 1
) s ON true
WHERE f.run_id = ANY($1::int[])

-- === freshness: what each job's data is worth now (db/freshness.py, freshness.py) =========

-- name: freshness_jobs
-- Per (job, instance) the job runs for (job_instances: its own instance always, every other
-- active one unless its scope is 'own'), the facts its freshness is decided from: its newest
-- running run and that run's heartbeat age, its latest success, whether its latest decisive
-- run (success or failed; interrupted and skipped ones decide nothing) failed, and its usual
-- duration: the median of its last 10 successes. Each is an index lookup on (job_id,
-- credential_id, run_id) per pair (tens of jobs times a few instances); now() is the
-- database's clock, which the rules compare against.
SELECT j.id AS job_id, c.id AS instance_id, j.name AS job_name,
       COALESCE(j.is_active, false) AS active, j.schedule_cron,
       (jsonb_array_length(j.parameters) > 0 AND j.fanout = 'parent') AS per_parent,
       run.run_id AS running_run_id,
       EXTRACT(EPOCH FROM LOCALTIMESTAMP - COALESCE(run.heartbeat_at, run.started_at))::float8
           AS heartbeat_age_seconds,
       ok.run_id AS last_success_run_id, ok.completed_at::timestamptz AS last_success_at,
       decided.run_id AS last_decided_run_id,
       COALESCE(decided.run_status = 'failed', false) AS failing,
       usual.seconds AS usual_seconds,
       now() AS checked_at
FROM dw_etl_jobs j
JOIN dw_api_credentials c
    ON c.id = COALESCE(j.source_instance_id, 1) OR (j.instance_scope = 'all' AND c.is_active)
LEFT JOIN LATERAL (
    SELECT run_id, heartbeat_at, started_at FROM dw_etl_runs
    WHERE job_id = j.id AND credential_id = c.id AND run_status = 'running'
    ORDER BY run_id DESC LIMIT 1
) run ON true
LEFT JOIN LATERAL (
    SELECT run_id, completed_at FROM dw_etl_runs
    WHERE job_id = j.id AND credential_id = c.id AND run_status = 'success'
      AND completed_at IS NOT NULL
    ORDER BY run_id DESC LIMIT 1
) ok ON true
LEFT JOIN LATERAL (
    SELECT run_id, run_status FROM dw_etl_runs
    WHERE job_id = j.id AND credential_id = c.id AND run_status IN ('success', 'failed')
    ORDER BY run_id DESC LIMIT 1
) decided ON true
LEFT JOIN LATERAL (
    SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY d)::float8 AS seconds FROM (
        SELECT EXTRACT(EPOCH FROM completed_at - started_at) AS d FROM dw_etl_runs
        WHERE job_id = j.id AND credential_id = c.id AND run_status = 'success'
          AND completed_at IS NOT NULL
        ORDER BY run_id DESC LIMIT 10
    ) AS recent
) usual ON true
ORDER BY j.id, c.id

-- name: freshness_parents_overdue
-- Per-parent fan-outs, per (job, instance): their parents (unit state rows with parameters)
-- and how many were last fetched longer than the job's max_refresh ago (a parent never
-- fetched: last touched). One aggregate over the unit state joined to the jobs, run with
-- nested loops off (db/planning.py): linear in the units, whatever the statistics say.
-- Instances the job no longer runs for are left out by the caller (freshness_jobs's pairs).
SELECT u.job_id, u.instance_id, count(*) AS parents,
       count(*) FILTER (WHERE COALESCE(u.fetched_at, u.updated_at)
                        < LOCALTIMESTAMP - make_interval(secs => j.max_refresh_seconds))
           AS overdue
FROM dw_etl_unit_state u
JOIN dw_etl_jobs j ON j.id = u.job_id
WHERE jsonb_array_length(j.parameters) > 0 AND j.fanout = 'parent'
  AND u.parameters <> '{}'::jsonb
GROUP BY u.job_id, u.instance_id

-- === plan: what the next run would fetch ==================================================

-- name: plan_unit_records
-- A fan-out job's parents fetched so far and the records they returned on average.
SELECT count(*) AS fetched, COALESCE(avg(records), 0)::float AS mean_records
FROM dw_etl_unit_state WHERE job_id = $1 AND instance_id = $2 AND fetched_at IS NOT NULL

-- name: plan_last_run
SELECT records_fetched, requests_made FROM dw_etl_runs
WHERE job_id = $1 AND credential_id = $2 AND run_status = 'success' ORDER BY run_id DESC LIMIT 1

-- === run history: runs, runs show, failures, stats (db/history.py) =======================
-- The run list and one run come from status_runs, their failed units from
-- status_run_failures; these add what those do not hold.

-- name: history_run_notes
SELECT run_id, notes FROM dw_etl_runs WHERE run_id = ANY($1::int[])

-- name: history_resume_chain
-- The runs $1 continues (depth < 0, through continues_run_id, nearest first) and the runs
-- that continue it (depth > 0). A run only continues an earlier one, so the walks end.
WITH RECURSIVE back AS (
    SELECT run_id, continues_run_id, 0 AS depth FROM dw_etl_runs WHERE run_id = $1
    UNION ALL
    SELECT p.run_id, p.continues_run_id, b.depth - 1
    FROM dw_etl_runs p JOIN back b ON p.run_id = b.continues_run_id AND p.run_id < b.run_id
), forth AS (
    SELECT run_id, 0 AS depth FROM dw_etl_runs WHERE run_id = $1
    UNION ALL
    SELECT c.run_id, f.depth + 1
    FROM dw_etl_runs c JOIN forth f ON c.continues_run_id = f.run_id AND c.run_id > f.run_id
), chain AS (
    SELECT run_id, depth FROM back WHERE depth < 0
    UNION ALL
    SELECT run_id, depth FROM forth WHERE depth > 0
)
SELECT c.depth, r.run_id, r.run_status AS status, r.started_at::timestamptz AS started_at,
       r.completed_at::timestamptz AS completed_at,
       EXTRACT(EPOCH FROM COALESCE(r.completed_at, LOCALTIMESTAMP) - r.started_at)::float8
           AS seconds,
       r.records_fetched AS fetched, r.requests_made AS requests, r.error_message AS error
FROM chain c JOIN dw_etl_runs r ON r.run_id = c.run_id
ORDER BY c.run_id

-- name: history_failed_units
-- Units whose last attempt failed (the job's next run retries exactly these), newest first,
-- with the error their run recorded; $1 a run or NULL, $2 a job or NULL, $3 how many;
-- total counts them all.
SELECT u.job_id, j.name AS job_name, u.run_id, u.pass_id, u.unit_key, u.parameters,
       f.error_message AS error, u.updated_at::timestamptz AS updated_at,
       count(*) OVER () AS total
FROM dw_etl_unit_state u
LEFT JOIN dw_etl_jobs j ON j.id = u.job_id
LEFT JOIN LATERAL (
    SELECT x.error_message FROM dw_etl_run_failures x
    WHERE x.run_id = u.run_id AND x.parameters = u.parameters
    ORDER BY x.id DESC LIMIT 1
) f ON true
WHERE u.status = 'failed' AND ($1::int IS NULL OR u.run_id = $1::int)
  AND ($2::int IS NULL OR u.job_id = $2::int)
ORDER BY u.updated_at DESC, u.job_id, u.unit_key
LIMIT $3

-- name: history_stats
-- The design doc's success-rate query with the run's counters: per job over the runs started
-- in the last $1 days, then the total (is_total; ROLLUP's grand total, there even with no
-- runs). Mean duration over finished runs that did something (not skipped). $2: only the
-- runs of one API instance (NULL: all).
SELECT GROUPING(r.job_id) = 1 AS is_total, r.job_id, max(j.name) AS job_name,
       count(r.run_id) AS runs,
       count(*) FILTER (WHERE r.run_status = 'success') AS successes,
       count(*) FILTER (WHERE r.run_status = 'failed') AS failures,
       round(100.0 * count(*) FILTER (WHERE r.run_status = 'success')
             / NULLIF(count(r.run_id), 0), 1)::float8 AS success_rate,
       COALESCE(sum(r.records_fetched), 0)::bigint AS fetched,
       COALESCE(sum(r.records_inserted + r.records_updated), 0)::bigint AS written,
       COALESCE(sum(r.requests_made), 0)::bigint AS requests,
       (avg(EXTRACT(EPOCH FROM r.completed_at - r.started_at))
            FILTER (WHERE r.completed_at IS NOT NULL AND r.run_status <> 'skipped'))::float8
           AS mean_seconds
FROM dw_etl_runs r LEFT JOIN dw_etl_jobs j ON j.id = r.job_id
WHERE r.started_at > LOCALTIMESTAMP - make_interval(days => $1::int)
  AND ($2::int IS NULL OR r.credential_id = $2::int)
GROUP BY ROLLUP (r.job_id)
ORDER BY GROUPING(r.job_id), r.job_id
-- === end of run history ===================================================================

-- === job overrides (db/overrides.py): operator settings on top of the inventory ===========

-- name: job_rows_lock
-- Every job row, locked for `jobs sync` (a concurrent `jobs set` waits, so neither loses the
-- other's write). SELECT *: job_from_row reads whatever configuration columns exist.
SELECT * FROM dw_etl_jobs ORDER BY id FOR UPDATE

-- name: job_row
SELECT * FROM dw_etl_jobs WHERE id = $1

-- name: job_row_lock
SELECT * FROM dw_etl_jobs WHERE id = $1 FOR UPDATE

-- name: job_overrides_all
SELECT job_id, setting, value, set_at, reason FROM dw_etl_job_overrides ORDER BY job_id, setting

-- name: job_overrides_of
SELECT job_id, setting, value, set_at, reason FROM dw_etl_job_overrides
WHERE job_id = $1 ORDER BY setting

-- name: job_override_upsert
INSERT INTO dw_etl_job_overrides AS o (job_id, setting, value, reason)
VALUES ($1, $2, $3, $4)
ON CONFLICT (job_id, setting) DO UPDATE SET value = EXCLUDED.value, reason = EXCLUDED.reason,
    set_at = now()
RETURNING job_id, setting, value, set_at, reason

-- name: job_override_delete
DELETE FROM dw_etl_job_overrides WHERE job_id = $1 AND setting = $2

-- name: job_inventory_settings_save
UPDATE dw_etl_jobs SET inventory_settings = $2
WHERE id = $1 AND inventory_settings IS DISTINCT FROM $2::jsonb
-- === end of job overrides =================================================================

-- === retention (db/retention.py): bookkeeping that grows with every run ====================
-- $1 the days kept. What decisions rest on is kept whatever its age: each job's latest run and
-- latest success per instance, and every run of a pass still open (its latest run failed, was
-- interrupted or is running).

-- name: retention_runs_kept
CREATE TEMP TABLE IF NOT EXISTS trialsync_runs_kept (run_id INTEGER PRIMARY KEY) ON COMMIT DROP

-- name: retention_runs_keep
INSERT INTO trialsync_runs_kept (run_id)
SELECT run_id FROM (
    SELECT max(run_id) AS run_id FROM dw_etl_runs GROUP BY job_id, credential_id
    UNION
    SELECT max(run_id) FROM dw_etl_runs WHERE run_status = 'success'
    GROUP BY job_id, credential_id
    UNION
    SELECT r.run_id FROM dw_etl_runs AS r
    JOIN (SELECT DISTINCT ON (job_id, credential_id) pass_id, run_status FROM dw_etl_runs
          ORDER BY job_id, credential_id, run_id DESC) AS latest
      ON latest.pass_id = r.pass_id
    WHERE latest.run_status IN ('running', 'failed', 'interrupted')
) AS k WHERE run_id IS NOT NULL
ON CONFLICT DO NOTHING

-- name: retention_runs_unlink
-- A kept run may continue one that goes: the link goes first (continues_run_id is a key).
UPDATE dw_etl_runs AS r SET continues_run_id = NULL
WHERE r.continues_run_id IN (
    SELECT o.run_id FROM dw_etl_runs AS o
    WHERE o.started_at < LOCALTIMESTAMP - make_interval(days => $1::int)
      AND o.run_status <> 'running'
      AND NOT EXISTS (SELECT 1 FROM trialsync_runs_kept AS k WHERE k.run_id = o.run_id))

-- name: retention_runs_delete
-- Their failed units go with them (ON DELETE CASCADE).
DELETE FROM dw_etl_runs AS r
WHERE r.started_at < LOCALTIMESTAMP - make_interval(days => $1::int)
  AND r.run_status <> 'running'
  AND NOT EXISTS (SELECT 1 FROM trialsync_runs_kept AS k WHERE k.run_id = r.run_id)

-- name: retention_ticks_delete
DELETE FROM dw_etl_ticks
WHERE status NOT IN ('pending', 'running')
  AND COALESCE(finished_at, due_at) < now() - make_interval(days => $1::int)

-- name: retention_probes_delete
DELETE FROM dw_etl_fanout_probes AS p
WHERE p.probed_at < now() - make_interval(days => $1::int)
  AND p.id <> (SELECT max(q.id) FROM dw_etl_fanout_probes AS q WHERE q.job_id = p.job_id)

-- name: retention_seen_keys_delete
-- Seen keys of passes no run can settle any more: their job moved on to another pass.
DELETE FROM dw_etl_seen_keys AS s
WHERE NOT EXISTS (
    SELECT 1 FROM (SELECT DISTINCT ON (job_id, credential_id) pass_id, run_status
                   FROM dw_etl_runs ORDER BY job_id, credential_id, run_id DESC) AS latest
    WHERE latest.pass_id = s.pass_id AND latest.run_status IN ('running', 'failed', 'interrupted'))

-- name: retention_sizes
-- Rows and bytes of the bookkeeping tables.
SELECT 'dw_etl_fanout_probes' AS name, (SELECT count(*) FROM dw_etl_fanout_probes) AS rows,
       pg_total_relation_size('dw_etl_fanout_probes') AS bytes
UNION ALL
SELECT 'dw_etl_run_failures' AS name, (SELECT count(*) FROM dw_etl_run_failures) AS rows,
       pg_total_relation_size('dw_etl_run_failures') AS bytes
UNION ALL
SELECT 'dw_etl_runs' AS name, (SELECT count(*) FROM dw_etl_runs) AS rows,
       pg_total_relation_size('dw_etl_runs') AS bytes
UNION ALL
SELECT 'dw_etl_seen_keys' AS name, (SELECT count(*) FROM dw_etl_seen_keys) AS rows,
       pg_total_relation_size('dw_etl_seen_keys') AS bytes
UNION ALL
SELECT 'dw_etl_ticks' AS name, (SELECT count(*) FROM dw_etl_ticks) AS rows,
       pg_total_relation_size('dw_etl_ticks') AS bytes
UNION ALL
SELECT 'dw_etl_unit_state' AS name, (SELECT count(*) FROM dw_etl_unit_state) AS rows,
       pg_total_relation_size('dw_etl_unit_state') AS bytes
-- === end of retention ======================================================================


-- === schema drift (db/schema_drift.py; notes["schema_drift"], notes["schema_checked"]) ====

-- name: schema_drift_previous
-- The drift of the latest run of job $1 for API instance $3 before run $2 whose records were
-- checked (NULL drift: checked, nothing drifted); no row: no earlier checked run. A run from
-- before instances (no credential_id) was for instance 1.
SELECT run_id, notes->'schema_drift' AS drift
FROM dw_etl_runs
WHERE job_id = $1 AND COALESCE(credential_id, 1) = $3 AND run_id < $2
  AND notes ? 'schema_checked'
ORDER BY run_id DESC
LIMIT 1

-- name: schema_drift_runs
-- The newest $2 checked runs of each (job, instance) (of job $1 / instance $3, or all when
-- NULL), newest first.
SELECT run_id, job_id, instance_id, job_name, status, started_at, drift, checked
FROM (
    SELECT r.run_id, r.job_id, COALESCE(r.credential_id, 1) AS instance_id,
           j.name AS job_name, r.run_status AS status,
           r.started_at::timestamptz AS started_at, r.notes->'schema_drift' AS drift,
           r.notes->'schema_checked' AS checked,
           row_number() OVER (PARTITION BY r.job_id, COALESCE(r.credential_id, 1)
                              ORDER BY r.run_id DESC) AS n
    FROM dw_etl_runs r LEFT JOIN dw_etl_jobs j ON j.id = r.job_id
    WHERE r.notes ? 'schema_checked' AND ($1::int IS NULL OR r.job_id = $1::int)
      AND ($3::int IS NULL OR COALESCE(r.credential_id, 1) = $3::int)
) AS checked_runs
WHERE n <= $2
ORDER BY job_id, instance_id, run_id DESC
-- === end of schema drift ==================================================================

-- === typed views (db/typed_views.py; README "For analysts: typed views") ===================
-- {view}, {table}: quoted identifiers; {columns}: expressions built from quoted JSON keys and
-- the staging_typed casts of migrations/0009_typed_views.sql; {comment}: a quoted literal.

-- name: typed_views_existing
-- The views of schema staging_typed: their columns and types in order, and their comment
-- (the definition's hash for the views made here).
SELECT c.relname AS view,
       obj_description(c.oid, 'pg_class') AS comment,
       array_agg(a.attname::text ORDER BY a.attnum) AS names,
       array_agg(format_type(a.atttypid, a.atttypmod) ORDER BY a.attnum) AS types
FROM pg_class AS c
JOIN pg_namespace AS n ON n.oid = c.relnamespace
JOIN pg_attribute AS a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
WHERE n.nspname = 'staging_typed' AND c.relkind = 'v'
GROUP BY c.oid, c.relname

-- name: typed_views_tables_existing
-- Which of the staging tables $1 exist (a view is made only over a table that does).
SELECT t AS name FROM unnest($1::text[]) AS t WHERE to_regclass(format('%I', t)) IS NOT NULL

-- name: typed_views_lock_timeout
-- Inside the transaction that replaces a view: wait this long ($1, e.g. '2s') for readers of
-- the view, then give up on it rather than queue every later reader behind the DROP.
SELECT set_config('lock_timeout', $1, true)

-- name: typed_view_create
CREATE OR REPLACE VIEW {view} AS
SELECT {columns}
FROM {table}
WHERE deleted_at IS NULL

-- name: typed_view_drop
DROP VIEW IF EXISTS {view}

-- name: typed_view_comment
COMMENT ON VIEW {view} IS {comment}
-- === end of typed views ====================================================================
