//! CodeDeploy: the deployment's error information (`GetDeployment`) and, for every failed target
//! of any compute platform (EC2/on-premises instance, ECS, Lambda, CloudFormation), the first
//! failed lifecycle event with its script, error code, message and log tail
//! (`ListDeploymentTargets`, paginated, then `BatchGetDeploymentTargets` in chunks of 25); and
//! the alarms of a deployment's group (`GetDeploymentGroup`), which watch it for deploy verdicts.

use super::accounts::Clients;
use super::{Api, CallError, Ctx, DeploymentDetail, Outcome, TailLimits, TargetFailure};
use aws_sdk_codedeploy::types::{DeploymentTarget, LifecycleEvent, TargetFilterName};

/// `BatchGetDeploymentTargets` takes at most 25 target ids.
pub const BATCH_MAX: usize = 25;
/// `ListDeploymentTargets` pages read per deployment at most.
const MAX_PAGES: usize = 20;

/// Deployment states after which nothing changes.
fn terminal(status: &str) -> bool {
    matches!(status, "Succeeded" | "Failed" | "Stopped")
}

/// Learns what `known` lacks about one deployment: its error information (unless already
/// fetched in a final state) and its failed targets (unless already listed), concurrently.
pub async fn fetch(
    ctx: &Ctx,
    c: &Clients,
    deployment_id: &str,
    known: Option<&DeploymentDetail>,
    max_targets: usize,
    limits: &TailLimits,
) -> DeploymentDetail {
    let mut d = known.cloned().unwrap_or_default();
    let info = async {
        if d.fetched {
            None
        } else {
            Some(get_deployment(ctx, c, deployment_id).await)
        }
    };
    let targets = async {
        if d.targets_done {
            None
        } else {
            Some(failed_targets(ctx, c, deployment_id, max_targets, limits).await)
        }
    };
    let (info, targets) = tokio::join!(info, targets);
    match info {
        Some(Ok(i)) => {
            d.fetched = i.status.as_deref().is_some_and(terminal);
            d.status = i.status.or(d.status.take());
            d.error_code = i.error_code.or(d.error_code.take());
            d.error_message = i.error_message.or(d.error_message.take());
            d.application = i.application.or(d.application.take());
            d.deployment_group = i.deployment_group.or(d.deployment_group.take());
        }
        // Not in this account and region: asking again will not find it.
        Some(Err(e)) if e.outcome == Outcome::NotFound => d.fetched = true,
        _ => {}
    }
    match targets {
        Some(Ok(t)) => {
            d.targets = t;
            // A deployment still running may fail more targets: list again next time.
            d.targets_done = d.fetched || !d.targets.is_empty();
        }
        Some(Err(e)) if e.outcome == Outcome::NotFound => d.targets_done = true,
        _ => {}
    }
    d
}

