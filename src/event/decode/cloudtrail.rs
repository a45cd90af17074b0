//! CloudTrail: "AWS API Call via CloudTrail" events, read for who called what (ECS service
//! calls: `CreateService`, `UpdateService`, `DeleteService`).

use super::*;

pub(super) fn decode_api_call(meta: Meta, mut d: CloudTrailDetail) -> Result<Event, DecodeError> {
    let kind = "api_call";
    let name = required(d.event_name.take(), kind, "eventName")?;
    let mut who = d.user_identity.0.take().unwrap_or_default();
    let invoked_by = who.invoked_by.take();
    let mut req = d.request.0.take().unwrap_or_default();
    let mut svc = d
        .response
        .0
        .take()
        .and_then(|r| r.service)
        .unwrap_or_default();
    let service = req
        .service
        .take()
        .or_else(|| req.service_name.take())
        .or_else(|| svc.service_name.take())
        .map(|s| arn_short_name(&s).to_owned());
    let cluster = req
        .cluster
        .take()
        .or_else(|| svc.cluster_arn.take())
        .map(|c| arn_short_name(&c).to_owned())
        // ECS's default cluster when the call names none.
        .or_else(|| service.as_ref().map(|_| "default".to_owned()));
    let force_new_deployment = req
        .force_new_deployment
        .take()
        .is_some_and(|f| f.eq_ignore_ascii_case("true"));
    let task_definition = req
        .task_definition
        .take()
        .map(|t| arn_short_name(&t).to_owned());
    let primary = std::mem::take(&mut svc.deployments.0)
        .into_iter()
        .find_map(|mut dep| {
            let primary = dep.status.take().is_some_and(|s| s == "PRIMARY");
            let created = dep.created_at.take().and_then(|t| cloudtrail_time(&t));
            dep.id.take().filter(|_| primary).map(|id| (id, created))
        });
    let called = meta.time.map(|t| t.timestamp());
    // Whether the call started a deployment: AWS's answer says so when its PRIMARY deployment
    // was created with the call (CloudFormation and the console send the whole service,
    // current task definition included, with a desired-count change). Where that time cannot
    // be read, by what the call asks.
    let deploys = matches!(name.as_str(), "CreateService" | "UpdateService")
        && match (primary.as_ref().and_then(|(_, c)| *c), called) {
            (Some(created), Some(at)) => created_with_call(created, at),
            _ => {
                name == "CreateService"
                    || force_new_deployment
                    || task_definition.is_some()
                    || !req.other.is_empty()
            }
        };
    let deployment_id = primary.map(|(id, _)| id);
    Ok(Event::ApiCall(ApiCall {
        meta,
        api: d.event_source.take().unwrap_or_default(),
        name,
        cluster,
        service,
        principal: principal(&mut who, invoked_by.as_deref()),
        invoked_by,
        desired_count: req.desired_count.take().and_then(|c| c.parse().ok()),
        task_definition,
        force_new_deployment,
        deploys,
        deployment_id,
        error_code: d.error_code.take(),
        event_id: d.event_id.take(),
    }))
}

/// How far apart a call and the deployment it started may be (CloudTrail's time is the call's,
/// ECS's the deployment's creation: the same second, give or take clocks).
const CREATED_WITH_CALL_SECS: i64 = 60;

/// Whether a deployment created at `created` was created by a call at `at` (Unix seconds; a
/// time out of range reads as the end of the range, and never overflows).
fn created_with_call(created: i64, at: i64) -> bool {
    created.abs_diff(at) <= CREATED_WITH_CALL_SECS.unsigned_abs()
}

/// A time in a CloudTrail answer: `Mar 2, 2026, 9:59:58 AM` (how CloudTrail writes ECS's
/// dates), RFC 3339, or epoch seconds (milliseconds above 10^11).
fn cloudtrail_time(s: &str) -> Option<i64> {
    let s = s.trim();
    if let Ok(n) = s.parse::<f64>() {
        let secs = if n.abs() > 1e11 { n / 1000.0 } else { n };
        return Some(secs as i64);
    }
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(s) {
        return Some(t.timestamp());
    }
    chrono::NaiveDateTime::parse_from_str(s, "%b %e, %Y, %l:%M:%S %p")
        .ok()
        .map(|t| t.and_utc().timestamp())
}

/// Who called, as a person reads it: an IAM user's name; an assumed role's session name (SSO
/// users' is their user name or email); `root`; the AWS service that called for itself.
fn principal(who: &mut CtIdentity, invoked_by: Option<&str>) -> String {
    let arn = who.arn.take();
    let last = |arn: &Option<String>| arn.as_deref().map(|a| arn_short_name(a).to_owned());
    let by_service = invoked_by.map(service_name);
    match who.kind.take().as_deref() {
        Some("IAMUser") => who.user_name.take().or_else(|| last(&arn)),
        Some("Root") => Some("root".to_owned()),
        Some("AWSService") => by_service,
        // A service-linked role's session (Application Auto Scaling's) is the service's; a
        // person's role used through a service (CloudFormation) stays the person's.
        Some("AssumedRole")
            if by_service.is_some()
                && arn
                    .as_deref()
                    .is_some_and(|a| a.contains(":assumed-role/AWSServiceRoleFor")) =>
        {
            by_service
        }
        Some("AssumedRole") | Some("FederatedUser") => last(&arn),
        _ => by_service.or_else(|| last(&arn)),
    }
    .or_else(|| {
        who.principal_id
            .take()
            .map(|p| p.rsplit(':').next().unwrap_or(&p).to_owned())
    })
    .unwrap_or_else(|| "unknown".to_owned())
}

