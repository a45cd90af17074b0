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
    pub const ALL: [SinkKind; 7] = [
        SinkKind::Text,
        SinkKind::Jsonl,
        SinkKind::Slack,
        SinkKind::Discord,
        SinkKind::Teams,
        SinkKind::Amazonq,
        SinkKind::Webhook,
    ];

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

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// The settings only this kind takes (the common ones are `name`, `kind`, `rate`, `retry`,
    /// `digest`).
    fn fields(self) -> &'static [&'static str] {
        match self {
            SinkKind::Text => &[],
            SinkKind::Jsonl => &["path"],
            SinkKind::Slack => &[
                "channel",
                "token",
                "api_base",
                "failure_reply",
                "reply_broadcast",
                "mention_authors",
                "permalinks",
            ],
            SinkKind::Discord | SinkKind::Teams => &["webhook_url"],
            SinkKind::Amazonq => &["topic_arn", "endpoint"],
            SinkKind::Webhook => &["url", "signing_secret"],
        }
    }

    /// Whether the kind talks to a rate-limited service (and so takes `rate`, `retry`, `digest`).
    fn remote(self) -> bool {
        !matches!(self, SinkKind::Text | SinkKind::Jsonl)
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DestinationConfig {
    /// What rules call the destination.
    pub name: String,
    /// `slack`, `discord`, `teams`, `amazonq`, `webhook`, `jsonl` or `text`.
    pub kind: String,

    /// `jsonl`: a file to append to (stdout when absent).
    #[serde(default)]
    pub path: Option<String>,

    /// `slack`: the channel id (`C0123ABCD`; `chat.update` needs the id, not the name).
    #[serde(default)]
    pub channel: Option<String>,
    /// `slack`: the bot token (`xoxb-…`) with `chat:write` (and `users:read.email` to mention
    /// commit authors).
    #[serde(default)]
    pub token: Option<SecretRef>,
    /// `slack`: the Web API's base URL (default `https://slack.com`).
    #[serde(default)]
    pub api_base: Option<String>,
    /// `slack`: also post a failure's details as a reply in its message's thread.
    #[serde(default)]
    pub failure_reply: Option<bool>,
    /// `slack`: show that reply in the channel too.
    #[serde(default)]
    pub reply_broadcast: Option<bool>,
    /// `slack`: mention the commit author found by `users.lookupByEmail` (default true).
    #[serde(default)]
    pub mention_authors: Option<bool>,
    /// `slack`: ask `chat.getPermalink` for each posted message, so the status page links to
    /// the message itself (default true).
    #[serde(default)]
    pub permalinks: Option<bool>,

    /// `discord`: the channel webhook URL; `teams`: the Workflows trigger URL. Both are
    /// credentials.
    #[serde(default)]
    pub webhook_url: Option<SecretRef>,

    /// `webhook`: where to post.
    #[serde(default)]
    pub url: Option<SecretRef>,
    /// `webhook`: the HMAC-SHA256 key of `X-Herald-Signature` (unsigned when absent).
    #[serde(default)]
    pub signing_secret: Option<SecretRef>,

    /// `amazonq`: the SNS topic Amazon Q's channel configuration subscribes to.
    #[serde(default)]
    pub topic_arn: Option<String>,
    /// `amazonq`: an SNS endpoint override (an emulator).
    #[serde(default)]
    pub endpoint: Option<String>,

    /// Requests per period, overriding the provider's documented limit (Slack 1 per second per
    /// channel, Discord 5 per 2 s per webhook, Teams 4 per second; none for Amazon Q and
    /// webhooks).
    #[serde(default)]
    pub rate: Option<Rate>,
    /// Attempts, backoff and the per-attempt timeout.
    #[serde(default)]
    pub retry: Option<RetryPolicy>,
    /// When a burst is folded into one digest message (`threshold = 0` turns it off).
    #[serde(default)]
    pub digest: Option<DigestConfig>,
}

impl DestinationConfig {
    pub fn sink_kind(&self) -> Option<SinkKind> {
        SinkKind::parse(&self.kind)
    }

    /// The settings given, by name, for "not a setting of this kind" errors.
    fn given(&self) -> Vec<&'static str> {
        let mut g = Vec::new();
        let mut add = |name: &'static str, set: bool| {
            if set {
                g.push(name);
            }
        };
        add("path", self.path.is_some());
        add("channel", self.channel.is_some());
        add("token", self.token.is_some());
        add("api_base", self.api_base.is_some());
        add("failure_reply", self.failure_reply.is_some());
        add("reply_broadcast", self.reply_broadcast.is_some());
        add("mention_authors", self.mention_authors.is_some());
        add("permalinks", self.permalinks.is_some());
        add("webhook_url", self.webhook_url.is_some());
        add("url", self.url.is_some());
        add("signing_secret", self.signing_secret.is_some());
        add("topic_arn", self.topic_arn.is_some());
        add("endpoint", self.endpoint.is_some());
        g
    }

    /// The secrets of this destination, by setting name.
    pub fn secrets(&self) -> Vec<(&'static str, &SecretRef)> {
        let mut s = Vec::new();
        for (name, r) in [
            ("token", &self.token),
            ("webhook_url", &self.webhook_url),
            ("url", &self.url),
            ("signing_secret", &self.signing_secret),
        ] {
            if let Some(r) = r {
                s.push((name, r));
            }
        }
        s
    }

    fn secrets_mut(&mut self) -> Vec<(&'static str, &mut SecretRef)> {
        let mut s = Vec::new();
        for (name, r) in [
            ("token", &mut self.token),
            ("webhook_url", &mut self.webhook_url),
            ("url", &mut self.url),
            ("signing_secret", &mut self.signing_secret),
        ] {
            if let Some(r) = r.as_mut() {
                s.push((name, r));
            }
        }
        s
    }

    /// Everything wrong with this destination, each prefixed with `at` (`destinations[2] (ops)`).
    pub fn problems(&self, at: &str) -> Vec<String> {
        let mut e = Vec::new();
        if self.name.trim().is_empty() {
            e.push(format!("{at}: name must not be empty"));
        }
        let Some(kind) = self.sink_kind() else {
            let expected: Vec<&str> = SinkKind::ALL.iter().map(|k| k.as_str()).collect();
            e.push(format!(
                "{at}: unknown kind {:?} (expected one of {})",
                self.kind,
                expected.join(", ")
            ));
            return e;
        };
        for g in self.given() {
            if !kind.fields().contains(&g) {
                e.push(format!(
                    "{at}: `{g}` is not a setting of kind {}",
                    kind.as_str()
                ));
            }
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
        let mut need = |name: &str, set: bool| {
            if !set {
                e.push(format!("{at}: kind {} needs `{name}`", kind.as_str()));
            }
        };
        match kind {
            SinkKind::Slack => {
                need("channel", self.channel.is_some());
                need("token", self.token.is_some());
            }
            SinkKind::Discord | SinkKind::Teams => need("webhook_url", self.webhook_url.is_some()),
            SinkKind::Webhook => need("url", self.url.is_some()),
            SinkKind::Amazonq => need("topic_arn", self.topic_arn.is_some()),
            SinkKind::Text | SinkKind::Jsonl => {}
        }
        if let Some(c) = &self.channel {
            let id_like = c.len() >= 3
                && matches!(c.as_bytes()[0], b'C' | b'G' | b'D')
                && c.bytes()
                    .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit());
            if !id_like {
                e.push(format!(
                    "{at}: channel {c:?} is not a channel id like \"C0123ABCD\" (chat.update needs the id: Slack shows it at the bottom of the channel's details)"
                ));
            }
        }
        for (name, v) in [("api_base", &self.api_base), ("endpoint", &self.endpoint)] {
            if let Some(v) = v {
                if !v.starts_with("https://") && !v.starts_with("http://") {
                    e.push(format!("{at}: {name} must be an http(s) URL, not {v:?}"));
                }
            }
        }
        if let Some(arn) = &self.topic_arn {
            if topic_region(arn).is_none() {
                e.push(format!(
                    "{at}: topic_arn {arn:?} is not an SNS topic ARN (arn:aws:sns:REGION:ACCOUNT:NAME)"
                ));
            }
        }
        for (name, r) in self.secrets() {
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
        assert_eq!(
            d.token
                .as_ref()
                .and_then(|t| t.literal())
                .map(|s| s.expose()),
            Some("xoxb-very-secret")
        );
        assert!(d.problems("d").is_empty(), "{:?}", d.problems("d"));

        let d = dest(
            r#"
            name = "ops"
            kind = "webhook"
            url = { ssm = "/herald/hook-url" }
            signing_secret = { secrets_manager = "herald/hook", key = "signing" }
            "#,
        );
        assert_eq!(d.url, Some(SecretRef::Ssm("/herald/hook-url".into())));
        assert_eq!(
            d.signing_secret,
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

    #[test]
    fn each_kind_names_what_it_lacks_and_what_is_not_its_own() {
        let d = dest(
            r#"
            name = "ops"
            kind = "slack"
            channel = "general"
            webhook_url = "https://discord.com/api/webhooks/1/x"
            "#,
        );
        let p = d.problems("destinations[0] (ops)").join("\n");
        assert!(p.contains("kind slack needs `token`"), "{p}");
        assert!(
            p.contains("`webhook_url` is not a setting of kind slack"),
            "{p}"
        );
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
