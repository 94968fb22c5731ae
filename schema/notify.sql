-- Optional: change notifications for agent_execution_exporter's event-driven path.
--
-- Off by default. With these triggers installed and the exporter started with
-- --db.notify-channel=agent_execution_events, a committed change to agent_runs or
-- execution_queue reaches /metrics in tens of milliseconds instead of up to one
-- collector interval (1 s realtime, 5 s runs). The exporter only LISTENs; it stays a
-- read-only client.
--
-- Payloads: "<table>:<id>,<id>,..." names the rows an INSERT, UPDATE or DELETE of
-- agent_runs (run_id) or execution_queue (queue_id) touched, at most 200 ids a
-- notification; a bare "<table>" says "something in it changed" (TRUNCATE, and any
-- change to agents or workspaces). The realtime collector re-reads just the named rows
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
-- to_jsonb per changed row) and sends one notification per 200 changed rows;
-- PostgreSQL folds identical notifications of one transaction into one. NOTIFY
-- serializes the commits of notifying transactions on a global lock for a moment; its
-- cost to the platform's write rate has not been measured yet (docs/benchmarks.md
-- measures what it buys: freshness, and the realtime collector's database time).

CREATE OR REPLACE FUNCTION agent_execution_notify() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
  channel text := coalesce(TG_ARGV[0], 'agent_execution_events');
  key text := TG_ARGV[1];
  ids text[];
BEGIN
  IF key IS NULL OR TG_OP = 'TRUNCATE' THEN
    PERFORM pg_notify(channel, TG_TABLE_NAME);
    RETURN NULL;
  END IF;
  -- A trigger with transition tables takes one event, so each event has its own
  -- trigger and only the transition tables of TG_OP exist.
  IF TG_OP = 'INSERT' THEN
    SELECT array_agg(DISTINCT to_jsonb(r) ->> key) INTO ids FROM new_rows r;
  ELSIF TG_OP = 'DELETE' THEN
    SELECT array_agg(DISTINCT to_jsonb(r) ->> key) INTO ids FROM old_rows r;
  ELSE
    SELECT array_agg(DISTINCT id) INTO ids
    FROM (SELECT to_jsonb(r) ->> key AS id FROM new_rows r
          UNION ALL SELECT to_jsonb(r) ->> key FROM old_rows r) changed;
  END IF;
  FOR i IN 1 .. coalesce(array_length(ids, 1), 0) BY 200 LOOP
    PERFORM pg_notify(channel, TG_TABLE_NAME || ':' || array_to_string(ids[i:i + 199], ','));
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
  FOR EACH STATEMENT EXECUTE FUNCTION agent_execution_notify('agent_execution_events', 'run_id');
DROP TRIGGER IF EXISTS agent_execution_notify_update ON agent_runs;
CREATE TRIGGER agent_execution_notify_update AFTER UPDATE ON agent_runs
  REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION agent_execution_notify('agent_execution_events', 'run_id');
DROP TRIGGER IF EXISTS agent_execution_notify_delete ON agent_runs;
CREATE TRIGGER agent_execution_notify_delete AFTER DELETE ON agent_runs
  REFERENCING OLD TABLE AS old_rows
  FOR EACH STATEMENT EXECUTE FUNCTION agent_execution_notify('agent_execution_events', 'run_id');

DROP TRIGGER IF EXISTS agent_execution_notify ON execution_queue;
CREATE TRIGGER agent_execution_notify AFTER TRUNCATE ON execution_queue
  FOR EACH STATEMENT EXECUTE FUNCTION agent_execution_notify('agent_execution_events');
DROP TRIGGER IF EXISTS agent_execution_notify_insert ON execution_queue;
CREATE TRIGGER agent_execution_notify_insert AFTER INSERT ON execution_queue
  REFERENCING NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION agent_execution_notify('agent_execution_events', 'queue_id');
DROP TRIGGER IF EXISTS agent_execution_notify_update ON execution_queue;
CREATE TRIGGER agent_execution_notify_update AFTER UPDATE ON execution_queue
  REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION agent_execution_notify('agent_execution_events', 'queue_id');
DROP TRIGGER IF EXISTS agent_execution_notify_delete ON execution_queue;
CREATE TRIGGER agent_execution_notify_delete AFTER DELETE ON execution_queue
  REFERENCING OLD TABLE AS old_rows
  FOR EACH STATEMENT EXECUTE FUNCTION agent_execution_notify('agent_execution_events', 'queue_id');

-- Names shown in the live view and the set of workspaces change rarely: any change
-- makes the realtime collector read everything again.
DROP TRIGGER IF EXISTS agent_execution_notify ON agents;
CREATE TRIGGER agent_execution_notify AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON agents
  FOR EACH STATEMENT EXECUTE FUNCTION agent_execution_notify('agent_execution_events');
DROP TRIGGER IF EXISTS agent_execution_notify ON workspaces;
CREATE TRIGGER agent_execution_notify AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON workspaces
  FOR EACH STATEMENT EXECUTE FUNCTION agent_execution_notify('agent_execution_events');
