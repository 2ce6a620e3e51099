-- The session cookie is minted by the edge (`bouncer-web`) and found by the
-- SHA-256 of its secret in `sessions`; tower-sessions' record store, which
-- nothing read, is gone.
DROP TABLE IF EXISTS session_cookies;
