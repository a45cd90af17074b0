//! Enrichment: what the events did not say, asked of the AWS APIs (and git providers) between
//! correlate and route, for threads about to be delivered. Best effort and under a deadline: a
//! failed or slow call makes a thinner message, never a late or lost one.
//!
//! One source of facts per module: [`codepipeline`] (source revision, trigger, every action
//! execution), [`codebuild`] (failed phase, log location, log tail through CloudWatch Logs),
//! [`codedeploy`] (error information, failed targets' lifecycle diagnostics), [`git`] (commit
//! author). [`accounts`] runs each call in the event's own account and region through an assumed
//! role, and names accounts.
//!
//! What was learned is an [`Enrichment`], a plain serde value the caller keeps in the thread's
//! store item, so a redelivery or another worker applies it without calling again.

pub mod accounts;
mod calls;
pub mod codebuild;
pub mod codedeploy;
pub mod codepipeline;
pub mod excerpt;
pub mod git;

pub use crate::notification::enrichment::{
    apply, failure_fingerprint, ActionDetail, BuildDetail, DeploymentDetail, Enrichment,
    TailLimits, TargetFailure,
};
pub use calls::{Api, CallError, Ctx, Outcome, RequestCount, Stats};

use crate::correlate::{Body, Thread};
use crate::notification::enrichment::merge_commit;
use crate::notification::{status, Commit, Kind, Notification};
use serde::Deserialize;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

// ---------------------------------------------------------------------------------------------
// Config

/// `[enrich]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EnrichConfig {
    /// Off by default: local runs (`demo`, `replay`) must not call AWS. With it off, only the
    /// `aliases` map is applied.
    pub enabled: bool,
    /// Everything enrichment does for one delivery, in total.
    pub deadline_ms: u64,
    /// One API call (its retries included), never past the deadline.
    pub call_timeout_ms: u64,
    /// Attempts per API call (1 = no retry).
    pub max_attempts: u32,
    /// Log lines kept from the end of a failed build's log or a deployment's diagnostics.
    pub log_lines: usize,
    /// Longer lines are cut (a minified bundle must not eat the whole tail).
    pub log_line_max_chars: usize,
    /// The kept tail in total, at most; chat renderers cut further to their own limits.
    pub log_tail_max_chars: usize,
    /// Failed deployment targets inspected per deployment.
    pub max_failed_targets: usize,
    /// The role assumed in the event's account; `{account}` is replaced. Empty: use Herald's
    /// own credentials everywhere (single-account setups).
    pub role_arn_template: String,
    /// Per-account role ARNs (an empty value: Herald's own credentials for that account).
    pub role_overrides: BTreeMap<String, String>,
    /// Only these accounts get calls; empty: every account.
    pub allowed_accounts: Vec<String>,
    /// `ExternalId` for `AssumeRole`, if the member roles require one.
    pub external_id: Option<String>,
    pub session_name: String,
    /// Lifetime asked for assumed credentials (900..=43200, within the role's maximum).
    pub session_duration_secs: i32,
    /// Assumed credentials are renewed this long before they expire.
    pub refresh_before_secs: u64,
    /// Account id -> name shown in messages.
    pub aliases: BTreeMap<String, String>,
    /// Also name accounts from AWS Organizations `ListAccounts` (needs
    /// `organizations:ListAccounts` for Herald's own role).
    pub organizations: bool,
    pub aliases_refresh_secs: u64,
    /// Endpoint overrides by service: `sts`, `codepipeline`, `codebuild`, `codedeploy`,
    /// `logs`, `organizations` (VPC endpoints, emulators).
    pub endpoints: BTreeMap<String, String>,
    pub git: git::GitConfig,
}

impl Default for EnrichConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            deadline_ms: 3_000,
            call_timeout_ms: 2_000,
            max_attempts: 2,
            log_lines: 20,
            log_line_max_chars: 300,
            log_tail_max_chars: 3_000,
            max_failed_targets: 25,
            role_arn_template: "arn:aws:iam::{account}:role/herald-reader".into(),
            role_overrides: BTreeMap::new(),
            allowed_accounts: Vec::new(),
            external_id: None,
            session_name: "herald-enrich".into(),
            session_duration_secs: 3_600,
            refresh_before_secs: 300,
            aliases: BTreeMap::new(),
            organizations: false,
            aliases_refresh_secs: 3_600,
            endpoints: BTreeMap::new(),
            git: git::GitConfig::default(),
        }
    }
}

