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

/// Reads any JSON value as text: a scalar as its text, borrowed from the input when it has
/// no escapes; null, objects and arrays as absent.
struct ScalarText;

impl<'de> Visitor<'de> for ScalarText {
    type Value = Option<Cow<'de, str>>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a scalar")
    }
    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Some(Cow::Borrowed(v)))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Some(Cow::Owned(v.to_owned())))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
        Ok(Some(Cow::Owned(v)))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
        Ok(Some(Cow::Owned(v.to_string())))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
        Ok(Some(Cow::Owned(v.to_string())))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
        Ok(Some(Cow::Owned(v.to_string())))
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Self::Value, E> {
        Ok(Some(Cow::Owned(v.to_string())))
    }
    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<Self::Value, A::Error> {
        while m.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(None)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut s: A) -> Result<Self::Value, A::Error> {
        while s.next_element::<IgnoredAny>()?.is_some() {}
        Ok(None)
    }
}

impl<'de> Deserialize<'de> for S {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(S(d.deserialize_any(ScalarText)?.map(Cow::into_owned)))
    }
}

/// `S` borrowed from the input: for the envelope's fields, which are often only compared or
/// parsed, and are copied only when taken.
#[derive(Default)]
struct Str<'a>(Option<Cow<'a, str>>);

impl<'a> Str<'a> {
    fn take(&mut self) -> Option<String> {
        self.take_borrowed().map(Cow::into_owned)
    }
    /// As `take`, without the copy.
    fn take_borrowed(&mut self) -> Option<Cow<'a, str>> {
        self.0.take().filter(|s| !s.is_empty())
    }
    fn get(&self) -> Option<&str> {
        self.0.as_deref().filter(|s| !s.is_empty())
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Str<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(ScalarText).map(Str)
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

/// `L<String>`, with the strings borrowed from the input where they have no escapes. The first
/// is kept apart: lists Herald reads (`resources`) mostly have one, and need no `Vec` then.
#[derive(Default)]
struct TextList<'a> {
    first: Option<Cow<'a, str>>,
    rest: Vec<Cow<'a, str>>,
}

impl<'a> TextList<'a> {
    fn push(&mut self, s: Cow<'a, str>) {
        if self.first.is_none() {
            self.first = Some(s);
        } else {
            self.rest.push(s);
        }
    }
    fn first(&self) -> Option<&str> {
        self.first.as_deref()
    }
    fn iter(&self) -> impl Iterator<Item = &str> {
        self.first.iter().chain(&self.rest).map(|s| &**s)
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for TextList<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = TextList<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a list")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut s: A) -> Result<Self::Value, A::Error> {
                let mut out = TextList::default();
                while let Some(raw) = s.next_element::<&'de RawValue>()? {
                    // As `Lenient<String>` reads it, without the copy when there is no escape
                    // (a raw string's text between its quotes is then the string).
                    let raw = raw.get();
                    match raw.strip_prefix('"').and_then(|r| r.strip_suffix('"')) {
                        Some(text) if !text.contains('\\') => out.push(Cow::Borrowed(text)),
                        _ => {
                            if let Ok(text) = serde_json::from_str::<String>(raw) {
                                out.push(Cow::Owned(text));
                            }
                        }
                    }
                }
                Ok(out)
            }
            fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<Self::Value, A::Error> {
                while m.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(TextList::default())
            }
            fn visit_str<E: de::Error>(self, _: &str) -> Result<Self::Value, E> {
                Ok(TextList::default())
            }
            fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
                Ok(TextList::default())
            }
            fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
                Ok(TextList::default())
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
                Ok(TextList::default())
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
                Ok(TextList::default())
            }
            fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(TextList::default())
            }
        }
        d.deserialize_any(V)
    }
}

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

