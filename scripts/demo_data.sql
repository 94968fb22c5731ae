-- A little data for the demo: three workspaces, a few agents, a day of finished
-- runs, some running and some queued.
INSERT INTO workspaces VALUES
  ('11111111-1111-1111-1111-111111111111', 'Research'),
  ('22222222-2222-2222-2222-222222222222', 'Support'),
  ('33333333-3333-3333-3333-333333333333', 'Sandbox');
INSERT INTO agents VALUES
  ('aaaaaaaa-0000-0000-0000-000000000001', '11111111-1111-1111-1111-111111111111', 'literature-review'),
  ('aaaaaaaa-0000-0000-0000-000000000002', '11111111-1111-1111-1111-111111111111', 'data-cleaner'),
  ('aaaaaaaa-0000-0000-0000-000000000003', '22222222-2222-2222-2222-222222222222', 'ticket-triage'),
  ('aaaaaaaa-0000-0000-0000-000000000004', '22222222-2222-2222-2222-222222222222', 'reply-drafter');
SELECT setseed(0.5);
WITH a AS (SELECT id, workspace_id, row_number() OVER (ORDER BY id) - 1 AS k FROM agents),
r AS (
  SELECT i, random() AS u, exp(ln(6) + sqrt(-2 * ln(1 - random())) * cos(2 * pi() * random())) AS rt,
         exp(ln(1.5) + sqrt(-2 * ln(1 - random())) * cos(2 * pi() * random())) AS qw,
         greatest(date_trunc('day', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC',
                  now() - interval '6 hours') + (now() - greatest(date_trunc('day', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC',
                  now() - interval '6 hours')) * random() AS f
  FROM generate_series(1, 2000) i
)
INSERT INTO agent_runs (run_id, workspace_id, agent_id, user_id, status, queued_at, started_at, finished_at,
                        estimated_runtime, queue_wait_seconds, runtime_seconds, total_latency_seconds)
SELECT gen_random_uuid(), a.workspace_id, a.id, 'user-' || (i % 11),
       CASE WHEN u < 0.85 THEN 'completed' WHEN u < 0.97 THEN 'failed' ELSE 'cancelled' END,
       f - make_interval(secs => rt + qw), f - make_interval(secs => rt), f, 10, qw, rt, qw + rt
FROM r JOIN a ON a.k = r.i % 4;
INSERT INTO agent_runs (run_id, workspace_id, agent_id, user_id, status, queued_at, started_at, estimated_runtime)
SELECT gen_random_uuid(), a.workspace_id, a.id, 'user-1', 'running', now() - make_interval(secs => 30 * i),
       now() - make_interval(secs => 25 * i), 60
FROM agents a, generate_series(1, 3) i;
INSERT INTO execution_queue (queue_id, workspace_id, agent_id, priority, status, queued_at)
SELECT gen_random_uuid(), a.workspace_id, a.id, i % 3, 'queued', now() - make_interval(secs => 7 * i)
FROM agents a, generate_series(1, 2) i;
