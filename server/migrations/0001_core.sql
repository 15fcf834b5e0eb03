-- ACGS Resilience schema, constitutional hash cdd01ef066bc6cf2.
-- 0001: nodes, time series (daily range partitions in UTC), rejects, tokens.
--
-- Grafana reads these tables directly, so names are meant for people:
-- one wide row per node sample, units in column names where they are not
-- ratios in [0, 1], timestamps as timestamptz.

-- Milliseconds since the epoch <-> timestamptz. to_timestamp(double) keeps
-- microseconds, so millisecond values survive the round trip exactly.
CREATE FUNCTION acgs_ms_ts(ms bigint) RETURNS timestamptz
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
AS $$ SELECT to_timestamp(ms / 1000.0) $$;

CREATE FUNCTION acgs_ts_ms(t timestamptz) RETURNS bigint
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
AS $$ SELECT floor(extract(epoch FROM t) * 1000)::bigint $$;

-- Typed reads of agent JSON that never fail: a wrong type or an out of
-- range number is NULL, so one odd probe cannot reject a whole batch.
CREATE FUNCTION acgs_jnum(j jsonb) RETURNS double precision
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
SELECT CASE WHEN jsonb_typeof(j) = 'number'
             AND abs((j #>> '{}')::numeric) < 1e300
            THEN (j #>> '{}')::double precision END
$$;

CREATE FUNCTION acgs_jint(j jsonb) RETURNS bigint
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
SELECT CASE WHEN jsonb_typeof(j) = 'number'
             AND abs((j #>> '{}')::numeric) < 9e18
            THEN round((j #>> '{}')::numeric)::bigint END
$$;

CREATE FUNCTION acgs_jtext(j jsonb) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$ SELECT CASE WHEN jsonb_typeof(j) = 'string' THEN j #>> '{}' END $$;

CREATE FUNCTION acgs_jbool(j jsonb) RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$ SELECT CASE WHEN jsonb_typeof(j) = 'boolean' THEN (j #>> '{}')::boolean END $$;

-- One row per agent, written from its birth, state and score.
CREATE TABLE nodes (
	node_id          text PRIMARY KEY,
	first_seen       timestamptz NOT NULL DEFAULT now(),
	last_seen        timestamptz NOT NULL DEFAULT now(),
	boot_id          text,
	labels           jsonb NOT NULL DEFAULT '{}'::jsonb,
	version          text,
	config_hash      text,
	state            text NOT NULL DEFAULT 'unknown'
	                 CHECK (state IN ('online', 'offline', 'unknown')),
	state_changed_at timestamptz,
	conn             bigint,
	score            double precision CHECK (score BETWEEN 0 AND 1),
	score_at         timestamptz,
	components       jsonb
);
COMMENT ON TABLE nodes IS 'One row per agent: birth, online/offline state (conn orders them), latest health score';

-- One wide row per metrics message. The primary key starts with
-- (node_id, ts) so the one index serves both duplicate detection (a replay
-- keeps boot_id, seq and ts) and per-node time range reads.
CREATE TABLE samples (
	node_id             text NOT NULL,
	boot_id             text NOT NULL,
	seq                 bigint NOT NULL,
	ts                  timestamptz NOT NULL,
	received_at         timestamptz NOT NULL DEFAULT now(),
	cpu_usage           double precision,
	mem_used_ratio      double precision,
	swap_used_ratio     double precision,
	load1               double precision,
	load5               double precision,
	load15              double precision,
	disk_used_ratio_max double precision,
	net_rx_bps          double precision,
	net_tx_bps          double precision,
	psi_cpu_some        double precision,
	psi_memory_some     double precision,
	psi_io_some         double precision,
	procs_total         bigint,
	fds_open            bigint,
	uptime_s            double precision,
	compliance_ratio    double precision,
	score               double precision,
	payload             jsonb,
	PRIMARY KEY (node_id, ts, boot_id, seq)
) PARTITION BY RANGE (ts);
COMMENT ON TABLE samples IS 'One row per agent sample; ratios in [0,1], net in bytes/s; payload is the message as received';
-- Rows outside every daily partition (skewed clocks, old replays) land here
-- instead of failing their batch; acgs_create_partition moves them out.
CREATE TABLE samples_default PARTITION OF samples DEFAULT;

-- One row per probe per sample, extracted from the sample's "probes" array.
CREATE TABLE probe_results (
	node_id    text NOT NULL,
	ts         timestamptz NOT NULL,
	name       text NOT NULL,
	type       text,
	service    text,
	ok         boolean,
	runs       bigint,
	failures   bigint,
	latency_ms double precision,
	p50_ms     double precision,
	p99_ms     double precision,
	slo_ms     double precision,
	status     integer,
	error      text,
	PRIMARY KEY (node_id, ts, name)
) PARTITION BY RANGE (ts);
COMMENT ON TABLE probe_results IS 'One row per probe per sample (HTTP/TCP latency in ms, SLO, last error)';
CREATE TABLE probe_results_default PARTITION OF probe_results DEFAULT;
CREATE INDEX probe_results_service_ts ON probe_results (service, ts);

-- Health scores as computed by the server, with the components behind them.
CREATE TABLE scores (
	ts         timestamptz NOT NULL,
	scope      text NOT NULL CHECK (scope IN ('node', 'service', 'fleet')),
	key        text NOT NULL,
	score      double precision CHECK (score BETWEEN 0 AND 1),
	components jsonb,
	PRIMARY KEY (scope, key, ts)
) PARTITION BY RANGE (ts);
COMMENT ON TABLE scores IS 'Health scores in [0,1] per node, service and fleet (key is the fleet name for scope fleet)';
CREATE TABLE scores_default PARTITION OF scores DEFAULT;

-- Messages the server refused, for operators; the payload is kept only as
-- an escaped prefix, so a hostile payload is never stored whole.
CREATE TABLE rejected_messages (
	id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	received_at    timestamptz NOT NULL DEFAULT now(),
	topic          text NOT NULL,
	node_id        text,
	reason         text NOT NULL,
	detail         text,
	payload_len    bigint NOT NULL,
	payload_prefix text
);
CREATE INDEX rejected_messages_received_at ON rejected_messages (received_at);

-- API bearer tokens, stored only as their SHA-256.
CREATE TABLE api_tokens (
	id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	name         text NOT NULL,
	role         text NOT NULL CHECK (role IN ('viewer', 'operator', 'admin')),
	token_sha256 bytea NOT NULL UNIQUE CHECK (octet_length(token_sha256) = 32),
	created_at   timestamptz NOT NULL DEFAULT now(),
	last_used_at timestamptz,
	revoked_at   timestamptz
);

-- Create the UTC day partition of samples, probe_results or scores (named
-- <table>_pYYYYMMDD). Returns false when it already exists. Rows of that
-- day already in the default partition would make the CREATE fail, so they
-- are moved into the new partition in the same transaction.
CREATE FUNCTION acgs_create_partition(p_parent text, p_day date) RETURNS boolean
LANGUAGE plpgsql
AS $$
DECLARE
	part text := p_parent || '_p' || to_char(p_day, 'YYYYMMDD');
	dflt text := p_parent || '_default';
	lo timestamptz := p_day::timestamp AT TIME ZONE 'UTC';
	hi timestamptz := (p_day + 1)::timestamp AT TIME ZONE 'UTC';
	stray boolean;
BEGIN
	IF p_parent NOT IN ('samples', 'probe_results', 'scores') THEN
		RAISE EXCEPTION 'not a partitioned acgs table: %', p_parent
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	IF to_regclass(part) IS NOT NULL THEN
		RETURN false;
	END IF;
	EXECUTE format('SELECT EXISTS (SELECT 1 FROM %I WHERE ts >= $1 AND ts < $2)', dflt)
		INTO stray USING lo, hi;
	IF stray THEN
		EXECUTE format('CREATE TEMP TABLE acgs_moved (LIKE %I)', p_parent);
		EXECUTE format('WITH d AS (DELETE FROM %I WHERE ts >= $1 AND ts < $2 RETURNING *)
				INSERT INTO acgs_moved SELECT * FROM d', dflt) USING lo, hi;
	END IF;
	EXECUTE format('CREATE TABLE %I PARTITION OF %I FOR VALUES FROM (%L) TO (%L)',
		       part, p_parent, lo, hi);
	IF stray THEN
		EXECUTE format('INSERT INTO %I SELECT * FROM acgs_moved', p_parent);
		DROP TABLE acgs_moved;
	END IF;
	RETURN true;
END
$$;

-- Partitions from yesterday (late replays after midnight) to days_ahead
-- days from today (UTC) for every partitioned table; returns how many were
-- created. Serialised so that two server replicas do not race.
CREATE FUNCTION acgs_ensure_partitions(days_ahead int) RETURNS int
LANGUAGE plpgsql
AS $$
DECLARE
	today date := (now() AT TIME ZONE 'UTC')::date;
	t text;
	d int;
	made int := 0;
BEGIN
	IF days_ahead < 0 OR days_ahead > 366 THEN
		RAISE EXCEPTION 'days_ahead out of range: %', days_ahead
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	PERFORM pg_advisory_xact_lock(hashtext('acgs_partitions'));
	FOREACH t IN ARRAY ARRAY['samples', 'probe_results', 'scores'] LOOP
		FOR d IN -1 .. days_ahead LOOP
			IF acgs_create_partition(t, today + d) THEN
				made := made + 1;
			END IF;
		END LOOP;
	END LOOP;
	RETURN made;
END
$$;
