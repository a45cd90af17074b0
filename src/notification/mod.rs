//! The notification model: what one chat message says about one thread, independent of any
//! chat provider. Correlation produces it, routing matches on its JSON form, renderers turn it
//! into Slack blocks, Discord embeds, Teams cards or plain text.

pub mod action;
pub mod enrichment;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Statuses a notification can have (upper case, as chat users read them).
pub mod status {
    pub const STARTED: &str = "STARTED";
    pub const IN_PROGRESS: &str = "IN_PROGRESS";
    pub const WAITING_FOR_APPROVAL: &str = "WAITING_FOR_APPROVAL";
    pub const SUCCEEDED: &str = "SUCCEEDED";
    pub const FAILED: &str = "FAILED";
    pub const STOPPED: &str = "STOPPED";
    pub const SUPERSEDED: &str = "SUPERSEDED";
    pub const CANCELED: &str = "CANCELED";
    pub const ROLLED_BACK: &str = "ROLLED_BACK";
    /// A CodeDeploy blue/green deployment waiting for someone to reroute traffic.
    pub const READY: &str = "READY";
    pub const ALARM: &str = "ALARM";
    pub const OK: &str = "OK";
    /// An ECS service's task crashed; the service is replacing it.
    pub const RECOVERING: &str = "RECOVERING";
    /// `[ecs] crash_loop_count` crashes within `crash_loop_window_secs`.
    pub const CRASH_LOOP: &str = "CRASH_LOOP";
    /// The service reached a steady state and no crash followed for `recovered_after_secs`.
    pub const RECOVERED: &str = "RECOVERED";
    /// AWS Health: an issue under way, one scheduled, one over.
    pub const OPEN: &str = "OPEN";
    pub const UPCOMING: &str = "UPCOMING";
    pub const CLOSED: &str = "CLOSED";
}

/// What a thread is about. The serialised names are the `kind` values routing rules match.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    Pipeline,
    EcsDeployment,
    /// An ECS service's crash episode (tasks crashing outside a deployment).
    EcsService,
    /// A change of an ECS service's desired count (CloudTrail `UpdateService`).
    EcsScaling,
    /// An AWS Health event (one per event ARN).
    Health,
    Alarm,
    Build,
    Deployment,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Pipeline => "pipeline",
            Kind::EcsDeployment => "ecs_deployment",
            Kind::EcsService => "ecs_service",
            Kind::EcsScaling => "ecs_scaling",
            Kind::Health => "health",
            Kind::Alarm => "alarm",
            Kind::Build => "build",
            Kind::Deployment => "deployment",
        }
    }
}

/// The revision a thread is about: the same [`Commit`] events tell (its `repository` is kept
/// out of notifications; enrichment reads it from the thread).
pub use crate::event::Commit;

#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct StageInfo {
    pub name: String,
    pub status: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub struct FailedActionInfo {
    pub action: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_code: Option<String>,
    /// The external execution: a CodeBuild `project:uuid`, a CodeDeploy `d-...`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_url: Option<String>,
    /// The lines of the failing log that explain the failure (enrichment), oldest first: the
    /// region around its first error marker, or its last lines (see `log_region`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub log_tail: Vec<String>,
    /// Where `log_tail` is in the log, when it came from a log Herald read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_region: Option<LogRegion>,
    /// The failed test cases of the build's test reports (enrichment), at most
    /// [`TESTS_KEPT`], FAILED before ERROR, in the reports' order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tests: Vec<FailedTest>,
    /// How many test cases failed (FAILED and ERROR) across the build's test reports.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tests_failed: Option<u64>,
    /// How many test cases the build's test reports hold.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tests_total: Option<u64>,
}

/// Failed test cases kept per action: enough to show the first few in any chat, and to route on.
pub const TESTS_KEPT: usize = 20;

