//! Property tests of the session engine: random interleavings of logins,
//! logouts, revocations, password changes, deactivations, role changes, tabs, clock jumps,
//! sweeps and deadline ticks, across users and browsers, keep the invariants
//! (see `properties/invariants.rs`):
//!
//! 1. never more live sessions than the limit;
//! 2. an ended session never validates again;
//! 3. every ending has a log row and a reason;
//! 4. no spurious endings;
//! 5. every live session carries its user's current identity.
//!
//! Each case runs on the real `Engine` and a real database (in-memory SQLite,
//! or PostgreSQL with `BOUNCER_TEST_BACKEND=postgres`), next to a small model
//! of the rules (`properties/model.rs`) that predicts every answer.
//!
//! `PROPTEST_CASES=2000 cargo test -p bouncer-engine --test properties`
//! runs longer. A failure is shrunk to the fewest operations that still fail,
//! printed, and saved under `proptest-regressions/` (commit that file: the
//! case is then replayed first on every run). A saved seed only reproduces
//! its case while the generator stays the same, so a bug found is also kept
//! as an explicit case below, replayed through the same model.
//!
//! # Layout
//!
//! - `scenario` — the operations and the random cases.
//! - `model` — the rules, as a newcomer would state them.
//! - `harness` — the engine, driven through its web and console calls.
//! - `invariants` — the checks after every operation.
//! - `coverage` — what the cases reached (`-- --nocapture` shows it).
//! - `backend` — SQLite or PostgreSQL.

// The modules live in `properties/`, beside this file (a test crate's root
// would otherwise look for them directly in `tests/`).
#[path = "properties/backend.rs"]
mod backend;
#[path = "properties/coverage.rs"]
mod coverage;
#[path = "properties/harness.rs"]
mod harness;
#[path = "properties/invariants.rs"]
mod invariants;
#[path = "properties/model.rs"]
mod model;
#[path = "properties/scenario.rs"]
mod scenario;

use std::sync::Mutex;

use bouncer_engine::{
    db::Pool,
    password::{Password, PasswordHasher, INTERNAL},
    policy::OnLimit,
};
use proptest::test_runner::{Config, FileFailurePersistence, TestCaseError, TestError, TestRunner};
use tokio::runtime::Runtime;

use crate::{
    backend::Database,
    coverage::Coverage,
    harness::World,
    invariants::Stored,
    model::Model,
    scenario::{Op, Rules, Scenario},
};

/// Cases per run by default: about 15 s (0.4 s a case) in a debug build on a
/// busy two-core machine. `PROPTEST_CASES` overrides it.
const DEFAULT_CASES: u32 = 32;

fn config() -> Config {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|cases| cases.parse().ok())
        .unwrap_or(DEFAULT_CASES);
    Config {
        cases,
        source_file: Some(file!()),
        // Relative to the package (the tests' working directory): proptest's
        // `SourceParallel` only finds `src/`, not `tests/`.
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct(
            "proptest-regressions/properties.txt",
        ))),
        // Shrinking replays whole cases: bound it so a failure reports in minutes.
        max_shrink_iters: 10_000,
        max_shrink_time: 10 * 60 * 1000,
        ..Config::default()
    }
}

#[test]
fn random_interleavings_keep_the_session_invariants() {
    let runtime = runtime();
    let Some(database) = runtime.block_on(Database::from_env()) else {
        return;
    };
    let initial_hash = initial_hash(&runtime);
    let coverage = Mutex::new(Coverage::default());
    let mut runner = TestRunner::new(config());
    let result = runner.run(&scenario::scenario(), |scenario| {
        runtime
            .block_on(run_case(&database, &initial_hash, &scenario, &coverage))
            .map_err(TestCaseError::fail)
    });
    runtime.block_on(database.finish());
    match result {
        // Shrinking replays cases, so the tally means something only for a
        // run that passed.
        Ok(()) => eprintln!("{}", lock(&coverage).report()),
        Err(TestError::Fail(reason, scenario)) => {
            panic!("{reason}\n\nThe smallest failing case:\n{scenario:#?}")
        }
        Err(TestError::Abort(reason)) => panic!("proptest gave up: {reason}"),
    }
}

