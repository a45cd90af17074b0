//! Typed configuration (TOML), validated at load with errors that name what is wrong.

pub mod actions;
pub mod destination;

pub use crate::secret::SecretRef;
pub use destination::{DestinationConfig, SinkKind};

use crate::route::{expr::Expr, Router, Rule};
use serde::Deserialize;
use std::path::Path;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{path}: cannot read: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Parse { path: String, message: String },
    #[error("{0}")]
    Invalid(String),
}

/// When a thread's message is posted and edited.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// One message edited as the story advances (the default).
    #[default]
    Progress,
    /// Only the final state is posted, as Meerkat users expect; late details still edit it.
    FinalOnly,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CorrelateConfig {
    pub mode: Mode,
    /// How long a final message waits for late action events before it is sent.
    pub settle_secs: i64,
    pub cache_size: usize,
    pub cache_ttl_secs: u64,
    /// How long thread items live in the store after their last write.
    pub ttl_days: i64,
    /// A pipeline execution not final that heard nothing this long is told as stalled (0: never).
    pub pipeline_stall_secs: i64,
    /// An approval still waiting this long after it was asked is reminded of (0: never); every
    /// approval is also reminded of a day before it expires.
    pub approval_remind_secs: i64,
}

impl Default for CorrelateConfig {
    fn default() -> Self {
        Self {
            mode: Mode::Progress,
            settle_secs: 5,
            cache_size: 10_000,
            cache_ttl_secs: 600,
            ttl_days: 14,
            pipeline_stall_secs: 3600,
            approval_remind_secs: 4 * 3600,
        }
    }
}

/// `[ecs]`: ECS deployments.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EcsConfig {
    /// An ECS deployment not final that heard nothing this long is told as stalled (0: never);
    /// Mona's `secondsUntilAlert`.
    pub deployment_stall_secs: i64,
    /// This many crashes of a service's tasks within `crash_loop_window_secs` are a crash loop
    /// (0: never).
    pub crash_loop_count: u32,
    pub crash_loop_window_secs: i64,
    /// A crashed service is recovered when no crash followed its steady state for this long.
    pub recovered_after_secs: i64,
}

impl Default for EcsConfig {
    fn default() -> Self {
        Self {
            deployment_stall_secs: 1800,
            crash_loop_count: 3,
            crash_loop_window_secs: 900,
            recovered_after_secs: 300,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleConfig {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(rename = "match")]
    pub expr: String,
    pub destinations: Vec<String>,
    #[serde(default, rename = "continue")]
    pub cont: bool,
    /// `false`: also route alarms held while what they watch deploys (see `[verdicts]`).
    #[serde(default = "yes")]
    pub inhibit: bool,
}

fn yes() -> bool {
    true
}

/// `[verdicts]`: deploy verdicts (issue 16).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct VerdictsConfig {
    /// How long after an ECS deployment succeeded the alarms watching its service are watched
    /// (0: no verdicts).
    pub watch_secs: i64,
    /// Alarms that watch a service, by name, besides those whose metrics name it.
    pub watch: Vec<WatchConfig>,
}

impl Default for VerdictsConfig {
    fn default() -> Self {
        Self {
            watch_secs: 900,
            watch: Vec::new(),
        }
    }
}

/// `[[verdicts.watch]]`: alarms whose name matches `alarm` (a regular expression) watch one
/// target (in `account`, when given): the ECS service `service` of `cluster`, the pipeline
/// `pipeline`, or the CodeDeploy deployment group `deployment_group` of `application`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WatchConfig {
    pub alarm: String,
    #[serde(default)]
    pub account: Option<String>,
    #[serde(default)]
    pub cluster: Option<String>,
    #[serde(default)]
    pub service: Option<String>,
    #[serde(default)]
    pub pipeline: Option<String>,
    #[serde(default)]
    pub application: Option<String>,
    #[serde(default)]
    pub deployment_group: Option<String>,
}

impl WatchConfig {
    /// The one target it names, or why it names none or several.
    fn target(&self) -> Result<crate::correlate::verdict::WatchTarget, String> {
        use crate::correlate::verdict::WatchTarget as T;
        let some = |v: &Option<String>| v.as_deref().filter(|v| !v.is_empty()).map(str::to_owned);
        let targets: Vec<T> = [
            some(&self.cluster)
                .zip(some(&self.service))
                .map(|(cluster, service)| T::Service { cluster, service }),
            some(&self.pipeline).map(T::Pipeline),
            some(&self.application)
                .zip(some(&self.deployment_group))
                .map(|(application, group)| T::Group { application, group }),
        ]
        .into_iter()
        .flatten()
        .collect();
        let half = (self.cluster.is_some() != self.service.is_some())
            || (self.application.is_some() != self.deployment_group.is_some());
        let mut targets = targets.into_iter();
        match (targets.next(), targets.next(), half) {
            (Some(t), None, false) => Ok(t),
            _ => Err("must name one target: cluster and service, pipeline, or application and deployment_group".into()),
        }
    }
}