const ENDPOINT_KEYS: [&str; 6] = [
    "sts",
    "codepipeline",
    "codebuild",
    "codedeploy",
    "logs",
    "organizations",
];

impl EnrichConfig {
    /// Everything wrong with this section, for `check-config`.
    pub fn problems(&self) -> Vec<String> {
        let mut e = Vec::new();
        if self.deadline_ms == 0 || self.deadline_ms > 60_000 {
            e.push(format!(
                "enrich.deadline_ms must be 1..=60000, not {}",
                self.deadline_ms
            ));
        }
        if self.call_timeout_ms == 0 {
            e.push("enrich.call_timeout_ms must be > 0".into());
        }
        if !(1..=5).contains(&self.max_attempts) {
            e.push(format!(
                "enrich.max_attempts must be 1..=5, not {}",
                self.max_attempts
            ));
        }
        if !(1..=500).contains(&self.log_lines) {
            e.push(format!(
                "enrich.log_lines must be 1..=500, not {}",
                self.log_lines
            ));
        }
        if self.log_line_max_chars < 20 || self.log_tail_max_chars < self.log_line_max_chars {
            e.push(
                "enrich.log_line_max_chars must be >= 20 and <= enrich.log_tail_max_chars".into(),
            );
        }
        if !(900..=43_200).contains(&self.session_duration_secs) {
            e.push(format!(
                "enrich.session_duration_secs must be 900..=43200, not {}",
                self.session_duration_secs
            ));
        }
        if self.refresh_before_secs >= u64::try_from(self.session_duration_secs).unwrap_or(0) {
            e.push("enrich.refresh_before_secs must be shorter than the session".into());
        }
        let t = &self.role_arn_template;
        let usable = t.is_empty() || (t.starts_with("arn:") && t.contains("{account}"));
        if !usable {
            e.push(format!(
                "enrich.role_arn_template must be an ARN containing {{account}}, not {:?}",
                self.role_arn_template
            ));
        }
        for a in self
            .allowed_accounts
            .iter()
            .chain(self.role_overrides.keys())
            .chain(self.aliases.keys())
        {
            if a.len() != 12 || !a.bytes().all(|b| b.is_ascii_digit()) {
                e.push(format!("enrich: {a:?} is not a 12-digit account id"));
            }
        }
        for k in self.endpoints.keys() {
            if !ENDPOINT_KEYS.contains(&k.as_str()) {
                e.push(format!(
                    "enrich.endpoints.{k}: unknown service (one of {})",
                    ENDPOINT_KEYS.join(", ")
                ));
            }
        }
        e
    }

    fn deadline(&self) -> Duration {
        Duration::from_millis(self.deadline_ms)
    }

    pub(crate) fn timeouts(&self) -> aws_config::timeout::TimeoutConfig {
        let d = Duration::from_millis(self.call_timeout_ms);
        aws_config::timeout::TimeoutConfig::builder()
            .connect_timeout(d)
            .operation_attempt_timeout(d)
            .operation_timeout(d)
            .build()
    }

    pub(crate) fn retries(&self) -> aws_config::retry::RetryConfig {
        aws_config::retry::RetryConfig::standard()
            .with_max_attempts(self.max_attempts.max(1))
            .with_initial_backoff(Duration::from_millis(100))
    }

