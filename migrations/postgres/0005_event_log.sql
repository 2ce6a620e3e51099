-- The revocation log becomes the event log: one append-only table, in commit
-- order, holding every ending (`session.ended`, as before) and the other
-- events other systems follow: sessions started, accounts created,
-- deactivated, reactivated, their role or permissions or password changed.
-- `seq` is the global sequence number of the event feed and of webhooks.
ALTER TABLE revocations RENAME TO events;
ALTER INDEX revocations_at RENAME TO events_at;
-- `session.started`, `session.ended`, `user.created`, `user.deactivated`,
-- `user.reactivated`, `user.role_changed`, `user.password_changed`.
ALTER TABLE events ADD COLUMN type TEXT NOT NULL DEFAULT 'session.ended';
ALTER TABLE events ALTER COLUMN type DROP DEFAULT;
-- Session events only / `session.ended` only.
ALTER TABLE events ALTER COLUMN session_id DROP NOT NULL;
ALTER TABLE events ALTER COLUMN reason DROP NOT NULL;
CREATE INDEX events_session ON events (session_id) WHERE session_id IS NOT NULL;
