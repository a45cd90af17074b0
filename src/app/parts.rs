//! The parts `herald run` is built from, each from the config: the store, the enricher, the
//! source, and what tells the worker to stop or whether the store answers.

use super::AppError;
use crate::config::{Config, SourceKind, StoreKind};
use crate::enrich::Enricher;
use crate::source::kinesis::{KinesisOptions, KinesisSource};
use crate::source::local::LocalSource;
use crate::source::sqs::{SqsOptions, SqsSource};
use crate::source::Source;
use crate::store::{memory::MemoryStore, Store};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// A name for this worker in leases and claims, unique across a fleet (every container may
/// have the same pid).
pub fn worker_name() -> String {
    let host = std::env::var("HOSTNAME").unwrap_or_default();
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let host: String = host
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .take(24)
        .collect();
    format!("w-{host}-{}-{:x}", std::process::id(), nanos & 0xffff_ffff)
}

pub async fn aws_config(endpoint: Option<&str>) -> aws_config::SdkConfig {
    let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest());
    if let Some(e) = endpoint {
        loader = loader.endpoint_url(e);
    }
    loader.load().await
}

/// The pipeline for `run`: destinations, routing and mode as `replay` builds them, on the
/// given store, with this worker's name and lease in the engine and every sink counted.
/// The enricher `[enrich]` asks for: `None` when it is off and names no account aliases.
/// Herald's own credentials and region come from the SDK's default chain; the reader roles are
/// assumed with them.
pub async fn enricher(cfg: &Config) -> Result<Option<Arc<Enricher>>, AppError> {
    let e = &cfg.enrich;
    if !e.enabled && e.aliases.is_empty() {
        return Ok(None);
    }
    let base = aws_config(None).await;
    let enricher = Enricher::new(e.clone(), &base)?;
    tracing::info!(
        enabled = e.enabled,
        role_arn_template = %e.role_arn_template,
        allowed_accounts = e.allowed_accounts.len(),
        aliases = e.aliases.len(),
        "enrichment"
    );
    Ok(Some(Arc::new(enricher)))
}

/// People's actions, when `[actions]` has a signing secret or an app-level token: Slack's Web
/// API from the first Slack destination (ephemeral replies, user groups), and the operator
/// role's clients.
pub async fn actor(
    cfg: &Config,
    runner: Arc<crate::pipeline::Runner>,
) -> Result<Option<Arc<crate::chatops::Actor>>, AppError> {
    if !cfg.actions.enabled() {
        return Ok(None);
    }
    let bad = |e: String| AppError::Config(crate::config::ConfigError::Invalid(e));
    let secret = match cfg.actions.signing_secret_ref().map(|r| r.resolve_local()) {
        None => None,
        // An empty key would let anyone sign requests.
        Some(Ok(Some(s))) if s.expose().trim().is_empty() => {
            return Err(bad("actions.slack_signing_secret is empty".into()))
        }
        Some(Ok(Some(s))) => Some(s),
        Some(Ok(None)) => return Err(bad("actions.slack_signing_secret is not resolved".into())),
        Some(Err(e)) => return Err(bad(format!("actions.slack_signing_secret: {e}"))),
    };
    let slack = cfg.destinations.iter().find_map(|d| match &d.sink {
        crate::config::destination::SinkConfig::Slack(s) => Some(s),
        _ => None,
    });
    let slack = match slack {
        Some(s) => {
            let token = match s.token.resolve_local() {
                Ok(Some(t)) => t,
                _ => {
                    return Err(bad(
                        "actions: the Slack destination's token is not resolved".into(),
                    ))
                }
            };
            let base = s
                .api_base
                .clone()
                .unwrap_or_else(|| "https://slack.com".into());
            Some(crate::chatops::slack::SlackApi::new(token, base).map_err(bad)?)
        }
        None => None,
    };
    let base = aws_config(None).await;
    let actor = crate::chatops::Actor::new(&cfg.actions, secret, runner, slack, &base, &cfg.enrich)
        .map_err(bad)?;
    tracing::info!(
        allow = cfg.actions.allow.len(),
        role_arn_template = %cfg.actions.role_arn_template,
        request_url = cfg.actions.signing_secret_ref().is_some(),
        socket_mode = cfg.actions.app_token_ref().is_some(),
        "actions"
    );
    Ok(Some(Arc::new(actor)))
}