/// The union of every top-level field of every supported envelope. Unread fields are skipped
/// by serde without allocation. `D` is how `detail` is read: [`AnyDetail`] in one pass, or
/// [`RawDetail`] to be parsed once its kind is known.
#[derive(Default)]
struct Top<'a, D> {
    // EventBridge and CodeStar processed.
    detail_type: Str<'a>,
    detail_type_processed: Str<'a>,
    id: Str<'a>,
    source: Str<'a>,
    account: Str<'a>,
    region: Str<'a>,
    time: Str<'a>,
    resources: TextList<'a>,
    detail: D,
    additional: Option<&'a RawValue>,
    // SNS: Lambda records and notification documents.
    records: L<Record>,
    sns_type: Str<'a>,
    message: Str<'a>,
    message_id: Str<'a>,
    timestamp: Str<'a>,
    topic_arn: Str<'a>,
    // CodePipeline approval message.
    approval: Option<RawApproval>,
    console_link: Str<'a>,
    // Classic CloudWatch alarm SNS JSON.
    alarm_name: Str<'a>,
    alarm_description: Str<'a>,
    aws_account_id: Str<'a>,
    new_state_value: Str<'a>,
    old_state_value: Str<'a>,
    new_state_reason: Str<'a>,
    state_change_time: Str<'a>,
    region_name: Str<'a>,
    alarm_arn_classic: Str<'a>,
    // Alarm Lambda action.
    alarm_arn: Str<'a>,
    account_id: Str<'a>,
    alarm_data: Option<AlarmData>,
    // CodeDeploy SNS trigger.
    event_trigger_name: Str<'a>,
    application_name: Str<'a>,
    deployment_id: Str<'a>,
    deployment_group_name: Str<'a>,
    create_time: Str<'a>,
    complete_time: Str<'a>,
    status: Str<'a>,
    error_information: Option<ErrorInformation>,
    instance_id: Str<'a>,
    instance_status: Str<'a>,
    last_updated_at: Str<'a>,
    lifecycle_events: L<LifecycleEvent>,
}

keys! {
    /// The JSON names of [`Top`]'s fields.
    TopKey {
        DetailType = "detail-type",
        DetailTypeProcessed = "detailType",
        Id = "id",
        Source = "source",
        Account = "account",
        Region = "region",
        Time = "time",
        Resources = "resources",
        Detail = "detail",
        Additional = "additionalAttributes",
        Records = "Records",
        SnsType = "Type",
        Message = "Message",
        MessageId = "MessageId",
        Timestamp = "Timestamp",
        TopicArn = "TopicArn",
        Approval = "approval",
        ConsoleLink = "consoleLink",
        AlarmName = "AlarmName",
        AlarmDescription = "AlarmDescription",
        AwsAccountId = "AWSAccountId",
        NewStateValue = "NewStateValue",
        OldStateValue = "OldStateValue",
        NewStateReason = "NewStateReason",
        StateChangeTime = "StateChangeTime",
        RegionName = "Region",
        AlarmArnClassic = "AlarmArn",
        AlarmArn = "alarmArn",
        AccountId = "accountId",
        AlarmData = "alarmData",
        EventTriggerName = "eventTriggerName",
        ApplicationName = "applicationName",
        DeploymentId = "deploymentId",
        DeploymentGroupName = "deploymentGroupName",
        CreateTime = "createTime",
        CompleteTime = "completeTime",
        Status = "status",
        ErrorInformation = "errorInformation",
        InstanceId = "instanceId",
        InstanceStatus = "instanceStatus",
        LastUpdatedAt = "lastUpdatedAt",
        LifecycleEvents = "lifecycleEvents",
    }
}

/// Reads a value into an existing place (`Deserialize::deserialize_in_place`).
struct InPlace<'p, T>(&'p mut T);

impl<'de, T: Deserialize<'de>> de::DeserializeSeed<'de> for InPlace<'_, T> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        T::deserialize_in_place(d, self.0)
    }
}

/// Reads one envelope object into `top` in place, as `#[derive(Deserialize)]` with
/// `#[serde(default)]` would read it (same errors), without building the large struct on the
/// stack and copying it out.
fn read_top<'a, R, D>(
    mut de: serde_json::Deserializer<R>,
    top: &mut Top<'a, D>,
) -> serde_json::Result<()>
where
    R: serde_json::de::Read<'a>,
    D: Deserialize<'a>,
{
    de.deserialize_map(&mut *top)?;
    de.end()
}

