//! The engine under test, driven the way its callers drive it: browsers sign
//! in, out and change passwords through the engine's `login` and `accounts`
//! services with a cookie kept as the edge (`bouncer-web`) keeps it — a fresh
//! random secret for every sign-in and password change, dropped on sign-out
//! and on a refused sign-in — every request through `Engine::check` as the
//! session layer does; the operator through the console; time through a
//! manual clock.

use std::{
    collections::{BTreeSet, HashMap},
    sync::Arc,
};

use anyhow::{bail, Context};
use bouncer_engine::{
    accounts::{AccountError, UserPatch},
    clock::{Clock, ManualClock, Timestamp},
    console::{ConsoleError, Operator},
    db::Pool,
    ids::{SecretHash, SessionId},
    login::{SignIn, SignInError},
    password::Password,
    sessions::ClientInfo,
    tabs::TabConnection,
    users::{NewUser, UserRecord, Username, Users},
    view::LiveSession,
    Engine, Visitor,
};
use bouncer_wire::{Permission, Role};

use crate::{
    model::{Answer, Model, Outcome, Refusal, Seen},
    scenario::{Op, Scenario, BROWSERS},
};

/// Every user's password until someone changes it.
pub const INITIAL_PASSWORD: &str = "the initial password";

/// A password no user ever has.
const WRONG_PASSWORD: &str = "not the password";

/// One browser: its cookie (the secret's hash), its address, its open tab.
struct Browser {
    cookie: Option<SecretHash>,
    client: ClientInfo,
    tab: Option<Tab>,
}

/// A tab's WebSocket, as the socket loop holds it: a place in the hub and the
/// session it was authorised for at the upgrade.
struct Tab {
    connection: TabConnection,
    live: Arc<LiveSession>,
}

/// A fresh cookie secret, as the edge mints one for every sign-in.
fn mint() -> SecretHash {
    SecretHash::of_secret(&SessionId::generate().to_string())
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
                &pool,
                &format!("user{i}"),
                Role::User,
                *max_sessions,
                initial_hash,
            )
            .await?;
            users.push(user);
        }
        let admin =
            create_user(&engine, &pool, "operator", Role::Admin, None, initial_hash).await?;
        let browsers = (0..BROWSERS)
            .map(|b| Browser {
                cookie: None,
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
        Operator::Person {
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
        match self.browsers[b].cookie {
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
                if let Visitor::Live(live) = self.visit(browser, true).await? {
                    self.engine.login().sign_out(&live).await?;
                }
                self.browsers[browser].cookie = None;
                Outcome::Done
            }
            Op::Request { browser, activity } => {
                Outcome::Seen(seen(&self.visit(browser, activity).await?))
            }
            Op::OpenTab { browser } => {
                // The upgrade is a passive request; a refused one opens nothing.
                let visitor = self.visit(browser, false).await?;
                if let Visitor::Live(live) = &visitor {
                    let connection = self.engine.tabs().connect(live, false);
                    self.browsers[browser].tab = Some(Tab {
                        connection,
                        live: Arc::clone(live),
                    });
                }
                Outcome::Seen(seen(&visitor))
            }
            Op::TabActivity { browser } => {
                if let Some(tab) = &self.browsers[browser].tab {
                    self.engine.tabs().record_activity(&tab.live).await?;
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
                    Outcome::Ended(self.engine.devices().end_others(user, &live.id).await?)
                }
                _ => Outcome::Refused(Refusal::NotSignedIn),
            },
            Op::AdminEndSession { user, pick } => {
                let id = match model.pick_session(user, pick) {
                    Some(s) => model.sessions[s].id.to_string(),
                    None => SessionId::generate().to_string(),
                };
                match self
                    .engine
                    .console()
                    .end_session(&self.operator(), &id)
                    .await
                {
                    Ok(()) => Outcome::Done,
                    Err(ConsoleError::NotFound) => Outcome::Refused(Refusal::NotFound),
                    Err(e) => return Err(e.into()),
                }
            }
            Op::AdminRevokeUser { user } => {
                let ids = [self.users[user].id.to_string()];
                Outcome::Ended(
                    self.engine
                        .console()
                        .revoke_users(&self.operator(), &ids)
                        .await?,
                )
            }
            Op::AdminRevokeEveryone => Outcome::Ended(
                self.engine
                    .console()
                    .revoke_all(&self.operator(), false)
                    .await?,
            ),
            Op::AdminSetPassword { user } => {
                let password = format!("set by an admin at step {step}");
                let patch = UserPatch {
                    password: Some(Password::new(password.as_str())),
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
            Op::SetStaff { user, staff } => {
                let (role, permissions) = match staff {
                    true => (Role::Staff, vec![Permission::RevokeUsers]),
                    false => (Role::User, vec![]),
                };
                let patch = UserPatch {
                    role: Some(role),
                    permissions: Some(permissions.into_iter().collect()),
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
            cookies: self.browsers.iter().map(|b| b.cookie).collect(),
        })
    }

    async fn login(&mut self, b: usize, user: usize, right: bool) -> anyhow::Result<Outcome> {
        let visitor = self.visit(b, true).await?;
        let password = Password::new(if right {
            self.passwords[user].as_str()
        } else {
            WRONG_PASSWORD
        });
        let minted = mint();
        let request = SignIn {
            username: self.users[user].username.as_str(),
            password: &password,
            client: &self.browsers[b].client,
            replace: None,
            visitor: &visitor,
        };
        let refusal = match self.engine.login().sign_in(request, minted).await {
            Ok(signed_in) => {
                self.browsers[b].cookie = Some(minted);
                return Ok(Outcome::SignedIn(signed_in.session.id.clone()));
            }
            Err(SignInError::InvalidCredentials) => Refusal::InvalidCredentials,
            Err(SignInError::AccountDisabled) => Refusal::AccountDisabled,
            Err(SignInError::TooManyAttempts(_)) => Refusal::TooManyAttempts,
            Err(SignInError::LimitReached(sessions)) => {
                // A refused sign-in keeps no cookie (see `bouncer_web::auth`).
                self.browsers[b].cookie = None;
                Refusal::LimitReached(sessions.into_iter().map(|s| s.id).collect())
            }
            Err(SignInError::Store(e)) => return Err(e.context("The login failed")),
            Err(e @ (SignInError::TooLong | SignInError::Busy)) => {
                return Err(anyhow::anyhow!("a login the model never makes: {e}"))
            }
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
        let changed = self
            .engine
            .accounts()
            .change_own_password(
                &live,
                &current,
                &Password::new(new.as_str()),
                &self.browsers[b].client.ip,
            )
            .await;
        match changed {
            Ok(ended) => {
                // The edge keeps the session under a fresh cookie.
                let minted = mint();
                self.engine
                    .login()
                    .continue_session(&live, &minted, None)
                    .await?;
                self.browsers[b].cookie = Some(minted);
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
            .console()
            .update_user(&self.operator(), &id, patch)
            .await?;
        Ok(())
    }

    /// Empties the tabs' queues, as live sockets would: a full queue would
    /// make the hub drop the tab, which no browser here means to test.
    fn drain_tabs(&mut self) {
        for browser in &mut self.browsers {
            if let Some(tab) = &mut browser.tab {
                if let Some(pushes) = tab.connection.pushes() {
                    while pushes.try_recv().is_ok() {}
                }
            }
        }
    }
}

async fn create_user(
    engine: &Engine,
    pool: &Pool,
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
    Ok(Users::new(pool.clone())
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
