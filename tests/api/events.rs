//! The event feed: `GET /api/admin/events` (order, cursor, fields, 410
//! past retention, who may read it, bad parameters) and its live stream
//! `GET /api/admin/events/stream` (live, resumed with `Last-Event-ID`,
//! closed with the session behind it).

use std::time::Duration;

use bouncer_wire::{ActorKind, Event, EventType, Permission, Reason, Role, StartedHow, UserPatch};
use reqwest::StatusCode;

use crate::helpers::{spawn_app, Browser, TestApp, TestUser};

/// A staff member holding `read_events` (and nothing else), signed in.
async fn reader(app: &TestApp) -> (TestUser, Browser) {
    let eve = app
        .add_user_with("eve", Role::Staff, &[Permission::ReadEvents], None)
        .await;
    let (browser, _) = app.signed_in(&eve).await;
    (eve, browser)
}

/// Every event after `after`, read page by page (`limit` per page).
async fn all_events(browser: &Browser, after: i64, limit: u32) -> Vec<Event> {
    let mut events = Vec::new();
    let mut cursor = after;
    loop {
        let page = browser
            .events(&format!("after={cursor}&limit={limit}"))
            .await
            .expect("the feed answers");
        if page.events.is_empty() {
            assert_eq!(page.next, cursor, "an empty page keeps the cursor");
            return events;
        }
        assert!(page.events.len() <= limit as usize);
        assert_eq!(page.next, page.events.last().expect("one").seq);
        cursor = page.next;
        events.extend(page.events);
    }
}

#[tokio::test]
async fn the_feed_has_every_event_in_order_with_its_own_fields() {
    let app = spawn_app().await;
    let root = app.add_user("root", Role::Admin, None).await;
    let (root_browser, _) = app.signed_in(&root).await;
    let (_, eve) = reader(&app).await;
    let start = eve.events("").await.expect("from the start").next;
    // A user signs in, is created, edited and deactivated, and their
    // sessions end in several ways.
    let alice = app.add_user("alice", Role::User, Some(0)).await;
    let (alice_one, _) = app.signed_in(&alice).await;
    let (alice_two, _) = app.signed_in(&alice).await;
    assert_eq!(alice_two.logout().await.status, StatusCode::NO_CONTENT);
    let patch = UserPatch {
        permissions: Some(vec![Permission::ReadEvents]),
        role: Some(Role::Staff),
        ..UserPatch::default()
    };
    root_browser
        .patch_user(&alice.id, &patch)
        .await
        .expect("promoted");
    let deactivate = UserPatch {
        active: Some(false),
        ..UserPatch::default()
    };
    root_browser
        .patch_user(&alice.id, &deactivate)
        .await
        .expect("deactivated");
    drop(alice_one);

    let events = all_events(&eve, start, 2).await;
    assert_eq!(events, all_events(&eve, start, 1000).await, "pages agree");
    let kinds: Vec<EventType> = events.iter().map(|e| e.kind).collect();
    assert_eq!(
        kinds,
        [
            EventType::UserCreated,
            EventType::SessionStarted,
            EventType::SessionStarted,
            EventType::SessionEnded,
            EventType::SessionEnded,
            EventType::UserRoleChanged,
            EventType::UserDeactivated,
        ],
        "{events:#?}"
    );
    assert!(events.windows(2).all(|w| w[0].seq < w[1].seq));
    for event in &events {
        assert_eq!(event.id, format!("evt_{}", event.seq));
        assert_eq!(event.user_id, alice.id);
    }
    let created = &events[0];
    assert_eq!(created.actor.kind, ActorKind::CommandLine);
    assert_eq!(created.username.as_deref(), Some("alice"));
    assert_eq!(created.role, Some(Role::User));
    assert_eq!(created.active, Some(true));
    assert_eq!(created.session_id, None);
    let started = &events[1];
    assert_eq!(started.how, Some(StartedHow::Login));
    assert_eq!(started.ip.as_deref(), Some("127.0.0.1"));
    assert!(started.device.is_some() && started.user_agent.is_some());
    assert_eq!(started.actor.kind, ActorKind::User);
    assert_eq!(started.actor.id.as_deref(), Some(alice.id.as_str()));
    assert_eq!(started.reason, None);
    // Logging out (logout-everywhere): this session, then the other.
    let ended: Vec<_> = events[3..5].iter().map(|e| e.reason).collect();
    assert_eq!(
        ended,
        [Some(Reason::LoggedOut), Some(Reason::LoggedOutElsewhere)]
    );
    assert_eq!(events[3].actor.kind, ActorKind::User);
    let promoted = &events[5];
    assert_eq!(promoted.actor.kind, ActorKind::Staff);
    assert_eq!(promoted.actor.name, "root");
    assert_eq!(promoted.actor.id.as_deref(), Some(root.id.as_str()));
    assert_eq!(promoted.permissions, Some(vec![Permission::ReadEvents]));
    assert_eq!(promoted.role, Some(Role::Staff));
    assert_eq!(events[6].active, Some(false));
}

