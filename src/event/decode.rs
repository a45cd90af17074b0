//! Bytes to typed events: every envelope Herald meets (raw EventBridge, CodeStar "processed",
//! SNS records and notification documents, approval messages, classic and Lambda-action alarm
//! payloads, CodeDeploy triggers), with AWS's quirks bent into one shape.
//!
//! Decoding is typed and lenient: only the fields Herald uses are read, numbers may be strings
//! and strings numbers, and a well-formed event of a shape Herald does not act on is
//! `Event::Unknown`, not an error. Only bodies that are not JSON, or that claim a known kind
//! but lack the fields that identify it, are a `DecodeError`.

use super::*;

/// Declares the field names of an object Herald reads by hand: an enum with one variant per
/// name (and `Other` for the rest), read as a map key, and each variant's name back.
macro_rules! keys {
    ($(#[$doc:meta])* $name:ident { $($variant:ident = $json:literal,)* }) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq)]
        enum $name {
            $($variant,)*
            Other,
        }

        // One bit per name in a `u64`, for `first_time`.
        const _: () = assert!(($name::Other as u32) < 64);

        impl $name {
            fn name(self) -> &'static str {
                match self {
                    $($name::$variant => $json,)*
                    $name::Other => "",
                }
            }

            /// Records the key in `seen`; a known key met twice is an error, as serde's derive
            /// makes it (`duplicate field `name``).
            fn first_time<E: de::Error>(self, seen: &mut u64) -> Result<(), E> {
                if self != $name::Other {
                    let bit = 1 << self as u32;
                    if *seen & bit != 0 {
                        return Err(E::duplicate_field(self.name()));
                    }
                    *seen |= bit;
                }
                Ok(())
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                struct V;
                impl<'de> Visitor<'de> for V {
                    type Value = $name;
                    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                        f.write_str("a field name")
                    }
                    fn visit_str<E: de::Error>(self, v: &str) -> Result<$name, E> {
                        Ok(match v {
                            $($json => $name::$variant,)*
                            _ => $name::Other,
                        })
                    }
                }
                d.deserialize_identifier(V)
            }
        }
    };
}