    fn limits(&self) -> TailLimits {
        TailLimits {
            lines: self.log_lines,
            line_chars: self.log_line_max_chars,
            total_chars: self.log_tail_max_chars,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Errors

/// Why an [`Enricher`] cannot be built. Calls never fail enrichment as a whole: each failed
/// call is a [`CallError`], counted and left out of the message.
#[derive(Debug, thiserror::Error)]
pub enum EnrichError {
    /// The `[enrich]` section cannot be used (a missing secret, a bad value): reject at start.
    #[error("enrich: {0}")]
    Config(String),
}

// ---------------------------------------------------------------------------------------------
// What a notification needs

/// What one notification lacks that the APIs could tell. Pure: from the notification, the
/// thread, and what is already known.
#[derive(Debug, Clone, Default, PartialEq)]
struct Wants {
    /// (pipeline, execution id) for `GetPipelineExecution`.
    execution: Option<(String, String)>,
    /// (pipeline, execution id, failure fingerprint) for `ListActionExecutions`.
    actions: Option<(String, String, String)>,
    builds: Vec<codebuild::BuildWant>,
    deployments: Vec<String>,
    /// (application, deployment group) for `GetDeploymentGroup`: the alarms watching it.
    group: Option<(String, String)>,
    author: Option<git::Lookup>,
    alias: bool,
}

impl Wants {
    fn is_empty(&self) -> bool {
        self.execution.is_none()
            && self.actions.is_none()
            && self.builds.is_empty()
            && self.deployments.is_empty()
            && self.group.is_none()
            && self.author.is_none()
            && !self.alias
    }
}

fn is_deployment_id(s: &str) -> bool {
    s.starts_with("d-") && s.len() > 4 && !s.contains(':')
}

fn is_build_id(s: &str) -> bool {
    s.split_once(':')
        .is_some_and(|(p, u)| !p.is_empty() && !u.is_empty() && !u.contains(':'))
}

struct Planner<'a> {
    thread: &'a Thread,
    note: &'a Notification,
    known: &'a Enrichment,
    git: Option<&'a git::Git>,
    org_aliases: bool,
}

impl Planner<'_> {
    fn wants(&self) -> Wants {
        let n = self.note;
        let k = self.known;
        let mut w = Wants {
            alias: n.account_alias.is_none() && k.alias.is_none() && self.org_aliases,
            ..Wants::default()
        };
        let failed = n.status == status::FAILED && n.failure.is_some();
        // A CodeDeploy deployment, whatever its state: its group's alarms, once.
        if let (Kind::Deployment, Some(a), Some(g), None) = (
            n.kind,
            n.application.as_ref(),
            n.deployment_group.as_ref(),
            &k.group_alarms,
        ) {
            w.group = Some((a.clone(), g.clone()));
        }
        if let (Kind::Pipeline, Some(p), Some(x)) =
            (n.kind, n.pipeline.as_ref(), n.execution_id.as_ref())
        {
            let lacks_commit = n
                .commit
                .as_ref()
                .is_none_or(|c| c.id.is_none() || c.message.is_none());
            if (lacks_commit || n.trigger.is_none()) && !k.commit_done {
                w.execution = Some((p.clone(), x.clone()));
            }
            if failed {
                let fp = failure_fingerprint(n).unwrap_or_default();
                if k.actions_for.as_deref() != Some(fp.as_str()) {
                    w.actions = Some((p.clone(), x.clone(), fp));
                }
            }
            w.author = self.author_lookup();
        }
        if failed {
            let mut builds = BTreeSet::new();
            let mut deployments = BTreeSet::new();
            if let Some(f) = &n.failure {
                for a in &f.actions {
                    let Some(id) = a.external_id.as_deref() else {
                        continue;
                    };
                    if is_deployment_id(id) {
                        deployments.insert(id.to_owned());
                    } else if is_build_id(id)
                        && a.provider.as_deref().is_none_or(|p| p == "CodeBuild")
                    {
                        builds.insert(id.to_owned());
                    }
                }
            }
            // Actions only the action list named (their events never arrived), in the stage
            // that failed.
            let stage = n.failure.as_ref().and_then(|f| f.stage.as_deref());
            for a in k
                .actions
                .iter()
                .filter(|a| stage.is_none_or(|s| s == a.stage))
            {
                if let Some(id) = a.external_id.as_deref() {
                    if is_deployment_id(id) {
                        deployments.insert(id.to_owned());
                    } else if a.provider.as_deref() == Some("CodeBuild") && is_build_id(id) {
                        builds.insert(id.to_owned());
                    }
                }
            }
            if n.kind == Kind::Build {
                if let Some(id) = &n.build_id {
                    builds.insert(id.clone());
                }
            }
            if n.kind == Kind::Deployment {
                if let Some(id) = &n.deployment_id {
                    deployments.insert(id.clone());
                }
            }
            w.builds = builds
                .into_iter()
                .filter(|id| !k.builds.get(id).is_some_and(BuildDetail::complete))
                .map(|id| {
                    let (log_group, log_stream) = self.log_hint(&id);
                    codebuild::BuildWant {
                        build_id: id,
                        log_group,
                        log_stream,
                    }
                })
                .collect();
            w.deployments = deployments
                .into_iter()
                .filter(|id| {
                    !k.deployments
                        .get(id)
                        .is_some_and(DeploymentDetail::complete)
                })
                .collect();
        }
        w
    }

    /// The log group and stream the build events named.
    fn log_hint(&self, build_id: &str) -> (Option<String>, Option<String>) {
        match &self.thread.body {
            Body::Pipeline(p) => p
                .builds
                .get(build_id)
                .map(|b| (b.log_group.clone(), b.log_stream.clone()))
                .unwrap_or_default(),
            _ => (None, None),
        }
    }

    /// The commit to ask a git provider about, when its author is unknown.
    fn author_lookup(&self) -> Option<git::Lookup> {
        let g = self.git?;
        let n = self.note;
        let mine = self.known.commit.as_ref();
        let theirs = n.commit.as_ref();
        let has_author = theirs.is_some_and(|c| c.author.is_some() || c.author_email.is_some())
            || mine.is_some_and(|c| c.author.is_some() || c.author_email.is_some());
        if has_author {
            return None;
        }
        let pick = |f: fn(&Commit) -> Option<&String>| {
            theirs
                .and_then(f)
                .or_else(|| mine.and_then(f))
                .map(String::as_str)
        };
        let sha = pick(|c| c.id.as_ref())?;
        if self.known.author_done_for.as_deref() == Some(sha) {
            return None;
        }
        let repository = match &self.thread.body {
            Body::Pipeline(p) => p
                .actions
                .values()
                .filter_map(|a| a.commit.as_ref())
                .chain(p.trigger.as_ref().and_then(|t| t.commit.as_ref()))
                .find_map(|c| c.repository.clone()),
            _ => None,
        };
        let l = git::Lookup::find(
            pick(|c| c.provider.as_ref()),
            repository.as_deref(),
            pick(|c| c.url.as_ref()),
            sha,
        )?;
        g.serves(l.provider).then_some(l)
    }
}

// ---------------------------------------------------------------------------------------------
// The enricher

/// Enriches notifications with what the AWS APIs and git providers know. Cheap to share
/// (`Arc`); clients and credentials are cached inside.
pub struct Enricher {
    cfg: EnrichConfig,
    accounts: accounts::Accounts,
    git: Option<git::Git>,
    stats: Arc<Stats>,
}

impl Enricher {
    /// `base` supplies Herald's own credentials (used to assume the reader roles), the default
    /// region and any endpoint override.
    pub fn new(cfg: EnrichConfig, base: &aws_config::SdkConfig) -> Result<Self, EnrichError> {
        let problems = cfg.problems();
        if !problems.is_empty() {
            return Err(EnrichError::Config(problems.join("; ")));
        }
        let stats = Arc::new(Stats::default());
        let git = git::Git::new(&cfg.git, base)?;
        Ok(Self {
            accounts: accounts::Accounts::new(&cfg, base, stats.clone()),
            git,
            stats,
            cfg,
        })
    }

