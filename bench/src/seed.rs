//! Seeding a database through the engine's own stores, so the rows and
//! cookies are exactly what a login would have written, without paying an
//! argon2 hash per session.

use std::time::Duration;

use anyhow::Context;
use bouncer_engine::{
    clock::{Clock, SystemClock},
    db::{self, Pool},
    ids::{SecretHash, SessionId},
    password::{Password, PasswordHasher, INTERNAL},
    sessions::{ClientInfo, Sessions},
    sql::Sql,
    users::{NewUser, UserRecord, Username, Users},
};
use bouncer_web::cookie::{SessionCookie, SESSION_COOKIE};
use bouncer_wire::Role;

/// The admin every benchmark signs in as (to revoke through the API).
pub const ADMIN: &str = "bench-admin";
pub const ADMIN_PASSWORD: &str = "bench-admin-password-1";

/// A seeded session: the cookie a tab presents, and the public id.
#[derive(Debug, Clone)]
pub struct Seeded {
    pub cookie: String,
    pub session_id: String,
    /// Its user's position in the `users` it was seeded for.
    pub user: usize,
}

/// Opens and migrates the database at `url`.
pub async fn open(url: &str) -> anyhow::Result<Pool> {
    let pool = db::connect(url).await?;
    db::migrate(&pool).await?;
    Ok(pool)
}

/// Creates the admin and `count` users (one shared password hash).
pub async fn users(pool: &Pool, count: usize) -> anyhow::Result<Vec<UserRecord>> {
    let hasher = PasswordHasher::new(2);
    let users = Users::new(pool.clone());
    let now = SystemClock.now();
    let admin = NewUser {
        username: Username::parse(ADMIN).context("admin name")?,
        password: Password::new(ADMIN_PASSWORD),
        role: Role::Admin,
        permissions: Default::default(),
        max_sessions: Some(0),
    };
    let hash = hasher.hash(&admin.password, INTERNAL).await?;
    users.insert(&admin, hash.clone(), now).await?;
    let mut created = Vec::with_capacity(count);
    for i in 0..count {
        let new = NewUser {
            username: Username::parse(&format!("viewer{i}")).context("user name")?,
            password: Password::new(ADMIN_PASSWORD),
            role: Role::User,
            permissions: Default::default(),
            max_sessions: Some(0),
        };
        created.push(users.insert(&new, hash.clone(), now).await?);
    }
    Ok(created)
}

/// Opens `per_user` sessions for each user, round-robin (so consecutive
/// sessions belong to different users).
pub async fn sessions(
    pool: &Pool,
    users: &[UserRecord],
    per_user: usize,
) -> anyhow::Result<Vec<Seeded>> {
    let client = ClientInfo {
        ip: "127.0.0.1".to_owned(),
        user_agent: "bouncer-bench".to_owned(),
    };
    let cookies = SessionCookie::new(false, None);
    let now = SystemClock.now();
    let mut seeded = Vec::with_capacity(users.len() * per_user);
    let mut tx = pool.begin().await?;
    for round in 0..per_user {
        for (index, user) in users.iter().enumerate() {
            let minted = cookies.mint();
            let id = SessionId::generate();
            // Strictly increasing per user, as logins make them.
            let created = now.plus(Duration::from_millis(round as u64));
            Sessions::insert(&mut tx, &id, &user.id, &minted.secret, &client, created).await?;
            seeded.push(Seeded {
                cookie: format!("{SESSION_COOKIE}={}", minted.value()),
                session_id: id.to_string(),
                user: index,
            });
        }
    }
    tx.commit().await?;
    Ok(seeded)
}

/// The table a classic session store keeps (tower-sessions' shape: an id and
/// an opaque serialised record), for row 4's comparison only.
const CLASSIC_STORE: &str =
    "CREATE TABLE IF NOT EXISTS classic_store (id TEXT PRIMARY KEY NOT NULL, data TEXT NOT NULL, expires_at BIGINT NOT NULL)";

/// Bulk-loads `users × per_user` sessions the fast way (multi-row inserts),
/// each also as a record of a classic session store whose data names its
/// user (`classic_store`). Returns the user ids.
pub async fn bulk_sessions(
    pool: &Pool,
    users: usize,
    per_user: usize,
) -> anyhow::Result<Vec<String>> {
    let now = SystemClock.now().as_millis();
    sqlx::query(CLASSIC_STORE)
        .execute(pool)
        .await
        .context("the classic store")?;
    let user_ids: Vec<String> = (0..users).map(|i| format!("u_bulk{i:08}")).collect();
    for chunk in user_ids.chunks(5_000) {
        let mut tx = pool.begin().await?;
        for rows in chunk.chunks(500) {
            let mut query = Sql::new(
                "INSERT INTO users (id, username, password_hash, role, permissions, max_sessions, created_at) VALUES ",
            );
            for (i, id) in rows.iter().enumerate() {
                query.push(if i == 0 { "(" } else { ", (" });
                query.bind(id.clone()).push(", ");
                query.bind(id.clone()).push(", 'x', 'user', '', 0, ");
                query.bind(now).push(")");
            }
            query
                .query()
                .execute(&mut *tx)
                .await
                .context("bulk users")?;
        }
        let sessions: Vec<(String, &String, usize)> = chunk
            .iter()
            .flat_map(|user| (0..per_user).map(move |k| (format!("s_{user}_{k}"), user, k)))
            .collect();
        for rows in sessions.chunks(400) {
            let mut query = Sql::new(
                "INSERT INTO sessions (id, secret_hash, user_id, created_at, last_seen_at, last_activity_at, ip, user_agent, device) VALUES ",
            );
            let mut cookies = Sql::new("INSERT INTO classic_store (id, data, expires_at) VALUES ");
            for (i, (id, user, k)) in rows.iter().enumerate() {
                let secret = SecretHash::of_secret(id).to_hex();
                let created = now + *k as i64;
                query.push(if i == 0 { "(" } else { ", (" });
                query.bind(id.clone()).push(", ");
                query.bind(secret.clone()).push(", ");
                query.bind((*user).clone()).push(", ");
                query.bind(created).push(", ");
                query.bind(created).push(", ");
                query.bind(created).push(", '127.0.0.1', 'bench', 'bench')");
                cookies.push(if i == 0 { "(" } else { ", (" });
                cookies.bind(secret).push(", ");
                cookies
                    .bind(serde_json::json!({ "sid": id, "user_id": user }).to_string())
                    .push(", ");
                cookies.bind(now + 86_400_000).push(")");
            }
            query
                .query()
                .execute(&mut *tx)
                .await
                .context("bulk sessions")?;
            cookies
                .query()
                .execute(&mut *tx)
                .await
                .context("bulk cookies")?;
        }
        tx.commit().await?;
    }
    Ok(user_ids)
}
