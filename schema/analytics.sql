-- DDL of the per-minute rollup that agent_execution_rollup writes (docs/rollup.md).
--
-- analytics.execution_metrics_minute is the spec's table, column for column
-- (shared spec, "Database Schema"). The spec's REFERENCES public.workspaces(id)
-- is written unqualified here: it resolves through the search_path to the schema
-- that holds the platform tables, which is public unless the platform uses another
-- (the exporter's and the rollup's --db.schema). Load it like schema/platform.sql,
-- with that schema first on the search_path:
--   psql -v ON_ERROR_STOP=1 -c 'SET search_path = platform' -f schema/analytics.sql
-- (with the default public schema simply: psql -v ON_ERROR_STOP=1 -f schema/analytics.sql).
-- Every statement is idempotent so it can be loaded twice. gen_random_uuid() is
-- built in from PostgreSQL 13.

CREATE SCHEMA IF NOT EXISTS analytics;

-- Execution metrics table
CREATE TABLE IF NOT EXISTS analytics.execution_metrics_minute (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    workspace_id UUID REFERENCES workspaces(id),
    minute TIMESTAMPTZ NOT NULL,

    -- Throughput metrics
    total_executions INTEGER DEFAULT 0,
    successful_executions INTEGER DEFAULT 0,
    failed_executions INTEGER DEFAULT 0,

    -- Latency metrics (in milliseconds)
    avg_queue_latency INTEGER,
    p50_queue_latency INTEGER,
    p95_queue_latency INTEGER,
    avg_execution_latency INTEGER,
    p50_execution_latency INTEGER,
    p95_execution_latency INTEGER,

    -- Queue metrics
    max_queue_depth INTEGER DEFAULT 0,
    avg_queue_depth NUMERIC(10,2),

    -- System metrics
    avg_cpu_usage NUMERIC(5,2),
    avg_memory_usage NUMERIC(5,2),
    active_workers INTEGER,

    created_at TIMESTAMPTZ DEFAULT NOW(),

    CONSTRAINT unique_execution_minute UNIQUE(workspace_id, minute)
);

-- Indexes
CREATE INDEX IF NOT EXISTS idx_execution_metrics_workspace_minute
    ON analytics.execution_metrics_minute(workspace_id, minute DESC);

-- The writer's own bookkeeping (not in the spec; only agent_execution_rollup reads
-- and writes these).

-- End of the minutes aggregated so far, committed with the rows: a restart resumes
-- from here (re-reading the lateness window before it), so no minute is skipped.
CREATE TABLE IF NOT EXISTS analytics.rollup_progress (
    writer        text PRIMARY KEY,
    aggregated_to timestamptz NOT NULL,
    updated_at    timestamptz NOT NULL DEFAULT now()
);

-- Queue depth and worker samples, summed per minute (one row per minute: how many
-- samples were taken) and per workspace and minute (only workspaces with a waiting
-- entry or a live worker in some sample; the others sampled 0). Flushes add to the
-- sums, so a minute sampled by two processes (a restart in the middle of it)
-- averages over all its samples. Rows older than a day are deleted by the writer.
CREATE TABLE IF NOT EXISTS analytics.rollup_sampled_minutes (
    minute  timestamptz PRIMARY KEY,
    samples integer NOT NULL
);

CREATE TABLE IF NOT EXISTS analytics.rollup_samples (
    minute         timestamptz NOT NULL,
    workspace_id   uuid NOT NULL,
    depth_sum      bigint NOT NULL,
    depth_max      integer NOT NULL,
    cpu_samples    integer NOT NULL,
    cpu_sum        double precision NOT NULL,
    memory_samples integer NOT NULL,
    memory_sum     double precision NOT NULL,
    workers_max    integer NOT NULL,
    PRIMARY KEY (minute, workspace_id)
);