impl<'de, D: Deserialize<'de>> Visitor<'de> for &mut Top<'de, D> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("struct Top")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<(), A::Error> {
        use TopKey as K;
        let mut seen = 0;
        while let Some(key) = m.next_key::<TopKey>()? {
            key.first_time(&mut seen)?;
            match key {
                K::DetailType => self.detail_type = m.next_value()?,
                K::DetailTypeProcessed => self.detail_type_processed = m.next_value()?,
                K::Id => self.id = m.next_value()?,
                K::Source => self.source = m.next_value()?,
                K::Account => self.account = m.next_value()?,
                K::Region => self.region = m.next_value()?,
                K::Time => self.time = m.next_value()?,
                K::Resources => self.resources = m.next_value()?,
                K::Detail => m.next_value_seed(InPlace(&mut self.detail))?,
                K::Additional => self.additional = m.next_value()?,
                K::Records => self.records = m.next_value()?,
                K::SnsType => self.sns_type = m.next_value()?,
                K::Message => self.message = m.next_value()?,
                K::MessageId => self.message_id = m.next_value()?,
                K::Timestamp => self.timestamp = m.next_value()?,
                K::TopicArn => self.topic_arn = m.next_value()?,
                K::Approval => self.approval = m.next_value()?,
                K::ConsoleLink => self.console_link = m.next_value()?,
                K::AlarmName => self.alarm_name = m.next_value()?,
                K::AlarmDescription => self.alarm_description = m.next_value()?,
                K::AwsAccountId => self.aws_account_id = m.next_value()?,
                K::NewStateValue => self.new_state_value = m.next_value()?,
                K::OldStateValue => self.old_state_value = m.next_value()?,
                K::NewStateReason => self.new_state_reason = m.next_value()?,
                K::StateChangeTime => self.state_change_time = m.next_value()?,
                K::RegionName => self.region_name = m.next_value()?,
                K::AlarmArnClassic => self.alarm_arn_classic = m.next_value()?,
                K::AlarmArn => self.alarm_arn = m.next_value()?,
                K::AccountId => self.account_id = m.next_value()?,
                K::AlarmData => self.alarm_data = m.next_value()?,
                K::EventTriggerName => self.event_trigger_name = m.next_value()?,
                K::ApplicationName => self.application_name = m.next_value()?,
                K::DeploymentId => self.deployment_id = m.next_value()?,
                K::DeploymentGroupName => self.deployment_group_name = m.next_value()?,
                K::CreateTime => self.create_time = m.next_value()?,
                K::CompleteTime => self.complete_time = m.next_value()?,
                K::Status => self.status = m.next_value()?,
                K::ErrorInformation => self.error_information = m.next_value()?,
                K::InstanceId => self.instance_id = m.next_value()?,
                K::InstanceStatus => self.instance_status = m.next_value()?,
                K::LastUpdatedAt => self.last_updated_at = m.next_value()?,
                K::LifecycleEvents => self.lifecycle_events = m.next_value()?,
                K::Other => {
                    m.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(())
    }
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
struct PipelineDetail<'a> {
    pipeline: S,
    #[serde(rename = "execution-id")]
    execution_id: S,
    stage: S,
    action: S,
    state: S,
    region: S,
    /// Only parsed, and only for pipeline events: not copied.
    #[serde(rename = "start-time", borrow)]
    start_time: Str<'a>,
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

// ---- reading `detail` ----

/// How `detail` is read into the shape its `detail-type` names.
trait DetailSource<'a> {
    fn pipeline(&mut self) -> PipelineDetail<'a>;
    fn codebuild(&mut self) -> CodeBuildDetail;
    fn codedeploy(&mut self) -> CodeDeployDetail;
    fn ecs(&mut self) -> EcsDetail;
    fn alarm(&mut self) -> AlarmDetail;
    fn health(&mut self) -> HealthDetail;
}

/// `detail` kept as text and parsed as a shape once the kind is known.
type RawDetail<'a> = Option<&'a RawValue>;

impl<'a> DetailSource<'a> for RawDetail<'a> {
    fn pipeline(&mut self) -> PipelineDetail<'a> {
        parse_detail(*self)
    }
    fn codebuild(&mut self) -> CodeBuildDetail {
        parse_detail(*self)
    }
    fn codedeploy(&mut self) -> CodeDeployDetail {
        parse_detail(*self)
    }
    fn ecs(&mut self) -> EcsDetail {
        parse_detail(*self)
    }
    fn alarm(&mut self) -> AlarmDetail {
        parse_detail(*self)
    }
    fn health(&mut self) -> HealthDetail {
        parse_detail(*self)
    }
}

