//! CodePipeline: pipeline, stage and action execution state changes, their trigger and source revision.

use super::*;

pub(super) fn decode_pipeline(
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

pub(super) fn trigger(mut t: RawTrigger) -> Trigger {
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
pub(super) struct SourceSummary {
    #[serde(rename = "ProviderType")]
    pub(super) provider: S,
    #[serde(rename = "CommitMessage")]
    pub(super) message: S,
}

/// The commit of a source action. CodeStarSourceConnection's summary is a JSON string with
/// `ProviderType` and `CommitMessage`; other providers' summary is the commit message itself.
pub(super) fn source_commit(
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

#[cfg(test)]
mod tests {
    #[test]
    fn its_fixtures_decode_to_its_kinds_and_round_trip() {
        let files = super::super::round_trip_fixtures(
            &[
                "codepipeline-pipeline",
                "codepipeline-stage",
                "codepipeline-action",
            ],
            &["pipeline_execution", "stage_execution", "action_execution"],
        );
        assert!(files > 0);
    }
}
