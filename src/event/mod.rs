//! The typed event model: one variant per thing AWS tells Herald, with the fields the pipeline uses.
//!
//! Names follow DESIGN.md's table; the serialised form (`kind` plus flat fields) is what
//! `herald inspect` prints and what the correlation engine and tests compare against.

mod decode;
mod time;

pub use decode::{decode, decode_append, decode_value, DecodeError};
pub use time::{parse_time, ser_opt as ser_time};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// What every event carries besides its kind-specific detail.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Meta {
    /// The envelope id (EventBridge `id`, SNS `MessageId`) where the shape has one. Documentation
    /// reuses ids across different events, so it is never used alone for deduplication.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// The account the event happened in; from the ARN when the envelope lacks it. May be masked
    /// (`000000000000`, `xxxxxxxxxxxx`) in captured samples, so it is never assumed to be digits.
    #[serde(default)]
    pub account: String,
    #[serde(default)]
    pub region: String,
    /// When it happened, UTC. Absent only for shapes that carry no time at all (a bare approval
    /// message outside its SNS wrapping).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time: Option<DateTime<Utc>>,
}

/// Every kind of event, tagged by `kind` when serialised.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Event {
    PipelineExecution(PipelineExecution),
    StageExecution(StageExecution),
    ActionExecution(ActionExecution),
    ManualApproval(ManualApproval),
    BuildState(BuildState),
    BuildPhase(BuildPhase),
    DeploymentState(DeploymentState),
    DeploymentInstance(DeploymentInstance),
    EcsTask(EcsTask),
    EcsDeployment(EcsDeployment),
    EcsServiceAction(EcsServiceAction),
    AlarmState(AlarmState),
    Health(Health),
    /// An "AWS API Call via CloudTrail" event.
    ApiCall(ApiCall),
    /// Internal: deployments of what an alarm watches (never decoded from input).
    DeployLink(DeployLink),
    Unknown(Unknown),
}

/// How a pipeline execution was started (`execution-trigger`), with the commit when the trigger
/// is a source-provider push (V2 pipelines).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Trigger {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trigger_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trigger_detail: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commit: Option<Commit>,
}

/// A source revision as far as events and APIs tell it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub struct Commit {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author_email: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub branch: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repository: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PipelineExecution {
    #[serde(flatten)]
    pub meta: Meta,
    pub pipeline: String,
    pub execution_id: String,
    pub state: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trigger: Option<Trigger>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_time: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_comments: Option<String>,
    /// CodeStar "processed" events name the failed stage and actions themselves.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failed_stage: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub failed_actions: Vec<FailedAction>,
}

