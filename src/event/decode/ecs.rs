//! ECS: task state changes, deployment state changes and service actions.

use super::*;

pub(super) fn decode_ecs(
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

#[cfg(test)]
mod tests {
    #[test]
    fn its_fixtures_decode_to_its_kinds_and_round_trip() {
        let files = super::super::round_trip_fixtures(
            &["ecs-"],
            &["ecs_task", "ecs_deployment", "ecs_service_action"],
        );
        assert!(files > 0);
    }
}
