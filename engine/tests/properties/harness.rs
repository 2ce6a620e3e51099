//! The engine under test, driven the way its callers drive it: browsers go
//! through the web layer's `sign_in`, `sign_out` and `change_password` with a
//! real tower-sessions cookie on the engine's cookie store, every request
//! through `Engine::check` as the middleware does; the operator through the
//! console calls; time through a manual clock.

use std::{
    collections::{BTreeSet, HashMap},
    sync::Arc,
};

use anyhow::{bail, Context};
use bouncer_engine::{
    accounts::AccountError,
    clock::{Clock, ManualClock, Timestamp},
    console::{ConsoleError, Operator},
    cookie_store::CookieStore,
    db::Pool,
    hub::TabRegistration,
    ids::{SecretHash, SessionId},
    password::Password,
    registry::{ClientInfo, LiveSession},
    users::{NewUser, UserRecord, Username},
    web::{self, CookieSignInError},
    Engine, SignInError, Visitor,
};
use bouncer_wire::{Role, UserPatch};
use tower_sessions::Session;

use crate::{
    model::{Answer, Model, Outcome, Refusal, Seen},
    scenario::{Op, Scenario, BROWSERS},
};

/// Every user's password until someone changes it.
pub const INITIAL_PASSWORD: &str = "the initial password";

/// A password no user ever has.
const WRONG_PASSWORD: &str = "not the password";

/// One browser: its cookie jar (one cookie), its address, its open tab.
struct Browser {
    cookie: Session,
    client: ClientInfo,
    tab: Option<Tab>,
}

/// A tab's WebSocket, as the socket loop holds it: a place in the hub and the
/// session it was authorised for at the upgrade.
struct Tab {
    registration: TabRegistration,
    live: Arc<LiveSession>,
}

/// The engine and everyone who talks to it.
pub struct World {
    pub engine: Engine,
    clock: ManualClock,
    pub users: Vec<UserRecord>,
    /// The operator behind the admin operations (never signed in here).
    admin: UserRecord,
    operator_session: SessionId,
    /// Each user's password, as last set successfully.
    passwords: Vec<String>,
    browsers: Vec<Browser>,
    /// For invariant 2: the step at which each cookie secret was first
    /// refused by a check. A refused secret must never validate again.
    refused: HashMap<SecretHash, usize>,
    /// The step being run, for the book above.
    step: usize,
}

impl World {
    /// A fresh engine on `pool` (migrated, empty) with the scenario's rules
    /// and users. `initial_hash` is [`INITIAL_PASSWORD`] hashed once for all
    /// cases: the properties are about sessions, and each hash costs time.
    pub async fn build(
        pool: Pool,
        scenario: &Scenario,
        initial_hash: &str,
    ) -> anyhow::Result<Self> {
        let clock = ManualClock::starting_now();
        let engine = Engine::new(
            pool.clone(),
            scenario.rules.policy(),
            Arc::new(clock.clone()),
            2,
            None,
        )
        .await
        .context("Failed to build the engine")?;
        let mut users = Vec::new();
        for (i, max_sessions) in scenario.max_sessions.iter().enumerate() {
            let user = create_user(
                &engine,
                &format!("user{i}"),
                Role::User,
                *max_sessions,
                initial_hash,
            )
            .await?;
            users.push(user);
        }
        let admin = create_user(&engine, "operator", Role::Admin, None, initial_hash).await?;
        let store = Arc::new(CookieStore::new(pool));
        let browsers = (0..BROWSERS)
            .map(|b| Browser {
                cookie: Session::new(None, Arc::clone(&store), None),
                client: ClientInfo {
                    ip: format!("192.0.2.{}", b + 1),
                    user_agent: format!("proptest-browser/{b}"),
                },
                tab: None,
            })
            .collect();
        Ok(World {
            engine,
            clock,
            passwords: vec![INITIAL_PASSWORD.to_owned(); users.len()],
            users,
            admin,
            operator_session: SessionId::generate(),
            browsers,
            refused: HashMap::new(),
            step: 0,
        })
    }

    pub fn now(&self) -> Timestamp {
        self.clock.now()
    }

