//! The envelope around an event: EventBridge's top level read in place by one visitor, and the SNS, SQS and Lambda wrappers around it.

use super::*;

/// The union of every top-level field of every supported envelope. Unread fields are skipped
/// by serde without allocation. `D` is how `detail` is read: [`AnyDetail`] in one pass, or
/// [`RawDetail`] to be parsed once its kind is known.
#[derive(Default)]
pub(super) struct Top<'a, D> {
    // EventBridge and CodeStar processed.
    pub(super) detail_type: Str<'a>,
    pub(super) detail_type_processed: Str<'a>,
    pub(super) id: Str<'a>,
    pub(super) source: Str<'a>,
    pub(super) account: Str<'a>,
    pub(super) region: Str<'a>,
    pub(super) time: Str<'a>,
    pub(super) resources: TextList<'a>,
    pub(super) detail: D,
    pub(super) additional: Option<&'a RawValue>,
    // SNS: Lambda records and notification documents.
    pub(super) records: L<Record>,
    pub(super) sns_type: Str<'a>,
    pub(super) message: Str<'a>,
    pub(super) message_id: Str<'a>,
    pub(super) timestamp: Str<'a>,
    pub(super) topic_arn: Str<'a>,
    // CodePipeline approval message.
    pub(super) approval: Option<RawApproval>,
    pub(super) console_link: Str<'a>,
    // Classic CloudWatch alarm SNS JSON.
    pub(super) alarm_name: Str<'a>,
    pub(super) alarm_description: Str<'a>,
    pub(super) aws_account_id: Str<'a>,
    pub(super) new_state_value: Str<'a>,
    pub(super) old_state_value: Str<'a>,
    pub(super) new_state_reason: Str<'a>,
    pub(super) state_change_time: Str<'a>,
    pub(super) region_name: Str<'a>,
    pub(super) alarm_arn_classic: Str<'a>,
    pub(super) trigger: Option<ClassicTrigger>,
    // Alarm Lambda action.
    pub(super) alarm_arn: Str<'a>,
    pub(super) account_id: Str<'a>,
    pub(super) alarm_data: Option<AlarmDetail>,
    // CodeDeploy SNS trigger.
    pub(super) event_trigger_name: Str<'a>,
    pub(super) application_name: Str<'a>,
    pub(super) deployment_id: Str<'a>,
    pub(super) deployment_group_name: Str<'a>,
    pub(super) create_time: Str<'a>,
    pub(super) complete_time: Str<'a>,
    pub(super) status: Str<'a>,
    pub(super) error_information: Option<ErrorInformation>,
    pub(super) instance_id: Str<'a>,
    pub(super) instance_status: Str<'a>,
    pub(super) last_updated_at: Str<'a>,
    pub(super) lifecycle_events: L<LifecycleEvent>,
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
        Trigger = "Trigger",
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
pub(super) struct InPlace<'p, T>(pub(super) &'p mut T);

impl<'de, T: Deserialize<'de>> de::DeserializeSeed<'de> for InPlace<'_, T> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        T::deserialize_in_place(d, self.0)
    }
}

/// Reads one envelope object into `top` in place, as `#[derive(Deserialize)]` with
/// `#[serde(default)]` would read it (same errors), without building the large struct on the
/// stack and copying it out.
pub(super) fn read_top<'a, R, D>(
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
                K::Trigger => self.trigger = m.next_value()?,
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
pub(super) struct Record {
    #[serde(rename = "Sns")]
    pub(super) sns: Option<SnsRecord>,
    /// SQS-to-Lambda records carry the message in `body`.
    pub(super) body: S,
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub(super) struct SnsRecord {
    #[serde(rename = "Message")]
    pub(super) message: S,
    #[serde(rename = "MessageId")]
    pub(super) message_id: S,
    #[serde(rename = "Timestamp")]
    pub(super) timestamp: S,
    #[serde(rename = "TopicArn")]
    pub(super) topic_arn: S,
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub(super) struct RawApproval {
    #[serde(rename = "pipelineName")]
    pub(super) pipeline_name: S,
    #[serde(rename = "stageName")]
    pub(super) stage_name: S,
    #[serde(rename = "actionName")]
    pub(super) action_name: S,
    pub(super) token: S,
    pub(super) expires: S,
    #[serde(rename = "externalEntityLink")]
    pub(super) external_entity_link: S,
    #[serde(rename = "approvalReviewLink")]
    pub(super) approval_review_link: S,
    #[serde(rename = "customData")]
    pub(super) custom_data: S,
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub(super) struct StateValue {
    pub(super) value: S,
    pub(super) reason: S,
    pub(super) timestamp: S,
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub(super) struct AlarmConfiguration {
    pub(super) description: S,
    pub(super) metrics: L<AlarmMetric>,
    #[serde(rename = "alarmRule")]
    pub(super) alarm_rule: S,
}

impl AlarmConfiguration {
    /// The dimensions of every metric the alarm reads (the first value of a name wins).
    pub(super) fn dimensions(&mut self) -> std::collections::BTreeMap<String, String> {
        let mut out = std::collections::BTreeMap::new();
        for m in &mut self.metrics.0 {
            for (k, v) in std::mem::take(&mut m.metric_stat.metric.dimensions) {
                if let Some(v) = v.0.filter(|v| !v.is_empty()) {
                    out.entry(k).or_insert(v);
                }
            }
        }
        out
    }
}

/// A classic alarm SNS message's `Trigger`: the metric it watches.
#[derive(Deserialize, Default)]
#[serde(default)]
pub(super) struct ClassicTrigger {
    #[serde(rename = "Dimensions")]
    pub(super) dimensions: L<ClassicDimension>,
}

impl ClassicTrigger {
    pub(super) fn dimensions(&mut self) -> std::collections::BTreeMap<String, String> {
        let mut out = std::collections::BTreeMap::new();
        for d in &mut self.dimensions.0 {
            if let (Some(k), Some(v)) = (d.name.take(), d.value.take()) {
                out.entry(k).or_insert(v);
            }
        }
        out
    }
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub(super) struct ClassicDimension {
    pub(super) name: S,
    pub(super) value: S,
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub(super) struct AlarmMetric {
    #[serde(rename = "metricStat")]
    pub(super) metric_stat: MetricStat,
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub(super) struct MetricStat {
    pub(super) metric: MetricId,
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub(super) struct MetricId {
    pub(super) dimensions: std::collections::BTreeMap<String, S>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub(super) struct ErrorInformation {
    #[serde(rename = "ErrorCode")]
    pub(super) code: S,
    #[serde(rename = "ErrorMessage")]
    pub(super) message: S,
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub(super) struct LifecycleEvent {
    #[serde(rename = "LifecycleEvent")]
    pub(super) name: S,
    #[serde(rename = "LifecycleEventStatus")]
    pub(super) status: S,
}

#[cfg(test)]
mod tests {
    /// Every fixture, whatever its envelope (raw EventBridge, CodeStar "processed", SNS records
    /// and notifications, Lambda payloads), decodes and round-trips; the shapes Herald does not
    /// act on are `unknown`, and Health events have their own kind.
    #[test]
    fn every_envelope_decodes_and_round_trips() {
        let files = super::super::round_trip_fixtures(
            &[
                "codepipeline-",
                "codebuild-",
                "codedeploy-",
                "ecs-",
                "cloudwatch-",
                "health-",
            ],
            &["health", "unknown", "deployment_state"],
        );
        assert!(files >= 90, "{files} fixtures");
    }
}
