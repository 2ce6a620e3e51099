-- Bouncer's schema for PostgreSQL, kept in step with migrations/sqlite (only
-- the log's sequence column differs). Timestamps are milliseconds since the Unix epoch (UTC), so the
-- same queries run on SQLite and PostgreSQL.

CREATE TABLE users (
    id            TEXT PRIMARY KEY NOT NULL,
    username      TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    role          TEXT NOT NULL CHECK (role IN ('user', 'staff', 'admin')),
    -- Space-separated permission names (`revoke_users revoke_admins`).
    permissions   TEXT NOT NULL DEFAULT '',
    active        BOOLEAN NOT NULL DEFAULT TRUE,
    max_sessions  INTEGER,
    created_at    BIGINT NOT NULL,
    -- Bumped by every write transaction that must be serialised per user (a
    -- login counting live sessions): writing this row first takes the lock.
    lock_version  BIGINT NOT NULL DEFAULT 0
);

-- The session registry: one row per session. A row with `ended_at` set is a
-- tombstone: it tells a later request why its session ended.
CREATE TABLE sessions (
    id               TEXT PRIMARY KEY NOT NULL,
    secret_hash      TEXT NOT NULL UNIQUE,
    user_id          TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at       BIGINT NOT NULL,
    last_seen_at     BIGINT NOT NULL,
    last_activity_at BIGINT NOT NULL,
    ip               TEXT NOT NULL,
    user_agent       TEXT NOT NULL,
    device           TEXT NOT NULL,
    ended_at         BIGINT,
    end_reason       TEXT
);

-- "All live sessions of a user" is an index range, never a table scan.
CREATE INDEX sessions_live_by_user ON sessions (user_id, created_at) WHERE ended_at IS NULL;
CREATE INDEX sessions_ended_at ON sessions (ended_at) WHERE ended_at IS NOT NULL;

-- The revocation log: append-only, one row per ended session, the single truth
-- about endings. Every node's tailer reads it past the last `seq` it applied.
CREATE TABLE revocations (
    seq        BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    session_id TEXT NOT NULL,
    user_id    TEXT NOT NULL,
    reason     TEXT NOT NULL,
    -- Who ended it: a user id, or NULL for the system (timeouts) and the command line.
    actor_id   TEXT,
    actor_name TEXT NOT NULL,
    at         BIGINT NOT NULL,
    -- JSON with what the ended tab should be told (e.g. the new device for
    -- `signed_in_elsewhere`); `{}` when there is nothing more to say.
    detail     TEXT NOT NULL DEFAULT '{}',
    -- How many open tabs were told (set by the push hub once it has told them).
    tabs_notified INTEGER NOT NULL DEFAULT 0
);

CREATE INDEX revocations_at ON revocations (at);
