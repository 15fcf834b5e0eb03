-- ACGS Resilience schema, constitutional hash cdd01ef066bc6cf2.
-- 0002: per-minute and per-hour rollups of samples, and retention.
--
-- Rollups keep the average and maximum of each main sample column per node
-- and UTC bucket, and n, the number of samples behind them. They are
-- recomputed from the raw rows of whole buckets, so running acgs_rollup
-- again over the same window (say, after late samples arrived) converges to
-- the same rows instead of counting twice.

CREATE TABLE samples_1m (
	node_id text NOT NULL,
	bucket  timestamptz NOT NULL,
	n       bigint NOT NULL,
	cpu_usage_avg double precision,
	cpu_usage_max double precision,
	mem_used_ratio_avg double precision,
	mem_used_ratio_max double precision,
	swap_used_ratio_avg double precision,
	swap_used_ratio_max double precision,
	load1_avg double precision,
	load1_max double precision,
	load5_avg double precision,
	load5_max double precision,
	load15_avg double precision,
	load15_max double precision,
	disk_used_ratio_max_avg double precision,
	disk_used_ratio_max_max double precision,
	net_rx_bps_avg double precision,
	net_rx_bps_max double precision,
	net_tx_bps_avg double precision,
	net_tx_bps_max double precision,
	psi_cpu_some_avg double precision,
	psi_cpu_some_max double precision,
	psi_memory_some_avg double precision,
	psi_memory_some_max double precision,
	psi_io_some_avg double precision,
	psi_io_some_max double precision,
	procs_total_avg double precision,
	procs_total_max double precision,
	fds_open_avg double precision,
	fds_open_max double precision,
	compliance_ratio_avg double precision,
	compliance_ratio_max double precision,
	score_avg double precision,
	score_max double precision,
	PRIMARY KEY (node_id, bucket)
);
CREATE INDEX samples_1m_bucket ON samples_1m (bucket);
COMMENT ON TABLE samples_1m IS 'Per-minute average and maximum of samples per node (n samples); filled by acgs_rollup';

CREATE TABLE samples_1h (
	node_id text NOT NULL,
	bucket  timestamptz NOT NULL,
	n       bigint NOT NULL,
	cpu_usage_avg double precision,
	cpu_usage_max double precision,
	mem_used_ratio_avg double precision,
	mem_used_ratio_max double precision,
	swap_used_ratio_avg double precision,
	swap_used_ratio_max double precision,
	load1_avg double precision,
	load1_max double precision,
	load5_avg double precision,
	load5_max double precision,
	load15_avg double precision,
	load15_max double precision,
	disk_used_ratio_max_avg double precision,
	disk_used_ratio_max_max double precision,
	net_rx_bps_avg double precision,
	net_rx_bps_max double precision,
	net_tx_bps_avg double precision,
	net_tx_bps_max double precision,
	psi_cpu_some_avg double precision,
	psi_cpu_some_max double precision,
	psi_memory_some_avg double precision,
	psi_memory_some_max double precision,
	psi_io_some_avg double precision,
	psi_io_some_max double precision,
	procs_total_avg double precision,
	procs_total_max double precision,
	fds_open_avg double precision,
	fds_open_max double precision,
	compliance_ratio_avg double precision,
	compliance_ratio_max double precision,
	score_avg double precision,
	score_max double precision,
	PRIMARY KEY (node_id, bucket)
);
CREATE INDEX samples_1h_bucket ON samples_1h (bucket);
COMMENT ON TABLE samples_1h IS 'Per-hour average and maximum of samples per node (n samples); filled by acgs_rollup';

-- Upsert the 1 m and 1 h buckets that overlap [p_from, p_to) from the raw
-- samples; returns the number of rollup rows written. Serialised, so that
-- two replicas rolling up the same window do not deadlock on the upserts.
CREATE FUNCTION acgs_rollup(p_from timestamptz, p_to timestamptz) RETURNS bigint
LANGUAGE plpgsql
AS $$
DECLARE
	m bigint;
	h bigint;
