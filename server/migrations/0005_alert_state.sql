-- ACGS Resilience schema, constitutional hash cdd01ef066bc6cf2.
-- 0005: the state of alert instances, and acks.
--
-- alert_instances holds every instance that is not inactive, as the leading
-- replica last knew it: a replica that takes the lease over (or the same
-- one after a restart) restores them, so that a firing alert is not
-- triggered again and is resolved when its condition clears. notified
-- lists the receivers that hold an open trigger.

CREATE TABLE alert_instances (
    dedup_key     text PRIMARY KEY,
    rule          text NOT NULL,
    scope         text NOT NULL CHECK (scope IN ('node', 'service', 'fleet')),
    key           text NOT NULL DEFAULT '',
    probe         text,
    state         text NOT NULL
                  CHECK (state IN ('pending', 'firing', 'resolved')),
    severity      text,
    active_since  timestamptz,
    fired_at      timestamptz,
    resolved_at   timestamptz,
    last_true     timestamptz,
    value         double precision,
    firing_value  double precision,
    threshold     double precision,
    labels        jsonb NOT NULL DEFAULT '{}'
                  CHECK (jsonb_typeof(labels) = 'object'),
    summary       text,
    description   text,
    notified      text NOT NULL DEFAULT '',
    acked_by      text,
    acked_at      timestamptz,
    ack_comment   text,
    updated_at    timestamptz NOT NULL DEFAULT now()
);

-- Every ack, with who and why.
CREATE TABLE alert_acks (
    id        bigserial PRIMARY KEY,
    ts        timestamptz NOT NULL DEFAULT now(),
    dedup_key text NOT NULL,
    rule      text NOT NULL,
    key       text NOT NULL DEFAULT '',
    author    text NOT NULL,
    comment   text NOT NULL DEFAULT ''
);
CREATE INDEX alert_acks_instance ON alert_acks (dedup_key, ts);

-- Alert transitions as Grafana annotations read them.
CREATE VIEW alert_annotations AS
    SELECT ts AS time, rule || ' ' || from_state || ' -> ' || to_state AS text,
           rule, scope, key, severity, to_state, value
      FROM alert_events;