    /// The account aliases of `cfg` and nothing else: never an AWS call (`replay`, `demo`).
    /// `None` when there are none.
    pub fn aliases_only(cfg: &EnrichConfig) -> Result<Option<Self>, EnrichError> {
        if cfg.aliases.is_empty() {
            return Ok(None);
        }
        let cfg = EnrichConfig {
            enabled: false,
            organizations: false,
            aliases: cfg.aliases.clone(),
            ..EnrichConfig::default()
        };
        let offline = aws_config::SdkConfig::builder()
            .behavior_version(aws_config::BehaviorVersion::latest())
            .build();
        Self::new(cfg, &offline).map(Some)
    }

    pub fn config(&self) -> &EnrichConfig {
        &self.cfg
    }

    /// Calls made, by API and outcome.
    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    pub fn accounts(&self) -> &accounts::Accounts {
        &self.accounts
    }

    /// Self-healing of a stalled pipeline execution: what `GetPipelineExecution` in its own
    /// account says now, as the event that would have said it (its state, at `now`), so it is
    /// applied like any event. `None` when enrichment is off, the account is not one Herald may
    /// ask, the call fails, or AWS says it is still running (then the stall stands). A failure
    /// it reports is then explained by the usual enrichment (`ListActionExecutions`).
    pub async fn heal(&self, thread: &Thread, now: i64) -> Option<Vec<crate::event::Event>> {
        let crate::correlate::Body::Pipeline(p) = &thread.body else {
            return None;
        };
        if !self.cfg.enabled || self.accounts.check(&p.account).is_err() {
            return None;
        }
        let ctx = Ctx {
            stats: self.stats.clone(),
            deadline: Instant::now() + self.cfg.deadline(),
            call_timeout: Duration::from_millis(self.cfg.call_timeout_ms),
        };
        let c = self.accounts.clients(&p.account, &p.region);
        let info = match codepipeline::get_execution(&ctx, &c, &p.pipeline, &p.execution_id).await {
            Ok(i) => i,
            Err(e) => {
                tracing::info!(pipeline = %p.pipeline, execution = %p.execution_id, error = ?e, "cannot ask how a stalled execution is");
                return None;
            }
        };
        let state = match info.status.as_deref()? {
            "Succeeded" => "SUCCEEDED",
            "Failed" => "FAILED",
            "Stopped" => "STOPPED",
            "Superseded" => "SUPERSEDED",
            "Cancelled" => "CANCELED",
            _ => return None,
        };
        tracing::info!(pipeline = %p.pipeline, execution = %p.execution_id, state, "a stalled execution healed from GetPipelineExecution");
        let meta = |time: i64| crate::event::Meta {
            id: Some(format!("herald-heal-{}-{now}", p.execution_id)),
            account: p.account.clone(),
            region: p.region.clone(),
            time: chrono::DateTime::from_timestamp(time, 0),
        };
        // Its stages and actions as AWS says they ended, as the events that were lost would
        // have (an action's at its own time); without them, the execution's state alone.
        let mut events = match codepipeline::latest_actions(&ctx, &c, &p.pipeline, &p.execution_id)
            .await
        {
            Ok(actions) => {
                let succeeded = state == "SUCCEEDED";
                codepipeline::healed_stages(
                    &p.pipeline,
                    &p.execution_id,
                    &actions,
                    succeeded,
                    now,
                    &meta,
                )
            }
            Err(e) => {
                tracing::info!(pipeline = %p.pipeline, execution = %p.execution_id, error = ?e, "cannot list a healed execution's actions");
                Vec::new()
            }
        };
        events.push(crate::event::Event::PipelineExecution(
            crate::event::PipelineExecution {
                meta: meta(now),
                pipeline: p.pipeline.clone(),
                execution_id: p.execution_id.clone(),
                state: state.into(),
                trigger: None,
                start_time: None,
                stop_comments: None,
                failed_stage: None,
                failed_actions: Vec::new(),
            },
        ));
        Some(events)
    }

