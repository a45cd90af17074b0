//! People acting on threads from their messages (ChatOps): a click comes in (Slack's signed
//! request to `POST /slack/interactions`, or an envelope on a Socket Mode connection), is
//! authorized (`[[actions.allow]]`), claimed once
//! across the fleet in a conditional write of the thread ([`crate::correlate::act`]), made in
//! the thread's account with the operator role, and recorded; the message is then edited to
//! say who did what, and the thread's next events carry the story on. A refusal or a failed call
//! is told to the person (an ephemeral message) and counted (`herald_actions_total`).

pub mod aws;
pub mod slack;
pub mod socket;

use crate::config::actions::{ActionsConfig, AllowConfig};
use crate::correlate::act::{self, Click};
use crate::enrich::accounts::Accounts;
use crate::pipeline::Runner;
use crate::route::expr::Expr;
use crate::secret::Secret;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Group members are asked of Slack at most this often per group.
const GROUP_TTL: Duration = Duration::from_secs(300);

/// What happened to one click.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The call was made (or, for a mute, nothing to call) and recorded.
    Done,
    /// AWS refused the call: its error, told on the message.
    Failed(String),
    /// The call was sent and no answer came: AWS may have made it. The claim stays
    /// `requested` (the action is refused for a while, see `act::REQUESTED_HOLD_SECS`).
    Unknown(String),
    /// Not done, and why (told to the person).
    Refused(String),
    /// The same click was claimed already (a redelivered request, another worker): nothing
    /// more is done or said.
    Again,
}

impl Outcome {
    pub fn label(&self) -> &'static str {
        match self {
            Outcome::Done => "done",
            Outcome::Failed(_) => "failed",
            Outcome::Unknown(_) => "unknown",
            Outcome::Refused(_) => "refused",
            Outcome::Again => "again",
        }
    }
}

/// Authorizes, claims, makes and records people's actions.
pub struct Actor {
    runner: Arc<Runner>,
    allow: Vec<(AllowConfig, Option<Expr>)>,
    signing_secret: Option<Secret>,
    slack: Option<slack::SlackApi>,
    accounts: Accounts,
    groups: Mutex<HashMap<String, (Instant, Vec<String>)>>,
}

impl Actor {
    /// `slack`: the Web API of a Slack destination (ephemeral replies, group members); `base`:
    /// the SDK config the operator role is assumed from; `enrich`: its endpoints and accounts.
    pub fn new(
        cfg: &ActionsConfig,
        signing_secret: Option<Secret>,
        runner: Arc<Runner>,
        slack: Option<slack::SlackApi>,
        base: &aws_config::SdkConfig,
        enrich: &crate::enrich::EnrichConfig,
    ) -> Result<Self, String> {
        let mut allow = Vec::new();
        for (i, a) in cfg.allow.iter().enumerate() {
            let expr = match &a.expr {
                Some(m) => {
                    Some(Expr::parse(m).map_err(|e| format!("actions.allow[{i}].match: {e}"))?)
                }
                None => None,
            };
            allow.push((a.clone(), expr));
        }
        let mut role = enrich.clone();
        role.role_arn_template = cfg.role_arn_template.clone();
        role.role_overrides = Default::default();
        role.external_id = cfg.external_id.clone();
        role.session_name = "herald-act".into();
        // A write call is made once (a timeout is told; the person may click again, and AWS
        // refuses what was done already), with more time than a read.
        role.max_attempts = 1;
        role.call_timeout_ms = role.call_timeout_ms.max(10_000);
        let accounts = Accounts::new(&role, base, Arc::new(Default::default()));
        Ok(Self {
            runner,
            allow,
            signing_secret,
            slack,
            accounts,
            groups: Mutex::new(HashMap::new()),
        })
    }

    /// The request URL's secret; `None`: only Socket Mode brings clicks.
    pub fn signing_secret(&self) -> Option<&Secret> {
        self.signing_secret.as_ref()
    }

