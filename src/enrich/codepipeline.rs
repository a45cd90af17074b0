//! CodePipeline: the execution's source revision and trigger (`GetPipelineExecution`), and every
//! action execution of it (`ListActionExecutions`), so a failure is explained even when its
//! action event never arrived.

use super::accounts::Clients;
use super::{ActionDetail, Api, CallError, Ctx};
use crate::notification::Commit;
use std::collections::BTreeMap;

/// Pages of `ListActionExecutions` (100 a page) read per execution at most.
const MAX_PAGES: usize = 10;

/// What `GetPipelineExecution` tells.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ExecutionInfo {
    pub status: Option<String>,
    pub commit: Option<Commit>,
    pub trigger: Option<String>,
}

impl ExecutionInfo {
    /// Whether asking again could tell more: the source revision is known only once the source
    /// action ran.
    pub fn settled(&self) -> bool {
        self.commit.as_ref().is_some_and(|c| c.id.is_some())
            || matches!(
                self.status.as_deref(),
                Some("Succeeded" | "Failed" | "Stopped" | "Superseded" | "Cancelled")
            )
    }
}

pub async fn get_execution(
    ctx: &Ctx,
    c: &Clients,
    pipeline: &str,
    execution_id: &str,
) -> Result<ExecutionInfo, CallError> {
    let req = c
        .codepipeline
        .get_pipeline_execution()
        .pipeline_name(pipeline)
        .pipeline_execution_id(execution_id);
    let out = ctx
        .call(Api::GetPipelineExecution, async {
            req.send().await.map_err(|e| CallError::from_sdk(&e))
        })
        .await?;
    let Some(x) = out.pipeline_execution() else {
        return Ok(ExecutionInfo::default());
    };
    // The source action's artifact: the first revision that names a commit.
    let commit = x
        .artifact_revisions()
        .iter()
        .find(|r| r.revision_id().is_some_and(|id| !id.is_empty()))
        .map(|r| {
            let (message, provider) = summary(r.revision_summary());
            Commit {
                id: r.revision_id().map(str::to_owned),
                message,
                url: r
                    .revision_url()
                    .filter(|u| u.starts_with("https://"))
                    .map(str::to_owned),
                provider,
                ..Commit::default()
            }
        });
    Ok(ExecutionInfo {
        status: x.status().map(|s| s.as_str().to_owned()),
        commit,
        trigger: x
            .trigger()
            .and_then(|t| t.trigger_type())
            .map(|t| t.as_str().to_owned()),
    })
}

/// A revision summary is plain text (CodeCommit, S3) or, for CodeStar connections, JSON with
/// `ProviderType` and `CommitMessage`.
fn summary(s: Option<&str>) -> (Option<String>, Option<String>) {
    let Some(s) = s.map(str::trim).filter(|s| !s.is_empty()) else {
        return (None, None);
    };
    if s.starts_with('{') {
        if let Ok(v) = serde_json::from_str::<serde_json::Value>(s) {
            let get = |k: &str| {
                v.get(k)
                    .and_then(|x| x.as_str())
                    .filter(|x| !x.is_empty())
                    .map(str::to_owned)
            };
            return (get("CommitMessage"), get("ProviderType"));
        }
    }
    (Some(s.to_owned()), None)
}

/// The latest execution of every action of the pipeline execution that failed.
pub async fn failed_actions(
    ctx: &Ctx,
    c: &Clients,
    pipeline: &str,
    execution_id: &str,
) -> Result<Vec<ActionDetail>, CallError> {
    let all = latest_actions(ctx, c, pipeline, execution_id).await?;
    Ok(all.into_iter().filter(|d| d.status == "Failed").collect())
}

