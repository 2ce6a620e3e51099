-- Webhook endpoints (`bouncer webhook add`) with their delivery progress, and
-- named leases (which node delivers them).
CREATE TABLE webhooks (
    id            TEXT PRIMARY KEY,
    url           TEXT NOT NULL,
    -- The event types delivered, comma-separated (`session.ended,user.created`).
    events        TEXT NOT NULL,
    -- The signing secret as the Standard Webhooks specification serialises
    -- it (`whsec_<base64>`): needed in the clear to sign.
    secret        TEXT NOT NULL,
    -- 1 when the endpoint may be on a loopback, private or link-local address.
    allow_private BIGINT NOT NULL,
    created_at    BIGINT NOT NULL,
    -- The `seq` of the last event delivered or passed over: the durable
    -- cursor a restarted (or another) node resumes from.
    delivered_seq BIGINT NOT NULL,
    -- Failed attempts at the event after the cursor, since `failing_since`.
    attempts      BIGINT NOT NULL DEFAULT 0,
    failing_since BIGINT,
    -- 1 once the head event has failed for more than 24 hours.
    failing       BIGINT NOT NULL DEFAULT 0,
    last_error    TEXT,
    last_delivered_at BIGINT
);

-- A lease: the one node allowed to do a job (`webhooks`: deliver) until
-- `expires_at` (ms, the database's clock), renewed while it lives.
CREATE TABLE leases (
    name       TEXT PRIMARY KEY,
    holder     TEXT NOT NULL,
    expires_at BIGINT NOT NULL
);
