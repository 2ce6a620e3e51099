-- The cookie store (tower-sessions records), keyed by the SHA-256 of the
-- cookie id like the `sessions` registry: a copy of the database yields no
-- usable cookie. It replaces the sqlx store's `tower_sessions` table, which
-- kept the id in clear.

DROP TABLE IF EXISTS tower_sessions;

CREATE TABLE session_cookies (
    id_hash    TEXT PRIMARY KEY NOT NULL,
    data       TEXT NOT NULL,
    expires_at BIGINT NOT NULL
);

CREATE INDEX session_cookies_expires_at ON session_cookies (expires_at);
