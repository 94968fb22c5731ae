-- wrk -s bench/wrk_report.lua: prints one JSON line with the run's figures (latencies in
-- seconds) for bench/bench.py. WRK_HEADERS="Name: value|Name: value" adds request headers.
local headers = os.getenv("WRK_HEADERS")
if headers and headers ~= "" then
  for h in string.gmatch(headers, "[^|]+") do
    local k, v = string.match(h, "^%s*([^:]+):%s*(.*)$")
    if k then wrk.headers[k] = v end
  end
end

done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '{"requests": %d, "duration_s": %.6f, "bytes": %d, "p50_s": %.6f, "p90_s": %.6f, "p99_s": %.6f, ' ..
    '"max_s": %.6f, "mean_s": %.6f, "errors": %d, "non2xx": %d}\n',
    summary.requests, summary.duration / 1e6, summary.bytes,
    latency:percentile(50) / 1e6, latency:percentile(90) / 1e6, latency:percentile(99) / 1e6,
    latency.max / 1e6, latency.mean / 1e6,
    e.connect + e.read + e.write + e.timeout, e.status))
end
