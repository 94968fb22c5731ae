-- Reference DDL of the agent platform tables that agent_execution_exporter reads.
--
-- The exporter never writes to these tables. Real platforms own their schema; this
-- file documents the columns the exporter relies on and the indexes that keep every
-- collector query proportional to the rows it needs (never to the table size).
-- Load it with the target schema first on the search_path, e.g.
--   psql -v ON_ERROR_STOP=1 -c 'SET search_path = platform' -f schema/platform.sql
-- Every statement is idempotent so the demo and the tests can load it twice.

CREATE TABLE IF NOT EXISTS workspaces (
    id   uuid PRIMARY KEY,
    name text NOT NULL
);

CREATE TABLE IF NOT EXISTS agents (
    id           uuid PRIMARY KEY,
    workspace_id uuid NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    name         text NOT NULL
);

CREATE TABLE IF NOT EXISTS agent_runs (
    run_id                uuid PRIMARY KEY,
    workspace_id          uuid,
    agent_id              uuid,
    user_id               text,
    status                text NOT NULL,  -- queued | running | completed | failed | cancelled
    queued_at             timestamptz,
    started_at            timestamptz,
    finished_at           timestamptz,    -- set when the run reaches a terminal status
    estimated_runtime     double precision,  -- seconds
    queue_wait_seconds    double precision,
    runtime_seconds       double precision,
    total_latency_seconds double precision
);

-- runs collector: the start-up aggregate reads today's finished rows and every cycle
-- reads the rows finished since its frontier; both are range scans on finished_at.
-- patterns collector: aggregates each past day once (24 one-hour range scans) and finds
-- the first run with min(finished_at) (one index probe).
CREATE INDEX IF NOT EXISTS agent_runs_finished_at_idx
    ON agent_runs (finished_at);

-- realtime collector: counts and lists running runs per workspace every second. A
-- partial index holds only the running rows, so its size follows concurrency, not
-- history.
CREATE INDEX IF NOT EXISTS agent_runs_running_idx
    ON agent_runs (workspace_id, started_at)
    WHERE status = 'running';

CREATE TABLE IF NOT EXISTS execution_queue (
    queue_id             uuid PRIMARY KEY,
    workspace_id         uuid,
    agent_id             uuid,
    run_id               uuid,
    priority             integer NOT NULL DEFAULT 0,
    status               text NOT NULL,  -- queued (waiting) | dispatched | cancelled
    queued_at            timestamptz,
    estimated_start_time timestamptz
);

-- realtime collector: queue depth, mean and oldest wait per workspace. Partial index
-- over waiting rows only, for the same reason as agent_runs_running_idx.
CREATE INDEX IF NOT EXISTS execution_queue_waiting_idx
    ON execution_queue (workspace_id, queued_at)
    WHERE status = 'queued';

-- Optional tables (the workers and models collectors report themselves unavailable
-- when absent). workers needs no index: the collector reads every row of it each cycle
-- and the table holds one row per worker.

CREATE TABLE IF NOT EXISTS workers (
    worker_id      text PRIMARY KEY,
    workspace_id   uuid,             -- NULL = shared pool
    status         text NOT NULL,    -- busy | idle | offline
    capacity       integer NOT NULL DEFAULT 1,
    cpu_percent    double precision,
    memory_percent double precision,
    gpu_percent    double precision,
    last_heartbeat timestamptz
);

CREATE TABLE IF NOT EXISTS model_calls (
    id                bigserial PRIMARY KEY,
    run_id            uuid,
    workspace_id      uuid,
    agent_id          uuid,
    model             text NOT NULL,
    prompt_tokens     integer,
    completion_tokens integer,
    latency_seconds   double precision,
    cost_usd          numeric,
    created_at        timestamptz NOT NULL DEFAULT now()
);

-- models collector: the start-up aggregate reads today's calls and every cycle reads
-- the calls created since its frontier; both are range scans on created_at (the id is
-- a bigserial, allocated before commit, so it cannot serve as the frontier).
CREATE INDEX IF NOT EXISTS model_calls_created_at_idx
    ON model_calls (created_at);