    /// Whether `user` may take `action` on a thread whose notification is `note`: Ok(true) or
    /// Ok(false), or why a group it may be in could not be read.
    async fn allowed(
        &self,
        user: &str,
        action: &str,
        note: &serde_json::Value,
    ) -> Result<bool, String> {
        let mut unread = None;
        for (rule, expr) in &self.allow {
            if !rule.covers(action) || !expr.as_ref().is_none_or(|e| e.matches(note)) {
                continue;
            }
            if rule.users.iter().any(|u| u == user) {
                return Ok(true);
            }
            for g in &rule.groups {
                match self.members(g).await {
                    Ok(m) if m.iter().any(|u| u == user) => return Ok(true),
                    Ok(_) => {}
                    Err(e) => unread = Some(e),
                }
            }
        }
        match unread {
            Some(e) => Err(e),
            None => Ok(false),
        }
    }

    async fn members(&self, group: &str) -> Result<Vec<String>, String> {
        if let Some((at, m)) = lock(&self.groups).get(group) {
            if at.elapsed() < GROUP_TTL {
                return Ok(m.clone());
            }
        }
        let Some(api) = &self.slack else {
            return Err(format!(
                "cannot read user group {group}: no Slack destination's token to ask with"
            ));
        };
        match api.group_members(group).await {
            Ok(m) => {
                lock(&self.groups).insert(group.to_owned(), (Instant::now(), m.clone()));
                Ok(m)
            }
            Err(e) => {
                tracing::warn!(group, error = %e, "cannot list a user group's members");
                Err(format!("cannot read user group {group} ({e}); try again"))
            }
        }
    }

    /// Handles one click to the end: authorize, claim, call, record, edit the message, and tell
    /// the person what went wrong. `now` is the wall clock (Unix seconds).
    pub async fn handle(&self, c: slack::Clicked, now: i64) -> Outcome {
        let outcome = self.act(&c, now).await;
        let key = thread_key(&c.button.thread);
        crate::telemetry::metrics()
            .actions
            .with_label_values(&[action_label(&c.action), outcome.label()])
            .inc();
        tracing::info!(user = %c.user, action = %c.action, thread = %key, outcome = ?outcome, "action");
        let tell = match &outcome {
            Outcome::Refused(why) => Some(format!("Not done: {why}")),
            Outcome::Failed(e) => Some(format!("AWS refused it: {e}")),
            Outcome::Unknown(e) => Some(format!(
                "AWS did not answer ({e}): it may have been done. The message follows AWS's events; if nothing happens, try again in 10 minutes."
            )),
            Outcome::Done | Outcome::Again => None,
        };
        if let (Some(text), Some(api), Some(channel)) = (tell, &self.slack, &c.channel) {
            if let Err(e) = api.ephemeral(channel, &c.user, &text).await {
                tracing::warn!(error = %e, "cannot tell the person why");
            }
        }
        outcome
    }

