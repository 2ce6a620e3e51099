//! Fuzzes one tab's WebSocket: the edge's real socket loop (`serve_tab`)
//! on a real engine (SQLite in memory, one signed-in user), fed arbitrary
//! frames — text, binary, ping, pong, close, read errors, up to 64 KiB — and
//! checked against API.md:
//!
//! - the first message is `hello` for this tab's own session;
//! - every message the tab does not understand gets exactly one
//!   `{"type":"error","error":"bad_message"}` and the loop goes on reading;
//! - `{"type":"activity"}` moves this session's activity to now, and the
//!   tab hears `extended` with the new idle deadline;
//! - a frame over 4 KiB (or tungstenite's refusal of one) closes with 1009,
//!   and nothing after it is read;
//! - nothing else is ever sent: no `session_ended`, no other close;
//! - when the loop returns, the tab has left the hub.
//!
//! Input format: see `bouncer_fuzz::frames`.

#![no_main]

use std::{
    collections::BTreeSet,
    sync::{Arc, OnceLock},
    time::Duration,
};

use axum::extract::ws::Message;
use bouncer_engine::{
    clock::{Clock, ManualClock},
    db,
    ids::SecretHash,
    login::SignIn,
    password::Password,
    policy::Policy,
    sessions::ClientInfo,
    users::{NewUser, Username},
    Engine, Visitor,
};
use bouncer_fuzz::frames::{Ending, Expected, Frame, CLOSE_TOO_BIG};
use bouncer_web::socket::{serve_tab, TabOwner};
use bouncer_wire::{Role, ServerMessage};
use libfuzzer_sys::fuzz_target;
use tokio::runtime::Runtime;

/// Built once per fuzzing process: an engine is far too slow to build per input.
struct Fixture {
    /// Drives the socket loop, the pool and the engine's spawned writes.
    runtime: Runtime,
    engine: Engine,
    /// Moves 1 ms per input, so each input's activity is visibly "now".
    clock: ManualClock,
    /// The signed-in tab every input is played on.
    owner: TabOwner,
}

static FIXTURE: OnceLock<Fixture> = OnceLock::new();

const USERNAME: &str = "fuzzer";

fn fixture() -> &'static Fixture {
    FIXTURE.get_or_init(|| {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a tokio runtime");
        let clock = ManualClock::starting_now();
        let (engine, owner) = runtime.block_on(signed_in_engine(clock.clone()));
        Fixture {
            runtime,
            engine,
            clock,
            owner,
        }
    })
}

/// An engine with the API's default policy and one user signed in once.
async fn signed_in_engine(clock: ManualClock) -> (Engine, TabOwner) {
    let pool = db::connect("sqlite::memory:")
        .await
        .expect("an in-memory database");
    db::migrate(&pool).await.expect("the migrations apply");
    let engine = Engine::new(pool, Policy::default(), Arc::new(clock), 1, None)
        .await
        .expect("an engine");
    let password = Password::new("fuzzing-correct-horse-battery");
    engine
        .accounts()
        .create_user(
            NewUser {
                username: Username::parse(USERNAME).expect("a valid username"),
                password: password.clone(),
                role: Role::User,
                permissions: BTreeSet::new(),
                max_sessions: None,
            },
            &bouncer_engine::log::Actor::command_line(),
        )
        .await
        .expect("the user is created");
    let client = ClientInfo {
        ip: "127.0.0.1".into(),
        user_agent: "bouncer-fuzz".into(),
    };
    let sign_in = SignIn {
        username: USERNAME,
        password: &password,
        client: &client,
        replace: None,
        visitor: &Visitor::Anonymous,
    };
    let secret = SecretHash::of_secret("the fuzzer's cookie secret");
    let signed_in = engine
        .login()
        .sign_in(sign_in, secret)
        .await
        .expect("a session");
    let owner = TabOwner {
        live: signed_in.session,
        username: USERNAME.into(),
        staff: false,
    };
    (engine, owner)
}

/// A text message the server sent, as the wire type.
fn server_message(message: &Message) -> ServerMessage {
    let Message::Text(text) = message else {
        panic!("only text messages and one close may be sent, got {message:?}");
    };
    serde_json::from_str(text.as_str())
        .unwrap_or_else(|e| panic!("the server sent {text:?}, not a server message: {e}"))
}

fuzz_target!(|data: &[u8]| {
    let fixture = fixture();
    let live = &fixture.owner.live;
    fixture.clock.advance(Duration::from_millis(1));
    let now = fixture.clock.now();
    let activity_before = live.last_activity_at();

    let frames = Frame::decode_all(data);
    let expected = Expected::of(&frames);
    let mut sent: Vec<Message> = Vec::new();
    let stream = futures_util::stream::iter(frames.iter().map(Frame::to_stream_item));
    fixture.runtime.block_on(async {
        serve_tab(
            fixture.engine.clone(),
            fixture.owner.clone(),
            &mut sent,
            stream,
        )
        .await;
    });

    // `hello` first, for this tab's own session.
    let (hello, rest) = sent.split_first().expect("hello is sent");
    match server_message(hello) {
        ServerMessage::Hello { session } => {
            assert_eq!(session.id, live.id.as_str());
            assert_eq!(session.username, USERNAME);
            assert!(session.current);
            assert_eq!(session.online_tabs, 1, "this tab is online");
        }
        other => panic!("the first message is {other:?}, not hello"),
    }

    // A close frame only after a frame over the limit, and as the last thing.
    let replies = match (expected.ending, rest.split_last()) {
        (Ending::TooBig, Some((Message::Close(Some(close)), replies))) => {
            assert_eq!(close.code, CLOSE_TOO_BIG, "{close:?}");
            replies
        }
        (Ending::TooBig, _) => panic!("a frame over 4 KiB must close with 1009: {rest:?}"),
        _ => rest,
    };

    let idle_deadline = now.plus(Duration::from_secs(30 * 60)).to_rfc3339();
    let (mut errors, mut extended, mut changed) = (0, 0, 0);
    for reply in replies {
        match server_message(reply) {
            ServerMessage::Error { error } => {
                assert_eq!(error, "bad_message");
                errors += 1;
            }
            ServerMessage::Extended { idle_expires_at } => {
                assert_eq!(
                    idle_expires_at, idle_deadline,
                    "extended names the new deadline"
                );
                extended += 1;
            }
            // The tab coming online tells the user's tabs, this one included.
            ServerMessage::SessionsChanged => changed += 1,
            other => panic!("nothing the client sends may cause {other:?}"),
        }
    }
    assert!(
        (expected.not_understood..=expected.not_understood + expected.unclear).contains(&errors),
        "{errors} bad_message errors for {expected:?}"
    );
    // The hub sends `extended` at most once a second per session; whether it
    // reaches this tab before the input ends is up to the loop's scheduling.
    let maybe_activity = expected.activity + expected.unclear;
    assert!(
        extended <= usize::from(maybe_activity > 0),
        "{extended} extended for {expected:?}"
    );
    assert!(changed <= 1, "{changed} sessions_changed");

    // Activity counts for this socket's own session, and only activity does.
    let activity_after = live.last_activity_at();
    if expected.activity > 0 {
        assert_eq!(
            activity_after, now,
            "activity moves the session's activity to now"
        );
    } else if maybe_activity == 0 {
        assert_eq!(
            activity_after, activity_before,
            "nothing but activity counts as activity"
        );
    }
    assert!(
        fixture.engine.tabs().ended_message(live).is_none(),
        "no client message ends a session"
    );
    assert_eq!(fixture.engine.tabs().count(), 0, "the tab left the hub");
});