impl VerdictsConfig {
    fn problems(&self) -> Vec<String> {
        let mut e = Vec::new();
        if self.watch_secs < 0 {
            e.push("verdicts.watch_secs must be >= 0 (0 turns verdicts off)".to_string());
        }
        for (i, w) in self.watch.iter().enumerate() {
            if let Err(err) = regex::Regex::new(&w.alarm) {
                e.push(format!("verdicts.watch[{i}].alarm {:?}: {err}", w.alarm));
            }
            if let Err(err) = w.target() {
                e.push(format!("verdicts.watch[{i}]: {err}"));
            }
            for (field, v) in [
                ("cluster", &w.cluster),
                ("service", &w.service),
                ("pipeline", &w.pipeline),
                ("application", &w.application),
                ("deployment_group", &w.deployment_group),
            ] {
                if v.as_deref()
                    .is_some_and(|v| v.is_empty() || v.contains('#'))
                {
                    e.push(format!(
                        "verdicts.watch[{i}].{field} {:?}: must be a name (not empty, no '#')",
                        v.as_deref().unwrap_or_default()
                    ));
                }
            }
        }
        e
    }

    /// The watch rules, compiled (those that do not compile are reported by `validate`).
    pub fn rules(&self) -> Vec<crate::correlate::verdict::WatchRule> {
        self.watch
            .iter()
            .filter_map(|w| {
                Some(crate::correlate::verdict::WatchRule {
                    alarm: regex::Regex::new(&w.alarm).ok()?,
                    account: w.account.clone(),
                    target: w.target().ok()?,
                })
            })
            .collect()
    }

    /// The pipelines the watch rules name.
    pub fn pipelines(&self) -> Vec<String> {
        let mut out: Vec<String> = self
            .watch
            .iter()
            .filter_map(|w| w.pipeline.clone())
            .collect();
        out.sort();
        out.dedup();
        out
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub correlate: CorrelateConfig,
    pub ecs: EcsConfig,
    /// Deploy verdicts and which alarms watch which service.
    pub verdicts: VerdictsConfig,
    pub destinations: Vec<DestinationConfig>,
    pub rules: Vec<RuleConfig>,
    pub default_destination: Option<String>,
    /// Where `herald run` takes events from (issue 4).
    pub source: SourceConfig,
    /// The HTTP server of `herald run` and the shutdown deadline.
    pub server: ServerConfig,
    /// Where thread state lives for `herald run`.
    pub store: StoreConfig,
    /// What `herald run` asks AWS about a failure before delivering it (off by default; the
    /// `aliases` map applies either way).
    pub enrich: crate::enrich::EnrichConfig,
    /// People acting from messages (buttons, `POST /slack/interactions`).
    pub actions: actions::ActionsConfig,
}

impl Config {
    /// Reads and validates a config file; errors begin with its path.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let p = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: p.clone(),
            source,
        })?;
        Self::from_toml(&text, &p)
    }

    /// Parses and validates config text from wherever it came from; errors begin with
    /// `origin` (a file path, or `SSM parameter /herald/config`), so they say which config is
    /// wrong.
    pub fn from_toml(text: &str, origin: &str) -> Result<Self, ConfigError> {
        let cfg: Config = toml::from_str(text).map_err(|e| ConfigError::Parse {
            path: origin.to_owned(),
            message: e.to_string(),
        })?;
        cfg.validate().map_err(|e| ConfigError::Parse {
            path: origin.to_owned(),
            message: e.to_string(),
        })?;
        Ok(cfg)
    }

    /// Every problem at once, so one `check-config` run shows them all.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let mut errors = Vec::new();
        let names: Vec<&str> = self.destinations.iter().map(|d| d.name.as_str()).collect();
        for (i, d) in self.destinations.iter().enumerate() {
            errors.extend(d.problems(&format!("destinations[{i}] ({})", d.name)));
            if names.iter().filter(|n| **n == d.name).count() > 1 {
                errors.push(format!("destinations[{i}]: duplicate name {:?}", d.name));
            }
        }
        for (i, r) in self.rules.iter().enumerate() {
            if let Err(e) = Expr::parse(&r.expr) {
                errors.push(format!("rules[{i}].match {:?}: {e}", r.expr));
            }
            for d in &r.destinations {
                if !names.contains(&d.as_str()) {
                    errors.push(format!("rules[{i}]: unknown destination {d:?}"));
                }
            }
        }
        if let Some(d) = &self.default_destination {
            if !names.contains(&d.as_str()) {
                errors.push(format!("default_destination: unknown destination {d:?}"));
            }
        }
        if self.correlate.pipeline_stall_secs < 0 {
            errors.push(
                "correlate.pipeline_stall_secs must be >= 0 (0 turns stall alerts off)".into(),
            );
        }
        if self.correlate.approval_remind_secs < 0 {
            errors.push(
                "correlate.approval_remind_secs must be >= 0 (0 turns the reminder off)".into(),
            );
        }
        if self.ecs.deployment_stall_secs < 0 {
            errors.push("ecs.deployment_stall_secs must be >= 0 (0 turns stall alerts off)".into());
        }
        if self.ecs.crash_loop_count > crate::correlate::ecs::CRASHES_KEPT as u32 {
            errors.push(format!(
                "ecs.crash_loop_count must be at most {} (the crashes a thread keeps)",
                crate::correlate::ecs::CRASHES_KEPT
            ));
        }
        if self.ecs.crash_loop_window_secs <= 0 {
            errors.push("ecs.crash_loop_window_secs must be > 0".into());
        }
        if self.ecs.recovered_after_secs < 0 {
            errors.push("ecs.recovered_after_secs must be >= 0".into());
        }
        if self.correlate.settle_secs < 0 {
            errors.push("correlate.settle_secs must be >= 0".into());
        }
        errors.extend(self.verdicts.problems());
        errors.extend(self.source.problems());
        errors.extend(self.server.problems());
        errors.extend(self.store.problems());
        errors.extend(self.enrich.problems());
        errors.extend(self.actions.problems());
        if errors.is_empty() {
            Ok(())
        } else {
            Err(ConfigError::Invalid(errors.join("\n")))
        }
    }

    pub fn router(&self) -> Result<Router, ConfigError> {
        let mut rules = Vec::new();
        for (i, r) in self.rules.iter().enumerate() {
            let expr = Expr::parse(&r.expr)
                .map_err(|e| ConfigError::Invalid(format!("rules[{i}].match: {e}")))?;
            rules.push(Rule {
                name: r.name.clone().unwrap_or_else(|| format!("rules[{i}]")),
                expr,
                destinations: r.destinations.clone(),
                cont: r.cont,
                inhibit: r.inhibit,
            });
        }
        Ok(Router {
            rules,
            default: self.default_destination.clone(),
        })
    }
}

