-- Service tokens (v2): what scripts and billing systems present as
-- `Authorization: Bearer bnc_…` on the admin API instead of a person's
-- password. The token itself is printed once by `bouncer token create` and
-- never stored: only its SHA-256 (hex), which is also how a request finds it.
CREATE TABLE service_tokens (
    token_hash   TEXT PRIMARY KEY,
    name         TEXT NOT NULL,
    -- Space-separated, like `users.permissions`.
    permissions  TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    -- NULL: the token does not expire.
    expires_at   BIGINT,
    revoked_at   BIGINT,
    -- Written at most once a minute per token.
    last_used_at BIGINT
);

-- A name names at most one token that is not revoked; once revoked, the
-- name may be given to a new token (the old row stays, listed as revoked).
CREATE UNIQUE INDEX service_tokens_live_name ON service_tokens (name) WHERE revoked_at IS NULL;
