//! The calls enrichment makes: which API (the `api` label), how each ended (the `outcome`
//! label), the counters, and the clock every call runs under ([`Ctx`]: its own timeout, never
//! past the enrichment deadline).

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
// Tokio's clock, so a paused test clock and the deadline agree.
use tokio::time::Instant;

/// The APIs enrichment calls: the `api` label of `herald_enrich_requests_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Api {
    AssumeRole,
    ListAccounts,
    GetPipelineExecution,
    ListActionExecutions,
    BatchGetBuilds,
    BatchGetReports,
    DescribeTestCases,
    GetLogEvents,
    GetDeployment,
    ListDeploymentTargets,
    BatchGetDeploymentTargets,
    GetDeploymentGroup,
    GitHub,
    GitLab,
    Bitbucket,
}

impl Api {
    pub const ALL: [Api; 15] = [
        Api::AssumeRole,
        Api::ListAccounts,
        Api::GetPipelineExecution,
        Api::ListActionExecutions,
        Api::BatchGetBuilds,
        Api::BatchGetReports,
        Api::DescribeTestCases,
        Api::GetLogEvents,
        Api::GetDeployment,
        Api::ListDeploymentTargets,
        Api::BatchGetDeploymentTargets,
        Api::GetDeploymentGroup,
        Api::GitHub,
        Api::GitLab,
        Api::Bitbucket,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Api::AssumeRole => "sts_assume_role",
            Api::ListAccounts => "organizations_list_accounts",
            Api::GetPipelineExecution => "codepipeline_get_pipeline_execution",
            Api::ListActionExecutions => "codepipeline_list_action_executions",
            Api::BatchGetBuilds => "codebuild_batch_get_builds",
            Api::BatchGetReports => "codebuild_batch_get_reports",
            Api::DescribeTestCases => "codebuild_describe_test_cases",
            Api::GetLogEvents => "logs_get_log_events",
            Api::GetDeployment => "codedeploy_get_deployment",
            Api::ListDeploymentTargets => "codedeploy_list_deployment_targets",
            Api::BatchGetDeploymentTargets => "codedeploy_batch_get_deployment_targets",
            Api::GetDeploymentGroup => "codedeploy_get_deployment_group",
            Api::GitHub => "github_commit",
            Api::GitLab => "gitlab_commit",
            Api::Bitbucket => "bitbucket_commit",
        }
    }

    fn index(self) -> usize {
        Api::ALL.iter().position(|a| *a == self).unwrap_or(0)
    }
}

/// How a call ended: the `outcome` label.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Outcome {
    Ok,
    /// No such build, stream, deployment or commit: settled, not asked again.
    NotFound,
    /// Access denied: the reader role lacks a permission (see the README).
    Denied,
    Throttled,
    /// Past its own timeout or the enrichment deadline.
    Timeout,
    Error,
}

impl Outcome {
    pub const ALL: [Outcome; 6] = [
        Outcome::Ok,
        Outcome::NotFound,
        Outcome::Denied,
        Outcome::Throttled,
        Outcome::Timeout,
        Outcome::Error,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::NotFound => "not_found",
            Outcome::Denied => "denied",
            Outcome::Throttled => "throttled",
            Outcome::Timeout => "timeout",
            Outcome::Error => "error",
        }
    }

    fn index(self) -> usize {
        Outcome::ALL.iter().position(|o| *o == self).unwrap_or(0)
    }
}

/// A failed call: its outcome label and a message for the debug log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallError {
    pub outcome: Outcome,
    pub message: String,
}

impl CallError {
    fn timeout() -> Self {
        Self {
            outcome: Outcome::Timeout,
            message: "deadline".into(),
        }
    }

    /// Classifies an SDK error by its kind and error code.
    pub fn from_sdk<E, R>(e: &aws_sdk_sts::error::SdkError<E, R>) -> Self
    where
        E: aws_sdk_sts::error::ProvideErrorMetadata + std::error::Error + 'static,
        R: std::fmt::Debug,
    {
        use aws_sdk_sts::error::{ProvideErrorMetadata, SdkError};
        let outcome = match e {
            SdkError::TimeoutError(_) => Outcome::Timeout,
            SdkError::DispatchFailure(d) if d.is_timeout() => Outcome::Timeout,
            SdkError::ServiceError(_) | SdkError::ResponseError(_) => {
                let code = e.code().unwrap_or("");
                if code.contains("NotFound") || code.contains("DoesNotExist") {
                    Outcome::NotFound
                } else if code.contains("AccessDenied")
                    || code.contains("Unauthorized")
                    || code == "UnrecognizedClientException"
                {
                    Outcome::Denied
                } else if code.contains("Throttl")
                    || code.contains("TooManyRequests")
                    || code.contains("RateExceeded")
                    || code.contains("LimitExceeded")
                {
                    Outcome::Throttled
                } else {
                    Outcome::Error
                }
            }
            _ => Outcome::Error,
        };
        Self {
            outcome,
            message: aws_sdk_sts::error::DisplayErrorContext(e).to_string(),
        }
    }
}