/// Where events come from: `local` (the embedded queue behind `POST /events`), `sqs` or
/// `kinesis`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum SourceKind {
    #[default]
    Local,
    Sqs,
    Kinesis,
}

impl SourceKind {
    pub fn as_str(self) -> &'static str {
        match self {
            SourceKind::Local => "local",
            SourceKind::Sqs => "sqs",
            SourceKind::Kinesis => "kinesis",
        }
    }
}

/// `[source]`: env overrides `HERALD_SOURCE`, `HERALD_SQS_QUEUE_URL`, `HERALD_SQS_ENDPOINT`,
/// `HERALD_SQS_POLLERS`, `HERALD_BATCH_WINDOW_MS`, `HERALD_KINESIS_STREAM_ARN`, `HERALD_KINESIS_ENDPOINT`,
/// `HERALD_LEASE_TABLE`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SourceConfig {
    pub kind: SourceKind,
    /// SQS queue URL (`kind = "sqs"`).
    pub queue_url: Option<String>,
    /// SQS endpoint override (an emulator); the SDK's own resolution when absent.
    pub sqs_endpoint: Option<String>,
    /// Concurrent long-polling tasks.
    pub pollers: usize,
    /// Messages received and not yet acknowledged, at most; polling waits when reached.
    pub max_in_flight: usize,
    /// Visibility timeout asked for at receive and at every extension.
    pub visibility_timeout_secs: i32,
    /// Long-poll wait per `ReceiveMessage` (20 is the maximum).
    pub wait_time_secs: i32,
    /// Kinesis stream ARN (`kind = "kinesis"`).
    pub stream_arn: Option<String>,
    /// Kinesis endpoint override (an emulator).
    pub kinesis_endpoint: Option<String>,
    /// DynamoDB table of shard leases and checkpoints (created if missing).
    pub lease_table: String,
    /// A shard lease whose counter has not moved for this long is taken over.
    pub lease_failover_secs: u64,
    /// Where a shard without a checkpoint starts: `TRIM_HORIZON` or `LATEST`.
    pub initial_position: String,
    /// Tasks that run the pipeline; events of one pipeline, service or alarm always go to
    /// the same one.
    pub processors: usize,
    /// How long a processor that received a message waits for more before it processes them
    /// together (at most 50): events of one thread in one batch cost one store write. Like a
    /// Lambda event source's batching window.
    pub batch_window_ms: u64,
}