/// The alarms of a deployment group's alarm configuration (`GetDeploymentGroup`), by name;
/// empty when it has none.
pub async fn group_alarms(
    ctx: &Ctx,
    c: &Clients,
    application: &str,
    group: &str,
) -> Result<Vec<String>, CallError> {
    let req = c
        .codedeploy
        .get_deployment_group()
        .application_name(application)
        .deployment_group_name(group);
    let out = ctx
        .call(Api::GetDeploymentGroup, async {
            req.send().await.map_err(|e| CallError::from_sdk(&e))
        })
        .await?;
    Ok(out
        .deployment_group_info()
        .and_then(|g| g.alarm_configuration())
        .map(|a| {
            a.alarms()
                .iter()
                .filter_map(|x| x.name())
                .filter(|n| !n.is_empty())
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default())
}

#[derive(Debug, Default)]
struct Info {
    status: Option<String>,
    error_code: Option<String>,
    error_message: Option<String>,
    application: Option<String>,
    deployment_group: Option<String>,
}

async fn get_deployment(ctx: &Ctx, c: &Clients, id: &str) -> Result<Info, CallError> {
    let req = c.codedeploy.get_deployment().deployment_id(id);
    let out = ctx
        .call(Api::GetDeployment, async {
            req.send().await.map_err(|e| CallError::from_sdk(&e))
        })
        .await?;
    let Some(i) = out.deployment_info() else {
        return Ok(Info::default());
    };
    let err = i.error_information();
    Ok(Info {
        status: i.status().map(|s| s.as_str().to_owned()),
        error_code: err
            .and_then(|e| e.code())
            .map(|c| c.as_str().to_owned())
            .filter(|s| !s.is_empty()),
        error_message: err
            .and_then(|e| e.message())
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned),
        application: i.application_name().map(str::to_owned),
        deployment_group: i.deployment_group_name().map(str::to_owned),
    })
}

/// The failed targets: ids from `ListDeploymentTargets` (filtered to `Failed`, every page),
/// then their details in chunks of 25, the chunks concurrently.
async fn failed_targets(
    ctx: &Ctx,
    c: &Clients,
    id: &str,
    max_targets: usize,
    limits: &TailLimits,
) -> Result<Vec<TargetFailure>, CallError> {
    let mut ids: Vec<String> = Vec::new();
    let mut token: Option<String> = None;
    for _ in 0..MAX_PAGES {
        let req = c
            .codedeploy
            .list_deployment_targets()
            .deployment_id(id)
            .target_filters(TargetFilterName::TargetStatus, vec!["Failed".to_owned()])
            .set_next_token(token.take());
        let out = ctx
            .call(Api::ListDeploymentTargets, async {
                req.send().await.map_err(|e| CallError::from_sdk(&e))
            })
            .await?;
        ids.extend(out.target_ids().iter().cloned());
        match out.next_token() {
            Some(t) if !t.is_empty() && ids.len() < max_targets => token = Some(t.to_owned()),
            _ => break,
        }
    }
    ids.truncate(max_targets);
    let batches = futures::future::join_all(ids.chunks(BATCH_MAX).map(|chunk| {
        let req = c
            .codedeploy
            .batch_get_deployment_targets()
            .deployment_id(id)
            .set_target_ids(Some(chunk.to_vec()));
        ctx.call(Api::BatchGetDeploymentTargets, async move {
            req.send().await.map_err(|e| CallError::from_sdk(&e))
        })
    }))
    .await;
    let mut out = Vec::new();
    let mut first_err = None;
    for b in batches {
        match b {
            Ok(o) => out.extend(
                o.deployment_targets()
                    .iter()
                    .filter_map(|t| failure(t, limits)),
            ),
            Err(e) => {
                first_err.get_or_insert(e);
            }
        }
    }
    match first_err {
        // Every chunk failed: say so, so the caller asks again next time.
        Some(e) if out.is_empty() => Err(e),
        _ => Ok(out),
    }
}

/// A failed target's story: its first failed lifecycle event and that event's diagnostics.
fn failure(t: &DeploymentTarget, limits: &TailLimits) -> Option<TargetFailure> {
    let (kind, id, status, events): (&str, Option<&str>, Option<&str>, &[LifecycleEvent]) =
        if let Some(x) = t.instance_target() {
            (
                "instance",
                x.target_id(),
                x.status().map(|s| s.as_str()),
                x.lifecycle_events(),
            )
        } else if let Some(x) = t.ecs_target() {
            (
                "ecs",
                x.target_id(),
                x.status().map(|s| s.as_str()),
                x.lifecycle_events(),
            )
        } else if let Some(x) = t.lambda_target() {
            (
                "lambda",
                x.target_id(),
                x.status().map(|s| s.as_str()),
                x.lifecycle_events(),
            )
        } else if let Some(x) = t.cloud_formation_target() {
            (
                "cloudformation",
                x.target_id(),
                x.status().map(|s| s.as_str()),
                x.lifecycle_events(),
            )
        } else {
            return None;
        };
    let id = id?;
    let failed = events
        .iter()
        .find(|e| e.status().is_some_and(|s| s.as_str() == "Failed"));
    let diag = failed.and_then(|e| e.diagnostics());
    // The script's output: the region of its first error, as for a build's log.
    let excerpt = match diag.and_then(|d| d.log_tail()) {
        Some(t) => super::excerpt::excerpt(&[t], limits),
        None => (Vec::new(), None),
    };
    let nonempty = |s: Option<&str>| {
        s.map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
    };
    Some(TargetFailure {
        target_id: id.to_owned(),
        target_type: kind.to_owned(),
        status: status.map(str::to_owned),
        lifecycle_event: failed.and_then(|e| nonempty(e.lifecycle_event_name())),
        script_name: nonempty(diag.and_then(|d| d.script_name())),
        error_code: diag
            .and_then(|d| d.error_code())
            .map(|c| c.as_str().to_owned())
            .filter(|s| !s.is_empty()),
        message: nonempty(diag.and_then(|d| d.message())),
        log_tail: excerpt.0,
        log_region: excerpt.1,
    })
}