/// A failed test case, from CodeBuild's `DescribeTestCases`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub struct FailedTest {
    pub name: String,
    /// The suite or prefix (`Cart`, `com.example.CartTest`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suite: Option<String>,
    /// The report file the case came from (`reports/junit.xml`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    /// `FAILED` or `ERROR`.
    pub status: String,
    /// The first lines of the failure message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// Where the lines shown are in the log: "from line 1,482 of 2,310".
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub struct LogRegion {
    /// The first line shown, counted from 1 over the lines read.
    pub from_line: usize,
    /// How many lines were read (the whole log, up to the read limit).
    pub of_lines: usize,
    /// `error`: around the first error marker of the failing phase; `tail`: no marker was
    /// found, so the last lines.
    pub kind: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub struct Failure {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stage: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub actions: Vec<FailedActionInfo>,
    /// A reason not tied to one action (ECS circuit breaker, alarm reason, CodeDeploy error).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub struct ApprovalInfo {
    pub stage: String,
    pub action: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub review_link: Option<String>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        serialize_with = "crate::event::ser_time"
    )]
    pub expires: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom_data: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_link: Option<String>,
    /// The approval's token, when its SNS message said it: for Amazon Q Developer's custom
    /// actions (its `additionalContext`), never in the notification's JSON.
    #[serde(skip)]
    pub token: Option<String>,
}

/// The latest reminder of an approval still waiting.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Reminder {
    /// `waiting`: asked `waiting_secs` ago and still waiting; `expiring`: it expires within a
    /// day, at `expires`.
    pub kind: String,
    /// How long the approval had been waiting when reminded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub waiting_secs: Option<i64>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        serialize_with = "crate::event::ser_time"
    )]
    pub expires: Option<DateTime<Utc>>,
    /// When the reminder was due (Unix seconds): tells one reminder from the next.
    pub due: i64,
}

/// A task of an ECS service that crashed: stopped because an essential container exited or
/// the task failed to start, or with a container's non-zero exit code, and not by the
/// scheduler or a person.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub struct Crash {
    /// The task id (the last part of its ARN).
    pub task: String,
    /// The container that exited (non-zero first).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container: Option<String>,
    /// The container's reason, else the task's `stoppedReason`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i64>,
    /// The task event's time.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        serialize_with = "crate::event::ser_time"
    )]
    pub at: Option<DateTime<Utc>>,
}

impl Crash {
    /// As people read it: `sync: OutOfMemoryError: Container killed due to memory usage (exit
    /// 137)`.
    pub fn line(&self) -> String {
        let mut s = String::new();
        if let Some(c) = &self.container {
            s.push_str(c);
            s.push_str(": ");
        }
        s.push_str(self.reason.as_deref().unwrap_or("stopped"));
        if let Some(x) = self.exit_code {
            s.push_str(&format!(" (exit {x})"));
        }
        s
    }
}

/// What an AWS Health event says.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub struct HealthInfo {
    pub event_arn: String,
    /// The AWS service (`ECS`).
    pub service: String,
    /// `AWS_ECS_OPERATIONAL_ISSUE`.
    pub event_type_code: String,
    /// `issue`, `scheduledChange`, `accountNotification`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
    /// The accounts affected (of an organization's view; else the event's own).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub accounts: Vec<String>,
    /// AWS's latest description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Link {
    pub label: String,
    pub url: String,
}