/// The latest execution of every action of the pipeline execution, by stage and action.
pub async fn latest_actions(
    ctx: &Ctx,
    c: &Clients,
    pipeline: &str,
    execution_id: &str,
) -> Result<Vec<ActionDetail>, CallError> {
    // (stage, action) -> (start time, detail): a retried action keeps its latest execution.
    let mut latest: BTreeMap<(String, String), (i64, ActionDetail)> = BTreeMap::new();
    let mut token: Option<String> = None;
    for _ in 0..MAX_PAGES {
        let req = c
            .codepipeline
            .list_action_executions()
            .pipeline_name(pipeline)
            .filter(
                aws_sdk_codepipeline::types::ActionExecutionFilter::builder()
                    .pipeline_execution_id(execution_id)
                    .build(),
            )
            .max_results(100)
            .set_next_token(token.take());
        let out = ctx
            .call(Api::ListActionExecutions, async {
                req.send().await.map_err(|e| CallError::from_sdk(&e))
            })
            .await?;
        for d in out.action_execution_details() {
            // The filter is by execution already; a server that ignores it must not mix runs.
            if d.pipeline_execution_id()
                .is_some_and(|id| id != execution_id)
            {
                continue;
            }
            let (Some(stage), Some(action)) = (d.stage_name(), d.action_name()) else {
                continue;
            };
            let result = d.output().and_then(|o| o.execution_result());
            let type_id = d.input().and_then(|i| i.action_type_id());
            let detail = ActionDetail {
                stage: stage.to_owned(),
                action: action.to_owned(),
                status: d
                    .status()
                    .map(|s| s.as_str().to_owned())
                    .unwrap_or_default(),
                provider: type_id.map(|t| t.provider().to_owned()),
                category: type_id.map(|t| t.category().as_str().to_owned()),
                external_id: result
                    .and_then(|r| r.external_execution_id())
                    .map(str::to_owned),
                summary: result
                    .and_then(|r| r.external_execution_summary())
                    .map(str::to_owned),
                url: result
                    .and_then(|r| r.external_execution_url())
                    .filter(|u| u.starts_with("https://"))
                    .map(str::to_owned),
                error_code: result
                    .and_then(|r| r.error_details())
                    .and_then(|e| e.code())
                    .map(str::to_owned),
                error_message: result
                    .and_then(|r| r.error_details())
                    .and_then(|e| e.message())
                    .map(str::to_owned),
                updated: d.last_update_time().or(d.start_time()).map(|t| t.secs()),
            };
            let started = d
                .start_time()
                .or(d.last_update_time())
                .map(|t| t.secs())
                .unwrap_or(0);
            let key = (detail.stage.clone(), detail.action.clone());
            match latest.get(&key) {
                Some((t, _)) if *t > started => {}
                _ => {
                    latest.insert(key, (started, detail));
                }
            }
        }
        match out.next_token() {
            Some(t) if !t.is_empty() => token = Some(t.to_owned()),
            _ => break,
        }
    }
    Ok(latest.into_values().map(|(_, d)| d).collect())
}

