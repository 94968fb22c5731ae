-- Optional: change notifications for agent_execution_exporter's event-driven path.
--
-- Off by default. With these triggers installed and the exporter started with
-- --db.notify-channel=agent_execution_events, a committed change to agent_runs or
-- execution_queue reaches /metrics in tens of milliseconds instead of up to one
-- collector interval (1 s realtime, 5 s runs). The exporter only LISTENs; it stays a
-- read-only client. Notifications carry no data (the payload is the table name): the
-- collectors still read the tables, so a lost notification delays a figure until the
-- next poll and never changes it.
--
-- Install (as the owner of the tables, in the schema that holds them):
--   psql "$DB_URL" -v ON_ERROR_STOP=1 -f schema/notify.sql
--   PGOPTIONS='-c search_path=platform' psql ... -f schema/notify.sql   # other schema
-- Remove:
--   DROP TRIGGER agent_execution_notify ON agent_runs;
--   DROP TRIGGER agent_execution_notify ON execution_queue;
--   DROP FUNCTION agent_execution_notify();
--
-- Cost to the platform: one statement-level trigger per INSERT/UPDATE/DELETE
-- statement (not per row), and PostgreSQL folds identical notifications of one
-- transaction into one. NOTIFY serializes the commits of notifying transactions on a
-- global lock for a moment; its cost to the platform's write rate has not been
-- measured yet (docs/benchmarks.md measures what it buys: freshness).

CREATE OR REPLACE FUNCTION agent_execution_notify() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('agent_execution_events', TG_TABLE_NAME);
  RETURN NULL;
END;
$$;

DROP TRIGGER IF EXISTS agent_execution_notify ON agent_runs;
CREATE TRIGGER agent_execution_notify
  AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON agent_runs
  FOR EACH STATEMENT EXECUTE FUNCTION agent_execution_notify();

DROP TRIGGER IF EXISTS agent_execution_notify ON execution_queue;
CREATE TRIGGER agent_execution_notify
  AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON execution_queue
  FOR EACH STATEMENT EXECUTE FUNCTION agent_execution_notify();