/// An action named as failed by a processed event's `additionalAttributes`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FailedAction {
    pub action: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StageExecution {
    #[serde(flatten)]
    pub meta: Meta,
    pub pipeline: String,
    pub execution_id: String,
    pub stage: String,
    pub state: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub failed_actions: Vec<FailedAction>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ActionExecution {
    #[serde(flatten)]
    pub meta: Meta,
    pub pipeline: String,
    pub execution_id: String,
    pub stage: String,
    pub action: String,
    #[serde(default)]
    pub category: String,
    #[serde(default)]
    pub provider: String,
    pub state: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action_execution_id: Option<String>,
    /// The action's own region, which differs from the envelope's for cross-region actions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action_region: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_execution_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_execution_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_execution_summary: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_code: Option<String>,
    /// Parsed from a source action's summary and url (CodeStarSourceConnection's summary is
    /// itself a JSON string).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commit: Option<Commit>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ManualApproval {
    #[serde(flatten)]
    pub meta: Meta,
    pub pipeline: String,
    pub stage: String,
    pub action: String,
    pub token: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub review_link: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom_data: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_link: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub console_link: Option<String>,
}

/// A build phase as reported inside a build-state event's `phases`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PhaseOutcome {
    pub phase: String,
    pub status: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BuildState {
    #[serde(flatten)]
    pub meta: Meta,
    pub project: String,
    /// `project:uuid`, never the ARN: that is how CodePipeline reports it.
    pub build_id: String,
    pub state: String,
    /// `codepipeline/<pipeline>` when a pipeline started the build.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub initiator: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current_phase: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_time: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_link: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_group: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_stream: Option<String>,
    /// The first phase that did not succeed, with CodeBuild's context (the failing command).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failed_phase: Option<PhaseOutcome>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BuildPhase {
    #[serde(flatten)]
    pub meta: Meta,
    pub project: String,
    pub build_id: String,
    pub phase: String,
    pub phase_status: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub initiator: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_time: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_link: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeploymentState {
    #[serde(flatten)]
    pub meta: Meta,
    #[serde(default)]
    pub application: String,
    #[serde(default)]
    pub deployment_group: String,
    pub deployment_id: String,
    pub state: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_message: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeploymentInstance {
    #[serde(flatten)]
    pub meta: Meta,
    pub deployment_id: String,
    pub instance_id: String,
    pub state: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub application: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deployment_group: Option<String>,
    /// The first lifecycle event that did not succeed (CodeDeploy triggers list them).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failed_lifecycle_event: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContainerExit {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EcsTask {
    #[serde(flatten)]
    pub meta: Meta,
    pub cluster: String,
    pub task_arn: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    /// The ECS deployment that started the task (`startedBy`, `ecs-svc/...`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_by: Option<String>,
    pub last_status: String,
    pub desired_status: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stopped_reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_code: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub containers: Vec<ContainerExit>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EcsDeployment {
    #[serde(flatten)]
    pub meta: Meta,
    pub cluster: String,
    pub service: String,
    pub deployment_id: String,
    pub event_name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EcsServiceAction {
    #[serde(flatten)]
    pub meta: Meta,
    pub cluster: String,
    /// Empty for cluster-level actions (capacity provider steady state).
    #[serde(default)]
    pub service: String,
    pub event_name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlarmState {
    #[serde(flatten)]
    pub meta: Meta,
    pub alarm_name: String,
    pub state: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_state: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alarm_arn: Option<String>,
    /// The dimensions of the metrics the alarm watches (`ClusterName`, `ServiceName`,
    /// `TargetGroup`, `FunctionName`...), from its configuration in the event: what links it to
    /// what it watches (see `correlate::verdict`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub dimensions: BTreeMap<String, String>,
    /// A composite alarm's rule (`ALARM(a) OR ALARM(b)`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alarm_rule: Option<String>,
}

/// Not from AWS: what a pointer knows of the deployments of a target an alarm watches,
/// sent to the alarm's thread so its message can name the deployment and be held while it
/// runs (see `correlate::verdict`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeployLink {
    #[serde(flatten)]
    pub meta: Meta,
    pub alarm_name: String,
    /// How long after its end a deployment is watched (`[verdicts] watch_secs`).
    pub watch_secs: i64,
    pub deployments: Vec<LinkedDeploy>,
}

/// A deployment as a pointer knows it (times in Unix seconds, the events' clock).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinkedDeploy {
    /// The notification kind of its thread: `ecs_deployment`, `deployment` (CodeDeploy) or
    /// `pipeline`.
    pub kind: String,
    /// What was deployed, as people name it: `cluster/service`, `application/group`, the
    /// pipeline's name.
    pub target: String,
    /// The ECS deployment id, the CodeDeploy deployment id or the pipeline execution id.
    pub deployment_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started: Option<i64>,
    /// When it ended (completed, a rollback's completion, or failed without one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ended: Option<i64>,
    /// It failed (rolled back or not).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub failed: bool,
    /// Who started it (the API call's principal).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub by: Option<String>,
}

/// An AWS API call CloudTrail recorded (EventBridge "AWS API Call via CloudTrail"): who called
/// what. Herald reads ECS's `CreateService`, `UpdateService` and `DeleteService`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApiCall {
    #[serde(flatten)]
    pub meta: Meta,
    /// `eventSource`: `ecs.amazonaws.com`.
    pub api: String,
    /// `eventName`: `UpdateService`.
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
    /// Who called, as a person reads it: an IAM user's name, an assumed (or SSO) role's session
    /// name, `root`, or the AWS service that called (`Application Auto Scaling`).
    pub principal: String,
    /// The AWS service that made the call on someone's behalf (`userIdentity.invokedBy`:
    /// `ecs.application-autoscaling.amazonaws.com`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invoked_by: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub desired_count: Option<i64>,
    /// The task definition asked for (`family:revision`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_definition: Option<String>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub force_new_deployment: bool,
    /// The call started a deployment: AWS's answer names a PRIMARY deployment created with the
    /// call (or, where its time cannot be read, the call changes more than the desired count).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub deploys: bool,
    /// The PRIMARY deployment of the service in AWS's answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deployment_id: Option<String>,
    /// The call failed (`errorCode`): nothing changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_code: Option<String>,
    /// CloudTrail's `eventID`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Health {
    #[serde(flatten)]
    pub meta: Meta,
    pub service: String,
    pub event_type_code: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_type_category: Option<String>,
    /// `open`, `closed` or `upcoming` where AWS says; absent in older samples.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_arn: Option<String>,
    /// The account affected (an organization's view); else the envelope's account.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub affected_account: Option<String>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        serialize_with = "ser_time"
    )]
    pub start: Option<DateTime<Utc>>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        serialize_with = "ser_time"
    )]
    pub end: Option<DateTime<Utc>>,
    /// When AWS last updated the event (`lastUpdatedTime`).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        serialize_with = "ser_time"
    )]
    pub updated: Option<DateTime<Utc>>,
}