/// What a healed execution's actions say, as the action and stage events that were lost: each
/// action that ended (Succeeded, Failed, Abandoned) at its own time; each stage with a failed
/// action FAILED; and each stage whose listed actions all succeeded SUCCEEDED when the
/// execution succeeded or a later stage ran (the listing names only actions that ran: a stage
/// stopped between its run orders is not taken as done). Pure.
pub fn healed_stages(
    pipeline: &str,
    execution_id: &str,
    actions: &[ActionDetail],
    succeeded: bool,
    now: i64,
    meta: &dyn Fn(i64) -> crate::event::Meta,
) -> Vec<crate::event::Event> {
    use crate::event::{ActionExecution, Event, StageExecution};
    let state = |s: &str| match s {
        "Succeeded" => Some("SUCCEEDED"),
        "Failed" => Some("FAILED"),
        "Abandoned" => Some("ABANDONED"),
        _ => None,
    };
    let mut out = Vec::new();
    // Stage -> (every action ended, one failed, all succeeded, latest time).
    let mut stages: BTreeMap<&str, (bool, bool, bool, i64)> = BTreeMap::new();
    for a in actions {
        let at = a.updated.unwrap_or(now);
        let st = state(&a.status);
        let s = stages
            .entry(a.stage.as_str())
            .or_insert((true, false, true, i64::MIN));
        s.0 &= st.is_some();
        s.1 |= st == Some("FAILED");
        s.2 &= st == Some("SUCCEEDED");
        s.3 = s.3.max(at);
        let Some(st) = st else {
            continue;
        };
        out.push(Event::ActionExecution(ActionExecution {
            meta: meta(at),
            pipeline: pipeline.to_owned(),
            execution_id: execution_id.to_owned(),
            stage: a.stage.clone(),
            action: a.action.clone(),
            category: a.category.clone().unwrap_or_default(),
            provider: a.provider.clone().unwrap_or_default(),
            state: st.to_owned(),
            action_execution_id: None,
            action_region: None,
            external_execution_id: a.external_id.clone(),
            external_execution_url: a.url.clone(),
            external_execution_summary: a.summary.clone(),
            error_code: a.error_code.clone(),
            commit: None,
        }));
    }
    let latest = stages.values().map(|s| s.3).max().unwrap_or(i64::MIN);
    for (stage, (ended, failed, all_ok, at)) in stages {
        let passed = succeeded || at < latest;
        let st = match (ended, failed, all_ok) {
            (_, true, _) => "FAILED",
            (true, false, true) if passed => "SUCCEEDED",
            _ => continue,
        };
        out.push(Event::StageExecution(StageExecution {
            meta: meta(at),
            pipeline: pipeline.to_owned(),
            execution_id: execution_id.to_owned(),
            stage: stage.to_owned(),
            state: st.to_owned(),
            failed_actions: Vec::new(),
        }));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_connection_revision_summary_is_json() {
        let (m, p) = summary(Some(
            r#"{"ProviderType":"GitHub","CommitMessage":"Fix the build\n\nbody"}"#,
        ));
        assert_eq!(m.as_deref(), Some("Fix the build\n\nbody"));
        assert_eq!(p.as_deref(), Some("GitHub"));
        let (m, p) = summary(Some("Edited index.html"));
        assert_eq!((m.as_deref(), p), (Some("Edited index.html"), None));
    }
}

#[cfg(test)]
mod heal_tests {
    use super::*;

    #[test]
    fn a_healed_execution_is_given_its_actions_and_stages_as_they_ended() {
        let a = |stage: &str, action: &str, status: &str, at: i64| ActionDetail {
            stage: stage.into(),
            action: action.into(),
            status: status.into(),
            provider: Some("CodeBuild".into()),
            updated: Some(at),
            ..ActionDetail::default()
        };
        let meta = |t: i64| crate::event::Meta {
            time: chrono::DateTime::from_timestamp(t, 0),
            ..crate::event::Meta::default()
        };
        let events = healed_stages(
            "web",
            "x1",
            &[
                a("Source", "Checkout", "Succeeded", 100),
                a("Build", "Unit", "Failed", 300),
                a("Build", "Lint", "Succeeded", 250),
                a("Deploy", "Ship", "InProgress", 400),
            ],
            false,
            1_000,
            &meta,
        );
        let told: Vec<(String, String, Option<i64>)> = events
            .iter()
            .map(|e| {
                let what = match e {
                    crate::event::Event::ActionExecution(x) => format!("{}/{}", x.stage, x.action),
                    crate::event::Event::StageExecution(x) => x.stage.clone(),
                    other => format!("{other:?}"),
                };
                (
                    what,
                    e.state().unwrap_or_default().to_owned(),
                    e.meta().time.map(|t| t.timestamp()),
                )
            })
            .collect();
        let t = |w: &str, s: &str, at: i64| (w.to_owned(), s.to_owned(), Some(at));
        assert_eq!(
            told,
            [
                t("Source/Checkout", "SUCCEEDED", 100),
                t("Build/Unit", "FAILED", 300),
                t("Build/Lint", "SUCCEEDED", 250),
                // Deploy is still running: neither it nor its stage is told.
                t("Build", "FAILED", 300),
                t("Source", "SUCCEEDED", 100),
            ]
        );
    }
}

#[cfg(test)]
mod heal_stage_tests {
    use super::*;

    #[test]
    fn a_stage_whose_listed_actions_succeeded_is_done_only_if_the_pipeline_went_on() {
        let a = |stage: &str, at: i64| ActionDetail {
            stage: stage.into(),
            action: "A".into(),
            status: "Succeeded".into(),
            updated: Some(at),
            ..ActionDetail::default()
        };
        let meta = |_: i64| crate::event::Meta::default();
        let stages = |succeeded: bool| -> Vec<String> {
            healed_stages(
                "p",
                "x",
                &[a("Source", 1), a("Build", 2)],
                succeeded,
                9,
                &meta,
            )
            .iter()
            .filter_map(|e| match e {
                crate::event::Event::StageExecution(s) => Some(format!("{} {}", s.stage, s.state)),
                _ => None,
            })
            .collect()
        };
        // Stopped after Build's first run order: Build may have had more to run.
        assert_eq!(stages(false), ["Source SUCCEEDED"]);
        assert_eq!(stages(true), ["Build SUCCEEDED", "Source SUCCEEDED"]);
    }
}
