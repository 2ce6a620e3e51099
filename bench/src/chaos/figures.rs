//! What the report says about a chaos run: the row, the failures, and the
//! section with every figure.

use std::time::Duration;

use super::{
    plan::Call,
    revocations::Answered,
    verdict::{Cookies, Outcome},
    Scale, LATE_AFTER, SETTLE_WITHIN,
};
use crate::{
    report::{Report, Row, Section},
    stats::Samples,
};

/// Everything the report says about one run.
pub(super) struct Figures<'a> {
    pub(super) scale: &'a Scale,
    pub(super) measured: &'a Measured,
    pub(super) seed_value: u64,
    /// The whole run, seeding included.
    pub(super) total: Duration,
}

/// What one run measured.
pub(super) struct Measured {
    pub(super) answered: Vec<Answered>,
    /// How long node A did not answer, per restart.
    pub(super) restarts: Vec<Duration>,
    /// Listener connections terminated, per round.
    pub(super) kills: Vec<usize>,
    pub(super) outcome: Outcome,
    pub(super) cookies: Cookies,
    /// How long the tabs took to settle after the last revocation.
    pub(super) settled: Duration,
    /// From the tabs' connecting to the last revocation's answer.
    pub(super) revoking: Duration,
}

impl Figures<'_> {
    pub(super) fn report(&self, report: &mut Report) {
        let m = self.measured;
        let (o, c) = (&m.outcome, &m.cookies);
        let ended_sessions = c.ended_checked / 2;
        let api_ended: usize = m.answered.iter().map(|a| a.ended).sum();
        let count = |f: fn(&Call) -> bool| m.answered.iter().filter(|a| f(&a.call)).count();
        let singles = count(|c| matches!(c, Call::EndSession(_)));
        let per_user = count(|c| matches!(c, Call::RevokeUser(_)));
        let bulk = count(|c| matches!(c, Call::RevokeUsers(_)));
        let through_a = m.answered.iter().filter(|a| a.through_a).count();
        let retried = m.answered.iter().filter(|a| a.retries > 0).count();
        let spurious = o.spurious + o.premature + c.kept_refused;
        let wrong_reason = o.wrong_reason + c.ended_wrong_reason;
        let told_after = Samples::new("revoke → tab during the chaos run", &o.told_after);
        let down: Vec<String> = m
            .restarts
            .iter()
            .map(|down_for| format!("{:.1} s", down_for.as_secs_f64()))
            .collect();
        let killed: usize = m.kills.iter().sum();

        let failures = [
            (
                o.lost,
                "tabs of ended sessions were neither told nor resynced",
            ),
            (
                spurious,
                "spurious endings (kept sessions ended, or tabs told before their revocation)",
            ),
            (
                c.ended_accepted,
                "node answers accepted an ended session's cookie",
            ),
            (
                wrong_reason,
                "endings carried another reason than admin_revoked",
            ),
            (o.stranded, "tabs of kept sessions did not reconnect"),
        ];
        let mut met = true;
        for (n, what) in failures {
            if n > 0 {
                met = false;
                report.fail(format!("chaos: {n} {what}"));
            }
        }
        if m.restarts.len() < self.scale.restarts {
            met = false;
            report.fail("chaos: node A was not restarted as planned".to_owned());
        }

        report.row(Row::new(
            "8",
            format!(
                "Chaos: {ended_sessions} sessions ended through two nodes (PostgreSQL) while \
                 sockets are cut, node A restarts ×{} and the listeners are killed ×{}",
                m.restarts.len(),
                m.kills.len()
            ),
            "0 lost, 0 spurious; every ended cookie refused by both nodes",
            format!(
                "{} tabs of ended sessions: {} told, {} resynced, **{} lost**; {} spurious; \
                 {} of {} ended-cookie checks refused; {} late (> {} s); {:.0} s",
                o.ended_tabs,
                o.told,
                o.resynced,
                o.lost,
                spurious,
                c.ended_checked - c.ended_accepted,
                c.ended_checked,
                o.late,
                LATE_AFTER.as_secs(),
                self.total.as_secs_f64()
            ),
            Some(met),
            "chaos",
        ));
        let body = format!(
            "Two `bouncer serve` nodes, A and B, on one fresh PostgreSQL database. \
             Sessions are seeded over many users; a few users are *kept*: nothing ends their \
             sessions, so a spurious ending would show. Tabs behave like the browser's watcher \
             (`bench/src/watcher.rs` after `app/src/watcher.rs`): when a socket closes without \
             `session_ended` they ask `GET /api/auth/me` and reconnect with its jittered \
             backoff, asking again after each reconnect. The revocations are spread over {} s \
             through both nodes' admin APIs while random sockets are cut, node A is restarted \
             (SIGTERM, wait for exit, start on the same port; its calls go to B meanwhile) and \
             both nodes' `LISTEN` connections are terminated with `pg_terminate_backend`. \
             Afterwards the tabs get up to {} s to settle, then every session's cookie is \
             asked for `GET /api/auth/me` on both nodes.\n\n\
             A tab is **told** when `session_ended` reached it, **resynced** when a 401 from \
             `/api/auth/me` did (after its socket was cut or its node restarted), **lost** when \
             neither happened. **Spurious**: a kept session's tab told or refused, a kept \
             cookie refused, or a tab told before its revocation was sent. **Late**: a tab \
             whose socket stayed open {} s after its revocation's answer without being told.\n\n\
             | | |\n| --- | --- |\n\
             | sessions | {} seeded for {} users; {} ended, {} kept |\n\
             | revocation calls | {} (`DELETE /api/admin/sessions/{{id}}` {}, per-user revoke {}, \
             bulk revoke of {} users {}); {} through A, {} through B; {} retried on the other \
             node; the API reported {} sessions ended |\n\
             | tabs | {} ({} on A, {} on B; {} sessions with a tab on each node) |\n\
             | faults | {} sockets cut; node A restarted ×{} (down {}); {} listener \
             connections terminated in {} rounds |\n\
             | tabs of ended sessions | {} told, {} resynced, **{} lost**, {} late, {} with \
             another reason |\n\
             | tabs of kept sessions | {}: {} spurious endings, {} not reconnected |\n\
             | sockets | {} closed by a node without `session_ended`, {} reconnects |\n\
             | cookies at the end | ended: {} of {} node answers refused ({} with another \
             reason than `admin_revoked`); kept: {} of {} accepted |\n\
             | push during the run | {} |\n\
             | time | {:.1} s revoking, {:.1} s to settle, {:.0} s in all (seeding included) |\n\
             | random seed | {} (`--seed` replays the plan; the faults' timing is the machine's) |",
            self.scale.spread_over.as_secs(),
            SETTLE_WITHIN.as_secs(),
            LATE_AFTER.as_secs(),
            self.scale.users * self.scale.sessions_per_user,
            self.scale.users,
            ended_sessions,
            c.kept_checked / 2,
            m.answered.len(),
            singles,
            per_user,
            self.scale.bulk_batch,
            bulk,
            through_a,
            m.answered.len() - through_a,
            retried,
            api_ended,
            o.ended_tabs + o.kept_tabs,
            o.tabs_on_a,
            o.ended_tabs + o.kept_tabs - o.tabs_on_a,
            self.scale.second_tabs,
            o.cut,
            m.restarts.len(),
            if down.is_empty() {
                "—".to_owned()
            } else {
                down.join(", ")
            },
            killed,
            m.kills.len(),
            o.told,
            o.resynced,
            o.lost,
            o.late,
            o.wrong_reason,
            o.kept_tabs,
            o.spurious + o.premature + c.kept_refused,
            o.stranded,
            o.closed_by_server,
            o.reconnects,
            c.ended_checked - c.ended_accepted,
            c.ended_checked,
            c.ended_wrong_reason,
            c.kept_checked - c.kept_refused,
            c.kept_checked,
            told_after.summary(),
            m.revoking.as_secs_f64(),
            m.settled.as_secs_f64(),
            self.total.as_secs_f64(),
            self.seed_value,
        );
        report.section(
            "chaos",
            Section {
                title: "Chaos run".to_owned(),
                body,
                chart: None,
            },
        );
        report.chart("chaos", told_after);
    }
}