/// One chat message's content.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Notification {
    pub kind: Kind,
    pub status: String,
    /// The story is over (modulo late details, which edit this same message).
    #[serde(rename = "final")]
    pub is_final: bool,
    pub account: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account_alias: Option<String>,
    pub region: String,
    // The thread's key fields, named as `herald inspect` names them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pipeline: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub execution_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub build_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub application: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deployment_group: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deployment_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alarm_name: Option<String>,
    pub title: String,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        serialize_with = "crate::event::ser_time"
    )]
    pub started_at: Option<DateTime<Utc>>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        serialize_with = "crate::event::ser_time"
    )]
    pub finished_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_secs: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trigger: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commit: Option<Commit>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub stages: Vec<StageInfo>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure: Option<Failure>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approval: Option<ApprovalInfo>,
    /// Non-fatal trouble seen on the way (ECS task start impaired, placement failures).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
    /// Not final, and nothing heard for the kind's stall timeout (`[correlate]
    /// pipeline_stall_secs`, `[ecs] deployment_stall_secs`); the next event clears it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub stalled: bool,
    /// The time of the stalled thread's last event.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        serialize_with = "crate::event::ser_time"
    )]
    pub stalled_since: Option<DateTime<Utc>>,
    /// An approval still waiting was reminded of (`[correlate] approval_remind_secs` after it
    /// was asked, and a day before it expires).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reminder: Option<Reminder>,
    /// How long it had heard nothing when it was marked stalled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stalled_for_secs: Option<i64>,
    /// Who started the deployment or changed the service (from the API call CloudTrail
    /// recorded): an IAM user's name, an assumed role's session name, or the AWS service.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub principal: Option<String>,
    /// The AWS service that made that call (`ecs.application-autoscaling.amazonaws.com`): a rule
    /// can route or drop autoscaling's changes with `invoked_by~autoscaling`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invoked_by: Option<String>,
    /// The desired count an `ecs_scaling` thread asked for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub desired_count: Option<i64>,
    /// How many tasks of the service crashed: during an ECS deployment, on its message; in an
    /// `ecs_service` episode, that episode's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crashes: Option<u32>,
    /// The latest of those crashes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_crash: Option<Crash>,
    /// An AWS Health event's details (kind `health`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health: Option<HealthInfo>,
    /// Whether production stayed healthy after a deployment that succeeded (`[verdicts]
    /// watch_secs`): `WATCHING` during the window, then `HEALTHY` or `UNHEALTHY`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verdict: Option<Verdict>,
    /// On a deployment: the alarms watching its target that were in ALARM before it, fired
    /// while it ran, or fired in its watch window.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub alarms: Vec<DeployAlarm>,
    /// On an alarm: the recent deployment of what it watches.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deployment: Option<DeploymentRef>,
    /// On a deployment: the AWS Health issues of a service it uses, in its account and region,
    /// open while it ran.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub aws_health: Vec<HealthIssue>,
    /// On an alarm that fired while what it watches was deploying: why it is not posted as a
    /// message of its own (it is told on the deployment's message). Only rules with
    /// `inhibit = false` route a held notification.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub held: Option<Held>,
    /// What a person can do from the message in the thread's state now (see
    /// [`crate::correlate::act`]): `approve`, `reject`, `retry_stage`, `stop_pipeline`,
    /// `continue_deployment`, `stop_deployment`, `terminate_old`, `mute`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub actions: Vec<ActionOffer>,
    /// What people did from the message, oldest first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub acted: Vec<ActionTaken>,
    /// An alarm muted from its message: its news is not replied until it goes OK or `until`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub muted: Option<Muted>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub links: Vec<Link>,
}

/// Something a person can do from a message (see [`Notification::actions`]).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ActionOffer {
    /// The action's id, as `[[actions.allow]]` names it.
    pub id: String,
    /// The button's text.
    pub label: String,
    /// `primary`, `danger` or `default`.
    pub style: String,
}

/// What a person did from a message (see [`Notification::acted`]).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ActionTaken {
    /// The action's id.
    pub action: String,
    /// Who: the chat user (`<@U123>` style ids are rendered by each provider).
    pub by: String,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        serialize_with = "crate::event::ser_time"
    )]
    pub at: Option<DateTime<Utc>>,
    /// `requested` (the call is being made), `done` (AWS accepted it) or `failed`.
    pub outcome: String,
    /// AWS's error, when it failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Who muted an alarm, and until when (see [`Notification::muted`]).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Muted {
    pub by: String,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        serialize_with = "crate::event::ser_time"
    )]
    pub until: Option<DateTime<Utc>>,
}

/// An AWS Health issue a deployment ran into (see [`Notification::aws_health`]).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct HealthIssue {
    pub event_arn: String,
    pub service: String,
    pub event_type_code: String,
    /// `OPEN` or `CLOSED` (as AWS said last).
    pub status: String,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        serialize_with = "crate::event::ser_time"
    )]
    pub since: Option<DateTime<Utc>>,
}

/// What the watch window after a deployment says (see [`Notification::verdict`]).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Verdict {
    /// `WATCHING`, `HEALTHY` or `UNHEALTHY`.
    pub status: String,
    /// The alarms the deployment is blamed for (UNHEALTHY).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub alarms: Vec<String>,
    /// How long after the deployment ended the first of them fired (0: it fired while the
    /// deployment ran and was still in ALARM when it ended).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after_secs: Option<i64>,
    /// The window watched, once it ended quiet (HEALTHY).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub watched_secs: Option<i64>,
    /// The AWS Health issues open while it ran (their event type codes): production may have
    /// suffered from AWS, not from the deploy.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub aws_health: Vec<String>,
    /// When the window ends (WATCHING).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        serialize_with = "crate::event::ser_time"
    )]
    pub until: Option<DateTime<Utc>>,
}