/// `detail` read in one pass, before its kind is known (`detail-type` may come after it),
/// into the fields of every shape at once. Each field is read with the type its shapes give
/// it, so whatever this reads without error, each shape reads the same; anything else (a
/// duplicate field, a field of the wrong type, an array) is an error, and the caller falls
/// back to [`RawDetail`]. Like the shapes, a detail that is null or a scalar reads as empty.
#[derive(Default)]
struct AnyDetail<'a> {
    // The fields more than one shape reads: `state` (CodePipeline, CodeDeploy, alarms),
    // `region` (CodePipeline, CodeDeploy), `deploymentId` (CodeDeploy, ECS).
    state: StateField,
    region: S,
    deployment_id: S,
    // Each shape's other fields, from the first of them met.
    pipeline: Option<PipelineDetail<'a>>,
    codebuild: Option<CodeBuildDetail>,
    codedeploy: Option<CodeDeployDetail>,
    ecs: Option<EcsDetail>,
    alarm: Option<AlarmDetail>,
    health: Option<HealthDetail>,
}

keys! {
    /// The JSON names of the fields of every detail shape.
    DetailKey {
        State = "state",
        Region = "region",
        DeploymentId = "deploymentId",
        // CodePipeline.
        Pipeline = "pipeline",
        ExecutionId = "execution-id",
        Stage = "stage",
        Action = "action",
        StartTime = "start-time",
        ActionExecutionId = "action-execution-id",
        Trigger = "execution-trigger",
        StopComments = "stop-execution-comments",
        ActionType = "type",
        Result = "execution-result",
        // CodeBuild.
        Project = "project-name",
        BuildId = "build-id",
        BuildStatus = "build-status",
        CurrentPhase = "current-phase",
        CompletedPhase = "completed-phase",
        CompletedPhaseStatus = "completed-phase-status",
        CompletedPhaseContext = "completed-phase-context",
        CompletedPhaseStart = "completed-phase-start",
        Info = "additional-information",
        // CodeDeploy.
        Application = "application",
        DeploymentGroup = "deploymentGroup",
        InstanceId = "instanceId",
        // ECS.
        ClusterArn = "clusterArn",
        TaskArn = "taskArn",
        Group = "group",
        StartedBy = "startedBy",
        LastStatus = "lastStatus",
        DesiredStatus = "desiredStatus",
        StoppedReason = "stoppedReason",
        StopCode = "stopCode",
        Containers = "containers",
        EventType = "eventType",
        EventName = "eventName",
        UpdatedAt = "updatedAt",
        Reason = "reason",
        // CloudWatch alarms.
        AlarmName = "alarmName",
        PreviousState = "previousState",
        Configuration = "configuration",
        // AWS Health.
        EventArn = "eventArn",
        Service = "service",
        EventTypeCode = "eventTypeCode",
        EventTypeCategory = "eventTypeCategory",
        StatusCode = "statusCode",
        Description = "eventDescription",
    }
}

impl<'a> AnyDetail<'a> {
    fn pipeline_fields(&mut self) -> &mut PipelineDetail<'a> {
        self.pipeline.get_or_insert_with(Default::default)
    }
    fn codebuild_fields(&mut self) -> &mut CodeBuildDetail {
        self.codebuild.get_or_insert_with(Default::default)
    }
    fn codedeploy_fields(&mut self) -> &mut CodeDeployDetail {
        self.codedeploy.get_or_insert_with(Default::default)
    }
    fn ecs_fields(&mut self) -> &mut EcsDetail {
        self.ecs.get_or_insert_with(Default::default)
    }
    fn alarm_fields(&mut self) -> &mut AlarmDetail {
        self.alarm.get_or_insert_with(Default::default)
    }
    fn health_fields(&mut self) -> &mut HealthDetail {
        self.health.get_or_insert_with(Default::default)
    }
}

impl<'de> Deserialize<'de> for AnyDetail<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let mut detail = AnyDetail::default();
        Self::deserialize_in_place(d, &mut detail)?;
        Ok(detail)
    }

    // In place: it is large (every shape's fields), and is read into the envelope's.
    fn deserialize_in_place<D: Deserializer<'de>>(d: D, place: &mut Self) -> Result<(), D::Error> {
        *place = AnyDetail::default();
        d.deserialize_any(place)
    }
}

