-- Optional: change notifications for agent_execution_exporter's event-driven path.
--
-- Off by default. With these triggers installed and the exporter started with
-- --db.notify-channel=agent_execution_events, a committed change to agent_runs or
-- execution_queue reaches /metrics in tens of milliseconds instead of up to one
-- collector interval (1 s realtime, 5 s runs). The exporter only LISTENs; it stays a
-- read-only client.
--
-- Payloads: "<table>:<entry>,<entry>,...,#<n>" carries the rows an INSERT, UPDATE or
-- DELETE of agent_runs (run_id) or execution_queue (queue_id) touched, one entry
-- "<workspace>/<id>=<state>" per row (format below): its workspace_id (empty when
-- NULL), its key, and whether it is now running / waiting and with which fields the
-- exporter's realtime figures need, or a finished run's finished_at, from which the
-- runs collector reads instead of from its frontier. An UPDATE that moves a row to
-- another workspace sends the row before ("=-") ahead of the row after. At most about
-- 7 000 bytes a notification; "#<n>" counts the transaction's notifications. A bare
-- "<table>" says "something in it changed" (TRUNCATE, any change to agents or
-- workspaces, and an entry longer than 401 bytes). A shard exporter (--shard.count)
-- drops the entries of other shards' workspaces, and is not woken by them. The
-- realtime collector applies the entries to its cache without reading the rows (it
-- reads them by primary key instead when it must show user_id, which payloads never
-- carry, and for "<workspace>/<id>" or "<id>" entries of older versions of this
-- file). A bare table name, a reconnect of the listener or a missing trigger makes it
-- read everything again, so a lost or foreign notification costs one full read, never
-- a wrong figure. PostgreSQL delivers a transaction's notifications when it commits,
-- in commit order, so a transaction that commits late (with timestamps older than
-- rows already seen) is announced then, and the last entry of a row is its state.
--
-- Who can read the payloads: any role that may connect to the database can LISTEN
-- on the channel. The entries hold ids, timestamps, estimated_runtime and priority;
-- never user_id or other free text.
--
-- The channel is the first trigger argument; the exporter checks that all ten triggers
-- below exist, are enabled and name its channel before trusting them (change
-- 'agent_execution_events' everywhere below to use another channel).
--
-- Install (as the owner of the tables, in the schema that holds them):
--   psql "$DB_URL" -v ON_ERROR_STOP=1 -f schema/notify.sql
--   PGOPTIONS='-c search_path=platform' psql ... -f schema/notify.sql   # other schema
-- Remove:
--   DROP FUNCTION agent_execution_notify() CASCADE;
--   DROP FUNCTION agent_execution_notify_entry(text, text, text, jsonb, boolean);
--   DROP FUNCTION agent_execution_notify_time(timestamptz);
--
-- Cost to the platform: one statement-level trigger per INSERT/UPDATE/DELETE
-- statement (not per row), which reads the statement's transition table once (one
-- to_jsonb per changed row) and sends one notification per about 45 changed rows. NOTIFY
-- serializes the commits of notifying transactions on a global lock for a moment; its
-- cost to the platform's write rate has not been measured yet (docs/benchmarks.md
-- measures what it buys: freshness, and the realtime collector's database time).

-- What a row's entry carries, so that the exporter need not read it:
-- "<workspace>/<id>=<state>". For agent_runs and execution_queue <state> is "-"
-- when the row has no workspace or is gone (deleted, or moved to another workspace
-- or id), "-<finished_at>" when a run is not running (finished_at NULL: "-n"), "-"
-- when a queue entry is not waiting, and otherwise the fields the realtime collector
-- keeps, ';'-separated:
--   agent_runs:      <agent_id>;<started_at>;<estimated_runtime>
--   execution_queue: <agent_id>;<queued_at>;<priority>;<estimated_start_time>
-- An UPDATE that left a row's entry as it was sends "~" instead (nothing the
-- exporter counts or shows changed, but maybe user_id). A time is Unix microseconds
-- (floor), "n" for NULL, "-" / "+" for -infinity / infinity; a number is float8 text
-- (shortest exact form), empty for NULL; an empty agent_id is NULL. Never user_id or
-- other free text. Without a workspace column (scope NULL) the entry is the bare id.
CREATE OR REPLACE FUNCTION agent_execution_notify_time(t timestamptz) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
  SELECT CASE WHEN t IS NULL THEN 'n'
              WHEN isfinite(t) THEN floor(extract(epoch FROM t) * 1000000)::int8::text
              WHEN t < 'epoch'::timestamptz THEN '-' ELSE '+' END