    /// Adds to `note` what the APIs know and the events did not say, within the deadline.
    ///
    /// Calls are made only for notifications that have a failure or lack a commit, and only
    /// for what `cached` (the [`Enrichment`] stored with the thread) does not cover; what it
    /// covers is applied without calling. Returns the new [`Enrichment`] when it learned
    /// something (the caller stores it with the thread), `None` when there is nothing new.
    pub async fn enrich(
        &self,
        key: &str,
        thread: &Thread,
        note: &mut Notification,
        cached: Option<&Enrichment>,
    ) -> Option<Enrichment> {
        let started = Instant::now();
        let deadline = started + self.cfg.deadline();
        let before = cached.cloned().unwrap_or_default();
        let mut e = before.clone();
        if e.alias.is_none() {
            e.alias = self.accounts.fixed_alias(&note.account);
        }
        if self.cfg.enabled && self.accounts.check(&note.account).is_ok() {
            let w = Planner {
                thread,
                note,
                known: &e,
                git: self.git.as_ref(),
                org_aliases: self.cfg.organizations,
            }
            .wants();
            if !w.is_empty() {
                let ctx = Ctx {
                    stats: self.stats.clone(),
                    deadline,
                    call_timeout: Duration::from_millis(self.cfg.call_timeout_ms),
                };
                // Every call is bounded by the deadline already; this bounds the rest (lock
                // waits, the second phase) so delivery is never held past it.
                let work = self.fetch(&ctx, thread, note, w, &mut e);
                if tokio::time::timeout_at(deadline, work).await.is_err() {
                    tracing::debug!(thread = key, "enrichment stopped at its deadline");
                }
            }
        }
        apply(&e, note);
        tracing::debug!(
            thread = key,
            elapsed_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
            "enriched"
        );
        (e != before).then_some(e)
    }

