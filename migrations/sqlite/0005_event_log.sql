-- The revocation log becomes the event log: one append-only table, in commit
-- order, holding every ending (`session.ended`, as before) and the other
-- events other systems follow: sessions started, accounts created,
-- deactivated, reactivated, their role or permissions or password changed.
-- `seq` is the global sequence number of the event feed and of webhooks.
-- SQLite cannot relax NOT NULL in place, hence the copy.
CREATE TABLE events (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    -- `session.started`, `session.ended`, `user.created`, `user.deactivated`,
    -- `user.reactivated`, `user.role_changed`, `user.password_changed`.
    type       TEXT NOT NULL,
    user_id    TEXT NOT NULL,
    -- Session events only.
    session_id TEXT,
    -- `session.ended` only: the end reason.
    reason     TEXT,
    -- Who did it: a user id, or NULL for the system, a token or the command line.
    actor_id   TEXT,
    actor_name TEXT NOT NULL,
    at         BIGINT NOT NULL,
    -- The type's own fields (JSON): for `session.ended` what the ended tab is
    -- told (the new device for `signed_in_elsewhere`), for `session.started`
    -- the device and address, and so on; `{}` when there is nothing more.
    detail     TEXT NOT NULL DEFAULT '{}',
    -- `session.ended`: how many open tabs were told.
    tabs_notified INTEGER NOT NULL DEFAULT 0
);

INSERT INTO events (seq, type, user_id, session_id, reason, actor_id, actor_name, at, detail, tabs_notified)
SELECT seq, 'session.ended', user_id, session_id, reason, actor_id, actor_name, at, detail, tabs_notified
FROM revocations ORDER BY seq;

DROP TABLE revocations;

CREATE INDEX events_at ON events (at);
CREATE INDEX events_session ON events (session_id) WHERE session_id IS NOT NULL;