$$;

CREATE OR REPLACE FUNCTION agent_execution_notify_entry(tbl text, key text, scope text, j jsonb, gone boolean)
RETURNS text LANGUAGE sql STABLE AS $$
  SELECT CASE WHEN scope IS NULL THEN j ->> key ELSE
    coalesce(j ->> scope, '') || '/' || (j ->> key) || '=' || CASE
      WHEN gone OR j ->> scope IS NULL THEN '-'
      WHEN tbl = 'agent_runs' AND j ->> 'status' = 'running' THEN
        coalesce(j ->> 'agent_id', '') || ';' || agent_execution_notify_time((j ->> 'started_at')::timestamptz) ||
        ';' || coalesce((j ->> 'estimated_runtime')::float8::text, '')
      WHEN tbl = 'agent_runs' THEN
        '-' || coalesce(agent_execution_notify_time((j ->> 'finished_at')::timestamptz), '')
      WHEN tbl = 'execution_queue' AND j ->> 'status' = 'queued' THEN
        coalesce(j ->> 'agent_id', '') || ';' || agent_execution_notify_time((j ->> 'queued_at')::timestamptz) ||
        ';' || coalesce((j ->> 'priority')::float8::text, '') ||
        ';' || agent_execution_notify_time((j ->> 'estimated_start_time')::timestamptz)
      ELSE '-' END
  END
$$;

-- extra_float_digits = 3: numbers leave in their shortest exact form whatever the
-- writing session set, so the exporter reads back the very double.
CREATE OR REPLACE FUNCTION agent_execution_notify() RETURNS trigger
LANGUAGE plpgsql SET extra_float_digits = 3 AS $$
DECLARE
  channel text := coalesce(TG_ARGV[0], 'agent_execution_events');
  key text := TG_ARGV[1];
  scope text := TG_ARGV[2];  -- the workspace column
  entries text[];
  longest int;
  per int;
  seq text;
BEGIN
  IF key IS NULL OR TG_OP = 'TRUNCATE' THEN
    PERFORM pg_notify(channel, TG_TABLE_NAME);
    RETURN NULL;
  END IF;
  -- A trigger with transition tables takes one event, so each event has its own
  -- trigger and only the transition tables of TG_OP exist. An UPDATE sends the row
  -- before ("-") first where it left its workspace (or id), then the row after ("~"
  -- when its entry did not change).
  IF TG_OP = 'INSERT' THEN
    SELECT array_agg(agent_execution_notify_entry(TG_TABLE_NAME, key, scope, to_jsonb(r), false))
      INTO entries FROM new_rows r;
  ELSIF TG_OP = 'DELETE' THEN
    SELECT array_agg(agent_execution_notify_entry(TG_TABLE_NAME, key, scope, to_jsonb(r), true))
      INTO entries FROM old_rows r;
  ELSE
    WITH after AS (
      SELECT agent_execution_notify_entry(TG_TABLE_NAME, key, scope, to_jsonb(r), false) AS e FROM new_rows r
    ), before AS (
      SELECT agent_execution_notify_entry(TG_TABLE_NAME, key, scope, to_jsonb(r), false) AS e FROM old_rows r
    )
    SELECT array_agg(e ORDER BY ord) INTO entries FROM (
      SELECT 1, CASE WHEN scope IS NULL THEN b.e ELSE split_part(b.e, '=', 1) || '=-' END FROM before b
      WHERE NOT EXISTS (SELECT 1 FROM after a WHERE split_part(a.e, '=', 1) = split_part(b.e, '=', 1))
      UNION ALL
      SELECT 2, CASE WHEN scope IS NOT NULL AND a.e IN (SELECT b.e FROM before b)  -- a hashed subplan
                     THEN split_part(a.e, '=', 1) || '=~' ELSE a.e END
      FROM after a
    ) changed(ord, e);
  END IF;
  SELECT max(octet_length(e)) INTO longest FROM unnest(entries) e;
  IF longest > 401 THEN
    -- Not what the exporter can read (it reads uuids): "something changed", and a
    -- payload that could pass PostgreSQL's 8 000 bytes is never sent.
    PERFORM pg_notify(channel, TG_TABLE_NAME);
    RETURN NULL;
  END IF;
  per := 7000 / (coalesce(longest, 1) + 1);
  FOR i IN 1 .. coalesce(array_length(entries, 1), 0) BY per LOOP
    -- PostgreSQL folds a notification identical to one the transaction already sent:
    -- a row that returns to an earlier state would lose the state between. A last
    -- entry "#<n>", counting the transaction's notifications, keeps each distinct.
    seq := (coalesce(nullif(current_setting('agent_execution_notify.seq', true), ''), '0')::int8 + 1)::text;
    PERFORM set_config('agent_execution_notify.seq', seq, true);
    PERFORM pg_notify(channel, TG_TABLE_NAME || ':' || array_to_string(entries[i:i + per - 1], ',') || ',#' || seq);
  END LOOP;
  RETURN NULL;