#[tokio::test]
async fn only_staff_with_read_events_and_admins_read_the_feed() {
    let app = spawn_app().await;
    let (_, eve) = reader(&app).await;
    assert_eq!(eve.events("").await.status, StatusCode::OK);
    let root = app.add_user("root", Role::Admin, None).await;
    assert_eq!(
        app.signed_in(&root).await.0.events("").await.status,
        StatusCode::OK,
        "admins hold it implicitly"
    );
    let sam = app
        .add_user_with("sam", Role::Staff, &[Permission::RevokeUsers], None)
        .await;
    let bob = app
        .add_user_with("bob", Role::User, &[Permission::ReadEvents], None)
        .await;
    for refused in [&sam, &bob] {
        let browser = app.signed_in(refused).await.0;
        for answer in [
            browser.events("").await.status,
            browser.event_status().await.status,
            browser
                .event_stream("", None)
                .await
                .err()
                .expect("refused")
                .status,
        ] {
            assert_eq!(answer, StatusCode::FORBIDDEN, "{}", refused.username);
        }
        assert_eq!(browser.events("").await.error(), Some("forbidden"));
    }
    let anonymous = app.browser();
    assert_eq!(anonymous.events("").await.status, StatusCode::UNAUTHORIZED);
    let refused = anonymous
        .event_stream("", None)
        .await
        .err()
        .expect("refused");
    assert_eq!(refused.error(), Some("unauthenticated"));
}

#[tokio::test]
async fn bad_parameters_are_a_400_naming_them() {
    let app = spawn_app().await;
    let (_, eve) = reader(&app).await;
    for (query, names) in [
        ("limit=0", "limit"),
        ("limit=1001", "limit"),
        ("limit=-3", "limit"),
        ("after=-1", "after"),
        ("after=seven", "after"),
        ("after=99999999999999999999", "after"),
    ] {
        let answer = eve.events(query).await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{query}");
        let refusal = answer.refusal();
        assert_eq!(refusal.error, "bad_request");
        assert!(
            refusal
                .message
                .as_deref()
                .unwrap_or_default()
                .contains(names),
            "{query}: {refusal:?}"
        );
    }
    for header in ["seven", "", "1.5"] {
        let refused = eve
            .event_stream("", Some(header))
            .await
            .err()
            .expect("refused");
        assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{header:?}");
        assert_eq!(refused.error(), Some("bad_request"));
    }
}

