//! `[[destinations]]`: one named destination each (Slack, Discord, Teams, Amazon Q, webhook,
//! JSON Lines, terminal), its settings, its pacing, and where its secrets come from.
//!
//! A secret (bot token, webhook URL, signing secret) is written in the config as a string, or
//! as a reference resolved at startup: `{ env = "NAME" }`, `{ ssm = "/parameter/name" }`
//! (SecureString parameters are decrypted), or `{ secrets_manager = "id or ARN", key = "field" }`
//! (`key` picks one field of a JSON secret). Resolved values live in a [`Secret`](crate::secret::Secret), which never
//! prints itself; errors name the reference, never the value.

use super::{Config, ConfigError};
use crate::deliver::digest::DigestConfig;
use crate::deliver::limiter::Rate;
use crate::deliver::retry::RetryPolicy;
use crate::secret::{AwsSecrets, SecretRef};
use aws_config::SdkConfig;
use serde::Deserialize;

/// The kinds of destination, as `kind` names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SinkKind {
    Text,
    Jsonl,
    Slack,
    Discord,
    Teams,
    Amazonq,
    Webhook,
}

impl SinkKind {
    pub fn as_str(self) -> &'static str {
        match self {
            SinkKind::Text => "text",
            SinkKind::Jsonl => "jsonl",
            SinkKind::Slack => "slack",
            SinkKind::Discord => "discord",
            SinkKind::Teams => "teams",
            SinkKind::Amazonq => "amazonq",
            SinkKind::Webhook => "webhook",
        }
    }

    /// Whether the kind talks to a rate-limited service (and so takes `rate`, `retry`, `digest`).
    fn remote(self) -> bool {
        !matches!(self, SinkKind::Text | SinkKind::Jsonl)
    }
}

/// One `[[destinations]]` entry: what rules call it, its kind with that kind's own settings, and
/// the pacing a remote kind takes. Read by [`DestinationConfig::deserialize`]: the common keys,
/// then the rest as [`SinkConfig`], whose kinds refuse any setting not their own.
#[derive(Debug, Clone)]
pub struct DestinationConfig {
    /// What rules call the destination.
    pub name: String,
    /// `kind` and the settings only that kind takes.
    pub sink: SinkConfig,
    /// Requests per period, overriding the provider's documented limit (Slack 50 a minute per
    /// channel, Discord 5 per 2 s per webhook, Teams 4 per second; none for Amazon Q and
    /// webhooks).
    pub rate: Option<Rate>,
    /// Attempts, backoff and the per-attempt timeout.
    pub retry: Option<RetryPolicy>,
    /// When a burst is folded into one digest message (`threshold = 0` turns it off).
    pub digest: Option<DigestConfig>,
}

/// A destination's kind (`kind = "slack"` …) and its settings, one struct per kind.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum SinkConfig {
    Text(TextSettings),
    Jsonl(JsonlSettings),
    Slack(SlackSettings),
    Discord(DiscordSettings),
    Teams(TeamsSettings),
    Amazonq(AmazonqSettings),
    Webhook(WebhookSettings),
}

/// `kind = "text"`: the terminal; no settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TextSettings {}

/// `kind = "jsonl"`: one notification per line.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JsonlSettings {
    /// A file to append to (stdout when absent).
    #[serde(default)]
    pub path: Option<String>,
}

/// `kind = "slack"`: a channel, through a bot token.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlackSettings {
    /// The channel id (`C0123ABCD`; `chat.update` needs the id, not the name).
    pub channel: String,
    /// The bot token (`xoxb-…`) with `chat:write` (and `users:read.email` to mention commit
    /// authors).
    pub token: SecretRef,
    /// The Web API's base URL (default `https://slack.com`).
    #[serde(default)]
    pub api_base: Option<String>,
    /// Also post a failure's details as a reply in its message's thread.
    #[serde(default)]
    pub failure_reply: bool,
    /// Show that reply in the channel too.
    #[serde(default)]
    pub reply_broadcast: bool,
    /// Mention the commit author found by `users.lookupByEmail`.
    #[serde(default = "yes")]
    pub mention_authors: bool,
    /// Ask `chat.getPermalink` for each posted message, so the status page links to the
    /// message itself.
    #[serde(default = "yes")]
    pub permalinks: bool,
}

