//! Which sessions the chaos run ends, and how: the kept users are never
//! named; the others lose their sessions one `DELETE` at a time, by a
//! per-user revoke, or in bulk revokes, in a shuffled order.

use rand::{rngs::StdRng, seq::SliceRandom};

use super::Scale;
use crate::seed;

/// One revocation call.
#[derive(Debug, Clone)]
pub(super) enum Call {
    /// `DELETE /api/admin/sessions/{id}`.
    EndSession(usize),
    /// `POST /api/admin/users/{id}/revoke`.
    RevokeUser(usize),
    /// `POST /api/admin/revoke` `{"user_ids": […]}`.
    RevokeUsers(Vec<usize>),
}

/// The calls, shuffled: the kept users' sessions are never named; of the
/// rest, a third of the users lose their sessions one `DELETE` at a time, a
/// third by a per-user revoke, a third in bulk revokes.
pub(super) fn plan(scale: &Scale, sessions: &[seed::Seeded], rng: &mut StdRng) -> Vec<Call> {
    let mut users: Vec<usize> = (0..scale.users).collect();
    users.shuffle(rng);
    let ending = &users[scale.kept_users.min(users.len())..];
    let third = ending.len() / 3;
    let (singles, rest) = ending.split_at(third);
    let (per_user, bulk) = rest.split_at(third);
    let mut calls = Vec::new();
    for (index, session) in sessions.iter().enumerate() {
        if singles.contains(&session.user) {
            calls.push(Call::EndSession(index));
        }
    }
    calls.extend(per_user.iter().map(|user| Call::RevokeUser(*user)));
    calls.extend(
        bulk.chunks(scale.bulk_batch.max(1))
            .map(|batch| Call::RevokeUsers(batch.to_vec())),
    );
    calls.shuffle(rng);
    calls
}

/// The sessions a call ends.
pub(super) fn sessions_of<'a>(call: &'a Call, sessions: &'a [seed::Seeded]) -> Vec<usize> {
    match call {
        Call::EndSession(session) => vec![*session],
        Call::RevokeUser(user) => (0..sessions.len())
            .filter(|s| sessions[*s].user == *user)
            .collect(),
        Call::RevokeUsers(users) => (0..sessions.len())
            .filter(|s| users.contains(&sessions[*s].user))
            .collect(),
    }
}

/// Sessions as `seed::sessions` makes them (round-robin over the users),
/// without a database.
#[cfg(test)]
pub(super) fn seeded(users: usize, per_user: usize) -> Vec<seed::Seeded> {
    (0..per_user)
        .flat_map(|round| {
            (0..users).map(move |user| seed::Seeded {
                cookie: format!("c{round}-{user}"),
                session_id: format!("s{round}-{user}"),
                user,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;

    use super::*;

    #[test]
    fn the_plan_ends_every_session_but_the_kept_users_once() {
        let scale = Scale::of(true);
        let sessions = seeded(scale.users, scale.sessions_per_user);
        let calls = plan(&scale, &sessions, &mut StdRng::seed_from_u64(7));
        let mut ended = vec![0; sessions.len()];
        for call in &calls {
            for session in sessions_of(call, &sessions) {
                ended[session] += 1;
            }
        }
        let kept = ended.iter().filter(|n| **n == 0).count();
        assert_eq!(kept, scale.kept_users * scale.sessions_per_user);
        assert!(ended.iter().all(|n| *n <= 1), "a session is named twice");
        assert!(ended.iter().sum::<usize>() >= 300);
        // Whole users are kept: none of a kept user's sessions ends.
        for user in 0..scale.users {
            let of_user: Vec<usize> = (0..sessions.len())
                .filter(|s| sessions[*s].user == user)
                .map(|s| ended[s])
                .collect();
            assert!(of_user.iter().all(|n| *n == of_user[0]), "user {user}");
        }
        for kind in [
            |c: &Call| matches!(c, Call::EndSession(_)),
            |c: &Call| matches!(c, Call::RevokeUser(_)),
            |c: &Call| matches!(c, Call::RevokeUsers(_)),
        ] {
            assert!(calls.iter().any(kind), "every kind of call is in the plan");
        }
    }
    #[test]
    fn the_full_run_ends_at_least_ten_thousand_sessions() {
        let scale = Scale::of(false);
        let ending = (scale.users - scale.kept_users) * scale.sessions_per_user;
        assert!(ending >= 10_000, "{ending}");
    }
}
