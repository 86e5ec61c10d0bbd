-- Typed views for analysts (README "For analysts: typed views"): schema staging_typed holds one
-- view per staging table whose records the swagger declares (made by `migrate` and `views`,
-- src/trialsync_async/typed_views.py), and the casts they use. Every cast returns NULL for a
-- value that does not fit its type, never an error: a record the API changes under us must not
-- break an analyst's query.
CREATE SCHEMA IF NOT EXISTS staging_typed;

-- A number, or a string holding one (exponents up to 3 digits: nothing numeric cannot hold).
CREATE OR REPLACE FUNCTION staging_typed.to_numeric(v jsonb) RETURNS numeric
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE jsonb_typeof(v)
        WHEN 'number' THEN v::numeric
        WHEN 'string' THEN CASE
            WHEN (v #>> '{}') ~ '^\s*[-+]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][-+]?[0-9]{1,3})?\s*$'
            THEN (v #>> '{}')::numeric END
    END
$$;

-- A whole number within integer's range (1.0 is 1; 1.5, 3e10 and "x" are NULL).
CREATE OR REPLACE FUNCTION staging_typed.to_int(v jsonb) RETURNS integer
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN n = trunc(n) AND n BETWEEN -2147483648 AND 2147483647 THEN n::integer END
    FROM (SELECT staging_typed.to_numeric(v) AS n) AS s
$$;

CREATE OR REPLACE FUNCTION staging_typed.to_bigint(v jsonb) RETURNS bigint
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN n = trunc(n) AND n BETWEEN -9223372036854775808 AND 9223372036854775807
                THEN n::bigint END
    FROM (SELECT staging_typed.to_numeric(v) AS n) AS s
$$;

-- true/false, or the strings "true"/"false" in any case.
CREATE OR REPLACE FUNCTION staging_typed.to_bool(v jsonb) RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE jsonb_typeof(v)
        WHEN 'boolean' THEN v::boolean
        WHEN 'string' THEN CASE lower(v #>> '{}') WHEN 'true' THEN true WHEN 'false' THEN false END
    END
$$;

-- YYYY-MM-DD, alone or followed by a time (the date part is taken as written); NULL for an
-- impossible date (2024-02-30) or anything else.
CREATE OR REPLACE FUNCTION staging_typed.to_date(v jsonb) RETURNS date
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
DECLARE
    s text := CASE WHEN jsonb_typeof(v) = 'string' THEN v #>> '{}' END;
BEGIN
    IF s IS NULL OR s !~ '^[0-9]{4}-[0-9]{2}-[0-9]{2}($|[T ])' THEN
        RETURN NULL;
    END IF;
    RETURN make_date(substr(s, 1, 4)::int, substr(s, 6, 2)::int, substr(s, 9, 2)::int);
EXCEPTION WHEN OTHERS THEN
    RETURN NULL;
END
$$;

-- ISO 8601 date-time. With an offset (Z, +02, +02:00, +0200) it is that instant; WITHOUT one
-- it is read as UTC, whatever the session's TimeZone (so the function is immutable and a
-- view's answer does not depend on who asks): `col AT TIME ZONE 'UTC'` gives back the wall
-- clock the API sent. A bare date is midnight UTC. NULL for anything else.
CREATE OR REPLACE FUNCTION staging_typed.to_timestamptz(v jsonb) RETURNS timestamptz
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
DECLARE
    s text := CASE WHEN jsonb_typeof(v) = 'string' THEN btrim(v #>> '{}') END;
BEGIN
    IF s IS NULL OR s !~ ('^[0-9]{4}-[0-9]{2}-[0-9]{2}'
                          '([T ][0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]+)?)?'
                          '(Z|z|[+-][0-9]{2}(:?[0-9]{2})?)?)?$') THEN
        RETURN NULL;
    END IF;
    IF s ~ '(Z|z|[+-][0-9]{2}(:?[0-9]{2})?)$' AND s ~ '[T ]' THEN
        RETURN s::timestamptz;
    END IF;
    RETURN s::timestamp AT TIME ZONE 'UTC';
EXCEPTION WHEN OTHERS THEN
    RETURN NULL;
END
$$;
