//! The sinks of a config, each behind its delivery stages: `digest → paced (supersede, limiter,
//! retry, timeout) → provider`. `replay`, `demo` and `run` all build them here.
//!
//! Destinations that post to the same Slack channel share that channel's budget (the limiter key
//! is the channel id); every other destination has its own, keyed by its name. Secret
//! references must be resolved first ([`crate::config::Config::resolve_secrets`]); values and
//! environment variables are read here.

use crate::config::destination::topic_region;
use crate::config::destination::SinkConfig;
use crate::config::{Config, ConfigError, DestinationConfig, SecretRef, StoreKind};
use crate::deliver::digest::Digest;
use crate::deliver::discord::{DiscordConfig, DiscordSink};
use crate::deliver::fleet_limiter::FleetLimiter;
use crate::deliver::jsonl::JsonlSink;
use crate::deliver::limiter::{Limiter, Rate};
use crate::deliver::retry::Paced;
use crate::deliver::slack::{SlackConfig, SlackSink};
use crate::deliver::sns::SnsSink;
use crate::deliver::teams::{TeamsConfig, TeamsSink};
use crate::deliver::text::TextSink;
use crate::deliver::webhook::{WebhookConfig, WebhookSink};
use crate::deliver::Sink;
use crate::secret::Secret;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

/// What the sinks need beyond the config.
#[derive(Default, Clone)]
pub struct SinkOptions {
    /// The fleet's shared rate limiter (fleet mode). Without it each worker paces alone.
    pub fleet: Option<Arc<FleetLimiter>>,
    /// The AWS SDK config for Amazon Q's SNS client; without it the client is made on first use
    /// from the default chain, in the topic's region.
    pub aws: Option<aws_config::SdkConfig>,
}

pub type Sinks = BTreeMap<String, Arc<dyn Sink>>;

/// Every destination of `cfg` as a sink, by name; each worker pacing alone.
pub fn build_sinks(cfg: &Config) -> Result<Sinks, ConfigError> {
    build_sinks_with(cfg, &SinkOptions::default())
}

/// Every destination of `cfg` as a sink, by name. Reports every destination that cannot be
/// built, not only the first. In fleet mode (`[store] kind = "dynamodb"`) the budgets are shared
/// through the store's table unless `opts` brings a limiter of its own.
pub fn build_sinks_with(cfg: &Config, opts: &SinkOptions) -> Result<Sinks, ConfigError> {
    let mut opts = opts.clone();
    if opts.fleet.is_none() && cfg.store.kind == StoreKind::Dynamodb {
        opts.fleet = Some(Arc::new(FleetLimiter::lazy(
            cfg.store.endpoint.clone(),
            cfg.store.table.clone(),
        )));
    }
    let opts = &opts;
    let mut limiters: HashMap<String, Arc<Limiter>> = HashMap::new();
    let mut sinks = Sinks::new();
    let mut errors = Vec::new();
    for (i, d) in cfg.destinations.iter().enumerate() {
        match build_one(d, opts, &mut limiters, cfg.actions.enabled()) {
            Ok(s) => {
                sinks.insert(d.name.clone(), s);
            }
            Err(e) => errors.push(format!("destinations[{i}] ({}): {e}", d.name)),
        }
    }
    if errors.is_empty() {
        Ok(sinks)
    } else {
        Err(ConfigError::Invalid(errors.join("\n")))
    }
}

/// A secret's value: references must have been resolved ([`Config::resolve_secrets`]);
/// environment variables are read here.
fn secret(name: &str, r: &SecretRef) -> Result<Secret, String> {
    match r.resolve_local() {
        Ok(Some(s)) => Ok(s),
        Ok(None) => Err(format!(
            "{name}: {} is not resolved yet (Config::resolve_secrets resolves it)",
            r.describe()
        )),
        Err(e) => Err(format!("{name}: {e}")),
    }
}