mod cloudtrail;
mod codebuild;
mod codepipeline;
mod detail;
mod ecs;
mod envelope;
mod lenient;
mod messages;
mod shapes;
use cloudtrail::*;
use codebuild::*;
use codepipeline::*;
use detail::*;
use ecs::*;
use envelope::*;
use lenient::*;
use messages::*;
use serde::de::{self, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;
use shapes::*;
use std::borrow::Cow;
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

/// [`decode`], appending to `out` (events are large: a caller batching them saves a move per
/// event). On an error `out` is left as it was.
pub fn decode_append(bytes: &[u8], out: &mut Vec<Event>) -> Result<(), DecodeError> {
    let len = out.len();
    let r = decode_into(bytes, &Outer::default(), 0, out);
    if r.is_err() {
        out.truncate(len);
    }
    r.map(|_| ())
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
            // One pass, with `detail` read into the fields of every shape at once: its kind
            // may come after it (`detail-type` follows `detail` when keys are sorted). What
            // that pass does not take (a detail that is an array, a field of an unexpected
            // type, a duplicate key, a syntax error) is read again the plain way, `detail`
            // kept as text and parsed once its kind is known, which keeps each shape's
            // leniency and the error reported. The plain way rejects bad UTF-8 anywhere in
            // `detail`, and the one pass skips unread fields unchecked: hence the check first.
            if let Ok(text) = std::str::from_utf8(bytes) {
                let mut top = Top::<AnyDetail>::default();
                if read_top(serde_json::Deserializer::from_str(text), &mut top).is_ok() {
                    return decode_top(&mut top, outer, depth, out);
                }
            }
            let mut top = Top::<RawDetail>::default();
            read_top(serde_json::Deserializer::from_slice(bytes), &mut top)?;
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

// ---- dispatch ----

fn decode_top<'a, D: DetailSource<'a>>(
    top: &mut Top<'a, D>,
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
        .take_borrowed()
        .or_else(|| top.detail_type_processed.take_borrowed());
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
    let (account, region) = arn_account_region_str(arn);
    (account.to_owned(), region.to_owned())
}

/// `arn_account_region`, borrowed.
fn arn_account_region_str(arn: &str) -> (&str, &str) {
    // By the colons' offsets: `split(':')` is several times slower on strings this short.
    let mut colons = arn
        .bytes()
        .enumerate()
        .filter_map(|(i, b)| (b == b':').then_some(i));
    let Some(region_start) = colons.nth(2).map(|i| i + 1) else {
        return ("", "");
    };
    let Some(region_end) = colons.next() else {
        return ("", arn.get(region_start..).unwrap_or_default());
    };
    let account_end = colons.next().unwrap_or(arn.len());
    (
        arn.get(region_end + 1..account_end).unwrap_or_default(),
        arn.get(region_start..region_end).unwrap_or_default(),
    )
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

fn decode_eventbridge<'a, D: DetailSource<'a>>(
    top: &mut Top<'a, D>,
    detail_type: Cow<'_, str>,
    outer: &Outer,
) -> Result<Event, DecodeError> {
    let resource = top.resources.first();
    let (arn_account, arn_region) = resource.map(arn_account_region_str).unwrap_or_default();
    let mut meta = Meta {
        id: top.id.take().or_else(|| outer.message_id.clone()),
        account: top
            .account
            .take()
            .or_else(|| {
                Some(arn_account)
                    .filter(|a| !a.is_empty())
                    .map(str::to_owned)
            })
            .unwrap_or_default(),
        region: top
            .region
            .take()
            .or_else(|| {
                Some(arn_region)
                    .filter(|r| !r.is_empty())
                    .map(str::to_owned)
            })
            .unwrap_or_default(),
        time: time_or(top.time.get(), outer),
    };
    let event = match &*detail_type {
        "CodePipeline Pipeline Execution State Change"
        | "CodePipeline Stage Execution State Change"
        | "CodePipeline Action Execution State Change" => {
            let d = top.detail.pipeline();
            let add: Additional = parse_detail(top.additional);
            decode_pipeline(&detail_type, meta, d, add)?
        }
        "CodeBuild Build State Change" | "CodeBuild Build Phase Change" => {
            let d = top.detail.codebuild();
            decode_codebuild(&detail_type, meta, d, resource)?
        }
        "CodeDeploy Deployment State-change Notification"
        | "CodeDeploy Instance State-change Notification" => {
            let mut d = top.detail.codedeploy();
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
            let d = top.detail.ecs();
            decode_ecs(&detail_type, meta, d, &top.resources)?
        }
        "CloudWatch Alarm State Change" => {
            let mut d = top.detail.alarm();
            let kind = "alarm_state";
            Event::AlarmState(AlarmState {
                meta,
                alarm_name: required(d.alarm_name.take(), kind, "alarmName")?,
                state: required(upper(d.state.value.take()), kind, "state.value")?,
                previous_state: upper(d.previous_state.value.take()),
                reason: d.state.reason.take(),
                description: d.configuration.description.take(),
                alarm_arn: resource.map(str::to_owned),
                dimensions: d.configuration.dimensions(),
                alarm_rule: d.configuration.alarm_rule.take(),
            })
        }
        "AWS Health Event" => {
            let mut d = top.detail.health();
            let kind = "health";
            Event::Health(Health {
                meta,
                service: required(d.service.take(), kind, "service")?,
                event_type_code: required(d.event_type_code.take(), kind, "eventTypeCode")?,
                event_type_category: d.event_type_category.take(),
                status: d.status_code.take(),
                description: d.description.0.first_mut().and_then(|x| x.latest.take()),
                event_arn: d.event_arn.take(),
                affected_account: d.affected_account.take(),
                start: d.start_time.get().and_then(parse_time),
                end: d.end_time.get().and_then(parse_time),
                updated: d.last_updated.get().and_then(parse_time),
            })
        }
        "AWS API Call via CloudTrail" => decode_api_call(meta, top.detail.cloudtrail())?,
        _ => Event::Unknown(Unknown {
            meta,
            source: top.source.take().unwrap_or_default(),
            detail_type: detail_type.into_owned(),
        }),
    };
    Ok(event)
}

/// Decodes every fixture whose name starts with one of `prefixes` (`tests/fixtures/`), checks
/// each event survives a JSON round trip unchanged (as the `kind`-tagged form `herald inspect`
/// prints), and that every kind in `kinds` came out at least once. Each module of `decode/`
/// calls it for its own source.
#[cfg(test)]
pub(super) fn round_trip_fixtures(prefixes: &[&str], kinds: &[&str]) -> usize {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let mut seen = std::collections::BTreeSet::new();
    let mut files = 0;
    let mut names: Vec<_> = std::fs::read_dir(&dir)
        .expect("tests/fixtures")
        .filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().into_owned()))
        .filter(|n| n.ends_with(".json") && prefixes.iter().any(|p| n.starts_with(p)))
        .collect();
    names.sort();
    for name in names {
        let bytes = std::fs::read(dir.join(&name)).expect("fixture");
        let events = decode(&bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
        for ev in events {
            let v = serde_json::to_value(&ev).expect("serialise");
            let back: Event =
                serde_json::from_value(v.clone()).unwrap_or_else(|e| panic!("{name}: {e}\n{v}"));
            assert_eq!(back, ev, "{name}: the round trip changed the event");
            seen.insert(ev.kind());
        }
        files += 1;
    }
    for k in kinds {
        assert!(
            seen.contains(k),
            "no {k} among the fixtures {prefixes:?}: {seen:?}"
        );
    }
    files
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