END;
$$;

DROP TRIGGER IF EXISTS agent_execution_notify ON agent_runs;
CREATE TRIGGER agent_execution_notify AFTER TRUNCATE ON agent_runs
  FOR EACH STATEMENT EXECUTE FUNCTION agent_execution_notify('agent_execution_events');
DROP TRIGGER IF EXISTS agent_execution_notify_insert ON agent_runs;
CREATE TRIGGER agent_execution_notify_insert AFTER INSERT ON agent_runs
  REFERENCING NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION agent_execution_notify('agent_execution_events', 'run_id', 'workspace_id');
DROP TRIGGER IF EXISTS agent_execution_notify_update ON agent_runs;
CREATE TRIGGER agent_execution_notify_update AFTER UPDATE ON agent_runs
  REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION agent_execution_notify('agent_execution_events', 'run_id', 'workspace_id');
DROP TRIGGER IF EXISTS agent_execution_notify_delete ON agent_runs;
CREATE TRIGGER agent_execution_notify_delete AFTER DELETE ON agent_runs
  REFERENCING OLD TABLE AS old_rows
  FOR EACH STATEMENT EXECUTE FUNCTION agent_execution_notify('agent_execution_events', 'run_id', 'workspace_id');

DROP TRIGGER IF EXISTS agent_execution_notify ON execution_queue;
CREATE TRIGGER agent_execution_notify AFTER TRUNCATE ON execution_queue
  FOR EACH STATEMENT EXECUTE FUNCTION agent_execution_notify('agent_execution_events');
DROP TRIGGER IF EXISTS agent_execution_notify_insert ON execution_queue;
CREATE TRIGGER agent_execution_notify_insert AFTER INSERT ON execution_queue
  REFERENCING NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION agent_execution_notify('agent_execution_events', 'queue_id', 'workspace_id');
DROP TRIGGER IF EXISTS agent_execution_notify_update ON execution_queue;
CREATE TRIGGER agent_execution_notify_update AFTER UPDATE ON execution_queue
  REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION agent_execution_notify('agent_execution_events', 'queue_id', 'workspace_id');
DROP TRIGGER IF EXISTS agent_execution_notify_delete ON execution_queue;
CREATE TRIGGER agent_execution_notify_delete AFTER DELETE ON execution_queue
  REFERENCING OLD TABLE AS old_rows
  FOR EACH STATEMENT EXECUTE FUNCTION agent_execution_notify('agent_execution_events', 'queue_id', 'workspace_id');

-- Names shown in the live view and the set of workspaces change rarely: any change
-- makes the realtime collector read everything again.
DROP TRIGGER IF EXISTS agent_execution_notify ON agents;
CREATE TRIGGER agent_execution_notify AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON agents
  FOR EACH STATEMENT EXECUTE FUNCTION agent_execution_notify('agent_execution_events');
DROP TRIGGER IF EXISTS agent_execution_notify ON workspaces;
CREATE TRIGGER agent_execution_notify AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON workspaces
  FOR EACH STATEMENT EXECUTE FUNCTION agent_execution_notify('agent_execution_events');
