//! The AWS calls people's actions make, in the thread's own account and region with the
//! operator role (`[actions] role_arn_template`, separate from enrichment's read-only role).

use crate::correlate::act::id;
use crate::correlate::{Body, Thread};
use crate::enrich::accounts::Accounts;
use crate::notification::Notification;

/// Why a call did not succeed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallFailure {
    /// AWS's error code and message, or what went wrong before AWS answered.
    pub message: String,
    /// A write call was sent and no answer came (a timeout, a broken response): AWS may have
    /// done it. The claim is left `requested` rather than marked failed.
    pub unknown: bool,
}

impl From<String> for CallFailure {
    fn from(message: String) -> Self {
        CallFailure {
            message,
            unknown: false,
        }
    }
}

/// A read's failure: nothing was changed, whatever happened.
fn read(f: CallFailure) -> CallFailure {
    CallFailure {
        unknown: false,
        ..f
    }
}

/// One call, with everything it needs, worked out from the thread before it is claimed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Call {
    /// `PutApprovalResult`; the token from the approval message, or else `GetPipelineState`
    /// (only while the stage's latest execution is this one).
    Approval {
        pipeline: String,
        execution_id: String,
        stage: String,
        action: String,
        approve: bool,
        token: Option<String>,
        summary: String,
    },
    /// `RetryStageExecution`, FAILED_ACTIONS.
    RetryStage {
        pipeline: String,
        stage: String,
        execution_id: String,
    },
    /// `StopPipelineExecution`, without abandon.
    StopPipeline {
        pipeline: String,
        execution_id: String,
        reason: String,
    },
    /// `ContinueDeployment` (`READY_WAIT` or `TERMINATION_WAIT`).
    Continue { deployment_id: String, wait: String },
    /// `StopDeployment` with auto-rollback.
    StopDeployment { deployment_id: String },
    /// `RollbackStage` of the stage that deployed, to the previous execution that succeeded
    /// (found with `ListPipelineExecutions`).
    RollbackStage {
        pipeline: String,
        stage: String,
        execution_id: String,
    },
    /// No call (a mute is Herald's own).
    None,
}

/// The call an action makes on a thread, or why it cannot be made (a field it needs is
/// missing from what the events said).
pub fn call_of(
    action: &str,
    thread: &Thread,
    note: &Notification,
    by: &str,
) -> Result<Call, String> {
    let need = |v: &Option<String>, what: &str| {
        v.clone()
            .filter(|s| !s.is_empty())
            .ok_or_else(|| format!("the thread does not know its {what}"))
    };
    Ok(match action {
        id::APPROVE | id::REJECT => {
            let a = note
                .approval
                .as_ref()
                .ok_or("no approval is waiting on this execution")?;
            let token = match &thread.body {
                Body::Pipeline(p) => p.approval_token(&a.stage, &a.action).map(str::to_owned),
                _ => None,
            };
            Call::Approval {
                pipeline: need(&note.pipeline, "pipeline")?,
                execution_id: need(&note.execution_id, "execution id")?,
                stage: a.stage.clone(),
                action: a.action.clone(),
                approve: action == id::APPROVE,
                token,
                summary: format!(
                    "{} by {by} from chat (Herald)",
                    if action == id::APPROVE {
                        "Approved"
                    } else {
                        "Rejected"
                    }
                ),
            }
        }
        id::RETRY_STAGE => Call::RetryStage {
            pipeline: need(&note.pipeline, "pipeline")?,
            stage: need(
                &note.failure.as_ref().and_then(|f| f.stage.clone()),
                "failed stage",
            )?,
            execution_id: need(&note.execution_id, "execution id")?,
        },
        id::STOP_PIPELINE => Call::StopPipeline {
            pipeline: need(&note.pipeline, "pipeline")?,
            execution_id: need(&note.execution_id, "execution id")?,
            reason: format!("Stopped by {by} from chat (Herald)"),
        },
        id::CONTINUE_DEPLOYMENT | id::TERMINATE_OLD => Call::Continue {
            deployment_id: need(&note.deployment_id, "deployment id")?,
            wait: if action == id::TERMINATE_OLD {
                "TERMINATION_WAIT"
            } else {
                "READY_WAIT"
            }
            .to_owned(),
        },
        id::STOP_DEPLOYMENT => Call::StopDeployment {
            deployment_id: need(&note.deployment_id, "deployment id")?,
        },
        id::MUTE => Call::None,
        id::ROLL_BACK => Call::RollbackStage {
            pipeline: need(&note.pipeline, "pipeline")?,
            stage: match &thread.body {
                Body::Pipeline(p) => p.deploy_stage().map(str::to_owned),
                _ => None,
            }
            .ok_or("no stage of this execution deployed")?,
            execution_id: need(&note.execution_id, "execution id")?,
        },
        other => return Err(format!("unknown action {other:?}")),
    })
}