    async fn fetch(
        &self,
        ctx: &Ctx,
        thread: &Thread,
        note: &Notification,
        w: Wants,
        e: &mut Enrichment,
    ) {
        let (account, region) = (note.account.as_str(), note.region.as_str());
        let c = self.accounts.clients(account, region);
        let limits = self.cfg.limits();
        let max_targets = self.cfg.max_failed_targets;

        // Phase 1: everything known to be needed, concurrently.
        let exec = async {
            match &w.execution {
                Some((p, x)) => Some(codepipeline::get_execution(ctx, &c, p, x).await),
                None => None,
            }
        };
        let actions = async {
            match &w.actions {
                Some((p, x, _)) => Some(codepipeline::failed_actions(ctx, &c, p, x).await),
                None => None,
            }
        };
        let builds = async {
            if w.builds.is_empty() {
                None
            } else {
                Some(
                    codebuild::fetch(ctx, &c, region, account, &w.builds, &e.builds, &limits).await,
                )
            }
        };
        let deployments = futures::future::join_all(w.deployments.iter().map(|id| {
            let known = e.deployments.get(id);
            let c = &c;
            async move {
                (
                    id.clone(),
                    codedeploy::fetch(ctx, c, id, known, max_targets, &limits).await,
                )
            }
        }));
        let author = async {
            match (&w.author, &self.git) {
                (Some(l), Some(g)) => Some((l.sha.clone(), g.author(ctx, l).await)),
                _ => None,
            }
        };
        let alias = async {
            if w.alias {
                self.accounts.alias(account, ctx).await
            } else {
                None
            }
        };
        let group = async {
            match &w.group {
                Some((a, g)) => Some(codedeploy::group_alarms(ctx, &c, a, g).await),
                None => None,
            }
        };
        let (exec, actions, builds, deployments, author, alias, group) =
            tokio::join!(exec, actions, builds, deployments, author, alias, group);
        match group {
            Some(Ok(names)) => e.group_alarms = Some(names),
            // No such group: asking again will not find it.
            Some(Err(err)) if err.outcome == Outcome::NotFound => e.group_alarms = Some(Vec::new()),
            _ => {}
        }

        if let Some(a) = alias {
            e.alias = Some(a);
        }
        match exec {
            Some(Ok(x)) => {
                e.commit_done = x.settled();
                if let Some(c) = x.commit {
                    merge_commit(&mut e.commit, c);
                }
                e.trigger = x.trigger.or(e.trigger.take());
            }
            // No such execution (or pipeline): asking again will not find it.
            Some(Err(err)) if err.outcome == Outcome::NotFound => e.commit_done = true,
            _ => {}
        }
        let listed_for = w.actions.as_ref().map(|(_, _, fp)| fp.clone());
        match actions {
            Some(Ok(list)) => {
                e.actions = list;
                e.actions_for = listed_for;
            }
            Some(Err(err)) if err.outcome == Outcome::NotFound => e.actions_for = listed_for,
            _ => {}
        }
        if let Some(b) = builds {
            e.builds.extend(b);
        }
        e.deployments.extend(deployments);
        if let Some((sha, res)) = author {
            record_author(e, &sha, res);
        }

        // Phase 2: what phase 1 revealed (actions whose events never arrived, the commit the
        // execution names), in the time that is left.
        let mut with_known = note.clone();
        apply(e, &mut with_known);
        let w2 = Planner {
            thread,
            note: &with_known,
            known: e,
            git: self.git.as_ref(),
            org_aliases: false,
        }
        .wants();
        let new_builds: Vec<codebuild::BuildWant> = w2
            .builds
            .into_iter()
            .filter(|b| !e.builds.contains_key(&b.build_id))
            .collect();
        let new_deployments: Vec<String> = w2
            .deployments
            .into_iter()
            .filter(|d| !e.deployments.contains_key(d))
            .collect();
        let author2 = w2.author.filter(|l| w.author.as_ref() != Some(l));
        if new_builds.is_empty() && new_deployments.is_empty() && author2.is_none() {
            return;
        }
        let builds = async {
            if new_builds.is_empty() {
                None
            } else {
                Some(
                    codebuild::fetch(ctx, &c, region, account, &new_builds, &e.builds, &limits)
                        .await,
                )
            }
        };
        let deployments = futures::future::join_all(new_deployments.iter().map(|id| {
            let c = &c;
            async move {
                (
                    id.clone(),
                    codedeploy::fetch(ctx, c, id, None, max_targets, &limits).await,
                )
            }
        }));
        let author = async {
            match (&author2, &self.git) {
                (Some(l), Some(g)) => Some((l.sha.clone(), g.author(ctx, l).await)),
                _ => None,
            }
        };
        let (builds, deployments, author) = tokio::join!(builds, deployments, author);
        if let Some(b) = builds {
            e.builds.extend(b);
        }
        e.deployments.extend(deployments);
        if let Some((sha, res)) = author {
            record_author(e, &sha, res);
        }
    }
}

fn record_author(e: &mut Enrichment, sha: &str, res: Result<Option<git::Author>, CallError>) {
    match res {
        Ok(found) => {
            e.author_done_for = Some(sha.to_owned());
            if let Some(a) = found {
                let c = e.commit.get_or_insert_with(|| Commit {
                    id: Some(sha.to_owned()),
                    ..Commit::default()
                });
                if c.id.as_deref().is_none_or(|id| id == sha) {
                    c.id = Some(sha.to_owned());
                    c.author = c.author.take().or(a.name);
                    c.author_email = c.author_email.take().or(a.email);
                }
            }
        }
        Err(e2) if e2.outcome == Outcome::NotFound => e.author_done_for = Some(sha.to_owned()),
        Err(_) => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_problems_name_the_field() {
        let cfg = EnrichConfig {
            deadline_ms: 0,
            allowed_accounts: vec!["12".into()],
            endpoints: [("s3".to_string(), "http://x".to_string())].into(),
            ..EnrichConfig::default()
        };
        let p = cfg.problems().join("\n");
        assert!(p.contains("enrich.deadline_ms"), "{p}");
        assert!(p.contains("\"12\""), "{p}");
        assert!(p.contains("enrich.endpoints.s3"), "{p}");
        assert!(EnrichConfig::default().problems().is_empty());
        let parsed: Result<EnrichConfig, _> = toml::from_str("nope = 1");
        assert!(parsed.is_err(), "unknown fields are errors");
    }

    /// `enrich` runs inside spawned tasks: its future must be `Send` (checked at compile time).
    #[allow(dead_code)]
    fn enrich_is_send(e: &Enricher, t: &Thread, n: &mut Notification) {
        fn send<T: Send>(_: &T) {}
        let f = e.enrich("k", t, n, None);
        send(&f);
    }

    #[test]
    fn the_readme_example_is_a_valid_config() {
        let readme = include_str!("../../README.md");
        let start = readme
            .find("```toml\n[enrich]")
            .expect("README has the example");
        let body = &readme[start + "```toml\n".len()..];
        let body = &body[..body.find("```").expect("closed")];
        let mut doc: toml::Table = toml::from_str(body).expect("README example parses");
        let cfg: EnrichConfig = doc
            .remove("enrich")
            .expect("[enrich]")
            .try_into()
            .expect("README example is an EnrichConfig");
        assert!(cfg.enabled);
        assert_eq!(cfg.problems(), Vec::<String>::new());
        assert!(cfg.git.github.is_some() && cfg.git.bitbucket.is_some());
    }
}