#[tokio::test]
async fn a_cursor_past_retention_is_gone_with_the_oldest_kept() {
    let app = spawn_app().await;
    let (eve_user, eve) = reader(&app).await;
    app.add_user("early", Role::User, None).await;
    let before = eve.events("").await.expect("read").next;
    // Past the retention (7 days): the sweep deletes every row so far.
    app.advance_clock(Duration::from_secs(8 * 24 * 3600));
    app.sweep().await;
    let late = app.add_user("late", Role::User, None).await;
    // Eve's session timed out meanwhile: she signs in again (an event too).
    let (eve, _) = app.signed_in(&eve_user).await;
    let page = eve.events("limit=1").await.expect("from the oldest kept");
    assert_eq!(page.events.len(), 1);
    let oldest = page.events[0].seq;
    assert!(oldest > before, "the sweep deleted what came before");
    // What is kept: since the sweep (its timeouts included), not before.
    let kept = all_events(&eve, oldest - 1, 100).await;
    assert!(kept.iter().any(|e| e.user_id == late.id));
    assert!(kept.iter().all(|e| e.seq > before));
    for after in [0, before - 1, oldest - 2] {
        let answer = eve.events(&format!("after={after}")).await;
        assert_eq!(answer.status, StatusCode::GONE, "after={after}");
        let refusal = answer.refusal();
        assert_eq!(refusal.error, "gone");
        assert_eq!(refusal.oldest, Some(oldest));
        let refused = eve
            .event_stream("", Some(&after.to_string()))
            .await
            .err()
            .expect("the stream is refused too");
        assert_eq!(refused.status, StatusCode::GONE);
    }
    let resumed = eve.events(&format!("after={}", oldest - 1)).await;
    assert_eq!(resumed.expect("kept").events[0].seq, oldest);
    let newest = kept.last().expect("kept").seq;
    let caught_up = eve.events(&format!("after={newest}")).await;
    assert_eq!(caught_up.expect("caught up").events, []);
}

/// How soon a live event must reach the stream in these tests.
const LIVE: Duration = Duration::from_secs(2);

#[tokio::test]
async fn the_stream_is_live_and_resumes_from_last_event_id() {
    let app = spawn_app().await;
    let (_, eve) = reader(&app).await;
    let mut stream = eve.event_stream("", None).await.expect("opened");
    let ana = app.add_user("ana", Role::User, None).await;
    let created = stream.next(LIVE).await.expect("an event");
    assert_eq!(created.event, "user.created");
    assert_eq!(created.id, created.data.seq.to_string());
    assert_eq!(created.data.user_id, ana.id);
    drop(stream);
    // Missed while disconnected: a sign-in and its sign-out.
    let (ana_browser, _) = app.signed_in(&ana).await;
    ana_browser.logout().await;
    let mut resumed = eve
        .event_stream("", Some(&created.id))
        .await
        .expect("resumed");
    let started = resumed.next(LIVE).await.expect("the sign-in");
    let ended = resumed.next(LIVE).await.expect("the sign-out");
    assert_eq!(
        (started.data.kind, ended.data.kind),
        (EventType::SessionStarted, EventType::SessionEnded)
    );
    assert_eq!(started.data.seq, created.data.seq + 1);
    assert!(ended.data.seq > started.data.seq);
    // `?after=` does the same without the header.
    let mut again = eve
        .event_stream(&format!("after={}", created.data.seq), None)
        .await
        .expect("opened");
    assert_eq!(again.next(LIVE).await.expect("one").data, started.data);
}

#[tokio::test]
async fn the_stream_closes_when_the_session_behind_it_ends_or_loses_the_permission() {
    let app = spawn_app().await;
    let root = app.add_user("root", Role::Admin, None).await;
    let (root_browser, _) = app.signed_in(&root).await;
    let (eve, eve_browser) = reader(&app).await;
    let mut stream = eve_browser.event_stream("", None).await.expect("opened");
    root_browser.revoke_user(&eve.id).await.expect("revoked");
    let rest = stream.closes(LIVE).await;
    let last = rest.last().expect("its own ending is the last event");
    assert_eq!(last.data.reason, Some(Reason::AdminRevoked));
    assert_eq!(last.data.user_id, eve.id);

    let (eve_again, _) = app.signed_in(&eve).await;
    let mut stream = eve_again.event_stream("", None).await.expect("opened");
    let demote = UserPatch {
        permissions: Some(vec![]),
        ..UserPatch::default()
    };
    root_browser
        .patch_user(&eve.id, &demote)
        .await
        .expect("edited");
    let rest = stream.closes(LIVE).await;
    assert_eq!(
        rest.last().map(|m| m.data.kind),
        Some(EventType::UserRoleChanged)
    );
    assert_eq!(
        eve_again.events("").await.status,
        StatusCode::FORBIDDEN,
        "and the feed refuses"
    );
}
