//! `[actions]`: people acting on threads from their messages (issue 15): how Slack's requests
//! are authenticated, the role the calls are made with, and who may do what.

use crate::route::expr::Expr;
use crate::secret::SecretRef;
use serde::Deserialize;

/// `[actions]`. Off until a Slack signing secret (here or in `HERALD_SLACK_SIGNING_SECRET`: then
/// `POST /slack/interactions` is served) or an app-level token (Socket Mode) is set: then
/// messages carry buttons. Nobody may act unless an `[[actions.allow]]` entry allows them.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ActionsConfig {
    /// Slack's signing secret (the app's Basic Information page): a value, `{env = ...}`,
    /// `{ssm = ...}` or `{secrets_manager = ...}`.
    pub slack_signing_secret: Option<SecretRef>,
    /// Slack's app-level token (`xapp-…`, scope `connections:write`) for Socket Mode: the
    /// worker opens the connection itself, no inbound endpoint. Also `HERALD_SLACK_APP_TOKEN`.
    pub slack_app_token: Option<SecretRef>,
    /// The role assumed in the thread's account to act; `{account}` is replaced. Separate from
    /// the read-only enrichment role. Empty: Herald's own credentials (single-account setups).
    pub role_arn_template: String,
    /// `ExternalId` for that `AssumeRole`, if the operator roles require one.
    pub external_id: Option<String>,
    /// Who may do what.
    pub allow: Vec<AllowConfig>,
}

impl Default for ActionsConfig {
    fn default() -> Self {
        Self {
            slack_signing_secret: None,
            slack_app_token: None,
            role_arn_template: "arn:aws:iam::{account}:role/herald-operator".into(),
            external_id: None,
            allow: Vec::new(),
        }
    }
}

/// `[[actions.allow]]`: these Slack users and members of these user groups may take these
/// actions (`"*"`: all) on threads whose notification matches `match` (a routing expression;
/// none: every thread).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AllowConfig {
    #[serde(default)]
    pub users: Vec<String>,
    #[serde(default)]
    pub groups: Vec<String>,
    pub actions: Vec<String>,
    #[serde(default, rename = "match")]
    pub expr: Option<String>,
}

impl AllowConfig {
    /// Whether the entry names this action.
    pub fn covers(&self, action: &str) -> bool {
        self.actions.iter().any(|a| a == "*" || a == action)
    }
}

impl ActionsConfig {
    /// The signing secret: the config's, or `HERALD_SLACK_SIGNING_SECRET` when set.
    pub fn signing_secret_ref(&self) -> Option<SecretRef> {
        self.slack_signing_secret.clone().or_else(|| {
            std::env::var_os("HERALD_SLACK_SIGNING_SECRET")
                .map(|_| SecretRef::Env("HERALD_SLACK_SIGNING_SECRET".into()))
        })
    }

    /// The app-level token: the config's, or `HERALD_SLACK_APP_TOKEN` when set.
    pub fn app_token_ref(&self) -> Option<SecretRef> {
        self.slack_app_token.clone().or_else(|| {
            std::env::var_os("HERALD_SLACK_APP_TOKEN")
                .map(|_| SecretRef::Env("HERALD_SLACK_APP_TOKEN".into()))
        })
    }

    /// Whether people can act at all (a signing secret or an app-level token is configured).
    pub fn enabled(&self) -> bool {
        self.signing_secret_ref().is_some() || self.app_token_ref().is_some()
    }

    pub(super) fn problems(&self) -> Vec<String> {
        let mut e = Vec::new();
        for (i, a) in self.allow.iter().enumerate() {
            if a.users.is_empty() && a.groups.is_empty() {
                e.push(format!("actions.allow[{i}]: names no users and no groups"));
            }
            if a.actions.is_empty() {
                e.push(format!(
                    "actions.allow[{i}].actions: empty (use \"*\" for all)"
                ));
            }
            for x in &a.actions {
                if x != "*" && !crate::notification::action::id::ALL.contains(&x.as_str()) {
                    e.push(format!(
                        "actions.allow[{i}].actions: unknown action {x:?} (one of {}, or \"*\")",
                        crate::notification::action::id::ALL.join(", ")
                    ));
                }
            }
            if let Some(m) = &a.expr {
                if let Err(err) = Expr::parse(m) {
                    e.push(format!("actions.allow[{i}].match {m:?}: {err}"));
                }
            }
        }
        if !self.role_arn_template.is_empty() && !self.role_arn_template.starts_with("arn:") {
            e.push(format!(
                "actions.role_arn_template {:?}: must be a role ARN (with {{account}}) or empty",
                self.role_arn_template
            ));
        }
        e
    }
}