impl Default for SourceConfig {
    fn default() -> Self {
        Self {
            kind: SourceKind::Local,
            queue_url: None,
            sqs_endpoint: None,
            pollers: 4,
            max_in_flight: 1_000,
            visibility_timeout_secs: 60,
            wait_time_secs: 20,
            stream_arn: None,
            kinesis_endpoint: None,
            lease_table: "herald-leases".into(),
            lease_failover_secs: 10,
            initial_position: "TRIM_HORIZON".into(),
            processors: 4,
            batch_window_ms: DEFAULT_BATCH_WINDOW_MS,
        }
    }
}

/// `[source] batch_window_ms` by default: what it buys and costs is in the README
/// ("Footprint").
pub const DEFAULT_BATCH_WINDOW_MS: u64 = 500;

/// The longest batching window: well inside any visibility timeout or lease.
pub const MAX_BATCH_WINDOW_MS: u64 = 10_000;

impl SourceConfig {
    fn problems(&self) -> Vec<String> {
        let mut e = Vec::new();
        match self.kind {
            SourceKind::Sqs if self.queue_url.as_deref().unwrap_or("").is_empty() => e.push(
                "source.queue_url is required when source.kind = \"sqs\" (or set HERALD_SQS_QUEUE_URL)"
                    .to_string(),
            ),
            SourceKind::Kinesis if self.stream_arn.as_deref().unwrap_or("").is_empty() => e.push(
                "source.stream_arn is required when source.kind = \"kinesis\" (or set HERALD_KINESIS_STREAM_ARN)"
                    .to_string(),
            ),
            _ => {}
        }
        if !(1..=64).contains(&self.pollers) {
            e.push(format!(
                "source.pollers must be 1..=64, not {}",
                self.pollers
            ));
        }
        if self.batch_window_ms > MAX_BATCH_WINDOW_MS {
            e.push(format!(
                "source.batch_window_ms must be 0..={MAX_BATCH_WINDOW_MS}, not {}",
                self.batch_window_ms
            ));
        }
        if !(1..=64).contains(&self.processors) {
            e.push(format!(
                "source.processors must be 1..=64, not {}",
                self.processors
            ));
        }
        if self.max_in_flight < 10 {
            e.push(format!(
                "source.max_in_flight must be at least 10 (one receive), not {}",
                self.max_in_flight
            ));
        }
        if !(1..=43_200).contains(&self.visibility_timeout_secs) {
            e.push(format!(
                "source.visibility_timeout_secs must be 1..=43200, not {}",
                self.visibility_timeout_secs
            ));
        }
        if !(0..=20).contains(&self.wait_time_secs) {
            e.push(format!(
                "source.wait_time_secs must be 0..=20, not {}",
                self.wait_time_secs
            ));
        }
        if self.lease_failover_secs == 0 {
            e.push("source.lease_failover_secs must be > 0".into());
        }
        if !matches!(self.initial_position.as_str(), "TRIM_HORIZON" | "LATEST") {
            e.push(format!(
                "source.initial_position must be TRIM_HORIZON or LATEST, not {:?}",
                self.initial_position
            ));
        }
        for (name, v) in [
            ("source.sqs_endpoint", &self.sqs_endpoint),
            ("source.kinesis_endpoint", &self.kinesis_endpoint),
        ] {
            if let Some(v) = v {
                if !v.starts_with("http://") && !v.starts_with("https://") {
                    e.push(format!("{name} must be an http(s) URL, not {v:?}"));
                }
            }
        }
        e
    }
}

/// `[server]`: env overrides `HERALD_LISTEN`, `HERALD_STATUS_LISTEN`, `HERALD_EVENTS_SECRET`,
/// `HERALD_SHUTDOWN_TIMEOUT_SECS`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// Address of `/healthz`, `/readyz` and `POST /events`, and of `/metrics` and the status
    /// page unless `status_listen` is set.
    pub listen: String,
    /// When set, `/metrics` and the status page (which have no login) are served on this
    /// address instead of `listen`, so they can stay inside the VPC while `POST /events` is
    /// reachable (it also answers `/healthz`).
    pub status_listen: Option<String>,
    /// When set, `POST /events` requires this value in `events_secret_header` (an
    /// EventBridge connection's API-key header).
    pub events_secret: Option<crate::secret::Secret>,
    pub events_secret_header: String,
    /// Shutdown deadline: stop polling, finish in-flight work, flush acks, exit. Keep it
    /// under the orchestrator's stop timeout (ECS: 30 s).
    pub shutdown_timeout_secs: u64,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:8080".into(),
            status_listen: None,
            events_secret: None,
            events_secret_header: "x-herald-secret".into(),
            shutdown_timeout_secs: 25,
        }
    }
}

