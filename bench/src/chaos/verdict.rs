//! The chaos run's verdict: what each tab heard against what was ended,
//! and what both nodes answer for every session's cookie at the end.

use std::time::{Duration, Instant};

use anyhow::Context;
use futures_util::{stream, StreamExt};

use super::{plan::sessions_of, revocations::Answered, PlacedTab, World, LATE_AFTER};
use crate::{
    seed,
    watcher::{Heard, TabLog},
};

/// Both nodes' answers to every session's cookie at the end.
#[derive(Debug, Default)]
pub(super) struct Cookies {
    /// Ended sessions whose cookie a node still accepted (per node answer).
    pub(super) ended_accepted: usize,
    /// Ended sessions refused with another reason than `admin_revoked`.
    pub(super) ended_wrong_reason: usize,
    pub(super) ended_checked: usize,
    /// Kept sessions a node refused.
    pub(super) kept_refused: usize,
    pub(super) kept_checked: usize,
}

/// Asks both nodes `GET /api/auth/me` with every session's cookie.
pub(super) async fn check_cookies(world: &World) -> anyhow::Result<Cookies> {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()?;
    let answers: Vec<anyhow::Result<(usize, bool, u16, String)>> =
        stream::iter((0..world.sessions.len()).flat_map(|s| [(s, true), (s, false)]))
            .map(|(session, through_a)| {
                let http = http.clone();
                async move {
                    let response = http
                        .get(world.node_url(through_a, "/api/auth/me"))
                        .header("cookie", &world.sessions[session].cookie)
                        .send()
                        .await?;
                    let status = response.status().as_u16();
                    let body: serde_json::Value = response.json().await.unwrap_or_default();
                    let reason = body["reason"].as_str().unwrap_or_default().to_owned();
                    Ok((session, through_a, status, reason))
                }
            })
            .buffer_unordered(32)
            .collect()
            .await;
    let mut cookies = Cookies::default();
    for answer in answers {
        let (session, _, status, reason) = answer.context("checking a cookie")?;
        if world.ends[session] {
            cookies.ended_checked += 1;
            if status != 401 {
                cookies.ended_accepted += 1;
            } else if reason != "admin_revoked" {
                cookies.ended_wrong_reason += 1;
            }
        } else {
            cookies.kept_checked += 1;
            if status != 200 {
                cookies.kept_refused += 1;
            }
        }
    }
    Ok(cookies)
}

/// What the tabs went through, judged.
#[derive(Debug, Default)]
pub(super) struct Outcome {
    pub(super) ended_tabs: usize,
    pub(super) told: usize,
    pub(super) resynced: usize,
    /// Tabs of ended sessions that learnt nothing.
    pub(super) lost: usize,
    /// Tabs of ended sessions that stayed open past [`LATE_AFTER`] untold.
    pub(super) late: usize,
    /// Tabs told with another reason than `admin_revoked`.
    pub(super) wrong_reason: usize,
    /// Tabs told before their session's revocation was even sent.
    pub(super) premature: usize,
    pub(super) kept_tabs: usize,
    /// Tabs of kept sessions that were told or refused.
    pub(super) spurious: usize,
    /// Tabs of kept sessions not connected at the end.
    pub(super) stranded: usize,
    /// From the revocation's answer to `session_ended` (0 when the tab heard
    /// first), for tabs told on their socket.
    pub(super) told_after: Vec<Duration>,
    pub(super) cut: usize,
    pub(super) closed_by_server: usize,
    pub(super) reconnects: usize,
    pub(super) tabs_on_a: usize,
}

