//! The `detail` shapes of each AWS source, as serde reads them (the fallback two-pass read).

use super::*;

// ---- detail shapes ----

#[derive(Deserialize, Default)]
#[serde(default)]
pub(super) struct PipelineDetail<'a> {
    pub(super) pipeline: S,
    #[serde(rename = "execution-id")]
    pub(super) execution_id: S,
    pub(super) stage: S,
    pub(super) action: S,
    pub(super) state: S,
    pub(super) region: S,
    /// Only parsed, and only for pipeline events: not copied.
    #[serde(rename = "start-time", borrow)]
    pub(super) start_time: Str<'a>,
    #[serde(rename = "action-execution-id")]
    pub(super) action_execution_id: S,
    #[serde(rename = "execution-trigger")]
    pub(super) trigger: Option<RawTrigger>,
    #[serde(rename = "stop-execution-comments")]
    pub(super) stop_comments: S,
    #[serde(rename = "type")]
    pub(super) action_type: ActionType,
    #[serde(rename = "execution-result")]
    pub(super) result: ExecutionResult,
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub(super) struct RawTrigger {
    #[serde(rename = "trigger-type")]
    pub(super) trigger_type: S,
    #[serde(rename = "trigger-detail")]
    pub(super) trigger_detail: S,
    #[serde(rename = "commit-id")]
    pub(super) commit_id: S,
    #[serde(rename = "commit-message")]
    pub(super) commit_message: S,
    #[serde(rename = "author-display-name")]
    pub(super) author: S,
    #[serde(rename = "author-email")]
    pub(super) author_email: S,
    #[serde(rename = "provider-type")]
    pub(super) provider: S,
    #[serde(rename = "branch-name")]
    pub(super) branch: S,
    #[serde(rename = "full-repository-name")]
    pub(super) repository: S,
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub(super) struct ActionType {
    pub(super) provider: S,
    pub(super) category: S,
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub(super) struct ExecutionResult {
    #[serde(rename = "external-execution-id")]
    pub(super) external_id: S,
    #[serde(rename = "external-execution-url")]
    pub(super) external_url: S,
    #[serde(rename = "external-execution-summary")]
    pub(super) summary: S,
    #[serde(rename = "error-code")]
    pub(super) error_code: S,
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub(super) struct Additional {
    #[serde(rename = "failedActions")]
    pub(super) failed_actions: L<RawFailedAction>,
    #[serde(rename = "failedStage")]
    pub(super) failed_stage: S,
    #[serde(rename = "additionalInformation")]
    pub(super) additional_information: S,
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub(super) struct RawFailedAction {
    pub(super) action: S,
    #[serde(rename = "additionalInformation")]
    pub(super) additional_information: S,
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub(super) struct CodeBuildDetail {
    #[serde(rename = "project-name")]
    pub(super) project: S,
    #[serde(rename = "build-id")]
    pub(super) build_id: S,
    #[serde(rename = "build-status")]
    pub(super) build_status: S,
    #[serde(rename = "current-phase")]
    pub(super) current_phase: S,
    #[serde(rename = "completed-phase")]
    pub(super) completed_phase: S,
    #[serde(rename = "completed-phase-status")]
    pub(super) completed_phase_status: S,
    #[serde(rename = "completed-phase-context")]
    pub(super) completed_phase_context: S,
    #[serde(rename = "completed-phase-start")]
    pub(super) completed_phase_start: S,
    #[serde(rename = "additional-information")]
    pub(super) info: CodeBuildInfo,
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub(super) struct CodeBuildInfo {
    pub(super) initiator: S,
    #[serde(rename = "build-start-time")]
    pub(super) build_start_time: S,
    pub(super) logs: CodeBuildLogs,
    pub(super) phases: L<CodeBuildPhase>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub(super) struct CodeBuildLogs {
    #[serde(rename = "group-name")]
    pub(super) group: S,
    #[serde(rename = "stream-name")]
    pub(super) stream: S,
    #[serde(rename = "deep-link")]
    pub(super) deep_link: S,
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub(super) struct CodeBuildPhase {
    #[serde(rename = "phase-type")]
    pub(super) phase_type: S,
    #[serde(rename = "phase-status")]
    pub(super) phase_status: S,
    #[serde(rename = "phase-context")]
    pub(super) phase_context: L<String>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub(super) struct CodeDeployDetail {
    pub(super) application: S,
    #[serde(rename = "deploymentGroup")]
    pub(super) deployment_group: S,
    #[serde(rename = "deploymentId")]
    pub(super) deployment_id: S,
    #[serde(rename = "instanceId")]
    pub(super) instance_id: S,
    pub(super) state: S,
    pub(super) region: S,
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub(super) struct EcsDetail {
    #[serde(rename = "clusterArn")]
    pub(super) cluster_arn: S,
    #[serde(rename = "taskArn")]
    pub(super) task_arn: S,
    pub(super) group: S,
    #[serde(rename = "startedBy")]
    pub(super) started_by: S,
    #[serde(rename = "lastStatus")]
    pub(super) last_status: S,
    #[serde(rename = "desiredStatus")]
    pub(super) desired_status: S,
    #[serde(rename = "stoppedReason")]
    pub(super) stopped_reason: S,
    #[serde(rename = "stopCode")]
    pub(super) stop_code: S,
    pub(super) containers: L<EcsContainer>,
    #[serde(rename = "eventType")]
    pub(super) event_type: S,
    #[serde(rename = "eventName")]
    pub(super) event_name: S,
    #[serde(rename = "deploymentId")]
    pub(super) deployment_id: S,
    #[serde(rename = "updatedAt")]
    pub(super) updated_at: S,
    pub(super) reason: S,
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub(super) struct EcsContainer {
    pub(super) name: S,
    #[serde(rename = "exitCode")]
    pub(super) exit_code: S,
    pub(super) reason: S,
}

#[derive(Deserialize, Default)]
#[serde(default)]
/// An alarm's `detail`; an alarm Lambda action's `alarmData` has the same shape.
pub(super) struct AlarmDetail {
    #[serde(rename = "alarmName")]
    pub(super) alarm_name: S,
    pub(super) state: StateValue,
    #[serde(rename = "previousState")]
    pub(super) previous_state: StateValue,
    pub(super) configuration: AlarmConfiguration,
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub(super) struct HealthDetail {
    #[serde(rename = "eventArn")]
    pub(super) event_arn: S,
    pub(super) service: S,
    #[serde(rename = "eventTypeCode")]
    pub(super) event_type_code: S,
    #[serde(rename = "eventTypeCategory")]
    pub(super) event_type_category: S,
    #[serde(rename = "statusCode")]
    pub(super) status_code: S,
    #[serde(rename = "eventDescription")]
    pub(super) description: L<HealthDescription>,
    /// The account affected, in an organization's view of Health (else the envelope's).
    #[serde(rename = "affectedAccount")]
    pub(super) affected_account: S,
    #[serde(rename = "startTime")]
    pub(super) start_time: S,
    #[serde(rename = "endTime")]
    pub(super) end_time: S,
    #[serde(rename = "lastUpdatedTime")]
    pub(super) last_updated: S,
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub(super) struct HealthDescription {
    #[serde(rename = "latestDescription")]
    pub(super) latest: S,
}

/// An "AWS API Call via CloudTrail" `detail`: who called what, with which parameters, and what
/// AWS answered (only the fields Herald reads: ECS service calls).
#[derive(Deserialize, Default)]
#[serde(default)]
pub(super) struct CloudTrailDetail {
    #[serde(rename = "eventName")]
    pub(super) event_name: S,
    #[serde(rename = "eventSource")]
    pub(super) event_source: S,
    #[serde(rename = "errorCode")]
    pub(super) error_code: S,
    #[serde(rename = "eventID")]
    pub(super) event_id: S,
    #[serde(rename = "userIdentity")]
    pub(super) user_identity: Lenient<CtIdentity>,
    #[serde(rename = "requestParameters")]
    pub(super) request: Lenient<CtRequest>,
    #[serde(rename = "responseElements")]
    pub(super) response: Lenient<CtResponse>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub(super) struct CtIdentity {
    #[serde(rename = "type")]
    pub(super) kind: S,
    #[serde(rename = "userName")]
    pub(super) user_name: S,
    pub(super) arn: S,
    #[serde(rename = "principalId")]
    pub(super) principal_id: S,
    #[serde(rename = "invokedBy")]
    pub(super) invoked_by: S,
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub(super) struct CtRequest {
    pub(super) cluster: S,
    /// `UpdateService` and `DeleteService` name it `service`, `CreateService` `serviceName`.
    pub(super) service: S,
    #[serde(rename = "serviceName")]
    pub(super) service_name: S,
    #[serde(rename = "desiredCount")]
    pub(super) desired_count: S,
    #[serde(rename = "taskDefinition")]
    pub(super) task_definition: S,
    #[serde(rename = "forceNewDeployment")]
    pub(super) force_new_deployment: S,
    /// Every other parameter: an `UpdateService` with any starts a deployment.
    #[serde(flatten)]
    pub(super) other: std::collections::BTreeMap<String, IgnoredAny>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub(super) struct CtResponse {
    pub(super) service: Option<CtService>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub(super) struct CtService {
    #[serde(rename = "serviceName")]
    pub(super) service_name: S,
    #[serde(rename = "clusterArn")]
    pub(super) cluster_arn: S,
    pub(super) deployments: L<CtDeployment>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub(super) struct CtDeployment {
    pub(super) id: S,
    pub(super) status: S,
    /// CloudTrail writes it as `Mar 2, 2026, 9:59:58 AM` (also seen: epoch seconds).
    #[serde(rename = "createdAt")]
    pub(super) created_at: S,
}