/// Makes a call in `account` and `region`. The error is AWS's (its code and message), to be
/// told on the message.
pub async fn make(
    accounts: &Accounts,
    account: &str,
    region: &str,
    call: &Call,
) -> Result<(), CallFailure> {
    use aws_sdk_codedeploy::types::DeploymentWaitType;
    use aws_sdk_codepipeline::types::{ApprovalResult, ApprovalStatus, StageRetryMode};
    if matches!(call, Call::None) {
        return Ok(());
    }
    allowed(accounts, account)?;
    let c = accounts.clients(account, region);
    let err = |e: &dyn std::fmt::Display| e.to_string();
    match call {
        Call::Approval {
            pipeline,
            execution_id,
            stage,
            action,
            approve,
            token,
            summary,
        } => {
            let token = match token {
                Some(t) => t.clone(),
                None => state_token(&c.codepipeline, pipeline, execution_id, stage, action)
                    .await
                    .map_err(read)?,
            };
            let result = ApprovalResult::builder()
                .summary(summary)
                .status(if *approve {
                    ApprovalStatus::Approved
                } else {
                    ApprovalStatus::Rejected
                })
                .build()
                .map_err(|e| err(&e))?;
            c.codepipeline
                .put_approval_result()
                .pipeline_name(pipeline)
                .stage_name(stage)
                .action_name(action)
                .result(result)
                .token(token)
                .send()
                .await
                .map_err(|e| sdk_error(&e))?;
        }
        Call::RetryStage {
            pipeline,
            stage,
            execution_id,
        } => {
            c.codepipeline
                .retry_stage_execution()
                .pipeline_name(pipeline)
                .stage_name(stage)
                .pipeline_execution_id(execution_id)
                .retry_mode(StageRetryMode::FailedActions)
                .send()
                .await
                .map_err(|e| sdk_error(&e))?;
        }
        Call::StopPipeline {
            pipeline,
            execution_id,
            reason,
        } => {
            c.codepipeline
                .stop_pipeline_execution()
                .pipeline_name(pipeline)
                .pipeline_execution_id(execution_id)
                .abandon(false)
                .reason(reason)
                .send()
                .await
                .map_err(|e| sdk_error(&e))?;
        }
        Call::Continue {
            deployment_id,
            wait,
        } => {
            c.codedeploy
                .continue_deployment()
                .deployment_id(deployment_id)
                .deployment_wait_type(DeploymentWaitType::from(wait.as_str()))
                .send()
                .await
                .map_err(|e| sdk_error(&e))?;
        }
        Call::StopDeployment { deployment_id } => {
            c.codedeploy
                .stop_deployment()
                .deployment_id(deployment_id)
                .auto_rollback_enabled(true)
                .send()
                .await
                .map_err(|e| sdk_error(&e))?;
        }
        Call::RollbackStage {
            pipeline,
            stage,
            execution_id,
        } => {
            let target = previous_success(&c.codepipeline, pipeline, execution_id)
                .await
                .map_err(read)?;
            c.codepipeline
                .rollback_stage()
                .pipeline_name(pipeline)
                .stage_name(stage)
                .target_pipeline_execution_id(target)
                .send()
                .await
                .map_err(|e| sdk_error(&e))?;
        }
        Call::None => {}
    }
    Ok(())
}

/// Whether Herald may act in `account` (`[enrich] allowed_accounts`, a real account id).
pub fn allowed(accounts: &Accounts, account: &str) -> Result<(), String> {
    accounts
        .check(account)
        .map_err(|r| format!("account {account:?} is not one Herald may act in ({r:?})"))
}

