//! The `sessions` table: one row per session, live or ended. This module owns
//! every statement on it; nothing else in the engine names the table.
//!
//! A row with `ended_at` set is a tombstone: it tells a later request why its
//! session ended. Rows are keyed twice: by the public [`SessionId`] (lists,
//! the API) and by the [`SecretHash`] of the cookie (the request path); the
//! cookie's secret itself is never stored.
//!
//! This module never decides *whether* a session should end; the policy and
//! the services do. It only marks rows as told.

use anyhow::Context;
use bouncer_wire::Reason;

use crate::{
    clock::Timestamp,
    db::{Pool, Tx},
    ids::{SecretHash, SessionId, UserId},
    privacy::IpPrivacy,
    sql::Sql,
};

/// The device a session was opened from, as the server saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientInfo {
    pub ip: String,
    pub user_agent: String,
}

impl ClientInfo {
    /// A readable label such as "Chrome on Linux", from a maintained
    /// user-agent parser; "Unknown device" when it recognises nothing.
    pub fn device_label(&self) -> String {
        device_label(&self.user_agent)
    }
}

fn device_label(user_agent: &str) -> String {
    let parsed = woothee::parser::Parser::new().parse(user_agent);
    // woothee lumps curl, wget and scripts together as "HTTP Library"; their
    // own first token ("curl", "billing-job") says more.
    let Some(parsed) = parsed.filter(|p| !matches!(p.name, "HTTP Library" | "UNKNOWN")) else {
        let token: String = user_agent
            .trim()
            .split(['/', ' '])
            .next()
            .unwrap_or_default()
            .chars()
            .take(40)
            .collect();
        return if token.is_empty() {
            "Unknown device".to_owned()
        } else {
            token
        };
    };
    let os = match parsed.os {
        "UNKNOWN" => None,
        "Mac OSX" => Some("macOS"),
        other => Some(other),
    };
    match os {
        Some(os) => format!("{} on {}", parsed.name, os),
        None => parsed.name.to_owned(),
    }
}

/// A `sessions` row.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct SessionRow {
    pub id: String,
    pub user_id: String,
    pub created_at: i64,
    pub last_seen_at: i64,
    pub last_activity_at: i64,
    pub ip: String,
    pub user_agent: String,
    pub device: String,
    pub ended_at: Option<i64>,
    pub end_reason: Option<String>,
}

impl SessionRow {
    /// The row's public id, checked.
    pub fn session_id(&self) -> anyhow::Result<SessionId> {
        SessionId::parse(&self.id).context("Found a session with an empty id")
    }

    /// The row's user id, checked.
    pub fn owner(&self) -> anyhow::Result<UserId> {
        UserId::parse(&self.user_id).context("Found a session with an empty user id")
    }
}

/// How long a secret replaced by a rotation stays valid: long enough for the
/// requests a browser already has in flight with it (and a tab reconnecting
/// with it) not to find themselves signed out.
pub const ROTATION_GRACE: std::time::Duration = std::time::Duration::from_secs(60);

/// A session found by a cookie's secret.
#[derive(Debug, Clone)]
pub struct Found {
    pub row: SessionRow,
    /// The cookie is owed a fresh secret (the user's rights changed).
    pub rotate: bool,
    /// When the secret is one a rotation replaced: until when it stays valid.
    pub alias_until: Option<Timestamp>,
}

#[derive(sqlx::FromRow)]
struct FoundRow {
    #[sqlx(flatten)]
    row: SessionRow,
    current: i64,
    rotate: i64,
    rotated_at: Option<i64>,
}

const COLUMNS: &str = "id, user_id, created_at, last_seen_at, last_activity_at, ip, user_agent, device, ended_at, end_reason";

/// Which sessions an ending applies to. Each variant is one indexed condition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// Exactly these sessions.
    Sessions(Vec<SessionId>),
    /// One session, only if it belongs to this user (a user ending their own).
    SessionOfUser { id: SessionId, user_id: UserId },
    /// Every session of the user, except one (the caller's own) if given.
    User {
        user_id: UserId,
        except: Option<SessionId>,
    },
    /// Every session of these users.
    Users(Vec<UserId>),
    /// Every session but `except` (the caller's) and those of `sparing`
    /// (the admins, unless they are included).
    Everyone {
        except: SessionId,
        sparing: Vec<UserId>,
    },
}