impl Outcome {
    /// Judges `tabs`, given which `sessions` were planned to end (`ends`)
    /// and the calls that ended them.
    pub(super) fn tally(
        sessions: &[seed::Seeded],
        ends: &[bool],
        tabs: &[PlacedTab],
        answered: &[Answered],
    ) -> Outcome {
        // Each session's revocation: when it was sent and answered.
        let mut revoked: Vec<Option<(Instant, Instant)>> = vec![None; sessions.len()];
        for call in answered {
            for session in sessions_of(&call.call, sessions) {
                revoked[session] = Some((call.sent, call.answered));
            }
        }
        let mut outcome = Outcome::default();
        for placed in tabs {
            let log: TabLog = placed.tab.log();
            outcome.cut += log.cut;
            outcome.closed_by_server += log.closed_by_server;
            outcome.reconnects += log.connections.len().saturating_sub(1);
            outcome.tabs_on_a += usize::from(placed.on_a);
            if !ends[placed.session] {
                outcome.kept_tabs += 1;
                outcome.spurious += usize::from(log.ending.is_some());
                outcome.stranded += usize::from(!log.connected());
                continue;
            }
            outcome.ended_tabs += 1;
            let Some((sent, answered)) = revoked[placed.session] else {
                // Planned to end but no call answered for it: the run
                // failed earlier; count the tab as lost rather than guess.
                outcome.lost += 1;
                continue;
            };
            if log.open_throughout(answered, answered + LATE_AFTER) {
                outcome.late += 1;
            }
            match &log.ending {
                None => outcome.lost += 1,
                Some(ending) => {
                    if ending.at < sent {
                        outcome.premature += 1;
                    }
                    if ending.reason != "admin_revoked" {
                        outcome.wrong_reason += 1;
                    }
                    match ending.heard {
                        Heard::Told => {
                            outcome.told += 1;
                            outcome
                                .told_after
                                .push(ending.at.saturating_duration_since(answered));
                        }
                        Heard::Resynced => outcome.resynced += 1,
                    }
                }
            }
        }
        outcome
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        chaos::plan::{seeded, Call},
        watcher::WatchedTab,
    };

    #[test]
    fn every_tab_is_judged_by_what_it_heard_and_when() {
        use crate::watcher::Ending;
        let t0 = Instant::now();
        let at = |ms| t0 + Duration::from_millis(ms);
        // Two users, two sessions each: user 0's end (sessions 0 and 2), user 1's are kept.
        let sessions = seeded(2, 2);
        let ends = [true, false, true, false];
        let answered = [Answered {
            call: Call::RevokeUser(0),
            sent: at(10_000),
            answered: at(10_020),
            ended: 2,
            retries: 0,
            through_a: true,
        }];
        let ending = |heard, ms, reason: &str| {
            Some(Ending {
                heard,
                at: at(ms),
                reason: reason.to_owned(),
            })
        };
        let tab = |session, log: TabLog| PlacedTab {
            session,
            on_a: session % 2 == 0,
            tab: WatchedTab::with_log(log),
        };
        let tabs = [
            // Told 5 ms after the answer.
            tab(
                0,
                TabLog {
                    ending: ending(Heard::Told, 10_025, "admin_revoked"),
                    connections: vec![(at(0), Some(at(10_025)))],
                    ..TabLog::default()
                },
            ),
            // Cut before the ending, then resynced.
            tab(
                0,
                TabLog {
                    ending: ending(Heard::Resynced, 10_500, "admin_revoked"),
                    connections: vec![(at(0), Some(at(9_000)))],
                    cut: 1,
                    ..TabLog::default()
                },
            ),
            // Still open, never told: lost, and late.
            tab(
                2,
                TabLog {
                    connections: vec![(at(0), None)],
                    ..TabLog::default()
                },
            ),
            // Told before the revocation was sent, with another reason.
            tab(
                2,
                TabLog {
                    ending: ending(Heard::Told, 5_000, "idle_timeout"),
                    connections: vec![(at(0), Some(at(5_000)))],
                    ..TabLog::default()
                },
            ),
            // A kept session's tab that was told: spurious.
            tab(
                1,
                TabLog {
                    ending: ending(Heard::Told, 10_030, "admin_revoked"),
                    connections: vec![(at(0), Some(at(10_030)))],
                    ..TabLog::default()
                },
            ),
            // A kept session's tab that reconnected, and one that did not.
            tab(
                3,
                TabLog {
                    connections: vec![(at(0), Some(at(3_000))), (at(4_000), None)],
                    closed_by_server: 1,
                    ..TabLog::default()
                },
            ),
            tab(
                3,
                TabLog {
                    connections: vec![(at(0), Some(at(3_000)))],
                    ..TabLog::default()
                },
            ),
        ];
        let outcome = Outcome::tally(&sessions, &ends, &tabs, &answered);
        assert_eq!(outcome.ended_tabs, 4);
        assert_eq!((outcome.told, outcome.resynced, outcome.lost), (2, 1, 1));
        assert_eq!(outcome.late, 1);
        assert_eq!(outcome.premature, 1);
        assert_eq!(outcome.wrong_reason, 1);
        assert_eq!(outcome.kept_tabs, 3);
        assert_eq!(outcome.spurious, 1);
        assert_eq!(outcome.stranded, 2);
        assert_eq!(outcome.reconnects, 1);
        assert_eq!(outcome.cut, 1);
        assert_eq!(outcome.closed_by_server, 1);
        assert_eq!(
            outcome.told_after,
            [Duration::from_millis(5), Duration::ZERO]
        );
    }
}
