-- wrk script of bench/api: one parseable line with the figures bench/api
-- reads (wrk's own summary rounds and changes units). Latencies in
-- microseconds; "non2xx" is wrk's status error count (HTTP status >= 400).
-- ACGS constitutional hash: cdd01ef066bc6cf2
done = function(summary, latency, requests)
	local e = summary.errors
	io.write(string.format(
		"BENCH requests=%d duration_us=%d bytes=%d rps=%.1f mean_us=%.1f " ..
		"p50_us=%d p90_us=%d p99_us=%d p999_us=%d max_us=%d " ..
		"non2xx=%d connect=%d read=%d write=%d timeout=%d\n",
		summary.requests, summary.duration, summary.bytes,
		summary.requests / (summary.duration / 1e6), latency.mean,
		latency:percentile(50), latency:percentile(90),
		latency:percentile(99), latency:percentile(99.9), latency.max,
		e.status, e.connect, e.read, e.write, e.timeout))
end