/// The budget a webhook destination spends: the provider limits per webhook, so two
/// destinations on one webhook share one. Keyed by the id in the URL (Discord's
/// `/api/webhooks/{id}/{token}`, a Teams workflow's `/workflows/{id}/...`), never by the token or
/// signature that follows it; the destination's name when the URL has no such id.
fn budget_key(kind: &str, url: &str, marker: &str, name: &str) -> String {
    let id = url
        .split_once(marker)
        .and_then(|(_, rest)| rest.split(['/', '?']).next())
        .filter(|id| !id.is_empty() && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'));
    match id {
        Some(id) => format!("{kind}:{id}"),
        None => format!("{kind}:{name}"),
    }
}

/// `buttons`: people may act from messages (`[actions]`): Slack messages carry the buttons.
fn build_one(
    d: &DestinationConfig,
    opts: &SinkOptions,
    limiters: &mut HashMap<String, Arc<Limiter>>,
    buttons: bool,
) -> Result<Arc<dyn Sink>, String> {
    let policy = d.retry.clone().unwrap_or_default();
    let timeout = policy.attempt_timeout();
    let mut limiter = |key: String, default: Option<Rate>| {
        limiters
            .entry(key)
            .or_insert_with(|| {
                let l = match d.rate.or(default) {
                    Some(r) => Limiter::new(r),
                    None => Limiter::pause_only(),
                };
                Arc::new(match &opts.fleet {
                    Some(f) => l.shared(f.clone()),
                    None => l,
                })
            })
            .clone()
    };
    let (sink, key, limiter, reply): (Arc<dyn Sink>, String, Arc<Limiter>, bool) = match &d.sink {
        SinkConfig::Text(_) => return Ok(Arc::new(TextSink::stdout())),
        SinkConfig::Jsonl(j) => {
            return Ok(match &j.path {
                Some(p) => Arc::new(
                    JsonlSink::append(std::path::Path::new(p)).map_err(|e| format!("{p}: {e}"))?,
                ),
                None => Arc::new(JsonlSink::stdout()),
            })
        }
        SinkConfig::Slack(s) => {
            let mut c = SlackConfig::new(secret("token", &s.token)?, s.channel.clone());
            if let Some(b) = &s.api_base {
                c.api_base = b.clone();
            }
            c.reply_broadcast = s.reply_broadcast;
            c.mention_authors = s.mention_authors;
            c.permalinks = s.permalinks;
            c.buttons = buttons;
            c.timeout = timeout;
            let key = format!("slack:{}", s.channel);
            let sink = SlackSink::new(c).map_err(|e| e.to_string())?;
            (
                Arc::new(sink),
                key.clone(),
                limiter(key, Some(Rate::SLACK)),
                s.failure_reply,
            )
        }
        SinkConfig::Discord(s) => {
            let mut c = DiscordConfig::new(secret("webhook_url", &s.webhook_url)?);
            c.timeout = timeout;
            let key = budget_key("discord", c.webhook_url.expose(), "webhooks/", &d.name);
            let sink = DiscordSink::new(c).map_err(|e| e.to_string())?;
            (
                Arc::new(sink),
                key.clone(),
                limiter(key, Some(Rate::DISCORD)),
                false,
            )
        }
        SinkConfig::Teams(s) => {
            let mut c = TeamsConfig::new(secret("webhook_url", &s.webhook_url)?);
            c.timeout = timeout;
            let key = budget_key("teams", c.webhook_url.expose(), "workflows/", &d.name);
            let sink = TeamsSink::new(c).map_err(|e| e.to_string())?;
            (
                Arc::new(sink),
                key.clone(),
                limiter(key, Some(Rate::TEAMS)),
                false,
            )
        }
        SinkConfig::Webhook(s) => {
            let signing = match &s.signing_secret {
                Some(r) => Some(secret("signing_secret", r)?),
                None => None,
            };
            let mut c = WebhookConfig::new(secret("url", &s.url)?, signing);
            c.timeout = timeout;
            let key = format!("webhook:{}", d.name);
            let sink = WebhookSink::new(c).map_err(|e| e.to_string())?;
            (Arc::new(sink), key.clone(), limiter(key, None), false)
        }
        SinkConfig::Amazonq(s) => {
            let topic = s.topic_arn.clone();
            let region = topic_region(&topic)
                .ok_or("`topic_arn` is not an SNS topic ARN")?
                .to_owned();
            let sink = match &opts.aws {
                Some(sdk) => SnsSink::from_sdk(sdk, s.endpoint.as_deref(), topic),
                None => SnsSink::lazy(region, s.endpoint.clone(), topic),
            };
            let key = format!("amazonq:{}", d.name);
            (Arc::new(sink), key.clone(), limiter(key, None), false)
        }
    };
    let busy = {
        let (limiter, key) = (limiter.clone(), key.clone());
        move || limiter.busy(&key)
    };
    // News (a stall, an approval reminder) is told by a reply too, as an edit notifies
    // nobody: in the thread on Slack (broadcast), as a new message on Discord and Teams.
    // Amazon Q's every update is a new message already.
    let news_reply = matches!(
        d.sink,
        SinkConfig::Slack(_) | SinkConfig::Discord(_) | SinkConfig::Teams(_)
    );
    let paced: Arc<dyn Sink> = Arc::new(
        Paced::new(sink, limiter, key, policy)
            .with_failure_reply(reply)
            .with_news_reply(news_reply),
    );
    let digest = d.digest.clone().unwrap_or_default();
    Ok(
        match Digest::wrap(paced.clone(), d.name.clone(), &digest, busy) {
            Some(dg) => Arc::new(dg),
            None => paced,
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(text: &str) -> Config {
        let c: Config = toml::from_str(text).expect("toml");
        c.validate().expect("valid");
        c
    }

    #[test]
    fn webhook_budgets_are_keyed_by_the_webhook_id_never_its_secret() {
        let d = "https://discord.com/api/webhooks/1400000000000000001/s3cr3t-t0ken";
        assert_eq!(
            budget_key("discord", d, "webhooks/", "ops"),
            "discord:1400000000000000001"
        );
        assert_eq!(
            budget_key("discord", &format!("{d}?thread_id=7"), "webhooks/", "dev"),
            "discord:1400000000000000001",
            "two destinations on one webhook share its budget"
        );
        let t = "https://prod-07.westeurope.logic.azure.com:443/workflows/4f1c2e0a9b/triggers/manual/paths/invoke?api-version=2016-06-01&sig=SIGNATURE";
        let k = budget_key("teams", t, "workflows/", "mgmt");
        assert_eq!(k, "teams:4f1c2e0a9b");
        assert!(!k.contains("SIGNATURE"));
        assert_eq!(
            budget_key("teams", "https://example.com/hook", "workflows/", "mgmt"),
            "teams:mgmt"
        );
    }

    #[test]
    fn every_kind_builds_and_unresolved_references_are_named() {
        let c = config(
            r#"
            [[destinations]]
            name = "slack"
            kind = "slack"
            channel = "C0123ABCD"
            token = "xoxb-1"
            failure_reply = true
            [[destinations]]
            name = "discord"
            kind = "discord"
            webhook_url = "https://discord.com/api/webhooks/1/t"
            [[destinations]]
            name = "teams"
            kind = "teams"
            webhook_url = "https://example.logic.azure.com/workflows/1/triggers/manual/paths/invoke?sig=s"
            [[destinations]]
            name = "hook"
            kind = "webhook"
            url = "https://hooks.example.com/h"
            signing_secret = "k"
            rate = { requests = 10, per_ms = 1000 }
            [[destinations]]
            name = "q"
            kind = "amazonq"
            topic_arn = "arn:aws:sns:eu-west-1:111122223333:herald"
            [[destinations]]
            name = "file"
            kind = "text"
            "#,
        );
        let sinks = build_sinks(&c).expect("sinks");
        let kinds: Vec<(&str, &str)> = sinks.iter().map(|(n, s)| (n.as_str(), s.kind())).collect();
        assert_eq!(
            kinds,
            vec![
                ("discord", "discord"),
                ("file", "text"),
                ("hook", "webhook"),
                ("q", "amazonq"),
                ("slack", "slack"),
                ("teams", "teams"),
            ]
        );

        let c = config(
            r#"
            [[destinations]]
            name = "slack"
            kind = "slack"
            channel = "C0123ABCD"
            token = { ssm = "/herald/slack-token" }
            [[destinations]]
            name = "hook"
            kind = "webhook"
            url = { env = "HERALD_TEST_UNSET_HOOK_URL" }
            "#,
        );
        let e = build_sinks(&c)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(e.contains("destinations[0] (slack): token: SSM parameter /herald/slack-token is not resolved yet"), "{e}");
        assert!(e.contains("destinations[1] (hook): url: environment variable HERALD_TEST_UNSET_HOOK_URL is not set"), "{e}");
    }
}