impl Scope {
    fn push_condition(&self, query: &mut Sql) {
        match self {
            Scope::Sessions(ids) => {
                query
                    .push("id IN ")
                    .bind_list(ids.iter().map(SessionId::to_string));
            }
            Scope::SessionOfUser { id, user_id } => {
                query.push("id = ").bind(id.to_string());
                query.push(" AND user_id = ").bind(user_id.to_string());
            }
            Scope::Users(user_ids) => {
                query
                    .push("user_id IN ")
                    .bind_list(user_ids.iter().map(UserId::to_string));
            }
            Scope::Everyone { except, sparing } => {
                query.push("id <> ").bind(except.to_string());
                if !sparing.is_empty() {
                    query
                        .push(" AND user_id NOT IN ")
                        .bind_list(sparing.iter().map(UserId::to_string));
                }
            }
            Scope::User { user_id, except } => {
                query.push("user_id = ").bind(user_id.to_string());
                if let Some(except) = except {
                    query.push(" AND id <> ").bind(except.to_string());
                }
            }
        }
    }
}

/// The `sessions` table.
#[derive(Debug, Clone)]
pub struct Sessions {
    pool: Pool,
}

impl Sessions {
    pub fn new(pool: Pool) -> Self {
        Sessions { pool }
    }

    /// The session, live or ended, whose cookie secret hashes to `secret` —
    /// or whose previous secret it is, replaced by a rotation less than
    /// `grace` before `now`.
    pub async fn find_by_secret(
        &self,
        secret: &SecretHash,
        now: Timestamp,
        grace: std::time::Duration,
    ) -> anyhow::Result<Option<Found>> {
        let found = sqlx::query_as::<_, FoundRow>(&format!(
            "SELECT {COLUMNS}, CASE WHEN secret_hash = $1 THEN 1 ELSE 0 END AS current, \
             CASE WHEN rotate_secret THEN 1 ELSE 0 END AS rotate, rotated_at \
             FROM sessions WHERE secret_hash = $1 OR (previous_secret_hash = $1 AND rotated_at > $2)"
        ))
        .bind(secret.to_hex())
        .bind(now.minus(grace).as_millis())
        .fetch_optional(&self.pool)
        .await
        .context("Failed to look a session up by its secret")?;
        Ok(found.map(|found| Found {
            alias_until: (found.current == 0)
                .then(|| Timestamp::from_millis(found.rotated_at.unwrap_or(0)).plus(grace)),
            rotate: found.rotate != 0,
            row: found.row,
        }))
    }

    /// Marks every live session of `user_id` as owing its cookie a fresh
    /// secret, inside `tx` (the user's role or permissions change there).
    pub async fn owe_rotation_in(tx: &mut Tx<'_>, user_id: &UserId) -> anyhow::Result<()> {
        sqlx::query(
            "UPDATE sessions SET rotate_secret = TRUE WHERE user_id = $1 AND ended_at IS NULL",
        )
        .bind(user_id.as_str())
        .execute(&mut **tx)
        .await
        .context("Failed to mark sessions for a fresh cookie")?;
        Ok(())
    }

    /// Gives a live session the secret `new` in place of `old` inside `tx`,
    /// keeping `old` as its previous one (valid for a grace after `now`). `false`
    /// when the session is no longer live or no longer goes by `old` (a
    /// concurrent request rotated it first).
    pub async fn rotate_in(
        tx: &mut Tx<'_>,
        id: &SessionId,
        old: &SecretHash,
        new: &SecretHash,
        now: Timestamp,
    ) -> anyhow::Result<bool> {
        let updated = sqlx::query(
            "UPDATE sessions SET previous_secret_hash = secret_hash, rotated_at = $1, \
             secret_hash = $2, rotate_secret = FALSE \
             WHERE id = $3 AND secret_hash = $4 AND ended_at IS NULL",
        )
        .bind(now.as_millis())
        .bind(new.to_hex())
        .bind(id.as_str())
        .bind(old.to_hex())
        .execute(&mut **tx)
        .await
        .context("Failed to give a session a fresh secret")?
        .rows_affected();
        Ok(updated == 1)
    }