fn yes() -> bool {
    true
}

/// `kind = "discord"`: a channel webhook.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DiscordSettings {
    /// The channel webhook URL (a credential).
    pub webhook_url: SecretRef,
}

/// `kind = "teams"`: a Workflows webhook.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TeamsSettings {
    /// The Workflows trigger URL (a credential).
    pub webhook_url: SecretRef,
}

/// `kind = "amazonq"`: the SNS topic an Amazon Q Developer channel configuration subscribes to.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AmazonqSettings {
    pub topic_arn: String,
    /// An SNS endpoint override (an emulator).
    #[serde(default)]
    pub endpoint: Option<String>,
}

/// `kind = "webhook"`: Herald's own JSON, signed.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookSettings {
    /// Where to post.
    pub url: SecretRef,
    /// The HMAC-SHA256 key of `X-Herald-Signature` (unsigned when absent).
    #[serde(default)]
    pub signing_secret: Option<SecretRef>,
}

impl<'de> Deserialize<'de> for DestinationConfig {
    fn deserialize<D: serde::Deserializer<'de>>(de: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        #[derive(Deserialize)]
        struct Common {
            name: String,
            #[serde(default)]
            rate: Option<Rate>,
            #[serde(default)]
            retry: Option<RetryPolicy>,
            #[serde(default)]
            digest: Option<DigestConfig>,
            /// `kind` and its settings.
            #[serde(flatten)]
            rest: toml::Table,
        }
        let c = Common::deserialize(de)?;
        let kind = c
            .rest
            .get("kind")
            .and_then(|k| k.as_str())
            .map(str::to_owned);
        let sink = SinkConfig::deserialize(toml::Value::Table(c.rest)).map_err(|e| {
            let e = e.message().trim_end().to_owned();
            match kind {
                Some(k) if !e.starts_with("unknown variant") => {
                    D::Error::custom(format!("destination {:?}, kind {k}: {e}", c.name))
                }
                _ => D::Error::custom(format!("destination {:?}: {e}", c.name)),
            }
        })?;
        Ok(DestinationConfig {
            name: c.name,
            sink,
            rate: c.rate,
            retry: c.retry,
            digest: c.digest,
        })
    }
}

impl SinkConfig {
    pub fn kind(&self) -> SinkKind {
        match self {
            SinkConfig::Text(_) => SinkKind::Text,
            SinkConfig::Jsonl(_) => SinkKind::Jsonl,
            SinkConfig::Slack(_) => SinkKind::Slack,
            SinkConfig::Discord(_) => SinkKind::Discord,
            SinkConfig::Teams(_) => SinkKind::Teams,
            SinkConfig::Amazonq(_) => SinkKind::Amazonq,
            SinkConfig::Webhook(_) => SinkKind::Webhook,
        }
    }

    /// The secrets of this kind's settings, by setting name.
    fn secrets(&self) -> Vec<(&'static str, &SecretRef)> {
        match self {
            SinkConfig::Slack(s) => vec![("token", &s.token)],
            SinkConfig::Discord(DiscordSettings { webhook_url })
            | SinkConfig::Teams(TeamsSettings { webhook_url }) => {
                vec![("webhook_url", webhook_url)]
            }
            SinkConfig::Webhook(s) => {
                let mut v = vec![("url", &s.url)];
                v.extend(s.signing_secret.as_ref().map(|r| ("signing_secret", r)));
                v
            }
            SinkConfig::Text(_) | SinkConfig::Jsonl(_) | SinkConfig::Amazonq(_) => Vec::new(),
        }
    }

