//! Runs the example on SQLite with one user: `cargo run -p plain-axum`,
//! then sign in as `demo` / `demo-password` at http://127.0.0.1:3001 and run
//! `cargo run -p plain-axum -- revoke` in another terminal to watch the page
//! leave.

use std::sync::Arc;

use bouncer_engine::{
    clock::SystemClock,
    console::Operator,
    db,
    password::Password,
    policy::Policy,
    users::{NewUser, Username},
    Engine,
};
use bouncer_web::PublicOrigin;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let pool = db::connect("sqlite://plain-axum.db").await?;
    db::migrate(&pool).await?;
    let engine = Engine::new(pool, Policy::default(), Arc::new(SystemClock), 2, None).await?;
    if std::env::args().nth(1).as_deref() == Some("revoke") {
        let ended = engine
            .console()
            .revoke_users(&Operator::CommandLine, &[demo(&engine).await?])
            .await?;
        println!("Ended {ended} session(s)");
        return Ok(());
    }
    demo(&engine).await?;
    let workers = engine.start_workers();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:3001").await?;
    let origin = PublicOrigin::for_listen_addr(listener.local_addr()?);
    let app = plain_axum::app(engine, origin);
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<std::net::SocketAddr>(),
    )
    .await?;
    workers.stop().await;
    Ok(())
}

/// The demo user's id, created on first run.
async fn demo(engine: &Engine) -> anyhow::Result<String> {
    let console = engine.console();
    if let Ok(user) = console.user_named(&Operator::CommandLine, "demo").await {
        return Ok(user.id.to_string());
    }
    let new = NewUser {
        username: Username::parse("demo")?,
        password: Password::new("demo-password"),
        role: bouncer_wire::Role::User,
        permissions: Default::default(),
        max_sessions: None,
    };
    let actor = bouncer_engine::log::Actor::command_line();
    Ok(engine
        .accounts()
        .create_user(new, &actor)
        .await?
        .id
        .to_string())
}
