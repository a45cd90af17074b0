//! Messages that are not EventBridge events: CodePipeline approval SNS messages, classic alarm SNS JSON and Lambda alarm actions, CodeDeploy SNS triggers.

use super::*;

pub(super) fn decode_approval<D>(
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

pub(super) fn decode_classic_alarm<D>(top: &mut Top<'_, D>, outer: &Outer) -> Event {
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
        dimensions: top
            .trigger
            .as_mut()
            .map(|t| t.dimensions())
            .unwrap_or_default(),
        alarm_rule: None,
    })
}

pub(super) fn decode_alarm_action<D>(
    top: &mut Top<'_, D>,
    mut data: AlarmDetail,
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
        dimensions: data.configuration.dimensions(),
        alarm_rule: data.configuration.alarm_rule.take(),
    }))
}

pub(super) fn decode_codedeploy_trigger<D>(
    top: &mut Top<'_, D>,
    outer: &Outer,
) -> Result<Event, DecodeError> {
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
pub(super) fn trigger_state(s: Option<String>) -> Option<String> {
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
pub(super) fn region_code(name: &str) -> Option<&'static str> {
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
    #[test]
    fn its_fixtures_decode_to_its_kinds_and_round_trip() {
        let files = super::super::round_trip_fixtures(
            &[
                "codedeploy-trigger",
                "cloudwatch-alarm-sns",
                "cloudwatch-alarm-lambda",
                "codepipeline-manual-approval",
            ],
            &[
                "deployment_state",
                "deployment_instance",
                "alarm_state",
                "manual_approval",
            ],
        );
        assert!(files > 0);
    }
}
