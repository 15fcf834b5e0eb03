-- ACGS Resilience schema, constitutional hash cdd01ef066bc6cf2.
-- 0004: alerts: the notification outbox, alert state transitions, silences.
--
-- notifications is the persisted delivery queue (server/outbox.c): a row is
-- written before the alert engine is told "queued", and leaves "pending"
-- only when its receiver answered 2xx ("sent") or refused it for good
-- ("failed", a 4xx other than 429). A sender claims a row by locking it
-- (SELECT ... FOR UPDATE SKIP LOCKED) for the time of the HTTP request and
-- records the outcome in that same transaction, so replicas never send one
-- row at the same time; docs/alerts.md explains the crash windows.

CREATE TABLE notifications (
    id              bigserial PRIMARY KEY,
    created_at      timestamptz NOT NULL DEFAULT now(),
    -- the receiver's NAME in [receiver.KIND NAME], and its KIND
    receiver        text NOT NULL,
    kind            text NOT NULL
                    CHECK (kind IN ('pagerduty', 'slack', 'webhook',
                                    'alertmanager')),
    -- the alert instance's stable key (PagerDuty's dedup_key)
    dedup_key       text NOT NULL,
    event           text NOT NULL CHECK (event IN ('trigger', 'resolve')),
    -- the caller's key that makes a repeated enqueue a no-op (e.g. the
    -- alert_events id of the transition); NULL: none
    idem_key        text,
    -- the request body, without secrets (a PagerDuty routing key is
    -- added when sending)
    body            jsonb NOT NULL,
    status          text NOT NULL DEFAULT 'pending'
                    CHECK (status IN ('pending', 'sent', 'failed')),
    attempts        integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    last_attempt_at timestamptz,
    -- HTTP status of the last answer; 0 when there was none (timeout,
    -- connection refused)
    last_status     integer,
    last_error      text,
    -- the last answer's body, capped at 4 KiB
    last_response   text CHECK (octet_length(last_response) <= 4096),
    sent_at         timestamptz,
    -- the replica that delivered it
    sent_by         text
);

-- What a sender scans: due pending rows, oldest first.
CREATE INDEX notifications_due ON notifications (next_attempt_at, id)
    WHERE status = 'pending';
-- Order per alert instance: a row waits while an older one of the same
-- receiver and dedup_key is pending (a resolve never overtakes its
-- trigger).
CREATE INDEX notifications_order ON notifications (receiver, dedup_key, id)
    WHERE status = 'pending';
CREATE UNIQUE INDEX notifications_idem ON notifications (receiver, idem_key)
    WHERE idem_key IS NOT NULL;
CREATE INDEX notifications_created ON notifications (created_at);

-- A queue table: every row is updated a few times and then left alone, so
-- the default thresholds (a fraction of a table that keeps 30 days) would
-- let dead index entries and stale statistics pile up under a burst.
ALTER TABLE notifications SET (
    autovacuum_vacuum_scale_factor = 0, autovacuum_vacuum_threshold = 1000,
    autovacuum_analyze_scale_factor = 0, autovacuum_analyze_threshold = 500);

-- Every state transition of an alert instance, for the API's history and
-- for Grafana annotations.
CREATE TABLE alert_events (
    id         bigserial PRIMARY KEY,
    ts         timestamptz NOT NULL DEFAULT now(),
    rule       text NOT NULL,
    scope      text NOT NULL CHECK (scope IN ('node', 'service', 'fleet')),
    -- node id or service name; '' for the fleet
    key        text NOT NULL DEFAULT '',
    dedup_key  text NOT NULL,
    from_state text NOT NULL
               CHECK (from_state IN ('inactive', 'pending', 'firing',
                                     'resolved')),
    to_state   text NOT NULL
               CHECK (to_state IN ('inactive', 'pending', 'firing',
                                   'resolved')),
    severity   text CHECK (severity IN ('critical', 'error', 'warning',
                                        'info')),
    value      double precision,
    threshold  double precision,
    labels     jsonb NOT NULL DEFAULT '{}'
               CHECK (jsonb_typeof(labels) = 'object'),
    summary    text
);

CREATE INDEX alert_events_ts ON alert_events (ts);
CREATE INDEX alert_events_instance ON alert_events (dedup_key, ts);
CREATE INDEX alert_events_rule ON alert_events (rule, key, ts);

-- Silences: label matchers and a time window; they stop notifications,
-- not evaluation. matchers is an array of Alertmanager's matcher objects,
-- {"name": "node", "value": "web-1", "isRegex": false, "isEqual": true}.
CREATE TABLE silences (
    id         bigserial PRIMARY KEY,
    created_at timestamptz NOT NULL DEFAULT now(),
    matchers   jsonb NOT NULL
               CHECK (jsonb_typeof(matchers) = 'array'
                      AND jsonb_array_length(matchers) > 0),
    starts_at  timestamptz NOT NULL DEFAULT now(),
    ends_at    timestamptz NOT NULL,
    comment    text NOT NULL DEFAULT '',
    author     text NOT NULL DEFAULT '',
    -- set when expired early (DELETE /api/v1/silences/{id})
    expired_at timestamptz,
    CHECK (ends_at > starts_at)
);

CREATE INDEX silences_active ON silences (ends_at) WHERE expired_at IS NULL;