BEGIN
	IF p_from IS NULL OR p_to IS NULL OR p_to <= p_from THEN
		RETURN 0;
	END IF;
	PERFORM pg_advisory_xact_lock(hashtext('acgs_rollup'));
	INSERT INTO samples_1m (node_id, bucket, n,
		cpu_usage_avg, cpu_usage_max,
		mem_used_ratio_avg, mem_used_ratio_max,
		swap_used_ratio_avg, swap_used_ratio_max,
		load1_avg, load1_max,
		load5_avg, load5_max,
		load15_avg, load15_max,
		disk_used_ratio_max_avg, disk_used_ratio_max_max,
		net_rx_bps_avg, net_rx_bps_max,
		net_tx_bps_avg, net_tx_bps_max,
		psi_cpu_some_avg, psi_cpu_some_max,
		psi_memory_some_avg, psi_memory_some_max,
		psi_io_some_avg, psi_io_some_max,
		procs_total_avg, procs_total_max,
		fds_open_avg, fds_open_max,
		compliance_ratio_avg, compliance_ratio_max,
		score_avg, score_max)
	SELECT node_id, date_trunc('minute', ts, 'UTC'), count(*),
		avg(cpu_usage), max(cpu_usage),
		avg(mem_used_ratio), max(mem_used_ratio),
		avg(swap_used_ratio), max(swap_used_ratio),
		avg(load1), max(load1),
		avg(load5), max(load5),
		avg(load15), max(load15),
		avg(disk_used_ratio_max), max(disk_used_ratio_max),
		avg(net_rx_bps), max(net_rx_bps),
		avg(net_tx_bps), max(net_tx_bps),
		avg(psi_cpu_some), max(psi_cpu_some),
		avg(psi_memory_some), max(psi_memory_some),
		avg(psi_io_some), max(psi_io_some),
		avg(procs_total), max(procs_total),
		avg(fds_open), max(fds_open),
		avg(compliance_ratio), max(compliance_ratio),
		avg(score), max(score)
	FROM samples
	WHERE ts >= date_trunc('minute', p_from, 'UTC')
	  AND ts < date_trunc('minute', p_to - interval '1 microsecond', 'UTC') + interval '1 minute'
	GROUP BY 1, 2
	ON CONFLICT (node_id, bucket) DO UPDATE SET n = EXCLUDED.n,
		cpu_usage_avg = EXCLUDED.cpu_usage_avg, cpu_usage_max = EXCLUDED.cpu_usage_max,
		mem_used_ratio_avg = EXCLUDED.mem_used_ratio_avg, mem_used_ratio_max = EXCLUDED.mem_used_ratio_max,
		swap_used_ratio_avg = EXCLUDED.swap_used_ratio_avg, swap_used_ratio_max = EXCLUDED.swap_used_ratio_max,
		load1_avg = EXCLUDED.load1_avg, load1_max = EXCLUDED.load1_max,
		load5_avg = EXCLUDED.load5_avg, load5_max = EXCLUDED.load5_max,
		load15_avg = EXCLUDED.load15_avg, load15_max = EXCLUDED.load15_max,
		disk_used_ratio_max_avg = EXCLUDED.disk_used_ratio_max_avg, disk_used_ratio_max_max = EXCLUDED.disk_used_ratio_max_max,
		net_rx_bps_avg = EXCLUDED.net_rx_bps_avg, net_rx_bps_max = EXCLUDED.net_rx_bps_max,
		net_tx_bps_avg = EXCLUDED.net_tx_bps_avg, net_tx_bps_max = EXCLUDED.net_tx_bps_max,
		psi_cpu_some_avg = EXCLUDED.psi_cpu_some_avg, psi_cpu_some_max = EXCLUDED.psi_cpu_some_max,
		psi_memory_some_avg = EXCLUDED.psi_memory_some_avg, psi_memory_some_max = EXCLUDED.psi_memory_some_max,
		psi_io_some_avg = EXCLUDED.psi_io_some_avg, psi_io_some_max = EXCLUDED.psi_io_some_max,
		procs_total_avg = EXCLUDED.procs_total_avg, procs_total_max = EXCLUDED.procs_total_max,
		fds_open_avg = EXCLUDED.fds_open_avg, fds_open_max = EXCLUDED.fds_open_max,
		compliance_ratio_avg = EXCLUDED.compliance_ratio_avg, compliance_ratio_max = EXCLUDED.compliance_ratio_max,
		score_avg = EXCLUDED.score_avg, score_max = EXCLUDED.score_max;
	GET DIAGNOSTICS m = ROW_COUNT;
	INSERT INTO samples_1h (node_id, bucket, n,
		cpu_usage_avg, cpu_usage_max,
		mem_used_ratio_avg, mem_used_ratio_max,
		swap_used_ratio_avg, swap_used_ratio_max,
		load1_avg, load1_max,
		load5_avg, load5_max,
		load15_avg, load15_max,
		disk_used_ratio_max_avg, disk_used_ratio_max_max,
		net_rx_bps_avg, net_rx_bps_max,
		net_tx_bps_avg, net_tx_bps_max,
		psi_cpu_some_avg, psi_cpu_some_max,
		psi_memory_some_avg, psi_memory_some_max,
		psi_io_some_avg, psi_io_some_max,
		procs_total_avg, procs_total_max,
		fds_open_avg, fds_open_max,
		compliance_ratio_avg, compliance_ratio_max,
		score_avg, score_max)
	SELECT node_id, date_trunc('hour', ts, 'UTC'), count(*),
		avg(cpu_usage), max(cpu_usage),
		avg(mem_used_ratio), max(mem_used_ratio),
		avg(swap_used_ratio), max(swap_used_ratio),
		avg(load1), max(load1),
		avg(load5), max(load5),
		avg(load15), max(load15),
		avg(disk_used_ratio_max), max(disk_used_ratio_max),
		avg(net_rx_bps), max(net_rx_bps),
		avg(net_tx_bps), max(net_tx_bps),
		avg(psi_cpu_some), max(psi_cpu_some),
		avg(psi_memory_some), max(psi_memory_some),
		avg(psi_io_some), max(psi_io_some),
		avg(procs_total), max(procs_total),
		avg(fds_open), max(fds_open),
		avg(compliance_ratio), max(compliance_ratio),
		avg(score), max(score)
	FROM samples
	WHERE ts >= date_trunc('hour', p_from, 'UTC')
	  AND ts < date_trunc('hour', p_to - interval '1 microsecond', 'UTC') + interval '1 hour'
	GROUP BY 1, 2
	ON CONFLICT (node_id, bucket) DO UPDATE SET n = EXCLUDED.n,
		cpu_usage_avg = EXCLUDED.cpu_usage_avg, cpu_usage_max = EXCLUDED.cpu_usage_max,
		mem_used_ratio_avg = EXCLUDED.mem_used_ratio_avg, mem_used_ratio_max = EXCLUDED.mem_used_ratio_max,
		swap_used_ratio_avg = EXCLUDED.swap_used_ratio_avg, swap_used_ratio_max = EXCLUDED.swap_used_ratio_max,
		load1_avg = EXCLUDED.load1_avg, load1_max = EXCLUDED.load1_max,
		load5_avg = EXCLUDED.load5_avg, load5_max = EXCLUDED.load5_max,
		load15_avg = EXCLUDED.load15_avg, load15_max = EXCLUDED.load15_max,
		disk_used_ratio_max_avg = EXCLUDED.disk_used_ratio_max_avg, disk_used_ratio_max_max = EXCLUDED.disk_used_ratio_max_max,
		net_rx_bps_avg = EXCLUDED.net_rx_bps_avg, net_rx_bps_max = EXCLUDED.net_rx_bps_max,
		net_tx_bps_avg = EXCLUDED.net_tx_bps_avg, net_tx_bps_max = EXCLUDED.net_tx_bps_max,
		psi_cpu_some_avg = EXCLUDED.psi_cpu_some_avg, psi_cpu_some_max = EXCLUDED.psi_cpu_some_max,
		psi_memory_some_avg = EXCLUDED.psi_memory_some_avg, psi_memory_some_max = EXCLUDED.psi_memory_some_max,
		psi_io_some_avg = EXCLUDED.psi_io_some_avg, psi_io_some_max = EXCLUDED.psi_io_some_max,
		procs_total_avg = EXCLUDED.procs_total_avg, procs_total_max = EXCLUDED.procs_total_max,
		fds_open_avg = EXCLUDED.fds_open_avg, fds_open_max = EXCLUDED.fds_open_max,
		compliance_ratio_avg = EXCLUDED.compliance_ratio_avg, compliance_ratio_max = EXCLUDED.compliance_ratio_max,
		score_avg = EXCLUDED.score_avg, score_max = EXCLUDED.score_max;
	GET DIAGNOSTICS h = ROW_COUNT;
	RETURN m + h;