/// Well-formed but not a kind Herald acts on: counted and acked, never an error.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Unknown {
    #[serde(flatten)]
    pub meta: Meta,
    #[serde(default)]
    pub source: String,
    #[serde(default)]
    pub detail_type: String,
}

impl Event {
    pub fn meta(&self) -> &Meta {
        match self {
            Event::PipelineExecution(e) => &e.meta,
            Event::StageExecution(e) => &e.meta,
            Event::ActionExecution(e) => &e.meta,
            Event::ManualApproval(e) => &e.meta,
            Event::BuildState(e) => &e.meta,
            Event::BuildPhase(e) => &e.meta,
            Event::DeploymentState(e) => &e.meta,
            Event::DeploymentInstance(e) => &e.meta,
            Event::EcsTask(e) => &e.meta,
            Event::EcsDeployment(e) => &e.meta,
            Event::EcsServiceAction(e) => &e.meta,
            Event::AlarmState(e) => &e.meta,
            Event::Health(e) => &e.meta,
            Event::ApiCall(e) => &e.meta,
            Event::DeployLink(e) => &e.meta,
            Event::Unknown(e) => &e.meta,
        }
    }

    /// The `kind` string of the CLI, the JSON output and the `herald_events_decoded_total` label.
    pub fn kind(&self) -> &'static str {
        match self {
            Event::PipelineExecution(_) => "pipeline_execution",
            Event::StageExecution(_) => "stage_execution",
            Event::ActionExecution(_) => "action_execution",
            Event::ManualApproval(_) => "manual_approval",
            Event::BuildState(_) => "build_state",
            Event::BuildPhase(_) => "build_phase",
            Event::DeploymentState(_) => "deployment_state",
            Event::DeploymentInstance(_) => "deployment_instance",
            Event::EcsTask(_) => "ecs_task",
            Event::EcsDeployment(_) => "ecs_deployment",
            Event::EcsServiceAction(_) => "ecs_service_action",
            Event::AlarmState(_) => "alarm_state",
            Event::Health(_) => "health",
            Event::ApiCall(_) => "api_call",
            Event::DeployLink(_) => "deploy_link",
            Event::Unknown(_) => "unknown",
        }
    }

    /// The state the event reports, for kinds that have one.
    pub fn state(&self) -> Option<&str> {
        match self {
            Event::PipelineExecution(e) => Some(&e.state),
            Event::StageExecution(e) => Some(&e.state),
            Event::ActionExecution(e) => Some(&e.state),
            Event::BuildState(e) => Some(&e.state),
            Event::BuildPhase(e) => Some(&e.phase_status),
            Event::DeploymentState(e) => Some(&e.state),
            Event::DeploymentInstance(e) => Some(&e.state),
            Event::EcsTask(e) => Some(&e.last_status),
            Event::EcsDeployment(e) => Some(&e.event_name),
            Event::EcsServiceAction(e) => Some(&e.event_name),
            Event::AlarmState(e) => Some(&e.state),
            Event::Health(e) => e.status.as_deref(),
            Event::ApiCall(e) => Some(&e.name),
            Event::ManualApproval(_) | Event::DeployLink(_) | Event::Unknown(_) => None,
        }
    }

    /// The `herald inspect` line: the serialised event plus a top-level `state` for kinds whose
    /// state field has another name (`phase_status`, `last_status`, `event_name`).
    pub fn to_inspect_json(&self) -> serde_json::Value {
        let mut v = serde_json::to_value(self).unwrap_or(serde_json::Value::Null);
        if let (Some(state), Some(obj)) = (self.state(), v.as_object_mut()) {
            obj.entry("state")
                .or_insert_with(|| serde_json::Value::String(state.to_string()));
        }
        v
    }
}