/// The execution that succeeded before `execution_id` (newest first, as AWS lists them): the
/// one a rollback goes back to.
async fn previous_success(
    cp: &aws_sdk_codepipeline::Client,
    pipeline: &str,
    execution_id: &str,
) -> Result<String, CallFailure> {
    use aws_sdk_codepipeline::types::PipelineExecutionStatus;
    // Newest first; paged until this execution and an older success are found.
    let mut seen_this = false;
    let mut token: Option<String> = None;
    for _ in 0..20 {
        let out = cp
            .list_pipeline_executions()
            .pipeline_name(pipeline)
            .max_results(100)
            .set_next_token(token.take())
            .send()
            .await
            .map_err(|e| sdk_error(&e))?;
        for x in out.pipeline_execution_summaries() {
            let id = x.pipeline_execution_id().unwrap_or_default();
            let succeeded = x.status() == Some(&PipelineExecutionStatus::Succeeded);
            if id == execution_id {
                seen_this = true;
            } else if succeeded && !seen_this {
                return Err(format!(
                    "a newer execution of {pipeline} ({id}) succeeded since this one: roll back from its message"
                )
                .into());
            } else if succeeded {
                return Ok(id.to_owned());
            }
        }
        match out.next_token() {
            Some(t) => token = Some(t.to_owned()),
            None => break,
        }
    }
    Err(if seen_this {
        format!("no execution of {pipeline} succeeded before this one")
    } else {
        format!("ListPipelineExecutions does not list execution {execution_id} of {pipeline}")
    }
    .into())
}

/// The token of the approval waiting at `stage`/`action`, from `GetPipelineState` (when the
/// approval's SNS message never arrived).
async fn state_token(
    cp: &aws_sdk_codepipeline::Client,
    pipeline: &str,
    execution_id: &str,
    stage: &str,
    action: &str,
) -> Result<String, CallFailure> {
    let state = cp
        .get_pipeline_state()
        .name(pipeline)
        .send()
        .await
        .map_err(|e| sdk_error(&e))?;
    let Some(stage_state) = state
        .stage_states()
        .iter()
        .find(|s| s.stage_name() == Some(stage))
    else {
        return Err(format!("GetPipelineState: {pipeline} has no stage {stage}").into());
    };
    // The token is the stage's latest execution's: refused when that is another execution
    // (parallel or queued executions), which this click must not approve.
    let latest = stage_state
        .latest_execution()
        .map(|e| e.pipeline_execution_id());
    if latest.is_some_and(|l| l != execution_id) {
        return Err(format!(
            "the approval waiting at {stage}/{action} is another execution's ({}); approve it from its own message",
            latest.unwrap_or_default()
        )
        .into());
    }
    stage_state
        .action_states()
        .iter()
        .filter(|a| a.action_name() == Some(action))
        .find_map(|a| {
            a.latest_execution()
                .and_then(|e| e.token())
                .map(str::to_owned)
        })
        .ok_or_else(|| format!("GetPipelineState: no approval token at {stage}/{action}").into())
}

/// An SDK error as people read it: AWS's error code and message.
fn sdk_error<E, R>(e: &aws_sdk_codepipeline::error::SdkError<E, R>) -> CallFailure
where
    E: aws_sdk_codepipeline::error::ProvideErrorMetadata + std::fmt::Debug,
    R: std::fmt::Debug,
{
    use aws_sdk_codepipeline::error::{ProvideErrorMetadata, SdkError};
    // Sent, and no answer understood: the call may have been made.
    let unknown = matches!(e, SdkError::TimeoutError(_) | SdkError::ResponseError(_));
    let message = match (e.code(), e.message()) {
        (Some(c), Some(m)) => format!("{c}: {m}"),
        (Some(c), None) => c.to_owned(),
        _ => match e {
            SdkError::TimeoutError(_) => "timed out".to_owned(),
            SdkError::DispatchFailure(_) => "could not reach AWS".to_owned(),
            other => format!("{other:?}").chars().take(300).collect(),
        },
    };
    CallFailure { message, unknown }
}
