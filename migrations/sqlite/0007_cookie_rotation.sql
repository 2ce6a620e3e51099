-- A session's cookie is rotated (a fresh secret at its next request) when its
-- user's role or permissions change. `rotate_secret` says a rotation is owed;
-- the secret it replaced stays valid for a minute after `rotated_at`, so the
-- requests a browser already has in flight with it are not refused.
ALTER TABLE sessions ADD COLUMN rotate_secret BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE sessions ADD COLUMN previous_secret_hash TEXT;
ALTER TABLE sessions ADD COLUMN rotated_at BIGINT;
CREATE INDEX sessions_previous_secret ON sessions (previous_secret_hash)
    WHERE previous_secret_hash IS NOT NULL;
