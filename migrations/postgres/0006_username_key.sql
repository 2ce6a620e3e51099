-- Usernames are unique by what they look like, not by their bytes: the key
-- is the name normalised (NFKC), case-folded and reduced to its confusable
-- skeleton (Unicode TS #39), so `Alice`, `alice` and a Cyrillic `аlice`
-- cannot all exist. Computed by the server (`Username::key`); rows created
-- before this column are filled in when a server starts.
ALTER TABLE users ADD COLUMN username_key TEXT;
CREATE UNIQUE INDEX users_by_username_key ON users (username_key);