pub mod verdict_status {
    pub const WATCHING: &str = "WATCHING";
    pub const HEALTHY: &str = "HEALTHY";
    pub const UNHEALTHY: &str = "UNHEALTHY";
}

/// An alarm as a deployment's message tells it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct DeployAlarm {
    pub name: String,
    /// `before`: already in ALARM when the deployment started (not blamed on it); `during`:
    /// fired while it ran; `after`: fired in its watch window.
    pub phase: String,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        serialize_with = "crate::event::ser_time"
    )]
    pub fired_at: Option<DateTime<Utc>>,
    /// When it went back to OK, if it did.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        serialize_with = "crate::event::ser_time"
    )]
    pub cleared_at: Option<DateTime<Utc>>,
    /// Seconds after the deployment ended (`after`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after_secs: Option<i64>,
}

/// A deployment as an alarm's message names it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct DeploymentRef {
    /// The deployment thread's kind: `ecs_deployment`, `deployment` (CodeDeploy), `pipeline`.
    pub kind: String,
    /// What was deployed: `cluster/service`, `application/group`, the pipeline's name.
    pub target: String,
    /// The ECS deployment id, the CodeDeploy deployment id or the pipeline execution id.
    pub deployment_id: String,
    /// `IN_PROGRESS`, `SUCCEEDED` or `FAILED`.
    pub status: String,
    /// Who started it, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub by: Option<String>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        serialize_with = "crate::event::ser_time"
    )]
    pub started_at: Option<DateTime<Utc>>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        serialize_with = "crate::event::ser_time"
    )]
    pub finished_at: Option<DateTime<Utc>>,
    /// Seconds from the deployment's end (or, while it ran, its start) to the alarm firing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after_secs: Option<i64>,
    /// The alarm fired while the deployment ran.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub during: bool,
}

/// Why an alarm's notification is held (see [`Notification::held`]).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Held {
    /// `deploying`: fired while its target deploys, told if still in ALARM when that ends;
    /// `cleared_while_deploying`: fired and cleared while its target deployed; `muted`: a
    /// person muted the alarm from an earlier episode's message less than an hour before.
    pub reason: String,
    /// The deployment it is held for (empty when muted).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub deployment_id: String,
}

impl Notification {
    /// A notification of `kind` that says only its status, where and what: every other field
    /// empty, for a thread to fill (`Notification { cluster: …, ..Notification::new(…) }`).
    pub fn new(
        kind: Kind,
        status: &str,
        is_final: bool,
        account: &str,
        region: &str,
        title: String,
    ) -> Self {
        Notification {
            kind,
            status: status.to_owned(),
            is_final,
            account: account.to_owned(),
            account_alias: None,
            region: region.to_owned(),
            pipeline: None,
            execution_id: None,
            project: None,
            build_id: None,
            application: None,
            deployment_group: None,
            deployment_id: None,
            cluster: None,
            service: None,
            alarm_name: None,
            title,
            started_at: None,
            finished_at: None,
            duration_secs: None,
            trigger: None,
            commit: None,
            stages: Vec::new(),
            failure: None,
            approval: None,
            warnings: Vec::new(),
            stalled: false,
            stalled_since: None,
            reminder: None,
            stalled_for_secs: None,
            principal: None,
            invoked_by: None,
            desired_count: None,
            crashes: None,
            last_crash: None,
            health: None,
            verdict: None,
            alarms: Vec::new(),
            deployment: None,
            aws_health: Vec::new(),
            held: None,
            actions: Vec::new(),
            acted: Vec::new(),
            muted: None,
            links: Vec::new(),
        }
    }

    /// The JSON routing rules are evaluated against.
    pub fn to_value(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or(serde_json::Value::Null)
    }
}

/// Where a delivered message lives at its provider (Slack `channel`+`ts`, Discord
/// `message_id`, ...): opaque to everything but the sink that made it.
pub type MessageRef = serde_json::Value;