/// Found by the property above: a tab's `activity` message after the idle
/// deadline, before the deadline ticker had ended the session, extended the
/// expired session instead of ending it.
#[test]
fn tab_activity_after_the_idle_deadline_ends_the_session() {
    replay(Scenario {
        rules: Rules {
            session_limit: 0,
            on_limit: OnLimit::ReplaceOldest,
            logout_everywhere: false,
            idle_timeout: Some(scenario::IDLE),
            absolute_timeout: None,
        },
        max_sessions: vec![None; scenario::USERS],
        ops: vec![
            Op::Login {
                browser: 0,
                user: 0,
                right_password: true,
            },
            Op::OpenTab { browser: 0 },
            Op::AdvanceClock { by: scenario::IDLE },
            // The model ends the session here, with `idle_timeout`.
            Op::TabActivity { browser: 0 },
            Op::Request {
                browser: 0,
                activity: true,
            },
        ],
    });
}

/// Runs one given case, as the property runs each random one.
fn replay(scenario: Scenario) {
    let runtime = runtime();
    let Some(database) = runtime.block_on(Database::from_env()) else {
        return;
    };
    let initial_hash = initial_hash(&runtime);
    let result = runtime.block_on(run_case(
        &database,
        &initial_hash,
        &scenario,
        &Mutex::default(),
    ));
    runtime.block_on(database.finish());
    if let Err(failure) = result {
        panic!("{failure}");
    }
}

fn runtime() -> Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a Tokio runtime")
}

/// Every user's password hash to start with, computed once for all cases.
fn initial_hash(runtime: &Runtime) -> String {
    runtime
        .block_on(PasswordHasher::new(1).hash(&Password::new(harness::INITIAL_PASSWORD), INTERNAL))
        .expect("the initial password hashes")
}

/// One case on a fresh database.
async fn run_case(
    database: &Database,
    initial_hash: &str,
    scenario: &Scenario,
    coverage: &Mutex<Coverage>,
) -> Result<(), String> {
    let pool = database
        .fresh_pool()
        .await
        .map_err(|e| format!("no database: {e:#}"))?;
    let result = play(&pool, initial_hash, scenario, coverage).await;
    pool.close().await;
    result
}

/// Runs every operation on the engine and the model, comparing their
/// answers, then checks the invariants.
async fn play(
    pool: &Pool,
    initial_hash: &str,
    scenario: &Scenario,
    coverage: &Mutex<Coverage>,
) -> Result<(), String> {
    let mut world = World::build(pool.clone(), scenario, initial_hash)
        .await
        .map_err(|e| format!("setting up: {e:#}"))?;
    let mut model = Model::new(&scenario.rules, &scenario.max_sessions, world.now());
    lock(coverage).case();
    for (step, op) in scenario.ops.iter().enumerate() {
        let before = model.states();
        let answer = world
            .run(step, op, &model)
            .await
            .map_err(|e| failed(step, op, &model, format!("{e:#}")))?;
        let may_end = model
            .step(op, &answer)
            .map_err(|e| failed(step, op, &model, e))?;
        if world.now() != model.now() {
            return Err(failed(step, op, &model, "the clocks disagree".to_owned()));
        }
        let stored = Stored::read(pool)
            .await
            .map_err(|e| failed(step, op, &model, format!("{e:#}")))?;
        model
            .settle(&may_end, |id| stored.ending(id))
            .map_err(|e| failed(step, op, &model, e))?;
        invariants::check(&mut world, &model, &stored)
            .await
            .map_err(|e| failed(step, op, &model, e))?;
        lock(coverage).record(op, &answer.outcome, &model.endings_since(&before));
    }
    Ok(())
}

fn lock(coverage: &Mutex<Coverage>) -> std::sync::MutexGuard<'_, Coverage> {
    // A panic elsewhere cannot leave a tally half-written in a way that matters.
    coverage.lock().unwrap_or_else(|p| p.into_inner())
}

fn failed(step: usize, op: &Op, model: &Model, error: String) -> String {
    format!("after step {step} ({op:?}): {error}\n{}", model.describe())
}
