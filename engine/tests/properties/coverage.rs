//! What the cases reached, tallied over a run and printed at its end (run
//! with `-- --nocapture` to see it). A property that never meets a full
//! session limit or a throttled login says nothing about them, however many
//! cases pass; the table shows it, zero rows included.

use std::collections::BTreeMap;

use bouncer_wire::Reason;

use crate::{
    model::{Outcome, Refusal, Seen},
    scenario::Op,
};

/// Counts of outcomes per operation and of endings per reason.
#[derive(Debug, Default)]
pub struct Coverage {
    cases: u64,
    outcomes: BTreeMap<(&'static str, &'static str), u64>,
    endings: BTreeMap<&'static str, u64>,
}

impl Coverage {
    pub fn case(&mut self) {
        self.cases += 1;
    }

    /// Counts one operation's outcome and the endings it caused.
    pub fn record(&mut self, op: &Op, outcome: &Outcome, endings: &[Reason]) {
        *self.outcomes.entry((op.name(), kind(outcome))).or_default() += 1;
        for reason in endings {
            *self.endings.entry(reason.as_str()).or_default() += 1;
        }
    }

    /// The table, every reason listed even when it never happened.
    pub fn report(&self) -> String {
        let mut out = format!("Coverage over {} cases:\n", self.cases);
        for ((op, outcome), count) in &self.outcomes {
            out.push_str(&format!("  {count:>6}  {op} -> {outcome}\n"));
        }
        out.push_str("  Sessions ended, by reason:\n");
        for reason in Reason::ALL {
            let count = self.endings.get(reason.as_str()).copied().unwrap_or(0);
            out.push_str(&format!("  {count:>6}  {}\n", reason.as_str()));
        }
        out
    }
}

fn kind(outcome: &Outcome) -> &'static str {
    match outcome {
        Outcome::Done => "done",
        Outcome::Seen(Seen::Anonymous) => "anonymous",
        Outcome::Seen(Seen::Ended(_)) => "ended",
        Outcome::Seen(Seen::Live(_)) => "live",
        Outcome::SignedIn(_) => "signed in",
        Outcome::Refused(Refusal::InvalidCredentials) => "invalid credentials",
        Outcome::Refused(Refusal::AccountDisabled) => "account disabled",
        Outcome::Refused(Refusal::TooManyAttempts) => "too many attempts",
        Outcome::Refused(Refusal::LimitReached(_)) => "session limit reached",
        Outcome::Refused(Refusal::NotSignedIn) => "not signed in",
        Outcome::Refused(Refusal::NotFound) => "not found",
        Outcome::Ended(0) => "ended none",
        Outcome::Ended(1) => "ended one",
        Outcome::Ended(_) => "ended several",
    }
}
