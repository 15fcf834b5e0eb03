-- ACGS Resilience schema, constitutional hash cdd01ef066bc6cf2.
-- 0003: views for dashboards.

-- Every node with its latest sample of the last day (NULL columns when it
-- sent none): the table behind a fleet overview panel.
CREATE VIEW v_node_latest AS
SELECT n.node_id,
       n.state,
       n.state_changed_at,
       n.first_seen,
       n.last_seen,
       n.labels,
       n.version,
       n.boot_id,
       n.score,
       n.components,
       s.ts AS sample_ts,
       s.seq,
       s.cpu_usage,
       s.mem_used_ratio,
       s.swap_used_ratio,
       s.load1,
       s.load5,
       s.load15,
       s.disk_used_ratio_max,
       s.net_rx_bps,
       s.net_tx_bps,
       s.psi_cpu_some,
       s.psi_memory_some,
       s.psi_io_some,
       s.procs_total,
       s.fds_open,
       s.uptime_s,
       s.compliance_ratio
FROM nodes n
LEFT JOIN LATERAL (
	SELECT *
	FROM samples x
	WHERE x.node_id = n.node_id
	  AND x.ts > now() - interval '1 day'
	ORDER BY x.ts DESC
	LIMIT 1
) s ON true;
COMMENT ON VIEW v_node_latest IS 'Each node with its latest sample of the last 24 h';

-- One row: how the fleet is doing now.
CREATE VIEW v_fleet_now AS
SELECT count(*) AS nodes_total,
       count(*) FILTER (WHERE state = 'online') AS nodes_online,
       count(*) FILTER (WHERE state = 'offline') AS nodes_offline,
       count(*) FILTER (WHERE last_seen < now() - interval '5 minutes') AS nodes_stale,
       avg(score) AS node_score_avg,
       min(score) AS node_score_min,
       (SELECT f.score FROM scores f
	 WHERE f.scope = 'fleet' AND f.ts > now() - interval '1 day'
	 ORDER BY f.ts DESC LIMIT 1) AS fleet_score,
       max(last_seen) AS last_seen
FROM nodes;
COMMENT ON VIEW v_fleet_now IS 'Fleet totals: nodes online/offline/stale (no message for 5 min), scores';