END
$$;

-- Drop the daily partitions of p_parent that end on or before p_before
-- (UTC); returns how many were dropped.
CREATE FUNCTION acgs_drop_partitions_before(p_parent text, p_before date) RETURNS int
LANGUAGE plpgsql
AS $$
DECLARE
	r record;
	dropped int := 0;
BEGIN
	FOR r IN
		SELECT c.relname
		FROM pg_inherits i
		JOIN pg_class c ON c.oid = i.inhrelid
		WHERE i.inhparent = p_parent::regclass
		  AND c.relname ~ ('^' || p_parent || '_p[0-9]{8}$')
		  AND to_date(right(c.relname, 8), 'YYYYMMDD') < p_before
		ORDER BY c.relname
	LOOP
		EXECUTE format('DROP TABLE %I', r.relname);
		dropped := dropped + 1;
	END LOOP;
	RETURN dropped;
END
$$;

-- Keep raw_days of samples, probe results, scores and rejected messages,
-- m1_days of 1 m rollups and h1_days of 1 h rollups (whole UTC days for
-- the partitioned tables). Returns the number of partitions dropped.
CREATE FUNCTION acgs_apply_retention(raw_days int, m1_days int, h1_days int) RETURNS int
LANGUAGE plpgsql
AS $$
DECLARE
	raw_cut date := (now() AT TIME ZONE 'UTC')::date - raw_days;
	raw_ts timestamptz := raw_cut::timestamp AT TIME ZONE 'UTC';
	t text;
	dropped int := 0;
BEGIN
	IF raw_days < 1 OR m1_days < 1 OR h1_days < 1 THEN
		RAISE EXCEPTION 'retention days must be at least 1'
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	PERFORM pg_advisory_xact_lock(hashtext('acgs_partitions'));
	FOREACH t IN ARRAY ARRAY['samples', 'probe_results', 'scores'] LOOP
		dropped := dropped + acgs_drop_partitions_before(t, raw_cut);
		EXECUTE format('DELETE FROM %I WHERE ts < $1', t || '_default') USING raw_ts;
	END LOOP;
	DELETE FROM rejected_messages WHERE received_at < raw_ts;
	DELETE FROM samples_1m WHERE bucket < now() - make_interval(days => m1_days);
	DELETE FROM samples_1h WHERE bucket < now() - make_interval(days => h1_days);
	RETURN dropped;
END
$$;