impl<'de> Visitor<'de> for &mut AnyDetail<'de> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a detail object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<(), A::Error> {
        use DetailKey as K;
        let mut seen = 0;
        while let Some(key) = m.next_key::<DetailKey>()? {
            key.first_time(&mut seen)?;
            match key {
                K::State => self.state = m.next_value()?,
                K::Region => self.region = m.next_value()?,
                K::DeploymentId => self.deployment_id = m.next_value()?,
                K::Pipeline => self.pipeline_fields().pipeline = m.next_value()?,
                K::ExecutionId => self.pipeline_fields().execution_id = m.next_value()?,
                K::Stage => self.pipeline_fields().stage = m.next_value()?,
                K::Action => self.pipeline_fields().action = m.next_value()?,
                K::StartTime => self.pipeline_fields().start_time = m.next_value()?,
                K::ActionExecutionId => {
                    self.pipeline_fields().action_execution_id = m.next_value()?
                }
                K::Trigger => self.pipeline_fields().trigger = m.next_value()?,
                K::StopComments => self.pipeline_fields().stop_comments = m.next_value()?,
                K::ActionType => self.pipeline_fields().action_type = m.next_value()?,
                K::Result => self.pipeline_fields().result = m.next_value()?,
                K::Project => self.codebuild_fields().project = m.next_value()?,
                K::BuildId => self.codebuild_fields().build_id = m.next_value()?,
                K::BuildStatus => self.codebuild_fields().build_status = m.next_value()?,
                K::CurrentPhase => self.codebuild_fields().current_phase = m.next_value()?,
                K::CompletedPhase => self.codebuild_fields().completed_phase = m.next_value()?,
                K::CompletedPhaseStatus => {
                    self.codebuild_fields().completed_phase_status = m.next_value()?
                }
                K::CompletedPhaseContext => {
                    self.codebuild_fields().completed_phase_context = m.next_value()?
                }
                K::CompletedPhaseStart => {
                    self.codebuild_fields().completed_phase_start = m.next_value()?
                }
                K::Info => self.codebuild_fields().info = m.next_value()?,
                K::Application => self.codedeploy_fields().application = m.next_value()?,
                K::DeploymentGroup => self.codedeploy_fields().deployment_group = m.next_value()?,
                K::InstanceId => self.codedeploy_fields().instance_id = m.next_value()?,
                K::ClusterArn => self.ecs_fields().cluster_arn = m.next_value()?,
                K::TaskArn => self.ecs_fields().task_arn = m.next_value()?,
                K::Group => self.ecs_fields().group = m.next_value()?,
                K::StartedBy => self.ecs_fields().started_by = m.next_value()?,
                K::LastStatus => self.ecs_fields().last_status = m.next_value()?,
                K::DesiredStatus => self.ecs_fields().desired_status = m.next_value()?,
                K::StoppedReason => self.ecs_fields().stopped_reason = m.next_value()?,
                K::StopCode => self.ecs_fields().stop_code = m.next_value()?,
                K::Containers => self.ecs_fields().containers = m.next_value()?,
                K::EventType => self.ecs_fields().event_type = m.next_value()?,
                K::EventName => self.ecs_fields().event_name = m.next_value()?,
                K::UpdatedAt => self.ecs_fields().updated_at = m.next_value()?,
                K::Reason => self.ecs_fields().reason = m.next_value()?,
                K::AlarmName => self.alarm_fields().alarm_name = m.next_value()?,
                K::PreviousState => self.alarm_fields().previous_state = m.next_value()?,
                K::Configuration => self.alarm_fields().configuration = m.next_value()?,
                K::EventArn => self.health_fields().event_arn = m.next_value()?,
                K::Service => self.health_fields().service = m.next_value()?,
                K::EventTypeCode => self.health_fields().event_type_code = m.next_value()?,
                K::EventTypeCategory => {
                    self.health_fields().event_type_category = m.next_value()?
                }
                K::StatusCode => self.health_fields().status_code = m.next_value()?,
                K::Description => self.health_fields().description = m.next_value()?,
                K::Other => {
                    m.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(())
    }

    // A scalar or null: no shape reads anything from it.
    fn visit_str<E: de::Error>(self, _: &str) -> Result<(), E> {
        Ok(())
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<(), E> {
        Ok(())
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<(), E> {
        Ok(())
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<(), E> {
        Ok(())
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<(), E> {
        Ok(())
    }
    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        Ok(())
    }
    // An array would be read by position into each shape's fields: left to RawDetail.
}

/// `state` in [`AnyDetail`]: a string to CodePipeline and CodeDeploy (which read an object as
/// absent), an object to alarms (which reject a detail whose `state` is not one).
#[derive(Default)]
enum StateField {
    #[default]
    Absent,
    Text(S),
    Object(StateValue),
}

impl StateField {
    fn from_text(t: Option<Cow<'_, str>>) -> StateField {
        StateField::Text(S(t.map(Cow::into_owned)))
    }

    /// As `S` reads it.
    fn text(&mut self) -> S {
        match std::mem::take(self) {
            StateField::Text(s) => s,
            StateField::Absent | StateField::Object(_) => S::default(),
        }
    }
}

impl<'de> Deserialize<'de> for StateField {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = StateField;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a state")
            }
            fn visit_map<A: MapAccess<'de>>(self, m: A) -> Result<StateField, A::Error> {
                StateValue::deserialize(de::value::MapAccessDeserializer::new(m))
                    .map(StateField::Object)
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<StateField, E> {
                ScalarText.visit_str(v).map(StateField::from_text)
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<StateField, E> {
                ScalarText.visit_string(v).map(StateField::from_text)
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<StateField, E> {
                ScalarText.visit_i64(v).map(StateField::from_text)
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<StateField, E> {
                ScalarText.visit_u64(v).map(StateField::from_text)
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<StateField, E> {
                ScalarText.visit_f64(v).map(StateField::from_text)
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<StateField, E> {
                ScalarText.visit_bool(v).map(StateField::from_text)
            }
            fn visit_unit<E: de::Error>(self) -> Result<StateField, E> {
                Ok(StateField::Text(S(None)))
            }
            // An array: `S` reads it as absent, `StateValue` by position; left to RawDetail.
        }
        d.deserialize_any(V)
    }
}

impl<'a> DetailSource<'a> for AnyDetail<'a> {
    fn pipeline(&mut self) -> PipelineDetail<'a> {
        let mut d = self.pipeline.take().unwrap_or_default();
        d.state = self.state.text();
        d.region = std::mem::take(&mut self.region);
        d
    }
    fn codebuild(&mut self) -> CodeBuildDetail {
        self.codebuild.take().unwrap_or_default()
    }
    fn codedeploy(&mut self) -> CodeDeployDetail {
        let mut d = self.codedeploy.take().unwrap_or_default();
        d.state = self.state.text();
        d.region = std::mem::take(&mut self.region);
        d.deployment_id = std::mem::take(&mut self.deployment_id);
        d
    }
    fn ecs(&mut self) -> EcsDetail {
        let mut d = self.ecs.take().unwrap_or_default();
        d.deployment_id = std::mem::take(&mut self.deployment_id);
        d
    }
    fn alarm(&mut self) -> AlarmDetail {
        let state = match std::mem::take(&mut self.state) {
            StateField::Absent => StateValue::default(),
            StateField::Object(state) => state,
            // `StateValue` rejects a string or null, and so the whole detail.
            StateField::Text(_) => return AlarmDetail::default(),
        };
        let mut d = self.alarm.take().unwrap_or_default();
        d.state = state;
        d
    }
    fn health(&mut self) -> HealthDetail {
        self.health.take().unwrap_or_default()
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
            })
        }
        _ => Event::Unknown(Unknown {
            meta,
            source: top.source.take().unwrap_or_default(),
            detail_type: detail_type.into_owned(),
        }),
    };
    Ok(event)
}

fn decode_pipeline(
    detail_type: &str,
    meta: Meta,
    mut d: PipelineDetail<'_>,
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
    resources: &TextList<'_>,
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
            let task_arn = d.task_arn.take().or_else(|| {
                resources
                    .iter()
                    .find(|r| r.contains(":task/"))
                    .map(str::to_owned)
            });
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

fn decode_approval<D>(
    top: &mut Top<'_, D>,
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

fn decode_classic_alarm<D>(top: &mut Top<'_, D>, outer: &Outer) -> Event {
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

fn decode_alarm_action<D>(
    top: &mut Top<'_, D>,
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

fn decode_codedeploy_trigger<D>(top: &mut Top<'_, D>, outer: &Outer) -> Result<Event, DecodeError> {
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