/// Socket Mode, when `[actions]` has an app-level token: where to open connections (the first
/// Slack destination's `api_base`, else Slack's).
pub fn socket_mode(cfg: &Config) -> Result<Option<crate::chatops::socket::SocketMode>, AppError> {
    let Some(r) = cfg.actions.app_token_ref() else {
        return Ok(None);
    };
    let bad = |e: String| AppError::Config(crate::config::ConfigError::Invalid(e));
    let token = match r.resolve_local() {
        Ok(Some(t)) if t.expose().trim().is_empty() => {
            return Err(bad("actions.slack_app_token is empty".into()))
        }
        Ok(Some(t)) => t,
        Ok(None) => return Err(bad("actions.slack_app_token is not resolved".into())),
        Err(e) => return Err(bad(format!("actions.slack_app_token: {e}"))),
    };
    let base = cfg
        .destinations
        .iter()
        .find_map(|d| match &d.sink {
            crate::config::destination::SinkConfig::Slack(s) => s.api_base.clone(),
            _ => None,
        })
        .unwrap_or_else(|| "https://slack.com".into());
    crate::chatops::socket::SocketMode::new(token, base)
        .map(Some)
        .map_err(bad)
}

pub async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => {},
                    _ = tokio::signal::ctrl_c() => {},
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// Keeps the readiness flag for the store: a read every 5 s.
pub async fn probe_store(store: Arc<dyn Store>, ok: Arc<AtomicBool>) {
    loop {
        let r = store.get("herald#readyz").await;
        if let Err(e) = &r {
            tracing::warn!(error = %e, "store not reachable");
        }
        ok.store(r.is_ok(), Ordering::Relaxed);
        tokio::time::sleep(Duration::from_secs(5)).await;
    }
}

/// The store `[store]` names: in-process, or the DynamoDB table (checked at start).
pub async fn store(cfg: &Config) -> Result<Arc<dyn Store>, AppError> {
    match cfg.store.kind {
        StoreKind::Memory => Ok(Arc::new(MemoryStore::new())),
        StoreKind::Dynamodb => {
            crate::store::dynamo_from_env(cfg.store.endpoint.as_deref(), &cfg.store.table)
                .await
                .map_err(|source| AppError::Store {
                    table: cfg.store.table.clone(),
                    source,
                })
        }
    }
}

/// The source `[source]` names, started; with the local one also returned for `POST /events`.
pub async fn source(
    cfg: &Config,
    owner: &str,
) -> Result<(Arc<dyn Source>, Option<Arc<LocalSource>>), AppError> {
    Ok(match cfg.source.kind {
        SourceKind::Local => {
            let l = Arc::new(LocalSource::new(cfg.source.max_in_flight));
            (l.clone(), Some(l))
        }
        SourceKind::Sqs => {
            let sdk = aws_config(cfg.source.sqs_endpoint.as_deref()).await;
            let s = SqsSource::start(
                aws_sdk_sqs::Client::new(&sdk),
                SqsOptions {
                    queue_url: cfg.source.queue_url.clone().unwrap_or_default(),
                    pollers: cfg.source.pollers,
                    max_in_flight: cfg.source.max_in_flight,
                    visibility_timeout_secs: cfg.source.visibility_timeout_secs,
                    wait_time_secs: cfg.source.wait_time_secs,
                },
            );
            (s, None)
        }
        SourceKind::Kinesis => {
            let kin = aws_config(cfg.source.kinesis_endpoint.as_deref()).await;
            let ddb = aws_config(cfg.store.endpoint.as_deref()).await;
            let s = KinesisSource::start(
                aws_sdk_kinesis::Client::new(&kin),
                aws_sdk_dynamodb::Client::new(&ddb),
                KinesisOptions {
                    stream_arn: cfg.source.stream_arn.clone().unwrap_or_default(),
                    lease_table: cfg.source.lease_table.clone(),
                    owner: owner.to_owned(),
                    failover: Duration::from_secs(cfg.source.lease_failover_secs),
                    max_in_flight: cfg.source.max_in_flight,
                    initial_position: cfg.source.initial_position.clone(),
                },
            )
            .await?;
            (s, None)
        }
    })
}