    /// [`SinkConfig::secrets`], to be replaced by their values.
    fn secrets_mut(&mut self) -> Vec<(&'static str, &mut SecretRef)> {
        match self {
            SinkConfig::Slack(s) => vec![("token", &mut s.token)],
            SinkConfig::Discord(DiscordSettings { webhook_url })
            | SinkConfig::Teams(TeamsSettings { webhook_url }) => {
                vec![("webhook_url", webhook_url)]
            }
            SinkConfig::Webhook(s) => {
                let mut v = vec![("url", &mut s.url)];
                v.extend(s.signing_secret.as_mut().map(|r| ("signing_secret", r)));
                v
            }
            SinkConfig::Text(_) | SinkConfig::Jsonl(_) | SinkConfig::Amazonq(_) => Vec::new(),
        }
    }

    /// What is wrong with this kind's settings, each prefixed with `at`.
    fn problems(&self, at: &str) -> Vec<String> {
        let mut e = Vec::new();
        let url = |name: &str, v: &Option<String>, e: &mut Vec<String>| {
            if let Some(v) = v {
                if !v.starts_with("https://") && !v.starts_with("http://") {
                    e.push(format!("{at}: {name} must be an http(s) URL, not {v:?}"));
                }
            }
        };
        match self {
            SinkConfig::Slack(s) => {
                let c = &s.channel;
                let id_like = c.len() >= 3
                    && matches!(c.as_bytes()[0], b'C' | b'G' | b'D')
                    && c.bytes()
                        .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit());
                if !id_like {
                    e.push(format!(
                        "{at}: channel {c:?} is not a channel id like \"C0123ABCD\" (chat.update needs the id: Slack shows it at the bottom of the channel's details)"
                    ));
                }
                url("api_base", &s.api_base, &mut e);
            }
            SinkConfig::Amazonq(s) => {
                if topic_region(&s.topic_arn).is_none() {
                    e.push(format!(
                        "{at}: topic_arn {:?} is not an SNS topic ARN (arn:aws:sns:REGION:ACCOUNT:NAME)",
                        s.topic_arn
                    ));
                }
                url("endpoint", &s.endpoint, &mut e);
            }
            _ => {}
        }
        e
    }
}

impl DestinationConfig {
    pub fn sink_kind(&self) -> SinkKind {
        self.sink.kind()
    }

    /// The secrets of this destination, by setting name.
    fn secrets_mut(&mut self) -> Vec<(&'static str, &mut SecretRef)> {
        self.sink.secrets_mut()
    }

    /// Everything wrong with this destination, each prefixed with `at` (`destinations[2] (ops)`).
    /// A setting of another kind, or a missing one, is refused when the config is read.
    pub fn problems(&self, at: &str) -> Vec<String> {
        let mut e = Vec::new();
        let kind = self.sink_kind();
        if self.name.trim().is_empty() {
            e.push(format!("{at}: name must not be empty"));
        }
        if !kind.remote() {
            for (name, set) in [
                ("rate", self.rate.is_some()),
                ("retry", self.retry.is_some()),
                ("digest", self.digest.is_some()),
            ] {
                if set {
                    e.push(format!(
                        "{at}: `{name}` is not a setting of kind {}",
                        kind.as_str()
                    ));
                }
            }
        }
        e.extend(self.sink.problems(at));
        for (name, r) in self.sink.secrets() {
            e.extend(r.problems(&format!("{at}: {name}")));
            if let (Some(s), "webhook_url" | "url") = (r.literal(), name) {
                if !s.expose().starts_with("https://") && !s.expose().starts_with("http://") {
                    // Not the value: a malformed URL may still be mostly credential.
                    e.push(format!("{at}: {name} must be an http(s) URL"));
                }
            }
        }
        if let Some(r) = &self.rate {
            if r.per_ms == 0 {
                e.push(format!("{at}: rate.per_ms must be >= 1"));
            }
        }
        if let Some(r) = &self.retry {
            if r.max_attempts == 0 {
                e.push(format!("{at}: retry.max_attempts must be >= 1"));
            }
            if r.attempt_timeout_ms == 0 {
                e.push(format!("{at}: retry.attempt_timeout_ms must be >= 1"));
            }
            if r.base_delay_ms > r.max_delay_ms {
                e.push(format!(
                    "{at}: retry.base_delay_ms must be <= retry.max_delay_ms"
                ));
            }
        }
        e
    }
}

