-- Optional: change notifications for agent_execution_exporter's event-driven path.
--
-- Off by default. With these triggers installed and the exporter started with
-- --db.notify-channel=agent_execution_events, a committed change to agent_runs or
-- execution_queue reaches /metrics in tens of milliseconds instead of up to one
-- collector interval (1 s realtime, 5 s runs). The exporter only LISTENs; it stays a
-- read-only client.
--
-- Payloads: "<table>:<workspace>/<id>,<workspace>/<id>,..." names the rows an
-- INSERT, UPDATE or DELETE of agent_runs (run_id) or execution_queue (queue_id)
-- touched, each with its workspace_id (empty when NULL; an UPDATE names the row before
-- and after, so a row moved between workspaces is named under both), at most about
-- 7 000 bytes a notification; a bare "<table>" says "something in it changed"
-- (TRUNCATE, any change to agents or workspaces, and an entry longer than 401 bytes,
-- which cannot be the uuids the exporter reads). A shard exporter (--shard.count)
-- drops the entries of other shards' workspaces before reading anything, and is not
-- woken by them. The exporter also accepts the older "<table>:<id>,..." payloads (the
-- file before 2026-12-01), without that filtering. The realtime collector re-reads
-- just the named rows
-- (--collector.realtime.resync-interval, docs/configuration.md); a bare table name, a
-- reconnect of the listener or a missing trigger makes it read everything again, so
-- a lost or foreign notification costs one full read, never a wrong figure.
-- PostgreSQL delivers a notification when its transaction commits, so a transaction
-- that commits late (with timestamps older than rows already seen) is announced then.
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
--
-- Cost to the platform: one statement-level trigger per INSERT/UPDATE/DELETE
-- statement (not per row), which reads the statement's transition table once (one
-- to_jsonb per changed row) and sends one notification per about 90 changed rows;
-- PostgreSQL folds identical notifications of one transaction into one. NOTIFY
-- serializes the commits of notifying transactions on a global lock for a moment; its
-- cost to the platform's write rate has not been measured yet (docs/benchmarks.md
-- measures what it buys: freshness, and the realtime collector's database time).

CREATE OR REPLACE FUNCTION agent_execution_notify() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
  channel text := coalesce(TG_ARGV[0], 'agent_execution_events');
  key text := TG_ARGV[1];
  scope text := TG_ARGV[2];  -- the workspace column: entries "<workspace>/<id>"
  entries text[];
  longest int;
  per int;
BEGIN
  IF key IS NULL OR TG_OP = 'TRUNCATE' THEN
    PERFORM pg_notify(channel, TG_TABLE_NAME);
    RETURN NULL;
  END IF;
  -- A trigger with transition tables takes one event, so each event has its own
  -- trigger and only the transition tables of TG_OP exist.
  IF TG_OP = 'INSERT' THEN
    SELECT array_agg(DISTINCT e) INTO entries
    FROM (SELECT CASE WHEN scope IS NULL THEN j ->> key ELSE coalesce(j ->> scope, '') || '/' || (j ->> key) END
          FROM (SELECT to_jsonb(r) AS j FROM new_rows r) rows) changed(e);
  ELSIF TG_OP = 'DELETE' THEN
    SELECT array_agg(DISTINCT e) INTO entries
    FROM (SELECT CASE WHEN scope IS NULL THEN j ->> key ELSE coalesce(j ->> scope, '') || '/' || (j ->> key) END
          FROM (SELECT to_jsonb(r) AS j FROM old_rows r) rows) changed(e);
  ELSE
    SELECT array_agg(DISTINCT e) INTO entries
    FROM (SELECT CASE WHEN scope IS NULL THEN j ->> key ELSE coalesce(j ->> scope, '') || '/' || (j ->> key) END
          FROM (SELECT to_jsonb(r) AS j FROM new_rows r UNION ALL SELECT to_jsonb(r) FROM old_rows r) rows) changed(e);
  END IF;
  SELECT max(octet_length(e)) INTO longest FROM unnest(entries) e;
  IF longest > 401 THEN
    -- Not ids the exporter can name (it reads uuids): "something changed", and a
    -- payload that could pass PostgreSQL's 8 000 bytes is never sent.
    PERFORM pg_notify(channel, TG_TABLE_NAME);
    RETURN NULL;
  END IF;
  per := 7000 / (coalesce(longest, 1) + 1);
  FOR i IN 1 .. coalesce(array_length(entries, 1), 0) BY per LOOP
    PERFORM pg_notify(channel, TG_TABLE_NAME || ':' || array_to_string(entries[i:i + per - 1], ','));
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