    /// The public id of the ended session whose secret hashes to `secret`.
    pub async fn ended_id_by_secret(
        &self,
        secret: &SecretHash,
    ) -> anyhow::Result<Option<SessionId>> {
        let id: Option<String> = sqlx::query_scalar(
            "SELECT id FROM sessions WHERE secret_hash = $1 AND ended_at IS NOT NULL",
        )
        .bind(secret.to_hex())
        .fetch_optional(&self.pool)
        .await
        .context("Failed to look an ended session up by its secret")?;
        Ok(id.as_deref().and_then(SessionId::parse))
    }

    /// Inserts a new session inside the caller's transaction (a sign-in, so
    /// the password was proved now) and returns its row.
    pub async fn insert(
        tx: &mut Tx<'_>,
        id: &SessionId,
        user_id: &UserId,
        secret: &SecretHash,
        client: &ClientInfo,
        now: Timestamp,
    ) -> anyhow::Result<SessionRow> {
        let row = SessionRow {
            id: id.to_string(),
            user_id: user_id.to_string(),
            created_at: now.as_millis(),
            last_seen_at: now.as_millis(),
            last_activity_at: now.as_millis(),
            ip: client.ip.clone(),
            user_agent: client.user_agent.chars().take(512).collect(),
            device: client.device_label(),
            ended_at: None,
            end_reason: None,
        };
        sqlx::query(
            "INSERT INTO sessions (id, secret_hash, user_id, created_at, last_seen_at, last_activity_at, ip, user_agent, device, authenticated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .bind(&row.id)
        .bind(secret.to_hex())
        .bind(&row.user_id)
        .bind(row.created_at)
        .bind(row.last_seen_at)
        .bind(row.last_activity_at)
        .bind(&row.ip)
        .bind(&row.user_agent)
        .bind(&row.device)
        .bind(row.created_at)
        .execute(&mut **tx)
        .await
        .context("Failed to insert a session")?;
        Ok(row)
    }

    /// Replaces a live session's secret inside `tx` and records that its
    /// holder proved the password at `authenticated_at` (a sign-in that
    /// continues the session, a password change). Returns its row, or `None`
    /// when the session is not live.
    pub async fn rotate_secret_in(
        tx: &mut Tx<'_>,
        id: &SessionId,
        new_secret: &SecretHash,
        authenticated_at: Timestamp,
    ) -> anyhow::Result<Option<SessionRow>> {
        sqlx::query_as::<_, SessionRow>(&format!(
            "UPDATE sessions SET secret_hash = $1, authenticated_at = $2 \
             WHERE id = $3 AND ended_at IS NULL RETURNING {COLUMNS}"
        ))
        .bind(new_secret.to_hex())
        .bind(authenticated_at.as_millis())
        .bind(id.as_str())
        .fetch_optional(&mut **tx)
        .await
        .context("Failed to rotate a session's secret")
    }

    /// When the holder of a live session last proved the password, read from
    /// the database (the proof may have been given through another node).
    /// `None` when the session is not live.
    pub async fn authenticated_at(&self, id: &SessionId) -> anyhow::Result<Option<Timestamp>> {
        let at: Option<i64> = sqlx::query_scalar(
            "SELECT COALESCE(authenticated_at, created_at) FROM sessions WHERE id = $1 AND ended_at IS NULL",
        )
        .bind(id.as_str())
        .fetch_optional(&self.pool)
        .await
        .context("Failed to read when a session last proved the password")?;
        Ok(at.map(Timestamp::from_millis))
    }

    /// Records that the holder of a live session proved the password at `at`.
    /// `false` when the session is no longer live.
    pub async fn mark_authenticated(&self, id: &SessionId, at: Timestamp) -> anyhow::Result<bool> {
        let updated = sqlx::query(
            "UPDATE sessions SET authenticated_at = $1 WHERE id = $2 AND ended_at IS NULL",
        )
        .bind(at.as_millis())
        .bind(id.as_str())
        .execute(&self.pool)
        .await
        .context("Failed to record a re-authentication")?
        .rows_affected();
        Ok(updated == 1)
    }

    /// Moves a live session's stored timestamps forward (never back).
    pub async fn record_activity(
        &self,
        id: &SessionId,
        last_seen_at: Timestamp,
        last_activity_at: Timestamp,
    ) -> anyhow::Result<()> {
        record_activity_query(id, last_seen_at, last_activity_at)
            .execute(&self.pool)
            .await
            .context("Failed to record a session's last activity")?;
        Ok(())
    }

    /// [`Sessions::record_activity`] for many sessions, in transactions of
    /// at most [`ACTIVITY_BATCH`]: one commit per batch instead of one per
    /// session (a node's owed writes come due together, e.g. 30 s after
    /// thousands of tabs connected), and no batch holds the write lock
    /// long enough to hold up an ending.
    pub async fn record_activities(
        &self,
        activity: &[(SessionId, Timestamp, Timestamp)],
    ) -> anyhow::Result<()> {
        if let [(id, last_seen_at, last_activity_at)] = activity {
            return self
                .record_activity(id, *last_seen_at, *last_activity_at)
                .await;
        }
        for batch in activity.chunks(ACTIVITY_BATCH) {
            let mut tx = self
                .pool
                .begin()
                .await
                .context("Failed to start a transaction")?;
            for (id, last_seen_at, last_activity_at) in batch {
                record_activity_query(id, *last_seen_at, *last_activity_at)
                    .execute(&mut *tx)
                    .await
                    .context("Failed to record a session's last activity")?;
            }
            tx.commit()
                .await
                .context("Failed to record sessions' last activity")?;
        }
        Ok(())
    }

    /// The stored `(id, last_seen_at, last_activity_at)` of these sessions.
    pub async fn activity_of(&self, ids: &[SessionId]) -> anyhow::Result<Vec<(String, i64, i64)>> {
        let mut found = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(1000) {
            let mut query =
                Sql::new("SELECT id, last_seen_at, last_activity_at FROM sessions WHERE id IN ");
            query.bind_list(chunk.iter().map(SessionId::to_string));
            let rows: Vec<(String, i64, i64)> = query
                .query_as()
                .fetch_all(&self.pool)
                .await
                .context("Failed to read sessions' activity")?;
            found.extend(rows);
        }
        Ok(found)
    }

    /// The live sessions of a user, oldest first, read inside `tx` (an index
    /// range on `sessions_live_by_user`).
    pub async fn live_of_user_in(
        tx: &mut Tx<'_>,
        user_id: &UserId,
    ) -> anyhow::Result<Vec<SessionRow>> {
        sqlx::query_as::<_, SessionRow>(&format!(
            "SELECT {COLUMNS} FROM sessions WHERE user_id = $1 AND ended_at IS NULL ORDER BY created_at, id"
        ))
        .bind(user_id.as_str())
        .fetch_all(&mut **tx)
        .await
        .context("Failed to list a user's sessions")
    }

    /// Live sessions, newest first: of one user, or of everyone (at most `limit`).
    pub async fn live(
        &self,
        user_id: Option<&UserId>,
        limit: i64,
    ) -> anyhow::Result<Vec<SessionRow>> {
        let mut query = Sql::new(format!(
            "SELECT {COLUMNS} FROM sessions WHERE ended_at IS NULL"
        ));
        if let Some(user_id) = user_id {
            query.push(" AND user_id = ").bind(user_id.to_string());
        }
        query
            .push(" ORDER BY created_at DESC, id DESC LIMIT ")
            .bind(limit);
        query
            .query_as()
            .fetch_all(&self.pool)
            .await
            .context("Failed to list live sessions")
    }

    /// The live sessions of these users.
    pub async fn live_of_users(&self, user_ids: &[UserId]) -> anyhow::Result<Vec<SessionRow>> {
        let mut rows = Vec::new();
        for chunk in user_ids.chunks(1000) {
            let mut query = Sql::new(format!(
                "SELECT {COLUMNS} FROM sessions WHERE ended_at IS NULL AND user_id IN "
            ));
            query.bind_list(chunk.iter().map(UserId::to_string));
            let found: Vec<SessionRow> = query
                .query_as()
                .fetch_all(&self.pool)
                .await
                .context("Failed to list users' sessions")?;
            rows.extend(found);
        }
        Ok(rows)
    }

    /// A live session by its public id.
    pub async fn find_live(&self, id: &SessionId) -> anyhow::Result<Option<SessionRow>> {
        sqlx::query_as::<_, SessionRow>(&format!(
            "SELECT {COLUMNS} FROM sessions WHERE id = $1 AND ended_at IS NULL"
        ))
        .bind(id.as_str())
        .fetch_optional(&self.pool)
        .await
        .context("Failed to look a session up by id")
    }

    /// Marks the sessions chosen by `scope` ended inside `tx` and returns
    /// which ones were live until now (already-ended ones are left alone).
    pub async fn end_in(
        tx: &mut Tx<'_>,
        scope: &Scope,
        reason: Reason,
        now: Timestamp,
    ) -> anyhow::Result<Vec<(SessionId, UserId)>> {
        let mut query = Sql::new("UPDATE sessions SET ended_at = ");
        query.bind(now.as_millis()).push(", end_reason = ");
        query
            .bind(reason.as_str())
            .push(" WHERE ended_at IS NULL AND ");
        scope.push_condition(&mut query);
        query.push(" RETURNING id, user_id");
        let rows: Vec<(String, String)> = query
            .query_as()
            .fetch_all(&mut **tx)
            .await
            .context("Failed to end sessions")?;
        rows.into_iter()
            .map(|(id, user_id)| {
                Ok((
                    SessionId::parse(&id).context("Ended a session with an empty id")?,
                    UserId::parse(&user_id).context("Ended a session with an empty user id")?,
                ))
            })
            .collect()
    }

    /// Deletes tombstones older than `before`.
    pub async fn delete_tombstones(&self, before: Timestamp) -> anyhow::Result<u64> {
        Ok(
            sqlx::query("DELETE FROM sessions WHERE ended_at IS NOT NULL AND ended_at < $1")
                .bind(before.as_millis())
                .execute(&self.pool)
                .await
                .context("Failed to delete old tombstones")?
                .rows_affected(),
        )
    }

    /// Live sessions whose stored activity is older than `idle_before` or
    /// that were created before `created_before`: the candidates for a
    /// timeout (the caller decides, with fresher timestamps where it has them).
    pub async fn expired_candidates(
        &self,
        idle_before: Option<Timestamp>,
        created_before: Option<Timestamp>,
    ) -> anyhow::Result<Vec<SessionRow>> {
        let mut query = Sql::new(format!(
            "SELECT {COLUMNS} FROM sessions WHERE ended_at IS NULL AND (1 = 0"
        ));
        if let Some(before) = idle_before {
            query
                .push(" OR last_activity_at < ")
                .bind(before.as_millis());
        }
        if let Some(before) = created_before {
            query.push(" OR created_at < ").bind(before.as_millis());
        }
        query.push(") LIMIT 10000");
        query
            .query_as()
            .fetch_all(&self.pool)
            .await
            .context("Failed to find expired sessions")
    }

    /// Rewrites the addresses stored under a looser privacy setting than
    /// `setting` (live and ended sessions alike). Rows already in the
    /// setting's form are skipped, so a restart rewrites nothing. Returns
    /// how many rows changed.
    pub async fn apply_privacy(&self, setting: IpPrivacy) -> anyhow::Result<u64> {
        // Narrowed in SQL so that a restart reads nothing back; `holds` decides.
        let unrewritten = match setting {
            IpPrivacy::Full => return Ok(0),
            IpPrivacy::Truncate => {
                "SELECT id, ip FROM sessions WHERE ip <> '' AND ip NOT LIKE '%/%'"
            }
            IpPrivacy::Off => "SELECT id, ip FROM sessions WHERE ip <> ''",
        };
        let sessions: Vec<(String, String)> = sqlx::query_as(unrewritten)
            .fetch_all(&self.pool)
            .await
            .context("Failed to read stored addresses")?;
        let mut changed = 0;
        for (id, ip) in sessions.into_iter().filter(|(_, ip)| !setting.holds(ip)) {
            sqlx::query("UPDATE sessions SET ip = $1 WHERE id = $2")
                .bind(setting.stored(&ip))
                .bind(id)
                .execute(&self.pool)
                .await
                .context("Failed to rewrite a stored address")?;
            changed += 1;
        }
        Ok(changed)
    }
}

/// Sessions whose activity one transaction writes (see
/// [`Sessions::record_activities`]).
const ACTIVITY_BATCH: usize = 100;

/// Moves one live session's stored timestamps forward (never back).
fn record_activity_query<'q>(
    id: &'q SessionId,
    last_seen_at: Timestamp,
    last_activity_at: Timestamp,
) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>> {
    sqlx::query(
        "UPDATE sessions SET \
           last_seen_at = CASE WHEN last_seen_at < $1 THEN $1 ELSE last_seen_at END, \
           last_activity_at = CASE WHEN last_activity_at < $2 THEN $2 ELSE last_activity_at END \
         WHERE id = $3 AND ended_at IS NULL",
    )
    .bind(last_seen_at.as_millis())
    .bind(last_activity_at.as_millis())
    .bind(id.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_labels_are_readable() {
        let chrome = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36";
        assert_eq!(device_label(chrome), "Chrome on Linux");
        let safari = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1";
        assert_eq!(device_label(safari), "Safari on iPhone");
        assert_eq!(device_label("curl/8.5.0"), "curl");
        assert_eq!(device_label(""), "Unknown device");
    }

    #[tokio::test]
    async fn many_sessions_activity_is_written_in_batches_and_never_moves_back() {
        use crate::{
            db,
            password::Password,
            users::{NewUser, Username, Users},
        };

        let pool = db::connect("sqlite::memory:").await.expect("opened");
        db::migrate(&pool).await.expect("migrated");
        let at = Timestamp::from_millis;
        let new = NewUser {
            username: Username::parse("alice").expect("valid"),
            password: Password::new("unused"),
            role: bouncer_wire::Role::User,
            permissions: Default::default(),
            max_sessions: None,
        };
        let user = Users::new(pool.clone())
            .insert(&new, "unused".to_owned(), at(0))
            .await
            .expect("user");
        let client = ClientInfo {
            ip: "192.0.2.1".into(),
            user_agent: String::new(),
        };
        // More than two batches, so the last one is partial.
        let ids: Vec<SessionId> = (0..ACTIVITY_BATCH * 2 + 7)
            .map(|_| SessionId::generate())
            .collect();
        let mut tx = pool.begin().await.expect("tx");
        for id in &ids {
            let secret = SecretHash::of_secret(id.as_str());
            Sessions::insert(&mut tx, id, &user.id, &secret, &client, at(1_000))
                .await
                .expect("inserted");
        }
        tx.commit().await.expect("committed");
        let sessions = Sessions::new(pool);
        // Every other session is told an older time than it has: kept.
        let activity: Vec<_> = ids
            .iter()
            .enumerate()
            .map(|(i, id)| {
                let seen = if i % 2 == 0 { at(5_000) } else { at(500) };
                (id.clone(), seen, at(if i % 2 == 0 { 4_000 } else { 400 }))
            })
            .collect();
        sessions
            .record_activities(&activity)
            .await
            .expect("written");
        let mut stored = sessions.activity_of(&ids).await.expect("read");
        stored.sort();
        let mut expected: Vec<(String, i64, i64)> = ids
            .iter()
            .enumerate()
            .map(|(i, id)| match i % 2 {
                0 => (id.to_string(), 5_000, 4_000),
                _ => (id.to_string(), 1_000, 1_000),
            })
            .collect();
        expected.sort();
        assert_eq!(stored, expected);
    }
}