impl ServerConfig {
    fn problems(&self) -> Vec<String> {
        let mut e = Vec::new();
        if self.listen.parse::<std::net::SocketAddr>().is_err() {
            e.push(format!(
                "server.listen must be host:port with a numeric host, not {:?}",
                self.listen
            ));
        }
        if let Some(s) = &self.status_listen {
            if s.parse::<std::net::SocketAddr>().is_err() {
                e.push(format!(
                    "server.status_listen must be host:port with a numeric host, not {s:?}"
                ));
            } else if *s == self.listen {
                e.push(format!(
                    "server.status_listen is the same address as server.listen ({s:?}): leave it out to serve everything there"
                ));
            }
        }
        if !(1..=3_600).contains(&self.shutdown_timeout_secs) {
            e.push(format!(
                "server.shutdown_timeout_secs must be 1..=3600, not {}",
                self.shutdown_timeout_secs
            ));
        }
        if axum::http::HeaderName::from_bytes(self.events_secret_header.as_bytes()).is_err() {
            e.push(format!(
                "server.events_secret_header is not a valid header name: {:?}",
                self.events_secret_header
            ));
        }
        e
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum StoreKind {
    #[default]
    Memory,
    Dynamodb,
}

/// `[store]`: env overrides `HERALD_STORE`, `HERALD_DYNAMODB_TABLE`,
/// `HERALD_DYNAMODB_ENDPOINT`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StoreConfig {
    pub kind: StoreKind,
    /// DynamoDB table of thread state (created if missing).
    pub table: String,
    /// DynamoDB endpoint override (DynamoDB Local).
    pub endpoint: Option<String>,
    /// How long a worker's delivery lease on a thread holds off the others. Keep it below
    /// `source.visibility_timeout_secs` so a redelivered message finds a dead worker's lease
    /// expired.
    pub delivery_lease_secs: i64,
}

impl Default for StoreConfig {
    fn default() -> Self {
        Self {
            kind: StoreKind::Memory,
            table: "herald".into(),
            endpoint: None,
            delivery_lease_secs: 30,
        }
    }
}

impl StoreConfig {
    fn problems(&self) -> Vec<String> {
        let mut e = Vec::new();
        if self.kind == StoreKind::Dynamodb && self.table.is_empty() {
            e.push("store.table must not be empty".into());
        }
        if self.delivery_lease_secs < 1 {
            e.push("store.delivery_lease_secs must be >= 1".into());
        }
        if let Some(v) = &self.endpoint {
            if !v.starts_with("http://") && !v.starts_with("https://") {
                e.push(format!("store.endpoint must be an http(s) URL, not {v:?}"));
            }
        }
        e
    }
}

impl Config {
    /// Applies `HERALD_...` environment overrides (the names the deploy template sets) from
    /// `env`, then validates. Errors name the variable.
    pub fn apply_env(&mut self, env: impl Fn(&str) -> Option<String>) -> Result<(), ConfigError> {
        let mut errors = Vec::new();
        fn num<T: std::str::FromStr>(name: &str, v: &str, errors: &mut Vec<String>) -> Option<T> {
            match v.trim().parse() {
                Ok(n) => Some(n),
                Err(_) => {
                    errors.push(format!("{name}={v:?} is not a number"));
                    None
                }
            }
        }
        if let Some(v) = env("HERALD_SOURCE") {
            match v.as_str() {
                "local" => self.source.kind = SourceKind::Local,
                "sqs" => self.source.kind = SourceKind::Sqs,
                "kinesis" => self.source.kind = SourceKind::Kinesis,
                _ => errors.push(format!(
                    "HERALD_SOURCE={v:?}: expected local, sqs or kinesis"
                )),
            }
        }
        if let Some(v) = env("HERALD_SQS_QUEUE_URL") {
            self.source.queue_url = Some(v);
        }
        if let Some(v) = env("HERALD_SQS_ENDPOINT") {
            self.source.sqs_endpoint = Some(v);
        }
        if let Some(v) = env("HERALD_SQS_POLLERS") {
            if let Some(n) = num("HERALD_SQS_POLLERS", &v, &mut errors) {
                self.source.pollers = n;
            }
        }
        if let Some(v) = env("HERALD_BATCH_WINDOW_MS") {
            if let Some(n) = num("HERALD_BATCH_WINDOW_MS", &v, &mut errors) {
                self.source.batch_window_ms = n;
            }
        }
        if let Some(v) = env("HERALD_KINESIS_STREAM_ARN") {
            self.source.stream_arn = Some(v);
        }
        if let Some(v) = env("HERALD_KINESIS_ENDPOINT") {
            self.source.kinesis_endpoint = Some(v);
        }
        if let Some(v) = env("HERALD_LEASE_TABLE") {
            self.source.lease_table = v;
        }
        if let Some(v) = env("HERALD_STORE") {
            match v.as_str() {
                "memory" => self.store.kind = StoreKind::Memory,
                "dynamodb" => self.store.kind = StoreKind::Dynamodb,
                _ => errors.push(format!("HERALD_STORE={v:?}: expected memory or dynamodb")),
            }
        }
        if let Some(v) = env("HERALD_DYNAMODB_TABLE") {
            self.store.table = v;
        }
        if let Some(v) = env("HERALD_DYNAMODB_ENDPOINT") {
            self.store.endpoint = Some(v);
        }
        if let Some(v) = env("HERALD_ENRICH") {
            match v.trim() {
                "true" | "1" | "on" => self.enrich.enabled = true,
                "false" | "0" | "off" => self.enrich.enabled = false,
                _ => errors.push(format!("HERALD_ENRICH={v:?}: expected true or false")),
            }
        }
        if let Some(v) = env("HERALD_ENRICH_ROLE_ARN_TEMPLATE") {
            self.enrich.role_arn_template = v;
        }
        if let Some(v) = env("HERALD_ENRICH_EXTERNAL_ID") {
            self.enrich.external_id = Some(v);
        }
        if let Some(v) = env("HERALD_LISTEN") {
            self.server.listen = v;
        }
        if let Some(v) = env("HERALD_STATUS_LISTEN") {
            self.server.status_listen = Some(v);
        }
        if let Some(v) = env("HERALD_EVENTS_SECRET") {
            self.server.events_secret = Some(crate::secret::Secret::new(v));
        }
        if let Some(v) = env("HERALD_SHUTDOWN_TIMEOUT_SECS") {
            if let Some(n) = num("HERALD_SHUTDOWN_TIMEOUT_SECS", &v, &mut errors) {
                self.server.shutdown_timeout_secs = n;
            }
        }
        if let Err(ConfigError::Invalid(e)) = self.validate() {
            errors.push(e);
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

    #[test]
    fn every_error_is_reported_with_its_place() {
        let cfg: Config = toml::from_str(
            r#"
            default_destination = "nowhere"
            [[destinations]]
            name = "ops"
            kind = "text"
            rate = { requests = 1, per_ms = 1000 }
            [[rules]]
            match = "status:FAILED & (kind:pipeline"
            destinations = ["ops", "ghost"]
            "#,
        )
        .expect("toml");
        let err = cfg
            .validate()
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            err.contains("destinations[0] (ops): `rate` is not a setting of kind text"),
            "{err}"
        );
        assert!(err.contains("rules[0].match"), "{err}");
        assert!(err.contains("unknown destination \"ghost\""), "{err}");
        assert!(
            err.contains("default_destination: unknown destination \"nowhere\""),
            "{err}"
        );

        // A destination's kind, and a setting not of its kind, are refused as the file is
        // read, at their line.
        let refused = |text: &str| {
            Config::from_toml(text, "herald.toml")
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default()
        };
        let err = refused("[correlate]\nsettle_secs = 0\n\n[[destinations]]\nname = \"ops\"\nkind = \"carrier-pigeon\"\n");
        assert!(err.contains("line 4"), "{err}");
        assert!(err.contains("unknown variant `carrier-pigeon`"), "{err}");
        let err = refused(
            "[[destinations]]\nname = \"ops\"\nkind = \"jsonl\"\nchannel = \"C0123ABCD\"\n",
        );
        assert!(err.contains("line 1"), "{err}");
        assert!(
            err.contains(
                "destination \"ops\", kind jsonl: unknown field `channel`, expected `path`"
            ),
            "{err}"
        );
    }

    #[test]
    fn the_verdicts_section_is_checked_and_held_alarms_route_only_where_a_rule_says() {
        let err = Config::from_toml(
            "[verdicts]\nwatch_secs = -1\n[[verdicts.watch]]\nalarm = \"(gw\"\ncluster = \"prod\"\nservice = \"a#b\"\n",
            "herald.toml",
        )
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
        assert!(err.starts_with("herald.toml"), "{err}");
        assert!(err.contains("verdicts.watch_secs must be >= 0"), "{err}");
        assert!(err.contains("verdicts.watch[0].alarm \"(gw\""), "{err}");
        assert!(err.contains("verdicts.watch[0].service \"a#b\""), "{err}");
        for rule in [
            "alarm = \"x\"\npipeline = \"web\"\ncluster = \"prod\"\nservice = \"gw\"\n",
            "alarm = \"x\"\ncluster = \"prod\"\n",
            "alarm = \"x\"\n",
        ] {
            let err = Config::from_toml(&format!("[[verdicts.watch]]\n{rule}"), "herald.toml")
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default();
            assert!(
                err.contains("verdicts.watch[0]: must name one target: cluster and service, pipeline, or application and deployment_group"),
                "{rule}: {err}"
            );
        }

        let cfg = Config::from_toml(
            r#"
            default_destination = "ops"
            [verdicts]
            watch_secs = 600
            [[verdicts.watch]]
            alarm = "^gw-"
            account = "111122223333"
            cluster = "prod"
            service = "gateway"
            [[destinations]]
            name = "ops"
            kind = "text"
            [[destinations]]
            name = "audit"
            kind = "text"
            [[rules]]
            match = "kind:alarm"
            destinations = ["audit"]
            inhibit = false
            continue = true
            [[rules]]
            match = "kind:alarm"
            destinations = ["ops"]
            "#,
            "herald.toml",
        )
        .expect("valid");
        let rules = cfg.verdicts.rules();
        assert_eq!(
            (
                rules.len(),
                rules[0].alarm.is_match("gw-5xx"),
                cfg.verdicts.watch_secs
            ),
            (1, true, 600)
        );
        let router = cfg.router().expect("router");
        let mut n = crate::notification::Notification::new(
            crate::notification::Kind::Alarm,
            "ALARM",
            false,
            "111122223333",
            "eu-west-1",
            "gw-5xx".into(),
        );
        assert_eq!(router.destinations(&n), ["audit", "ops"]);
        n.held = Some(crate::notification::Held {
            reason: "deploying".into(),
            deployment_id: "ecs-svc/1".into(),
        });
        // Held: only the rule with `inhibit = false`, and no default.
        assert_eq!(router.destinations(&n), ["audit"]);
        assert_eq!(router.route(&n).destinations, ["audit"]);
        let plain = Router::single("ops");
        assert!(plain.destinations(&n).is_empty());
    }

    #[test]
    fn the_enrich_section_is_checked_and_overridden_from_the_environment() {
        let cfg: Config = toml::from_str(
            r#"
            [enrich]
            deadline_ms = 0
            role_arn_template = "herald-reader"
            aliases = { "1234" = "short" }
            [enrich.endpoints]
            lambda = "http://127.0.0.1:1"
            "#,
        )
        .expect("toml");
        assert!(!cfg.enrich.enabled, "off unless asked for");
        let err = cfg
            .validate()
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        for want in [
            "enrich.deadline_ms must be 1..=60000",
            "enrich.role_arn_template must be an ARN",
            "\"1234\" is not a 12-digit account id",
            "enrich.endpoints.lambda: unknown service",
        ] {
            assert!(err.contains(want), "{want}: {err}");
        }

        let mut cfg = Config::default();
        let env = |k: &str| match k {
            "HERALD_ENRICH" => Some("true".to_string()),
            "HERALD_ENRICH_ROLE_ARN_TEMPLATE" => {
                Some("arn:aws:iam::{account}:role/reader".to_string())
            }
            _ => None,
        };
        cfg.apply_env(env).expect("valid");
        assert!(cfg.enrich.enabled);
        assert_eq!(
            cfg.enrich.role_arn_template,
            "arn:aws:iam::{account}:role/reader"
        );
        let bad = cfg
            .apply_env(|k| (k == "HERALD_ENRICH").then(|| "yes please".to_string()))
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(bad.contains("HERALD_ENRICH=\"yes please\""), "{bad}");
    }

    #[test]
    fn config_text_errors_name_where_it_came_from() {
        let err = Config::from_toml(
            "[correlate]\nsettle_sec = 3\n",
            "SSM parameter /herald/config",
        )
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
        assert!(err.starts_with("SSM parameter /herald/config: "), "{err}");
        assert!(err.contains("settle_sec"), "{err}");
        let err = Config::from_toml("default_destination = \"x\"\n", "SSM parameter /p")
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            err.starts_with("SSM parameter /p: ") && err.contains("unknown destination \"x\""),
            "{err}"
        );
        let ok = Config::from_toml("[correlate]\nsettle_secs = 0\n", "SSM parameter /p");
        assert_eq!(ok.map(|c| c.correlate.settle_secs).ok(), Some(0));
    }