    fn operator(&self) -> Operator<'_> {
        Operator {
            user: &self.admin,
            session: &self.operator_session,
        }
    }

    /// The user index of a user id.
    fn user_index(&self, live: &LiveSession) -> anyhow::Result<usize> {
        self.users
            .iter()
            .position(|u| u.id == live.user_id)
            .context("a session belongs to no user of the case")
    }

    /// The engine's request-path check, keeping invariant 2's book.
    pub async fn check(&mut self, secret: SecretHash, activity: bool) -> anyhow::Result<Visitor> {
        let visitor = self.engine.check(&secret, activity).await?;
        match (&visitor, self.refused.get(&secret)) {
            (Visitor::Live(live), Some(first)) => bail!(
                "invariant 2: a cookie secret refused at step {first} validated again (session {})",
                live.id
            ),
            (Visitor::Live(_), None) | (_, Some(_)) => {}
            (_, None) => {
                self.refused.insert(secret, self.step);
            }
        }
        Ok(visitor)
    }

    /// A request from browser `b`: its cookie, checked as the middleware does.
    async fn visit(&mut self, b: usize, activity: bool) -> anyhow::Result<Visitor> {
        match web::secret_of(&self.browsers[b].cookie) {
            Some(secret) => self.check(secret, activity).await,
            None => Ok(Visitor::Anonymous),
        }
    }

    /// Runs one operation on the engine and reports what it answered.
    pub async fn run(&mut self, step: usize, op: &Op, model: &Model) -> anyhow::Result<Answer> {
        self.step = step;
        let outcome = match *op {
            Op::Login {
                browser,
                user,
                right_password,
            } => self.login(browser, user, right_password).await?,
            Op::Logout { browser } => {
                let visitor = self.visit(browser, true).await?;
                web::sign_out(&self.engine, &self.browsers[browser].cookie, &visitor).await?;
                Outcome::Done
            }
            Op::Request { browser, activity } => {
                Outcome::Seen(seen(&self.visit(browser, activity).await?))
            }
            Op::OpenTab { browser } => {
                // The upgrade is a passive request; a refused one opens nothing.
                let visitor = self.visit(browser, false).await?;
                if let Visitor::Live(live) = &visitor {
                    let registration =
                        self.engine
                            .hub()
                            .register(live.id.clone(), live.user_id.clone(), false);
                    self.browsers[browser].tab = Some(Tab {
                        registration,
                        live: Arc::clone(live),
                    });
                }
                Outcome::Seen(seen(&visitor))
            }
            Op::TabActivity { browser } => {
                if let Some(tab) = &self.browsers[browser].tab {
                    self.engine.record_activity(&tab.live).await?;
                }
                Outcome::Done
            }
            Op::ChangeOwnPassword {
                browser,
                right_current_password,
            } => {
                self.change_own_password(browser, right_current_password)
                    .await?
            }
            Op::SignOutOtherDevices { browser } => match self.visit(browser, true).await? {
                Visitor::Live(live) => {
                    let user = &self.users[self.user_index(&live)?];
                    Outcome::Ended(self.engine.end_other_own_sessions(user, &live.id).await?)
                }
                _ => Outcome::Refused(Refusal::NotSignedIn),
            },
            Op::AdminEndSession { user, pick } => {
                let id = match model.pick_session(user, pick) {
                    Some(s) => model.sessions[s].id.to_string(),
                    None => SessionId::generate().to_string(),
                };
                match self.engine.console_end_session(&self.operator(), &id).await {
                    Ok(()) => Outcome::Done,
                    Err(ConsoleError::NotFound) => Outcome::Refused(Refusal::NotFound),
                    Err(e) => return Err(e.into()),
                }
            }
            Op::AdminRevokeUser { user } => {
                let ids = [self.users[user].id.to_string()];
                Outcome::Ended(
                    self.engine
                        .console_revoke_users(&self.operator(), &ids)
                        .await?,
                )
            }
            Op::AdminRevokeEveryone => Outcome::Ended(
                self.engine
                    .console_revoke_all(&self.operator(), false)
                    .await?,
            ),
            Op::AdminSetPassword { user } => {
                let password = format!("set by an admin at step {step}");
                let patch = UserPatch {
                    password: Some(password.clone()),
                    ..UserPatch::default()
                };
                self.update_user(user, patch).await?;
                self.passwords[user] = password;
                Outcome::Done
            }
            Op::SetActive { user, active } => {
                let patch = UserPatch {
                    active: Some(active),
                    ..UserPatch::default()
                };
                self.update_user(user, patch).await?;
                Outcome::Done
            }
            Op::AdvanceClock { by } => {
                self.clock.advance(by);
                Outcome::Done
            }
            Op::Sweep => {
                self.engine.sweep().await?;
                Outcome::Done
            }
            Op::DeadlineTick => {
                self.engine.check_deadlines().await?;
                Outcome::Done
            }
        };
        self.drain_tabs();
        Ok(Answer {
            outcome,
            cookies: self
                .browsers
                .iter()
                .map(|b| web::secret_of(&b.cookie))
                .collect(),
        })
    }

    async fn login(&mut self, b: usize, user: usize, right: bool) -> anyhow::Result<Outcome> {
        let visitor = self.visit(b, true).await?;
        let password = Password::new(if right {
            self.passwords[user].as_str()
        } else {
            WRONG_PASSWORD
        });
        let browser = &self.browsers[b];
        let result = web::sign_in(
            &self.engine,
            &browser.cookie,
            &visitor,
            self.users[user].username.as_str(),
            &password,
            &browser.client,
            None,
        )
        .await;
        let refusal = match result {
            Ok((_, live)) => return Ok(Outcome::SignedIn(live.id.clone())),
            Err(CookieSignInError::SignIn(e)) => match e {
                SignInError::InvalidCredentials => Refusal::InvalidCredentials,
                SignInError::AccountDisabled => Refusal::AccountDisabled,
                SignInError::TooManyAttempts(_) => Refusal::TooManyAttempts,
                SignInError::LimitReached(rows) => Refusal::LimitReached(
                    rows.iter()
                        .map(|row| SessionId::parse(&row.id))
                        .collect::<Option<BTreeSet<_>>>()
                        .context("a refused login listed a session without an id")?,
                ),
                SignInError::Store(e) => return Err(e.context("The login failed")),
            },
            Err(e) => return Err(e.into()),
        };
        Ok(Outcome::Refused(refusal))
    }

    async fn change_own_password(&mut self, b: usize, right: bool) -> anyhow::Result<Outcome> {
        let Visitor::Live(live) = self.visit(b, true).await? else {
            return Ok(Outcome::Refused(Refusal::NotSignedIn));
        };
        let user = self.user_index(&live)?;
        let current = Password::new(if right {
            self.passwords[user].as_str()
        } else {
            WRONG_PASSWORD
        });
        let new = format!("changed by the user at step {}", self.step);
        let changed = web::change_password(
            &self.engine,
            &self.browsers[b].cookie,
            &live,
            &current,
            &Password::new(new.as_str()),
            &self.browsers[b].client,
        )
        .await;
        match changed {
            Ok(ended) => {
                self.passwords[user] = new;
                Ok(Outcome::Ended(ended))
            }
            Err(AccountError::InvalidCredentials) => {
                Ok(Outcome::Refused(Refusal::InvalidCredentials))
            }
            Err(AccountError::TooManyAttempts(_)) => Ok(Outcome::Refused(Refusal::TooManyAttempts)),
            Err(e) => Err(e.into()),
        }
    }

    async fn update_user(&self, user: usize, patch: UserPatch) -> anyhow::Result<()> {
        let id = self.users[user].id.to_string();
        self.engine
            .console_update_user(&self.operator(), &id, patch)
            .await?;
        Ok(())
    }

    /// Empties the tabs' queues, as live sockets would: a full queue would
    /// make the hub drop the tab, which no browser here means to test.
    fn drain_tabs(&mut self) {
        for browser in &mut self.browsers {
            if let Some(tab) = &mut browser.tab {
                while tab.registration.receiver.try_recv().is_ok() {}
            }
        }
    }
}

async fn create_user(
    engine: &Engine,
    name: &str,
    role: Role,
    max_sessions: Option<u32>,
    hash: &str,
) -> anyhow::Result<UserRecord> {
    let new = NewUser {
        username: Username::parse(name)?,
        password: Password::new(INITIAL_PASSWORD),
        role,
        permissions: BTreeSet::new(),
        max_sessions,
    };
    Ok(engine
        .users()
        .insert(&new, hash.to_owned(), engine.now())
        .await?)
}

/// What a check said, in the model's terms.
pub fn seen(visitor: &Visitor) -> Seen {
    match visitor {
        Visitor::Anonymous => Seen::Anonymous,
        Visitor::Ended(reason) => Seen::Ended(*reason),
        Visitor::Live(live) => Seen::Live(live.id.clone()),
    }
}