/// An AWS service's name from its principal (`ecs.application-autoscaling.amazonaws.com`).
fn service_name(invoked_by: &str) -> String {
    let host = invoked_by.trim_end_matches(".amazonaws.com");
    match host {
        "ecs.application-autoscaling" | "application-autoscaling" => {
            "Application Auto Scaling".to_owned()
        }
        "cloudformation" => "CloudFormation".to_owned(),
        "codepipeline" => "CodePipeline".to_owned(),
        "codedeploy" => "CodeDeploy".to_owned(),
        other => other.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn its_fixtures_decode_to_its_kind_and_round_trip() {
        let files = super::super::round_trip_fixtures(&["cloudtrail-"], &["api_call"]);
        assert!(files >= 3);
    }

    #[test]
    fn a_creation_time_out_of_range_is_no_overflow() {
        let huge = cloudtrail_time("1e300").unwrap_or_default();
        let tiny = cloudtrail_time("-1e300").unwrap_or_default();
        assert!(!created_with_call(huge, tiny));
        assert!(!created_with_call(tiny, huge));
        assert!(created_with_call(1_000, 1_060));
        assert!(!created_with_call(1_000, 1_061));
    }

    #[test]
    fn cloudtrail_times_are_read_in_its_formats() {
        assert_eq!(
            cloudtrail_time("Mar 2, 2026, 9:59:58 AM"),
            Some(1_772_445_598)
        );
        assert_eq!(
            cloudtrail_time("Dec 12, 2026, 10:01:02 PM"),
            Some(1_797_112_862)
        );
        assert_eq!(cloudtrail_time("1772445598"), Some(1_772_445_598));
        assert_eq!(cloudtrail_time("1772445598123"), Some(1_772_445_598));
        assert_eq!(cloudtrail_time("2026-03-02T09:59:58Z"), Some(1_772_445_598));
        assert_eq!(cloudtrail_time("yesterday"), None);
    }

    /// The SSO user's call of the fixtures, changed by `f`.
    fn call(f: impl FnOnce(&mut serde_json::Value)) -> ApiCall {
        let mut v: serde_json::Value = serde_json::from_str(include_str!(
            "../../../tests/fixtures/cloudtrail-ecs-updateservice-new-task-definition-sso-herald.json"
        ))
        .expect("fixture");
        f(&mut v["detail"]);
        match crate::event::decode_value(&v).expect("decodes").pop() {
            Some(Event::ApiCall(c)) => c,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_call_started_a_deployment_when_aws_created_one_with_it() {
        let fixture = call(|_| {});
        assert!(fixture.deploys);
        assert_eq!(
            fixture.event_id.as_deref(),
            Some("6f1f3c2e-2d3b-4a8e-9f3a-000000000001")
        );
        // CloudFormation sends the whole service (its current task definition too) with a
        // desired-count change: the PRIMARY deployment is the old one, so no deployment.
        let old = call(|d| {
            d["requestParameters"]["desiredCount"] = 6.into();
            d["responseElements"]["service"]["deployments"][0]["createdAt"] =
                "Feb 27, 2026, 4:12:09 PM".into();
        });
        assert!(!old.deploys);
        assert_eq!(old.desired_count, Some(6));
        // No time to read: what the call asks decides.
        let unknown = call(|d| {
            d["responseElements"]["service"]["deployments"][0]["createdAt"] = "?".into();
        });
        assert!(unknown.deploys, "it asks for a task definition");
    }

    #[test]
    fn a_persons_role_used_through_a_service_stays_the_persons() {
        // bob-ops's SSO role, with CloudFormation making the call on his behalf.
        let through = call(|d| {
            d["userIdentity"]["invokedBy"] = "cloudformation.amazonaws.com".into();
        });
        assert_eq!(through.principal, "bob-ops");
        assert_eq!(
            through.invoked_by.as_deref(),
            Some("cloudformation.amazonaws.com")
        );
        let root = call(|d| {
            d["userIdentity"] = serde_json::json!({"type": "Root", "arn": "arn:aws:iam::1:root"});
        });
        assert_eq!(root.principal, "root");
        let service = call(|d| {
            d["userIdentity"] =
                serde_json::json!({"type": "AWSService", "invokedBy": "codedeploy.amazonaws.com"});
        });
        assert_eq!(service.principal, "CodeDeploy");
    }
}
