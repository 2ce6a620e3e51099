//! The example app, run for real: a browser signs in through its form and
//! opens the private page's socket; an operator's revoke reaches that open
//! socket at once, with the reason, and the next request is signed out.

use std::{net::SocketAddr, sync::Arc, time::Duration};

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
use futures_util::StreamExt;
use tokio_tungstenite::tungstenite::{client::IntoClientRequest, Message};

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// The socket's next frame, within two seconds.
async fn next(socket: &mut Socket) -> Message {
    tokio::time::timeout(Duration::from_secs(2), socket.next())
        .await
        .expect("in time")
        .expect("a frame")
        .expect("readable")
}

#[tokio::test]
async fn a_revoke_reaches_the_open_socket_at_once() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let pool = db::connect(&format!("sqlite://{}", dir.path().join("app.db").display()))
        .await
        .expect("the database opens");
    db::migrate(&pool).await.expect("migrated");
    let engine = Engine::new(pool, Policy::default(), Arc::new(SystemClock), 2, None)
        .await
        .expect("an engine");
    let user = engine
        .accounts()
        .create_user(
            NewUser {
                username: Username::parse("carol").expect("a name"),
                password: Password::new("carol-correct-horse"),
                role: bouncer_wire::Role::User,
                permissions: Default::default(),
                max_sessions: None,
            },
            &bouncer_engine::log::Actor::command_line(),
        )
        .await
        .expect("a user");
    let workers = engine.start_workers();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a port");
    let address = listener.local_addr().expect("bound");
    let app = plain_axum::app(engine.clone(), PublicOrigin::for_listen_addr(address));
    tokio::spawn(async move {
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
    });

    // Sign in through the form, as a browser would.
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("a client");
    let signed_in = client
        .post(format!("http://{address}/login"))
        .form(&[("username", "carol"), ("password", "carol-correct-horse")])
        .send()
        .await
        .expect("answered");
    assert_eq!(signed_in.status(), 303);
    let cookie = signed_in
        .headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .expect("a session cookie")
        .to_owned();
    let home = || async {
        client
            .get(format!("http://{address}/"))
            .header("cookie", &cookie)
            .send()
            .await
            .expect("answered")
    };
    let page = home().await;
    assert!(page.text().await.expect("a page").contains("Hello, carol"));

    // The page's socket says hello.
    let mut request = format!("ws://{address}/api/ws")
        .into_client_request()
        .expect("a request");
    request
        .headers_mut()
        .insert("cookie", cookie.parse().expect("a header"));
    let (mut socket, _) = tokio_tungstenite::connect_async(request)
        .await
        .expect("upgraded");
    let hello = next(&mut socket).await;
    assert!(
        hello.to_text().expect("text").contains(r#""type":"hello""#),
        "{hello}"
    );

    // An operator ends every session of carol: the open socket is told.
    let ended = engine
        .console()
        .revoke_users(&Operator::CommandLine, &[user.id.to_string()])
        .await
        .expect("revoked");
    assert_eq!(ended, 1);
    // (Its own arrival was announced to the user's tabs: `sessions_changed`.)
    let told = loop {
        let frame = next(&mut socket).await;
        let message: serde_json::Value =
            serde_json::from_str(frame.to_text().expect("text")).expect("JSON");
        if message["type"] != "sessions_changed" {
            break message;
        }
    };
    assert_eq!(told["type"], "session_ended");
    assert_eq!(told["reason"], "admin_revoked");
    match next(&mut socket).await {
        Message::Close(Some(frame)) => assert_eq!(u16::from(frame.code), 4001),
        other => panic!("expected the 4001 close, got {other:?}"),
    }

    // And the cookie no longer opens the page.
    let page = home().await;
    assert_eq!(page.status(), 303);
    workers.stop().await;
}