/// The region of an SNS topic ARN.
pub fn topic_region(arn: &str) -> Option<&str> {
    let parts: Vec<&str> = arn.split(':').collect();
    match parts.as_slice() {
        ["arn", partition, "sns", region, account, name]
            if partition.starts_with("aws")
                && !region.is_empty()
                && account.len() == 12
                && !name.is_empty() =>
        {
            Some(region)
        }
        _ => None,
    }
}

impl Config {
    /// Replaces every secret reference of every destination by its value, so that
    /// [`crate::app::sinks::build_sinks`] can build the sinks. Reports every reference that
    /// could not be resolved; an AWS SDK config may be given (tests point it at an emulator).
    pub async fn resolve_secrets(&mut self, aws: Option<SdkConfig>) -> Result<(), ConfigError> {
        let aws = AwsSecrets::new(aws);
        let mut errors = Vec::new();
        for (i, d) in self.destinations.iter_mut().enumerate() {
            let at = format!("destinations[{i}] ({})", d.name);
            for (name, r) in d.secrets_mut() {
                match r.resolve(&aws).await {
                    Ok(s) => *r = SecretRef::Value(s),
                    Err(e) => errors.push(format!("{at}: {name}: {e}")),
                }
            }
        }
        if let Some(r) = self.actions.signing_secret_ref() {
            match r.resolve(&aws).await {
                Ok(s) => self.actions.slack_signing_secret = Some(SecretRef::Value(s)),
                Err(e) => errors.push(format!("actions.slack_signing_secret: {e}")),
            }
        }
        if let Some(r) = self.actions.app_token_ref() {
            match r.resolve(&aws).await {
                Ok(s) => self.actions.slack_app_token = Some(SecretRef::Value(s)),
                Err(e) => errors.push(format!("actions.slack_app_token: {e}")),
            }
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(ConfigError::Invalid(errors.join("\n")))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dest(toml_text: &str) -> DestinationConfig {
        toml::from_str(toml_text).expect("toml")
    }

    #[test]
    fn secret_references_parse_and_never_print_values() {
        let d = dest(
            r#"
            name = "ops"
            kind = "slack"
            channel = "C0123ABCD"
            token = "xoxb-very-secret"
            "#,
        );
        assert!(!format!("{d:?}").contains("very-secret"));
        let SinkConfig::Slack(slack) = &d.sink else {
            panic!("a slack destination: {d:?}");
        };
        assert_eq!(
            slack.token.literal().map(|s| s.expose()),
            Some("xoxb-very-secret")
        );
        assert!(slack.mention_authors && slack.permalinks && !slack.failure_reply);
        assert!(d.problems("d").is_empty(), "{:?}", d.problems("d"));

        let d = dest(
            r#"
            name = "ops"
            kind = "webhook"
            url = { ssm = "/herald/hook-url" }
            signing_secret = { secrets_manager = "herald/hook", key = "signing" }
            "#,
        );
        let SinkConfig::Webhook(hook) = &d.sink else {
            panic!("a webhook destination: {d:?}");
        };
        assert_eq!(hook.url, SecretRef::Ssm("/herald/hook-url".into()));
        assert_eq!(
            hook.signing_secret,
            Some(SecretRef::SecretsManager {
                id: "herald/hook".into(),
                key: Some("signing".into())
            })
        );
        let r: Result<DestinationConfig, _> = toml::from_str(
            "name = \"x\"\nkind = \"slack\"\ntoken = { env = \"A\", ssm = \"/b\" }\n",
        );
        assert!(r
            .err()
            .is_some_and(|e| e.to_string().contains("exactly one")));
        let r: Result<DestinationConfig, _> =
            toml::from_str("name = \"x\"\nkind = \"slack\"\ntoken = { vault = \"A\" }\n");
        assert!(r.is_err());
    }

    fn refused(toml_text: &str) -> String {
        toml::from_str::<DestinationConfig>(toml_text)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default()
    }

    #[test]
    fn each_kind_names_what_it_lacks_and_what_is_not_its_own() {
        let e = refused("name = \"ops\"\nkind = \"slack\"\nchannel = \"C0123ABCD\"\n");
        assert!(
            e.contains("destination \"ops\", kind slack: missing field `token`"),
            "{e}"
        );
        let e = refused(
            r#"
            name = "ops"
            kind = "slack"
            channel = "C0123ABCD"
            token = "xoxb-1"
            webhook_url = "https://discord.com/api/webhooks/1/x"
            "#,
        );
        assert!(
            e.contains(
                "kind slack: unknown field `webhook_url`, expected one of `channel`, `token`"
            ),
            "{e}"
        );
        let e = refused("name = \"ops\"\nkind = \"pigeon\"\n");
        assert!(
            e.contains("destination \"ops\": unknown variant `pigeon`, expected one of `text`, `jsonl`, `slack`"),
            "{e}"
        );
        assert!(refused("name = \"ops\"\n").contains("missing field `kind`"));
        assert!(refused("kind = \"text\"\n").contains("missing field `name`"));
        assert!(refused("name = \"t\"\nkind = \"text\"\npath = \"x\"\n")
            .contains("unknown field `path`"));

        let d =
            dest("name = \"ops\"\nkind = \"slack\"\nchannel = \"general\"\ntoken = \"xoxb-1\"\n");
        let p = d.problems("destinations[0] (ops)").join("\n");
        assert!(p.contains("\"general\" is not a channel id"), "{p}");

        let d = dest("name = \"t\"\nkind = \"text\"\nrate = { requests = 1, per_ms = 1000 }\n");
        assert!(d
            .problems("d")
            .join("\n")
            .contains("`rate` is not a setting of kind text"));

        let d = dest("name = \"q\"\nkind = \"amazonq\"\ntopic_arn = \"herald\"\n");
        assert!(d.problems("d").join("\n").contains("not an SNS topic ARN"));
        assert_eq!(
            topic_region("arn:aws:sns:eu-west-1:111122223333:herald"),
            Some("eu-west-1")
        );

        let d = dest("name = \"h\"\nkind = \"discord\"\nwebhook_url = \"discord.com/api/webhooks/1/TOKENVALUE\"\n");
        let p = d.problems("d").join("\n");
        assert!(p.contains("webhook_url must be an http(s) URL"), "{p}");
        assert!(!p.contains("TOKENVALUE"), "{p}");
    }

    /// The first ```toml block after `heading` in the README.
    fn readme_toml(heading: &str) -> String {
        let readme = include_str!("../../README.md");
        let at = readme.find(heading).unwrap_or_default();
        let block = &readme[at..];
        let start = block.find("```toml\n").map(|i| i + 8).unwrap_or_default();
        let len = block[start..].find("```").unwrap_or_default();
        block[start..start + len].to_string()
    }

    #[test]
    fn the_readme_examples_load() {
        let kinds = readme_toml("### Configuring each kind");
        let cfg: Config = toml::from_str(&kinds).expect("the README's destinations parse");
        cfg.validate().expect("the README's destinations are valid");
        assert_eq!(cfg.destinations.len(), 6);
        let first = readme_toml("### Config");
        let cfg: Config = toml::from_str(&first).expect("the README's first config parses");
        cfg.validate().expect("the README's first config is valid");
        assert_eq!(cfg.default_destination.as_deref(), Some("ops"));
        let rules = readme_toml("### Routing rules");
        let cfg: Config = toml::from_str(&rules).expect("the README's rules parse");
        cfg.router().expect("the README's expressions parse");
        assert_eq!(cfg.rules.len(), 2);
    }

    #[test]
    fn environment_references_resolve_locally() {
        let r = SecretRef::Env("HERALD_TEST_SECRET_THAT_IS_NOT_SET".into());
        let e = r.resolve_local().err().unwrap_or_default();
        assert!(
            e.contains("HERALD_TEST_SECRET_THAT_IS_NOT_SET is not set"),
            "{e}"
        );
        let r = SecretRef::Env("PATH".into());
        assert!(r.resolve_local().is_ok_and(|s| s.is_some()));
    }
}
