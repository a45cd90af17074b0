//! The actions people can take from a message: their ids (as buttons carry them and
//! `[[actions.allow]]` names them), their outcomes, and the part of a thread's state each acts
//! on (its *basis*, see [`crate::correlate::act`]). Pure.

use super::Notification;
use chrono::{DateTime, Utc};

/// The action ids, as buttons carry them and `[[actions.allow]]` names them.
pub mod id {
    pub const APPROVE: &str = "approve";
    pub const REJECT: &str = "reject";
    pub const RETRY_STAGE: &str = "retry_stage";
    pub const STOP_PIPELINE: &str = "stop_pipeline";
    pub const CONTINUE_DEPLOYMENT: &str = "continue_deployment";
    pub const STOP_DEPLOYMENT: &str = "stop_deployment";
    pub const TERMINATE_OLD: &str = "terminate_old";
    pub const MUTE: &str = "mute";
    /// A pipeline execution that deployed and was judged UNHEALTHY: its deploy stage rolled
    /// back to the previous execution that succeeded (`RollbackStage`).
    pub const ROLL_BACK: &str = "roll_back";
    pub const ALL: [&str; 9] = [
        APPROVE,
        REJECT,
        RETRY_STAGE,
        STOP_PIPELINE,
        CONTINUE_DEPLOYMENT,
        STOP_DEPLOYMENT,
        TERMINATE_OLD,
        MUTE,
        ROLL_BACK,
    ];
}

/// Outcomes of an action.
pub mod outcome {
    /// Claimed: the AWS call is being made (or its worker died making it: see the README).
    pub const REQUESTED: &str = "requested";
    pub const DONE: &str = "done";
    pub const FAILED: &str = "failed";
}

fn time(t: Option<DateTime<Utc>>) -> String {
    t.map(|t| t.timestamp().to_string()).unwrap_or_default()
}

/// The part of the thread's state an action acts on, from its notification.
pub fn basis(note: &Notification, action: &str) -> String {
    match action {
        id::APPROVE | id::REJECT => match &note.approval {
            // Not the expiry: the approval's SNS message may come after the click.
            Some(a) => format!("approval/{}/{}", a.stage, a.action),
            None => "approval".to_owned(),
        },
        id::RETRY_STAGE => {
            let stage = note.failure.as_ref().and_then(|f| f.stage.as_deref());
            format!(
                "retry/{}/{}",
                stage.unwrap_or_default(),
                time(note.finished_at)
            )
        }
        id::STOP_PIPELINE => "stop".to_owned(),
        id::CONTINUE_DEPLOYMENT | id::STOP_DEPLOYMENT => format!("deploy/{}", note.status),
        id::TERMINATE_OLD => format!("terminate/{}", note.status),
        id::MUTE => format!("mute/{}", time(note.started_at)),
        id::ROLL_BACK => "rollback".to_owned(),
        other => other.to_owned(),
    }
}