    async fn act(&self, c: &slack::Clicked, now: i64) -> Outcome {
        let key = thread_key(&c.button.thread);
        let engine = &self.runner.engine;
        let loaded = match engine.load(&key).await {
            Ok(Some((_, t))) => t,
            Ok(None) => return Outcome::Refused("Herald no longer knows this thread".into()),
            Err(e) => {
                return Outcome::Refused(format!("the store is unavailable ({e}); try again"))
            }
        };
        let Some(note) = loaded.notification() else {
            return Outcome::Refused("this thread has nothing to act on".into());
        };
        match self.allowed(&c.user, &c.action, &note.to_value()).await {
            Ok(true) => {}
            Ok(false) => {
                return Outcome::Refused(format!(
                    "you are not allowed to {} here ([[actions.allow]])",
                    c.action
                ))
            }
            Err(e) => return Outcome::Refused(e),
        }
        let call = match aws::call_of(&c.action, &loaded, &note, &c.user) {
            Ok(call) => call,
            Err(e) => return Outcome::Refused(e),
        };
        let parts: Vec<&str> = key.split('#').collect();
        let (account, region) = (
            parts.get(1).copied().unwrap_or_default(),
            parts.get(2).copied().unwrap_or_default(),
        );
        if call != aws::Call::None {
            if let Err(e) = aws::allowed(&self.accounts, account) {
                return Outcome::Refused(e);
            }
        }
        let click = Click {
            action: c.action.clone(),
            basis: Some(c.button.basis.clone()),
            by: c.user.clone(),
            at: c.at.unwrap_or(now),
            click: c.click.clone(),
        };
        // The claim: one conditional write of the thread, re-run on fresh state after a lost race.
        let mut claimed = Err(act::Refusal::Stale);
        let runner: &Runner = &self.runner;
        let written = engine
            .change(
                &key,
                now,
                |t| {
                    let Some(n) = t.notification() else {
                        claimed = Err(act::Refusal::Stale);
                        return false;
                    };
                    claimed = act::claim(&n, &mut t.acted, &click);
                    matches!(claimed, Ok(true))
                },
                runner,
            )
            .await;
        match (written, claimed) {
            (Err(e), _) => {
                return Outcome::Refused(format!("the store is unavailable ({e}); try again"))
            }
            (Ok(None), _) => return Outcome::Refused("Herald no longer knows this thread".into()),
            (_, Ok(false)) => return Outcome::Again,
            (_, Err(r)) => return Outcome::Refused(r.to_string()),
            (_, Ok(true)) => {}
        }
        // The message says it is being done, before the call (it may take seconds).
        self.deliver(&key, now).await;
        let result = aws::make(&self.accounts, account, region, &call).await;
        if let Err(f) = &result {
            if f.unknown {
                // Left `requested`: recorded as failed, the button would invite a second call
                // AWS may already have made.
                return Outcome::Unknown(f.message.clone());
            }
        }
        let result = result.map_err(|f| f.message);
        // The call may have taken seconds.
        let now = crate::clock::unix_now().max(now);
        let recorded = engine
            .change(
                &key,
                now,
                |t| act::record(&mut t.acted, &c.click, result.clone()),
                runner,
            )
            .await;
        if let Err(e) = recorded {
            tracing::warn!(thread = %key, error = %e, "cannot record an action's outcome");
        }
        self.deliver(&key, now).await;
        match result {
            Ok(()) => Outcome::Done,
            Err(e) => Outcome::Failed(e),
        }
    }

    async fn deliver(&self, key: &str, now: i64) {
        if let Err(e) = self.runner.deliver_key(key, now, true).await {
            tracing::warn!(thread = %key, error = %e, "cannot edit the message after an action");
        }
    }
}

/// The thread key of a message id: an alarm's or a crash episode's message id ends in its
/// episode number (`al#a#r#name#3`).
pub fn thread_key(message_id: &str) -> String {
    if message_id.starts_with("al#") || message_id.starts_with("es#") {
        if let Some((head, n)) = message_id.rsplit_once('#') {
            if !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) {
                return head.to_owned();
            }
        }
    }
    message_id.to_owned()
}

/// The metric label of an action id (anything else is `unknown`, so labels stay bounded).
fn action_label(action: &str) -> &'static str {
    act::id::ALL
        .into_iter()
        .find(|a| *a == action)
        .unwrap_or("unknown")
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_message_id_names_its_thread() {
        assert_eq!(thread_key("al#1#r#cpu#3"), "al#1#r#cpu");
        assert_eq!(thread_key("es#1#r#c#s#12"), "es#1#r#c#s");
        assert_eq!(thread_key("ex#1#r#p#abc"), "ex#1#r#p#abc");
        assert_eq!(thread_key("cd#1#r#d-123"), "cd#1#r#d-123");
    }
}
