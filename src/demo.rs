//! `bouncer serve --demo`: four accounts to try Bouncer with, created only in
//! an empty database, with random passwords printed once.

use std::collections::BTreeSet;

use bouncer_engine::{
    password::Password,
    users::{NewUser, Username},
    Engine,
};
use bouncer_wire::{Permission, Role};
use rand::{distributions::Alphanumeric, Rng};

/// One demo account: name, role, permissions, per-user session limit.
const ACCOUNTS: &[(&str, Role, &[Permission], Option<u32>)] = &[
    ("alice", Role::User, &[], None),
    // Bob shows the per-user override: no session limit at all.
    ("bob", Role::User, &[], Some(0)),
    ("sam", Role::Staff, &[Permission::RevokeUsers], None),
    ("root", Role::Admin, &[], None),
];

/// Seeds the demo accounts when the database has no users; prints them.
pub async fn seed(engine: &Engine) -> anyhow::Result<()> {
    if engine.accounts().user_count().await? > 0 {
        println!("The database already has users; no demo accounts were created.");
        return Ok(());
    }
    println!("Demo accounts (shown once):");
    println!("  {:<8} {:<8} PASSWORD", "USER", "ROLE");
    for (name, role, permissions, max_sessions) in ACCOUNTS {
        let password: String = rand::thread_rng()
            .sample_iter(&Alphanumeric)
            .take(12)
            .map(char::from)
            .collect();
        engine
            .accounts()
            .create_user(
                NewUser {
                    username: Username::parse(name)?,
                    password: Password::new(password.clone()),
                    role: *role,
                    permissions: permissions.iter().copied().collect::<BTreeSet<_>>(),
                    max_sessions: *max_sessions,
                },
                &bouncer_engine::log::Actor::command_line(),
            )
            .await?;
        println!("  {name:<8} {:<8} {password}", role.as_str());
    }
    Ok(())
}