/// Requests by API and outcome, counted twice on purpose: in these atomics, per [`Enricher`]
/// (tests and the cost checks read them), and in the process-wide Prometheus counter
/// `herald_enrich_requests_total{api,outcome}` of [`crate::telemetry`], fed by
/// [`Stats::record`] as each call ends.
///
/// [`Enricher`]: super::Enricher
#[derive(Debug, Default)]
pub struct Stats {
    counts: [[AtomicU64; Outcome::ALL.len()]; Api::ALL.len()],
}

/// One row of [`Stats::snapshot`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestCount {
    pub api: &'static str,
    pub outcome: &'static str,
    pub count: u64,
}

impl Stats {
    pub fn record(&self, api: Api, outcome: Outcome) {
        self.counts[api.index()][outcome.index()].fetch_add(1, Ordering::Relaxed);
        crate::telemetry::metrics()
            .enrich_requests
            .with_label_values(&[api.as_str(), outcome.as_str()])
            .inc();
    }

    pub fn count(&self, api: Api, outcome: Outcome) -> u64 {
        self.counts[api.index()][outcome.index()].load(Ordering::Relaxed)
    }

    pub fn api_total(&self, api: Api) -> u64 {
        Outcome::ALL.iter().map(|o| self.count(api, *o)).sum()
    }

    /// Every call made, of any API and outcome.
    pub fn total(&self) -> u64 {
        Api::ALL.iter().map(|a| self.api_total(*a)).sum()
    }

    /// The non-zero counts.
    pub fn snapshot(&self) -> Vec<RequestCount> {
        let mut out = Vec::new();
        for a in Api::ALL {
            for o in Outcome::ALL {
                let count = self.count(a, o);
                if count > 0 {
                    out.push(RequestCount {
                        api: a.as_str(),
                        outcome: o.as_str(),
                        count,
                    });
                }
            }
        }
        out
    }

    /// A call whose outcome is recorded by [`Pending::done`], or as a timeout if it is dropped
    /// first (its caller gave up on it).
    pub(crate) fn pending(&self, api: Api) -> Pending<'_> {
        Pending {
            stats: self,
            api,
            done: false,
        }
    }
}

pub(crate) struct Pending<'a> {
    stats: &'a Stats,
    api: Api,
    done: bool,
}

impl Pending<'_> {
    pub(crate) fn done(mut self, outcome: Outcome) {
        self.stats.record(self.api, outcome);
        self.done = true;
    }
}

impl Drop for Pending<'_> {
    fn drop(&mut self) {
        if !self.done {
            self.stats.record(self.api, Outcome::Timeout);
        }
    }
}

/// One enrichment's clock: every call ends by the deadline.
pub struct Ctx {
    pub(crate) stats: Arc<Stats>,
    pub(crate) deadline: Instant,
    pub(crate) call_timeout: Duration,
}

impl Ctx {
    /// Runs one call under `min(call timeout, time left)` and counts its outcome.
    pub async fn call<T>(
        &self,
        api: Api,
        fut: impl Future<Output = Result<T, CallError>>,
    ) -> Result<T, CallError> {
        let now = Instant::now();
        // The very instant of the enrichment's deadline, not a duration from now: the outer bound
        // on the whole enrichment fires at that instant too, and a call timed from a later "now"
        // could be dropped by it before recording its timeout.
        let until = self.deadline.min(now + self.call_timeout);
        if until <= now {
            self.stats.record(api, Outcome::Timeout);
            return Err(CallError::timeout());
        }
        let res = match tokio::time::timeout_at(until, fut).await {
            Ok(r) => r,
            Err(_) => Err(CallError::timeout()),
        };
        let outcome = match &res {
            Ok(_) => Outcome::Ok,
            Err(e) => e.outcome,
        };
        self.stats.record(api, outcome);
        if let Err(e) = &res {
            tracing::debug!(api = api.as_str(), outcome = outcome.as_str(), error = %e.message, "enrichment call failed");
        }
        res
    }
}
