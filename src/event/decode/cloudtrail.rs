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
    let deploys = name == "CreateService"
        || (name == "UpdateService"
            && (force_new_deployment || task_definition.is_some() || !req.other.is_empty()));
    let deployment_id = std::mem::take(&mut svc.deployments.0)
        .into_iter()
        .find_map(|mut dep| {
            let primary = dep.status.take().is_some_and(|s| s == "PRIMARY");
            dep.id.take().filter(|_| primary)
        });
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
    }))
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
        // A service-linked role's session (Application Auto Scaling's) is the service's.
        Some("AssumedRole") if by_service.is_some() => by_service,
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
    #[test]
    fn its_fixtures_decode_to_its_kind_and_round_trip() {
        let files = super::super::round_trip_fixtures(&["cloudtrail-"], &["api_call"]);
        assert!(files >= 3);
    }
}
