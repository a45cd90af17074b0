//! Bytes to typed events: every envelope Herald meets (raw EventBridge, CodeStar "processed",
//! SNS records and notification documents, approval messages, classic and Lambda-action alarm
//! payloads, CodeDeploy triggers), with AWS's quirks bent into one shape.
//!
//! Decoding is typed and lenient: only the fields Herald uses are read, numbers may be strings
//! and strings numbers, and a well-formed event of a shape Herald does not act on is
//! `Event::Unknown`, not an error. Only bodies that are not JSON, or that claim a known kind
//! but lack the fields that identify it, are a `DecodeError`.

use super::*;
use serde::de::{self, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;
use std::fmt;

/// Why a body could not be decoded. Every variant is a reject: the message is left for the
/// queue's redrive to the dead-letter queue.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error("not JSON: {0}")]
    Json(#[from] serde_json::Error),
    #[error("expected a JSON object, found {0}")]
    NotAnObject(&'static str),
    #[error("{kind} event without `{field}`")]
    MissingField {
        kind: &'static str,
        field: &'static str,
    },
    #[error("SNS message nested too deeply")]
    TooDeep,
}

impl DecodeError {
    /// A short, bounded label for `herald_events_discarded_total{reason}`.
    pub fn reason(&self) -> &'static str {
        match self {
            DecodeError::Json(_) => "invalid_json",
            DecodeError::NotAnObject(_) => "not_an_object",
            DecodeError::MissingField { .. } => "missing_field",
            DecodeError::TooDeep => "too_deep",
        }
    }
}

/// Decodes one message body: a JSON object in any supported envelope, or a JSON array of them
/// (an EventBridge API destination may batch). Several SNS records give several events.
pub fn decode(bytes: &[u8]) -> Result<Vec<Event>, DecodeError> {
    let mut out = Vec::with_capacity(1);
    decode_into(bytes, &Outer::default(), 0, &mut out)?;
    Ok(out)
}

/// Decodes an already-parsed JSON value (used by callers that split JSON arrays themselves).
pub fn decode_value(value: &serde_json::Value) -> Result<Vec<Event>, DecodeError> {
    let text = serde_json::to_vec(value)?;
    decode(&text)
}

/// What an SNS wrapping tells about the message inside, used where the message is silent.
#[derive(Default, Clone)]
struct Outer {
    message_id: Option<String>,
    timestamp: Option<String>,
    topic_arn: Option<String>,
}

const MAX_DEPTH: usize = 4;

fn decode_into(
    bytes: &[u8],
    outer: &Outer,
    depth: usize,
    out: &mut Vec<Event>,
) -> Result<(), DecodeError> {
    if depth > MAX_DEPTH {
        return Err(DecodeError::TooDeep);
    }
    let first = bytes.iter().find(|b| !b.is_ascii_whitespace()).copied();
    match first {
        Some(b'{') => {
            let mut top: Top = serde_json::from_slice(bytes)?;
            decode_top(&mut top, outer, depth, out)
        }
        Some(b'[') => {
            let items: Vec<&RawValue> = serde_json::from_slice(bytes)?;
            for item in items {
                decode_into(item.get().as_bytes(), outer, depth + 1, out)?;
            }
            Ok(())
        }
        None => Err(DecodeError::NotAnObject("an empty body")),
        Some(_) => {
            // Valid JSON scalar or garbage: let serde say which.
            let v: serde_json::Value = serde_json::from_slice(bytes)?;
            Err(DecodeError::NotAnObject(match v {
                serde_json::Value::String(_) => "a string",
                serde_json::Value::Number(_) => "a number",
                serde_json::Value::Bool(_) => "a boolean",
                _ => "null",
            }))
        }
    }
}

/// A string field that accepts any JSON scalar (numbers and booleans as their text) and treats
/// null, objects and arrays as absent, so one odd field never rejects an event.
#[derive(Default, Debug, Clone)]
struct S(Option<String>);

impl S {
    fn take(&mut self) -> Option<String> {
        self.0.take().filter(|s| !s.is_empty())
    }
    fn get(&self) -> Option<&str> {
        self.0.as_deref().filter(|s| !s.is_empty())
    }
}

impl<'de> Deserialize<'de> for S {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = S;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a scalar")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<S, E> {
                Ok(S(Some(v.to_owned())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<S, E> {
                Ok(S(Some(v)))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<S, E> {
                Ok(S(Some(v.to_string())))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<S, E> {
                Ok(S(Some(v.to_string())))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<S, E> {
                Ok(S(Some(v.to_string())))
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<S, E> {
                Ok(S(Some(v.to_string())))
            }
            fn visit_none<E: de::Error>(self) -> Result<S, E> {
                Ok(S(None))
            }
            fn visit_unit<E: de::Error>(self) -> Result<S, E> {
                Ok(S(None))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<S, A::Error> {
                while m.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(S(None))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut s: A) -> Result<S, A::Error> {
                while s.next_element::<IgnoredAny>()?.is_some() {}
                Ok(S(None))
            }
        }
        d.deserialize_any(V)
    }
}

/// A list that tolerates a non-list (treated as empty) and skips elements of the wrong shape.
#[derive(Debug)]
struct L<T>(Vec<T>);

impl<T> Default for L<T> {
    fn default() -> Self {
        L(Vec::new())
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for L<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<T>(std::marker::PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for V<T> {
            type Value = L<T>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a list")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut s: A) -> Result<L<T>, A::Error> {
                let mut out = Vec::new();
                while let Some(item) = s.next_element::<Lenient<T>>()? {
                    if let Some(item) = item.0 {
                        out.push(item);
                    }
                }
                Ok(L(out))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<L<T>, A::Error> {
                while m.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(L(Vec::new()))
            }
            fn visit_str<E: de::Error>(self, _: &str) -> Result<L<T>, E> {
                Ok(L(Vec::new()))
            }
            fn visit_i64<E: de::Error>(self, _: i64) -> Result<L<T>, E> {
                Ok(L(Vec::new()))
            }
            fn visit_u64<E: de::Error>(self, _: u64) -> Result<L<T>, E> {
                Ok(L(Vec::new()))
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<L<T>, E> {
                Ok(L(Vec::new()))
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<L<T>, E> {
                Ok(L(Vec::new()))
            }
            fn visit_unit<E: de::Error>(self) -> Result<L<T>, E> {
                Ok(L(Vec::new()))
            }
        }
        d.deserialize_any(V(std::marker::PhantomData))
    }
}

/// An element that is kept when it has the expected shape and dropped otherwise. Elements are
/// objects in every list Herald reads, so anything else is skipped without buffering.
struct Lenient<T>(Option<T>);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Lenient<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw: &RawValue = <&RawValue>::deserialize(d)?;
        Ok(Lenient(serde_json::from_str(raw.get()).ok()))
    }
}

/// The union of every top-level field of every supported envelope. Unread fields are skipped
/// by serde without allocation.
#[derive(Deserialize, Default)]
#[serde(default)]
struct Top<'a> {
    // EventBridge and CodeStar processed.
    #[serde(rename = "detail-type")]
    detail_type: S,
    #[serde(rename = "detailType")]
    detail_type_processed: S,
    id: S,
    source: S,
    account: S,
    region: S,
    time: S,
    resources: L<String>,
    #[serde(borrow)]
    detail: Option<&'a RawValue>,
    #[serde(rename = "additionalAttributes", borrow)]
    additional: Option<&'a RawValue>,
    // SNS: Lambda records and notification documents.
    #[serde(rename = "Records")]
    records: L<Record>,
    #[serde(rename = "Type")]
    sns_type: S,
    #[serde(rename = "Message")]
    message: S,
    #[serde(rename = "MessageId")]
    message_id: S,
    #[serde(rename = "Timestamp")]
    timestamp: S,
    #[serde(rename = "TopicArn")]
    topic_arn: S,
    // CodePipeline approval message.
    approval: Option<RawApproval>,
    #[serde(rename = "consoleLink")]
    console_link: S,
    // Classic CloudWatch alarm SNS JSON.
    #[serde(rename = "AlarmName")]
    alarm_name: S,
    #[serde(rename = "AlarmDescription")]
    alarm_description: S,
    #[serde(rename = "AWSAccountId")]
    aws_account_id: S,
    #[serde(rename = "NewStateValue")]
    new_state_value: S,
    #[serde(rename = "OldStateValue")]
    old_state_value: S,
    #[serde(rename = "NewStateReason")]
    new_state_reason: S,
    #[serde(rename = "StateChangeTime")]
    state_change_time: S,
    #[serde(rename = "Region")]
    region_name: S,
    #[serde(rename = "AlarmArn")]
    alarm_arn_classic: S,
    // Alarm Lambda action.
    #[serde(rename = "alarmArn")]
    alarm_arn: S,
    #[serde(rename = "accountId")]
    account_id: S,
    #[serde(rename = "alarmData")]
    alarm_data: Option<AlarmData>,
    // CodeDeploy SNS trigger.
    #[serde(rename = "eventTriggerName")]
    event_trigger_name: S,
    #[serde(rename = "applicationName")]
    application_name: S,
    #[serde(rename = "deploymentId")]
    deployment_id: S,
    #[serde(rename = "deploymentGroupName")]
    deployment_group_name: S,
    #[serde(rename = "createTime")]
    create_time: S,
    #[serde(rename = "completeTime")]
    complete_time: S,
    status: S,
    #[serde(rename = "errorInformation")]
    error_information: Option<ErrorInformation>,
    #[serde(rename = "instanceId")]
    instance_id: S,
    #[serde(rename = "instanceStatus")]
    instance_status: S,
    #[serde(rename = "lastUpdatedAt")]
    last_updated_at: S,
    #[serde(rename = "lifecycleEvents")]
    lifecycle_events: L<LifecycleEvent>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Record {
    #[serde(rename = "Sns")]
    sns: Option<SnsRecord>,
    /// SQS-to-Lambda records carry the message in `body`.
    body: S,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct SnsRecord {
    #[serde(rename = "Message")]
    message: S,
    #[serde(rename = "MessageId")]
    message_id: S,
    #[serde(rename = "Timestamp")]
    timestamp: S,
    #[serde(rename = "TopicArn")]
    topic_arn: S,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct RawApproval {
    #[serde(rename = "pipelineName")]
    pipeline_name: S,
    #[serde(rename = "stageName")]
    stage_name: S,
    #[serde(rename = "actionName")]
    action_name: S,
    token: S,
    expires: S,
    #[serde(rename = "externalEntityLink")]
    external_entity_link: S,
    #[serde(rename = "approvalReviewLink")]
    approval_review_link: S,
    #[serde(rename = "customData")]
    custom_data: S,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct AlarmData {
    #[serde(rename = "alarmName")]
    alarm_name: S,
    state: StateValue,
    #[serde(rename = "previousState")]
    previous_state: StateValue,
    configuration: AlarmConfiguration,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct StateValue {
    value: S,
    reason: S,
    timestamp: S,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct AlarmConfiguration {
    description: S,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct ErrorInformation {
    #[serde(rename = "ErrorCode")]
    code: S,
    #[serde(rename = "ErrorMessage")]
    message: S,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct LifecycleEvent {
    #[serde(rename = "LifecycleEvent")]
    name: S,
    #[serde(rename = "LifecycleEventStatus")]
    status: S,
}

// ---- detail shapes ----

#[derive(Deserialize, Default)]
#[serde(default)]
struct PipelineDetail {
    pipeline: S,
    #[serde(rename = "execution-id")]
    execution_id: S,
    stage: S,
    action: S,
    state: S,
    region: S,
    #[serde(rename = "start-time")]
    start_time: S,
    #[serde(rename = "action-execution-id")]
    action_execution_id: S,
    #[serde(rename = "execution-trigger")]
    trigger: Option<RawTrigger>,
    #[serde(rename = "stop-execution-comments")]
    stop_comments: S,
    #[serde(rename = "type")]
    action_type: ActionType,
    #[serde(rename = "execution-result")]
    result: ExecutionResult,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct RawTrigger {
    #[serde(rename = "trigger-type")]
    trigger_type: S,
    #[serde(rename = "trigger-detail")]
    trigger_detail: S,
    #[serde(rename = "commit-id")]
    commit_id: S,
    #[serde(rename = "commit-message")]
    commit_message: S,
    #[serde(rename = "author-display-name")]
    author: S,
    #[serde(rename = "author-email")]
    author_email: S,
    #[serde(rename = "provider-type")]
    provider: S,
    #[serde(rename = "branch-name")]
    branch: S,
    #[serde(rename = "full-repository-name")]
    repository: S,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct ActionType {
    provider: S,
    category: S,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct ExecutionResult {
    #[serde(rename = "external-execution-id")]
    external_id: S,
    #[serde(rename = "external-execution-url")]
    external_url: S,
    #[serde(rename = "external-execution-summary")]
    summary: S,
    #[serde(rename = "error-code")]
    error_code: S,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Additional {
    #[serde(rename = "failedActions")]
    failed_actions: L<RawFailedAction>,
    #[serde(rename = "failedStage")]
    failed_stage: S,
    #[serde(rename = "additionalInformation")]
    additional_information: S,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct RawFailedAction {
    action: S,
    #[serde(rename = "additionalInformation")]
    additional_information: S,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct CodeBuildDetail {
    #[serde(rename = "project-name")]
    project: S,
    #[serde(rename = "build-id")]
    build_id: S,
    #[serde(rename = "build-status")]
    build_status: S,
    #[serde(rename = "current-phase")]
    current_phase: S,
    #[serde(rename = "completed-phase")]
    completed_phase: S,
    #[serde(rename = "completed-phase-status")]
    completed_phase_status: S,
    #[serde(rename = "completed-phase-context")]
    completed_phase_context: S,
    #[serde(rename = "completed-phase-start")]
    completed_phase_start: S,
    #[serde(rename = "additional-information")]
    info: CodeBuildInfo,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct CodeBuildInfo {
    initiator: S,
    #[serde(rename = "build-start-time")]
    build_start_time: S,
    logs: CodeBuildLogs,
    phases: L<CodeBuildPhase>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct CodeBuildLogs {
    #[serde(rename = "group-name")]
    group: S,
    #[serde(rename = "stream-name")]
    stream: S,
    #[serde(rename = "deep-link")]
    deep_link: S,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct CodeBuildPhase {
    #[serde(rename = "phase-type")]
    phase_type: S,
    #[serde(rename = "phase-status")]
    phase_status: S,
    #[serde(rename = "phase-context")]
    phase_context: L<String>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct CodeDeployDetail {
    application: S,
    #[serde(rename = "deploymentGroup")]
    deployment_group: S,
    #[serde(rename = "deploymentId")]
    deployment_id: S,
    #[serde(rename = "instanceId")]
    instance_id: S,
    state: S,
    region: S,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct EcsDetail {
    #[serde(rename = "clusterArn")]
    cluster_arn: S,
    #[serde(rename = "taskArn")]
    task_arn: S,
    group: S,
    #[serde(rename = "startedBy")]
    started_by: S,
    #[serde(rename = "lastStatus")]
    last_status: S,
    #[serde(rename = "desiredStatus")]
    desired_status: S,
    #[serde(rename = "stoppedReason")]
    stopped_reason: S,
    #[serde(rename = "stopCode")]
    stop_code: S,
    containers: L<EcsContainer>,
    #[serde(rename = "eventType")]
    event_type: S,
    #[serde(rename = "eventName")]
    event_name: S,
    #[serde(rename = "deploymentId")]
    deployment_id: S,
    #[serde(rename = "updatedAt")]
    updated_at: S,
    reason: S,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct EcsContainer {
    name: S,
    #[serde(rename = "exitCode")]
    exit_code: S,
    reason: S,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct AlarmDetail {
    #[serde(rename = "alarmName")]
    alarm_name: S,
    state: StateValue,
    #[serde(rename = "previousState")]
    previous_state: StateValue,
    configuration: AlarmConfiguration,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct HealthDetail {
    #[serde(rename = "eventArn")]
    event_arn: S,
    service: S,
    #[serde(rename = "eventTypeCode")]
    event_type_code: S,
    #[serde(rename = "eventTypeCategory")]
    event_type_category: S,
    #[serde(rename = "statusCode")]
    status_code: S,
    #[serde(rename = "eventDescription")]
    description: L<HealthDescription>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct HealthDescription {
    #[serde(rename = "latestDescription")]
    latest: S,
}

// ---- dispatch ----

fn decode_top(
    top: &mut Top<'_>,
    outer: &Outer,
    depth: usize,
    out: &mut Vec<Event>,
) -> Result<(), DecodeError> {
    // SNS as Lambda delivers it: one event per record.
    if !top.records.0.is_empty() {
        for mut rec in std::mem::take(&mut top.records.0) {
            if let Some(mut sns) = rec.sns.take() {
                let inner = Outer {
                    message_id: sns.message_id.take(),
                    timestamp: sns.timestamp.take(),
                    topic_arn: sns.topic_arn.take(),
                };
                decode_message(sns.message.take(), &inner, depth, out)?;
            } else if let Some(body) = rec.body.take() {
                decode_into(body.as_bytes(), outer, depth + 1, out)?;
            }
        }
        return Ok(());
    }
    // An SNS notification document as SQS receives it without raw delivery.
    if top.sns_type.get() == Some("Notification") && top.message.get().is_some() {
        let inner = Outer {
            message_id: top.message_id.take(),
            timestamp: top.timestamp.take(),
            topic_arn: top.topic_arn.take(),
        };
        return decode_message(top.message.take(), &inner, depth, out);
    }
    let detail_type = top
        .detail_type
        .take()
        .or_else(|| top.detail_type_processed.take());
    if let Some(detail_type) = detail_type {
        return decode_eventbridge(top, detail_type, outer).map(|e| out.push(e));
    }
    if let Some(approval) = top.approval.take() {
        return decode_approval(top, approval, outer).map(|e| out.push(e));
    }
    if top.alarm_name.get().is_some() && top.new_state_value.get().is_some() {
        out.push(decode_classic_alarm(top, outer));
        return Ok(());
    }
    if let Some(data) = top.alarm_data.take() {
        return decode_alarm_action(top, data, outer).map(|e| out.push(e));
    }
    if top.event_trigger_name.get().is_some()
        || (top.deployment_id.get().is_some()
            && (top.status.get().is_some() || top.instance_status.get().is_some()))
    {
        return decode_codedeploy_trigger(top, outer).map(|e| out.push(e));
    }
    let meta = Meta {
        id: top.id.take().or_else(|| outer.message_id.clone()),
        account: top.account.take().unwrap_or_default(),
        region: top.region.take().unwrap_or_default(),
        time: time_or(top.time.get(), outer),
    };
    out.push(Event::Unknown(Unknown {
        meta,
        source: top.source.take().unwrap_or_default(),
        detail_type: String::new(),
    }));
    Ok(())
}

/// An SNS `Message` is usually JSON of another envelope; plain text is a well-formed
/// notification Herald does not act on.
fn decode_message(
    message: Option<String>,
    outer: &Outer,
    depth: usize,
    out: &mut Vec<Event>,
) -> Result<(), DecodeError> {
    let message = message.unwrap_or_default();
    let trimmed = message.trim_start();
    if trimmed.starts_with('{') || trimmed.starts_with('[') {
        return decode_into(message.as_bytes(), outer, depth + 1, out);
    }
    let (account, region) = outer
        .topic_arn
        .as_deref()
        .map(arn_account_region)
        .unwrap_or_default();
    out.push(Event::Unknown(Unknown {
        meta: Meta {
            id: outer.message_id.clone(),
            account,
            region,
            time: time_or(None, outer),
        },
        source: "aws.sns".into(),
        detail_type: "SNS Notification".into(),
    }));
    Ok(())
}

fn time_or(own: Option<&str>, outer: &Outer) -> Option<DateTime<Utc>> {
    own.and_then(parse_time)
        .or_else(|| outer.timestamp.as_deref().and_then(parse_time))
}

/// `arn:partition:service:region:account:resource` -> (account, region); empty where absent.
fn arn_account_region(arn: &str) -> (String, String) {
    let mut parts = arn.splitn(6, ':');
    let (_, _, _) = (parts.next(), parts.next(), parts.next());
    let region = parts.next().unwrap_or_default().to_string();
    let account = parts.next().unwrap_or_default().to_string();
    (account, region)
}

/// The last `/`-separated segment of an ARN's resource part (`cluster/name` -> `name`).
fn arn_short_name(arn: &str) -> &str {
    arn.rsplit('/').next().unwrap_or(arn)
}

fn upper(s: Option<String>) -> Option<String> {
    s.map(|mut s| {
        if s.bytes().any(|b| b.is_ascii_lowercase()) {
            s.make_ascii_uppercase();
        }
        s
    })
}

/// States from CodeDeploy triggers ("Succeeded", "Failed") and other spellings in EventBridge's.
fn normalise_state(s: Option<String>) -> Option<String> {
    let s = upper(s)?;
    Some(match s.as_str() {
        "FAILED" | "FAILURE" => {
            // CodeDeploy: EventBridge says FAILURE, triggers say Failed; keep CodeDeploy's
            // EventBridge spelling everywhere so one state machine reads both.
            s
        }
        "SUCCEEDED" | "SUCCESS" => s,
        "INPROGRESS" => "IN_PROGRESS".into(),
        _ => s,
    })
}

fn parse_detail<'a, T: Deserialize<'a> + Default>(raw: Option<&'a RawValue>) -> T {
    // A detail of the wrong shape (a string, an array) is treated as empty so the missing
    // fields are reported by name rather than as a type error.
    raw.and_then(|r| serde_json::from_str(r.get()).ok())
        .unwrap_or_default()
}

fn required(
    v: Option<String>,
    kind: &'static str,
    field: &'static str,
) -> Result<String, DecodeError> {
    v.ok_or(DecodeError::MissingField { kind, field })
}

fn decode_eventbridge(
    top: &mut Top<'_>,
    detail_type: String,
    outer: &Outer,
) -> Result<Event, DecodeError> {
    let resource = top.resources.0.first().cloned();
    let (arn_account, arn_region) = resource
        .as_deref()
        .map(arn_account_region)
        .unwrap_or_default();
    let mut meta = Meta {
        id: top.id.take().or_else(|| outer.message_id.clone()),
        account: top
            .account
            .take()
            .or_else(|| Some(arn_account).filter(|a| !a.is_empty()))
            .unwrap_or_default(),
        region: top
            .region
            .take()
            .or_else(|| Some(arn_region).filter(|r| !r.is_empty()))
            .unwrap_or_default(),
        time: time_or(top.time.get(), outer),
    };
    let source = top.source.take().unwrap_or_default();
    let event = match detail_type.as_str() {
        "CodePipeline Pipeline Execution State Change"
        | "CodePipeline Stage Execution State Change"
        | "CodePipeline Action Execution State Change" => {
            let d: PipelineDetail = parse_detail(top.detail);
            let add: Additional = parse_detail(top.additional);
            decode_pipeline(&detail_type, meta, d, add)?
        }
        "CodeBuild Build State Change" | "CodeBuild Build Phase Change" => {
            let d: CodeBuildDetail = parse_detail(top.detail);
            decode_codebuild(&detail_type, meta, d, resource.as_deref())?
        }
        "CodeDeploy Deployment State-change Notification"
        | "CodeDeploy Instance State-change Notification" => {
            let mut d: CodeDeployDetail = parse_detail(top.detail);
            if meta.region.is_empty() {
                meta.region = d.region.take().unwrap_or_default();
            }
            let kind = if detail_type.starts_with("CodeDeploy Instance") {
                "deployment_instance"
            } else {
                "deployment_state"
            };
            let deployment_id = required(d.deployment_id.take(), kind, "deploymentId")?;
            let state = required(normalise_state(d.state.take()), kind, "state")?;
            if kind == "deployment_instance" {
                Event::DeploymentInstance(DeploymentInstance {
                    meta,
                    deployment_id,
                    instance_id: required(d.instance_id.take(), kind, "instanceId")?,
                    state,
                    application: d.application.take(),
                    deployment_group: d.deployment_group.take(),
                    failed_lifecycle_event: None,
                })
            } else {
                Event::DeploymentState(DeploymentState {
                    meta,
                    application: d.application.take().unwrap_or_default(),
                    deployment_group: d.deployment_group.take().unwrap_or_default(),
                    deployment_id,
                    state,
                    error_code: None,
                    error_message: None,
                })
            }
        }
        "ECS Task State Change" | "ECS Deployment State Change" | "ECS Service Action" => {
            let d: EcsDetail = parse_detail(top.detail);
            decode_ecs(&detail_type, meta, d, &top.resources.0)?
        }
        "CloudWatch Alarm State Change" => {
            let mut d: AlarmDetail = parse_detail(top.detail);
            let kind = "alarm_state";
            Event::AlarmState(AlarmState {
                meta,
                alarm_name: required(d.alarm_name.take(), kind, "alarmName")?,
                state: required(upper(d.state.value.take()), kind, "state.value")?,
                previous_state: upper(d.previous_state.value.take()),
                reason: d.state.reason.take(),
                description: d.configuration.description.take(),
                alarm_arn: resource,
            })
        }
        "AWS Health Event" => {
            let mut d: HealthDetail = parse_detail(top.detail);
            let kind = "health";
            Event::Health(Health {
                meta,
                service: required(d.service.take(), kind, "service")?,
                event_type_code: required(d.event_type_code.take(), kind, "eventTypeCode")?,
                event_type_category: d.event_type_category.take(),
                status: d.status_code.take(),
                description: d.description.0.first_mut().and_then(|x| x.latest.take()),
                event_arn: d.event_arn.take(),
            })
        }
        _ => Event::Unknown(Unknown {
            meta,
            source,
            detail_type,
        }),
    };
    Ok(event)
}

fn decode_pipeline(
    detail_type: &str,
    meta: Meta,
    mut d: PipelineDetail,
    mut add: Additional,
) -> Result<Event, DecodeError> {
    let failed_actions: Vec<FailedAction> = std::mem::take(&mut add.failed_actions.0)
        .into_iter()
        .filter_map(|mut a| {
            Some(FailedAction {
                action: a.action.take()?,
                reason: a.additional_information.take(),
            })
        })
        .collect();
    let kind = match detail_type {
        "CodePipeline Pipeline Execution State Change" => "pipeline_execution",
        "CodePipeline Stage Execution State Change" => "stage_execution",
        _ => "action_execution",
    };
    let pipeline = required(d.pipeline.take(), kind, "pipeline")?;
    let execution_id = required(d.execution_id.take(), kind, "execution-id")?;
    let state = required(upper(d.state.take()), kind, "state")?;
    Ok(match kind {
        "pipeline_execution" => Event::PipelineExecution(PipelineExecution {
            meta,
            pipeline,
            execution_id,
            state,
            trigger: d.trigger.take().map(trigger),
            start_time: d.start_time.get().and_then(parse_time),
            stop_comments: d.stop_comments.take(),
            failed_stage: add.failed_stage.take(),
            failed_actions,
        }),
        "stage_execution" => Event::StageExecution(StageExecution {
            meta,
            pipeline,
            execution_id,
            // aws-lambda-go's published sample has no `stage`: keep the event, stage unknown.
            stage: d.stage.take().unwrap_or_default(),
            state,
            failed_actions,
        }),
        _ => {
            let provider = d.action_type.provider.take().unwrap_or_default();
            let summary = d
                .result
                .summary
                .take()
                .or_else(|| add.additional_information.take());
            let url = d.result.external_url.take();
            let external_id = d.result.external_id.take();
            let commit = if d.action_type.category.get() == Some("Source") {
                source_commit(
                    &provider,
                    external_id.as_deref(),
                    summary.as_deref(),
                    url.as_deref(),
                )
            } else {
                None
            };
            Event::ActionExecution(ActionExecution {
                meta,
                pipeline,
                execution_id,
                stage: required(d.stage.take(), kind, "stage")?,
                action: required(d.action.take(), kind, "action")?,
                category: d.action_type.category.take().unwrap_or_default(),
                provider,
                state,
                action_execution_id: d.action_execution_id.take(),
                action_region: d.region.take(),
                external_execution_id: external_id,
                external_execution_url: url,
                external_execution_summary: summary,
                error_code: d.result.error_code.take(),
                commit,
            })
        }
    })
}

fn trigger(mut t: RawTrigger) -> Trigger {
    let commit = if t.commit_id.get().is_some() || t.commit_message.get().is_some() {
        Some(Commit {
            id: t.commit_id.take(),
            message: t.commit_message.take(),
            author: t.author.take(),
            author_email: t.author_email.take(),
            url: None,
            provider: t.provider.take(),
            branch: t.branch.take(),
            repository: t.repository.take(),
        })
    } else {
        None
    };
    Trigger {
        trigger_type: t.trigger_type.take(),
        trigger_detail: t.trigger_detail.take(),
        commit,
    }
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct SourceSummary {
    #[serde(rename = "ProviderType")]
    provider: S,
    #[serde(rename = "CommitMessage")]
    message: S,
}

/// The commit of a source action. CodeStarSourceConnection's summary is a JSON string with
/// `ProviderType` and `CommitMessage`; other providers' summary is the commit message itself.
fn source_commit(
    provider: &str,
    external_id: Option<&str>,
    summary: Option<&str>,
    url: Option<&str>,
) -> Option<Commit> {
    let mut commit = Commit {
        id: external_id.map(str::to_owned),
        url: url.map(str::to_owned),
        ..Commit::default()
    };
    match summary {
        Some(s) if s.trim_start().starts_with('{') => {
            if let Ok(mut parsed) = serde_json::from_str::<SourceSummary>(s) {
                commit.message = parsed.message.take().map(|m| m.trim_end().to_owned());
                commit.provider = parsed.provider.take();
            } else {
                commit.message = Some(s.to_owned());
            }
        }
        Some(s) => commit.message = Some(s.trim_end().to_owned()),
        None => {}
    }
    if commit.provider.is_none() && !provider.is_empty() {
        commit.provider = Some(provider.to_owned());
    }
    (commit.id.is_some() || commit.message.is_some()).then_some(commit)
}

/// `arn:aws:codebuild:region:account:build/project:uuid` -> `project:uuid`.
fn build_id(raw: &str) -> String {
    match raw.split_once(":build/") {
        Some((_, id)) => id.to_owned(),
        None => raw.to_owned(),
    }
}

/// CodeBuild phase context comes as a list (`["COMMAND_EXECUTION_ERROR: ..."]`), a bracketed
/// string (`"[COMMAND_EXECUTION_ERROR: ...]"`), or filler (`": "`, `"[: ]"`).
fn phase_context(items: &[String]) -> Option<String> {
    let joined = items
        .iter()
        .map(|s| clean_context(s))
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join("; ");
    (!joined.is_empty()).then_some(joined)
}

fn clean_context(s: &str) -> &str {
    let s = s.trim();
    let s = s
        .strip_prefix('[')
        .and_then(|s| s.strip_suffix(']'))
        .unwrap_or(s)
        .trim();
    if s.trim_matches(|c: char| c == ':' || c.is_whitespace())
        .is_empty()
    {
        ""
    } else {
        s
    }
}

fn decode_codebuild(
    detail_type: &str,
    meta: Meta,
    mut d: CodeBuildDetail,
    resource: Option<&str>,
) -> Result<Event, DecodeError> {
    let phase_change = detail_type == "CodeBuild Build Phase Change";
    let kind = if phase_change {
        "build_phase"
    } else {
        "build_state"
    };
    let raw_id = d.build_id.take().or_else(|| resource.map(str::to_owned));
    let build_id = build_id(&required(raw_id, kind, "build-id")?);
    let project = d
        .project
        .take()
        .or_else(|| build_id.split_once(':').map(|(p, _)| p.to_owned()));
    let project = required(project, kind, "project-name")?;
    let log_link = d.info.logs.deep_link.take();
    let initiator = d.info.initiator.take();
    let start_time = d.info.build_start_time.get().and_then(parse_time);
    if phase_change {
        let context = d
            .completed_phase_context
            .get()
            .map(clean_context)
            .filter(|s| !s.is_empty())
            .map(str::to_owned);
        return Ok(Event::BuildPhase(BuildPhase {
            meta,
            project,
            build_id,
            phase: required(upper(d.completed_phase.take()), kind, "completed-phase")?,
            phase_status: required(
                upper(d.completed_phase_status.take()),
                kind,
                "completed-phase-status",
            )?,
            context,
            initiator,
            // The build's start, not the phase's: it is what joins a build to its action.
            start_time: start_time.or_else(|| d.completed_phase_start.get().and_then(parse_time)),
            log_link,
        }));
    }
    let failed_phase = d.info.phases.0.iter_mut().find_map(|p| {
        let status = p.phase_status.get()?;
        if status.eq_ignore_ascii_case("SUCCEEDED") {
            return None;
        }
        Some(PhaseOutcome {
            phase: p.phase_type.take().unwrap_or_default(),
            status: status.to_ascii_uppercase(),
            context: phase_context(&p.phase_context.0),
        })
    });
    Ok(Event::BuildState(BuildState {
        meta,
        project,
        build_id,
        state: required(upper(d.build_status.take()), kind, "build-status")?,
        initiator,
        current_phase: upper(d.current_phase.take()),
        start_time,
        log_link,
        log_group: d.info.logs.group.take(),
        log_stream: d.info.logs.stream.take(),
        failed_phase,
    }))
}

fn decode_ecs(
    detail_type: &str,
    meta: Meta,
    mut d: EcsDetail,
    resources: &[String],
) -> Result<Event, DecodeError> {
    // The service ARN (`arn:aws:ecs:r:a:service/cluster/service`, or the old
    // `service/service` form without the cluster) is the only place deployments name theirs.
    let service_arn = resources.iter().find(|r| r.contains(":service/"));
    let (arn_cluster, arn_service) = match service_arn.and_then(|a| a.split_once(":service/")) {
        Some((_, rest)) => match rest.split_once('/') {
            Some((c, s)) => (Some(c.to_owned()), Some(s.to_owned())),
            None => (None, Some(rest.to_owned())),
        },
        None => (None, None),
    };
    let cluster = d
        .cluster_arn
        .get()
        .map(|a| arn_short_name(a).to_owned())
        .or(arn_cluster);
    Ok(match detail_type {
        "ECS Task State Change" => {
            let kind = "ecs_task";
            let task_arn = d
                .task_arn
                .take()
                .or_else(|| resources.iter().find(|r| r.contains(":task/")).cloned());
            Event::EcsTask(EcsTask {
                meta,
                cluster: required(cluster, kind, "clusterArn")?,
                task_arn: required(task_arn, kind, "taskArn")?,
                group: d.group.take(),
                started_by: d.started_by.take(),
                last_status: required(upper(d.last_status.take()), kind, "lastStatus")?,
                desired_status: upper(d.desired_status.take()).unwrap_or_default(),
                stopped_reason: d.stopped_reason.take(),
                stop_code: d.stop_code.take(),
                containers: std::mem::take(&mut d.containers.0)
                    .into_iter()
                    .filter_map(|mut c| {
                        Some(ContainerExit {
                            name: c.name.take()?,
                            exit_code: c.exit_code.get().and_then(|x| {
                                x.parse::<i64>()
                                    .ok()
                                    .or_else(|| x.parse::<f64>().ok().map(|f| f as i64))
                            }),
                            reason: c.reason.take(),
                        })
                    })
                    .collect(),
            })
        }
        "ECS Deployment State Change" => {
            let kind = "ecs_deployment";
            Event::EcsDeployment(EcsDeployment {
                meta,
                cluster: required(cluster, kind, "resources (service ARN)")?,
                service: required(arn_service, kind, "resources (service ARN)")?,
                deployment_id: required(d.deployment_id.take(), kind, "deploymentId")?,
                event_name: required(upper(d.event_name.take()), kind, "eventName")?,
                event_type: d.event_type.take(),
                reason: d.reason.take(),
                updated_at: d.updated_at.get().and_then(parse_time),
            })
        }
        _ => {
            let kind = "ecs_service_action";
            Event::EcsServiceAction(EcsServiceAction {
                meta,
                cluster: required(cluster, kind, "clusterArn")?,
                service: arn_service.unwrap_or_default(),
                event_name: required(upper(d.event_name.take()), kind, "eventName")?,
                event_type: d.event_type.take(),
                reason: d.reason.take(),
            })
        }
    })
}

fn decode_approval(
    top: &mut Top<'_>,
    mut a: RawApproval,
    outer: &Outer,
) -> Result<Event, DecodeError> {
    let kind = "manual_approval";
    let (topic_account, topic_region) = outer
        .topic_arn
        .as_deref()
        .map(arn_account_region)
        .unwrap_or_default();
    Ok(Event::ManualApproval(ManualApproval {
        meta: Meta {
            id: outer.message_id.clone(),
            account: top.account.take().unwrap_or(topic_account),
            region: top.region.take().unwrap_or(topic_region),
            time: time_or(None, outer),
        },
        pipeline: required(a.pipeline_name.take(), kind, "approval.pipelineName")?,
        stage: a.stage_name.take().unwrap_or_default(),
        action: a.action_name.take().unwrap_or_default(),
        token: required(a.token.take(), kind, "approval.token")?,
        review_link: a.approval_review_link.take(),
        expires: a.expires.get().and_then(parse_time),
        custom_data: a.custom_data.take().map(|s| s.trim_end().to_owned()),
        external_link: a.external_entity_link.take(),
        console_link: top.console_link.take(),
    }))
}

fn decode_classic_alarm(top: &mut Top<'_>, outer: &Outer) -> Event {
    let arn = top.alarm_arn_classic.take();
    let (arn_account, arn_region) = arn.as_deref().map(arn_account_region).unwrap_or_default();
    // The ARN is authoritative; the human region name ("US East (Ohio)") is the fallback.
    let region = Some(arn_region)
        .filter(|r| !r.is_empty())
        .or_else(|| {
            top.region_name
                .get()
                .and_then(region_code)
                .map(str::to_owned)
        })
        .or_else(|| top.region_name.take())
        .unwrap_or_default();
    Event::AlarmState(AlarmState {
        meta: Meta {
            id: outer.message_id.clone(),
            account: top
                .aws_account_id
                .take()
                .or_else(|| Some(arn_account).filter(|a| !a.is_empty()))
                .unwrap_or_default(),
            region,
            time: time_or(top.state_change_time.get(), outer),
        },
        alarm_name: top.alarm_name.take().unwrap_or_default(),
        state: upper(top.new_state_value.take()).unwrap_or_default(),
        previous_state: upper(top.old_state_value.take()),
        reason: top.new_state_reason.take(),
        description: top.alarm_description.take(),
        alarm_arn: arn,
    })
}

fn decode_alarm_action(
    top: &mut Top<'_>,
    mut data: AlarmData,
    outer: &Outer,
) -> Result<Event, DecodeError> {
    let kind = "alarm_state";
    let arn = top.alarm_arn.take();
    let (arn_account, arn_region) = arn.as_deref().map(arn_account_region).unwrap_or_default();
    Ok(Event::AlarmState(AlarmState {
        meta: Meta {
            id: outer.message_id.clone(),
            // The payload's accountId and the ARN's can differ (see the corpus); the ARN names
            // the account the alarm lives in.
            account: Some(arn_account)
                .filter(|a| !a.is_empty())
                .or_else(|| top.account_id.take())
                .unwrap_or_default(),
            region: top
                .region
                .take()
                .or_else(|| Some(arn_region).filter(|r| !r.is_empty()))
                .unwrap_or_default(),
            time: time_or(top.time.get().or(data.state.timestamp.get()), outer),
        },
        alarm_name: required(data.alarm_name.take(), kind, "alarmData.alarmName")?,
        state: required(
            upper(data.state.value.take()),
            kind,
            "alarmData.state.value",
        )?,
        previous_state: upper(data.previous_state.value.take()),
        reason: data.state.reason.take(),
        description: data.configuration.description.take(),
        alarm_arn: arn,
    }))
}

fn decode_codedeploy_trigger(top: &mut Top<'_>, outer: &Outer) -> Result<Event, DecodeError> {
    let meta = Meta {
        id: outer.message_id.clone(),
        account: top.account_id.take().unwrap_or_default(),
        region: top.region.take().unwrap_or_default(),
        time: top
            .complete_time
            .get()
            .or(top.last_updated_at.get())
            .or(top.create_time.get())
            .and_then(parse_time)
            .or_else(|| time_or(None, outer)),
    };
    if let Some(instance_id) = top.instance_id.take() {
        let kind = "deployment_instance";
        let failed_lifecycle_event = top.lifecycle_events.0.iter_mut().find_map(|e| {
            let status = e.status.get()?;
            (!status.eq_ignore_ascii_case("Succeeded") && !status.eq_ignore_ascii_case("Skipped"))
                .then(|| e.name.take())
                .flatten()
        });
        return Ok(Event::DeploymentInstance(DeploymentInstance {
            meta,
            deployment_id: required(top.deployment_id.take(), kind, "deploymentId")?,
            instance_id,
            state: required(
                trigger_state(top.instance_status.take()),
                kind,
                "instanceStatus",
            )?,
            application: top.application_name.take(),
            deployment_group: top.deployment_group_name.take(),
            failed_lifecycle_event,
        }));
    }
    let kind = "deployment_state";
    let mut err = top.error_information.take().unwrap_or_default();
    Ok(Event::DeploymentState(DeploymentState {
        meta,
        application: top.application_name.take().unwrap_or_default(),
        deployment_group: top.deployment_group_name.take().unwrap_or_default(),
        deployment_id: required(top.deployment_id.take(), kind, "deploymentId")?,
        state: required(trigger_state(top.status.take()), kind, "status")?,
        error_code: err.code.take(),
        error_message: err.message.take(),
    }))
}

/// CodeDeploy triggers say "Succeeded"/"Failed"/"Stopped"; EventBridge says SUCCESS/FAILURE/STOP.
/// Both become EventBridge's spelling.
fn trigger_state(s: Option<String>) -> Option<String> {
    let s = upper(s)?;
    Some(
        match s.as_str() {
            "SUCCEEDED" => "SUCCESS",
            "FAILED" => "FAILURE",
            "STOPPED" => "STOP",
            "INPROGRESS" | "IN_PROGRESS" => "START",
            "CREATED" => "CREATED",
            other => other,
        }
        .to_owned(),
    )
}

/// Human region names as classic alarm SNS messages spell them.
fn region_code(name: &str) -> Option<&'static str> {
    Some(match name {
        "US East (N. Virginia)" => "us-east-1",
        "US East (Ohio)" => "us-east-2",
        "US West (N. California)" => "us-west-1",
        "US West (Oregon)" => "us-west-2",
        "Africa (Cape Town)" => "af-south-1",
        "Asia Pacific (Hong Kong)" => "ap-east-1",
        "Asia Pacific (Hyderabad)" => "ap-south-2",
        "Asia Pacific (Jakarta)" => "ap-southeast-3",
        "Asia Pacific (Malaysia)" => "ap-southeast-5",
        "Asia Pacific (Melbourne)" => "ap-southeast-4",
        "Asia Pacific (Mumbai)" => "ap-south-1",
        "Asia Pacific (Osaka)" => "ap-northeast-3",
        "Asia Pacific (Seoul)" => "ap-northeast-2",
        "Asia Pacific (Singapore)" => "ap-southeast-1",
        "Asia Pacific (Sydney)" => "ap-southeast-2",
        "Asia Pacific (Thailand)" => "ap-southeast-7",
        "Asia Pacific (Tokyo)" => "ap-northeast-1",
        "Canada (Central)" => "ca-central-1",
        "Canada West (Calgary)" => "ca-west-1",
        "Europe (Frankfurt)" | "EU (Frankfurt)" => "eu-central-1",
        "Europe (Ireland)" | "EU (Ireland)" => "eu-west-1",
        "Europe (London)" | "EU (London)" => "eu-west-2",
        "Europe (Milan)" | "EU (Milan)" => "eu-south-1",
        "Europe (Paris)" | "EU (Paris)" => "eu-west-3",
        "Europe (Spain)" => "eu-south-2",
        "Europe (Stockholm)" | "EU (Stockholm)" => "eu-north-1",
        "Europe (Zurich)" => "eu-central-2",
        "Israel (Tel Aviv)" => "il-central-1",
        "Mexico (Central)" => "mx-central-1",
        "Middle East (Bahrain)" => "me-south-1",
        "Middle East (UAE)" => "me-central-1",
        "South America (Sao Paulo)" | "South America (São Paulo)" => "sa-east-1",
        "AWS GovCloud (US-East)" => "us-gov-east-1",
        "AWS GovCloud (US-West)" | "AWS GovCloud (US)" => "us-gov-west-1",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn malformed_bodies_are_errors_not_panics() {
        assert!(matches!(decode(b""), Err(DecodeError::NotAnObject(_))));
        assert!(matches!(decode(b"{"), Err(DecodeError::Json(_))));
        assert!(matches!(
            decode(b"42"),
            Err(DecodeError::NotAnObject("a number"))
        ));
        assert!(matches!(
            decode(b"\"x\""),
            Err(DecodeError::NotAnObject("a string"))
        ));
    }

    #[test]
    fn known_kind_without_identity_is_an_error_naming_the_field() {
        let body = br#"{"detail-type":"CodePipeline Pipeline Execution State Change","source":"aws.codepipeline","detail":{"state":"STARTED"}}"#;
        let err = decode(body)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert_eq!(err, "pipeline_execution event without `pipeline`");
    }

    #[test]
    fn unknown_shapes_are_unknown() {
        let ev = decode(br#"{"detail-type":"Something New","source":"aws.new","detail":{}}"#)
            .unwrap_or_default();
        assert!(
            matches!(&ev[..], [Event::Unknown(u)] if u.source == "aws.new" && u.detail_type == "Something New")
        );
        let ev = decode(br#"{"hello":"world"}"#).unwrap_or_default();
        assert!(matches!(&ev[..], [Event::Unknown(_)]));
    }

    #[test]
    fn plain_text_sns_message_is_unknown() {
        let body = br#"{"Type":"Notification","MessageId":"m1","TopicArn":"arn:aws:sns:eu-west-1:123456789012:t","Message":"hello","Timestamp":"2024-01-01T00:00:00Z"}"#;
        let ev = decode(body).unwrap_or_default();
        assert!(
            matches!(&ev[..], [Event::Unknown(u)] if u.meta.account == "123456789012" && u.source == "aws.sns")
        );
    }

    #[test]
    fn build_ids_lose_their_arn() {
        assert_eq!(
            build_id("arn:aws:codebuild:us-west-2:1:build/p:1e81d092"),
            "p:1e81d092"
        );
        assert_eq!(build_id("p:1e81d092"), "p:1e81d092");
    }

    #[test]
    fn phase_context_filler_is_dropped() {
        assert_eq!(clean_context("[: ]"), "");
        assert_eq!(clean_context(": "), "");
        assert_eq!(
            clean_context("[COMMAND_EXECUTION_ERROR: x]"),
            "COMMAND_EXECUTION_ERROR: x"
        );
    }
}