    #[test]
    fn environment_overrides_apply_and_name_what_is_wrong() {
        let vars: std::collections::HashMap<&str, &str> = [
            ("HERALD_SOURCE", "sqs"),
            (
                "HERALD_SQS_QUEUE_URL",
                "https://sqs.eu-west-1.amazonaws.com/111122223333/herald",
            ),
            ("HERALD_SQS_ENDPOINT", "http://127.0.0.1:5055"),
            ("HERALD_SQS_POLLERS", "8"),
            ("HERALD_BATCH_WINDOW_MS", "0"),
            ("HERALD_STORE", "dynamodb"),
            ("HERALD_DYNAMODB_TABLE", "herald-state"),
            ("HERALD_DYNAMODB_ENDPOINT", "http://127.0.0.1:8000"),
            ("HERALD_LEASE_TABLE", "herald-leases-prod"),
            ("HERALD_LISTEN", "0.0.0.0:9090"),
            ("HERALD_STATUS_LISTEN", "10.0.1.5:9091"),
            ("HERALD_EVENTS_SECRET", "s3cret"),
            ("HERALD_SHUTDOWN_TIMEOUT_SECS", "20"),
        ]
        .into();
        let mut cfg = Config::default();
        cfg.apply_env(|k| vars.get(k).map(|v| v.to_string()))
            .expect("valid");
        assert_eq!(cfg.source.kind, SourceKind::Sqs);
        assert_eq!(cfg.source.batch_window_ms, 0);
        assert_eq!(
            cfg.source.queue_url.as_deref(),
            Some("https://sqs.eu-west-1.amazonaws.com/111122223333/herald")
        );
        assert_eq!(
            cfg.source.sqs_endpoint.as_deref(),
            Some("http://127.0.0.1:5055")
        );
        assert_eq!(cfg.source.pollers, 8);
        assert_eq!(cfg.source.lease_table, "herald-leases-prod");
        assert_eq!(cfg.store.kind, StoreKind::Dynamodb);
        assert_eq!(cfg.store.table, "herald-state");
        assert_eq!(cfg.store.endpoint.as_deref(), Some("http://127.0.0.1:8000"));
        assert_eq!(cfg.server.listen, "0.0.0.0:9090");
        assert_eq!(cfg.server.status_listen.as_deref(), Some("10.0.1.5:9091"));
        assert_eq!(
            cfg.server.events_secret.as_ref().map(|s| s.expose()),
            Some("s3cret")
        );
        assert_eq!(cfg.server.shutdown_timeout_secs, 20);

        // Wrong values name the variable; a source without what it needs says so.
        let bad: std::collections::HashMap<&str, &str> = [
            ("HERALD_SOURCE", "carrier-pigeon"),
            ("HERALD_SQS_POLLERS", "many"),
            ("HERALD_STORE", "postgres"),
            ("HERALD_LISTEN", "0.0.0.0:9090"),
            ("HERALD_STATUS_LISTEN", "0.0.0.0:9090"),
        ]
        .into();
        let err = Config::default()
            .apply_env(|k| bad.get(k).map(|v| v.to_string()))
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        for want in [
            "HERALD_SOURCE=\"carrier-pigeon\"",
            "HERALD_SQS_POLLERS=\"many\" is not a number",
            "HERALD_STORE=\"postgres\"",
            "server.status_listen is the same address as server.listen",
        ] {
            assert!(err.contains(want), "{want}: {err}");
        }
        let err = Config::default()
            .apply_env(|k| (k == "HERALD_SOURCE").then(|| "sqs".to_string()))
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains("source.queue_url is required"), "{err}");
    }

    #[test]
    fn the_batching_window_defaults_to_half_a_second_and_is_bounded() {
        let c = Config::from_toml("[source]\n", "t.toml").expect("defaults");
        assert_eq!(c.source.batch_window_ms, 500);
        let c = Config::from_toml("[source]\nbatch_window_ms = 0\n", "t.toml").expect("zero");
        assert_eq!(c.source.batch_window_ms, 0);
        let err = Config::from_toml("[source]\nbatch_window_ms = 60000\n", "t.toml")
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            err.contains("source.batch_window_ms must be 0..=10000, not 60000"),
            "{err}"
        );
    }

    #[test]
    fn unknown_fields_are_rejected() {
        let r: Result<Config, _> = toml::from_str("[correlate]\nsettle_sec = 3\n");
        assert!(r.is_err());
    }
}
