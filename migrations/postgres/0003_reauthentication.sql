-- When the session's holder last proved their password (milliseconds, like
-- every timestamp): the sign-in that opened it, a later sign-in that
-- continued it, a password change or `POST /api/auth/reauthenticate`.
-- Ending the user's other sessions needs this to be recent (ASVS V3.3.4).
-- NULL, for sessions opened before this column existed, means `created_at`.
ALTER TABLE sessions ADD COLUMN authenticated_at BIGINT;
