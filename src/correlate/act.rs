//! A person's action on a thread, from its message: what can be done in the thread's state now
//! (the notification's `actions`), and the claim that makes an action happen once across the
//! fleet. Pure: the worker authorizes a click, claims it here in a conditional write of the
//! thread, makes the AWS call, and records its outcome here again; the thread's next events
//! carry the story on.
//!
//! An action is claimed once per thread, action and *basis*: the part of the thread's state it
//! acts on (the approval waiting, the failed stage and when it failed, the deployment's status,
//! the alarm episode). A double click, two workers receiving the same interaction or a
//! redelivered envelope find the claim and are refused; a new state (a stage that fails again
//! after its retry) has a new basis, and the action is offered again.

pub use crate::notification::action::{basis, id, outcome};
use crate::notification::{self as n, status, ActionOffer, ActionTaken, Kind, Notification};
use chrono::DateTime;
use serde::{Deserialize, Serialize};

/// How long a mute holds an alarm's messages.
pub const MUTE_SECS: i64 = 3600;

/// At most this many actions are kept on a thread (the oldest go first).
pub const MAX_ACTED: usize = 20;

/// One action taken on a thread, as stored with it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActRec {
    pub action: String,
    /// The state it acted on (see the module docs).
    pub basis: String,
    /// Who (the chat user id).
    pub by: String,
    /// When the person clicked (Unix seconds, the chat provider's clock).
    pub at: i64,
    /// The interaction's own id (a redelivered envelope carries the same).
    pub click: String,
    pub outcome: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Why an action is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("{action} is not possible now: the {kind} is {status}")]
    NotOffered {
        action: String,
        kind: &'static str,
        status: String,
    },
    #[error("already {what} by {by}")]
    Already { what: &'static str, by: String },
    #[error("this message has changed since it was shown: look again")]
    Stale,
}

fn offer(id: &str, label: &str, style: &str) -> ActionOffer {
    ActionOffer {
        id: id.to_owned(),
        label: label.to_owned(),
        style: style.to_owned(),
    }
}

/// Actions that exclude each other on one basis: approving forbids rejecting, continuing a
/// deployment forbids stopping it at the same step.
fn group(action: &str) -> &str {
    match action {
        id::APPROVE | id::REJECT => id::APPROVE,
        id::CONTINUE_DEPLOYMENT | id::STOP_DEPLOYMENT => id::CONTINUE_DEPLOYMENT,
        other => other,
    }
}

/// What the state allows, before taking what was done into account. A READY deployment whose
/// traffic was rerouted from its message (`continue_deployment` done) may be waiting to
/// terminate its original fleet: `terminate_old` is offered then (no event says it waits
/// there; AWS refuses the call when it does not, and the message says so).
fn possible(note: &Notification, acted: &[ActRec]) -> Vec<ActionOffer> {
    let mut out = Vec::new();
    match (note.kind, note.status.as_str()) {
        (Kind::Pipeline, status::WAITING_FOR_APPROVAL) => {
            out.push(offer(id::APPROVE, "Approve", "primary"));
            out.push(offer(id::REJECT, "Reject", "danger"));
            out.push(offer(id::STOP_PIPELINE, "Stop", "danger"));
        }
        (Kind::Pipeline, status::STARTED | status::IN_PROGRESS) => {
            out.push(offer(id::STOP_PIPELINE, "Stop", "danger"));
        }
        (Kind::Pipeline, status::FAILED)
            if note
                .failure
                .as_ref()
                .is_some_and(|f| f.stage.as_deref().is_some_and(|s| !s.is_empty())) =>
        {
            out.push(offer(id::RETRY_STAGE, "Retry stage", "primary"));
        }
        (Kind::Pipeline, status::SUCCEEDED)
            if note
                .verdict
                .as_ref()
                .is_some_and(|v| v.status == n::verdict_status::UNHEALTHY) =>
        {
            out.push(offer(id::ROLL_BACK, "Roll back", "danger"));
        }
        (Kind::Deployment, status::READY) => {
            out.push(offer(
                id::CONTINUE_DEPLOYMENT,
                "Continue (reroute traffic)",
                "primary",
            ));
            out.push(offer(id::STOP_DEPLOYMENT, "Stop and roll back", "danger"));
            let rerouted = basis(note, id::CONTINUE_DEPLOYMENT);
            if acted.iter().any(|r| {
                r.action == id::CONTINUE_DEPLOYMENT
                    && r.basis == rerouted
                    && r.outcome == outcome::DONE
            }) {
                out.push(offer(
                    id::TERMINATE_OLD,
                    "Terminate the old task set",
                    "default",
                ));
            }
        }
        (Kind::Deployment, status::IN_PROGRESS) => {
            out.push(offer(id::STOP_DEPLOYMENT, "Stop and roll back", "danger"));
        }
        (Kind::Alarm, status::ALARM) if note.muted.is_none() => {
            out.push(offer(id::MUTE, "Mute 1 h", "default"));
        }
        _ => {}
    }
    out
}

/// A claim whose call was never recorded (its worker died between the claim and the record)
/// stops blocking the action this long after it was made: the person may try again (AWS then
/// refuses what was done already, and the message says so).
pub const REQUESTED_HOLD_SECS: i64 = 600;

/// The claim of an action on this basis that still stands at `at` (done, or requested less
/// than [`REQUESTED_HOLD_SECS`] before; a failed one may be tried again). With `at` None, only
/// a done one.
fn standing<'a>(
    acted: &'a [ActRec],
    action: &str,
    basis: &str,
    at: Option<i64>,
) -> Option<&'a ActRec> {
    acted.iter().find(|r| {
        group(&r.action) == group(action)
            && r.basis == basis
            && match r.outcome.as_str() {
                outcome::DONE => true,
                outcome::REQUESTED => at.is_some_and(|t| t < r.at + REQUESTED_HOLD_SECS),
                _ => false,
            }
    })
}

/// What can be done from the message now: what the state allows, less what someone already
/// did on the same basis (an action being done keeps its button: a click meanwhile is refused
/// with who is doing it).
pub fn offers(note: &Notification, acted: &[ActRec]) -> Vec<ActionOffer> {
    let mut out = possible(note, acted);
    out.retain(|o| standing(acted, &o.id, &basis(note, &o.id), None).is_none());
    out
}

/// The actions as the notification tells them.
pub fn taken(acted: &[ActRec]) -> Vec<ActionTaken> {
    acted
        .iter()
        .map(|r| ActionTaken {
            action: r.action.clone(),
            by: r.by.clone(),
            at: DateTime::from_timestamp(r.at, 0),
            outcome: r.outcome.clone(),
            error: r.error.clone(),
        })
        .collect()
}

/// Whether an alarm is muted: a mute made in this episode, or in an earlier one less than
/// [`MUTE_SECS`] before this one started (a flapping alarm stays quiet for the hour). Returns
/// the mute and whether it was made in an earlier episode (this one's message is then held).
pub fn muted(note: &Notification, acted: &[ActRec]) -> Option<(n::Muted, bool)> {
    if note.kind != Kind::Alarm {
        return None;
    }
    let b = basis(note, id::MUTE);
    let start = note.started_at.map(|t| t.timestamp());
    let r = acted.iter().rev().find(|r| {
        r.action == id::MUTE
            && r.outcome != outcome::FAILED
            && (r.basis == b || start.is_some_and(|s| s >= r.at && s < r.at + MUTE_SECS))
    })?;
    Some((
        n::Muted {
            by: r.by.clone(),
            until: DateTime::from_timestamp(r.at.saturating_add(MUTE_SECS), 0),
        },
        r.basis != b,
    ))
}

/// A person's click, authorized, as the core sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Click {
    pub action: String,
    /// The basis the message showed (carried by the button), if it said.
    pub basis: Option<String>,
    pub by: String,
    pub at: i64,
    /// The interaction's own id.
    pub click: String,
}

/// Claims a click on a thread whose notification is `note` (built from the stored state):
/// Ok(true) when this call made the claim, Ok(false) when the same click was claimed already
/// (a redelivered envelope, another worker), or why it is refused.
pub fn claim(note: &Notification, acted: &mut Vec<ActRec>, c: &Click) -> Result<bool, Refusal> {
    if acted.iter().any(|r| r.click == c.click) {
        return Ok(false);
    }
    let basis = basis(note, &c.action);
    if let Some(r) = standing(acted, &c.action, &basis, Some(c.at)) {
        return Err(Refusal::Already {
            what: match r.outcome.as_str() {
                outcome::REQUESTED => "being done",
                _ => "done",
            },
            by: format!("{} ({})", r.by, r.action),
        });
    }
    if !possible(note, acted).iter().any(|o| o.id == c.action) {
        return Err(Refusal::NotOffered {
            action: c.action.clone(),
            kind: note.kind.as_str(),
            status: note.status.clone(),
        });
    }
    if c.basis.as_ref().is_some_and(|b| *b != basis) {
        return Err(Refusal::Stale);
    }
    acted.push(ActRec {
        action: c.action.clone(),
        basis,
        by: c.by.clone(),
        at: c.at,
        click: c.click.clone(),
        outcome: if c.action == id::MUTE {
            outcome::DONE.to_owned()
        } else {
            outcome::REQUESTED.to_owned()
        },
        error: None,
    });
    if acted.len() > MAX_ACTED {
        // The oldest that no longer matters: never a call in flight.
        if let Some(i) = acted.iter().position(|r| r.outcome != outcome::REQUESTED) {
            acted.remove(i);
        }
    }
    Ok(true)
}

/// Records what the AWS call of a claimed click did. Returns whether anything changed.
pub fn record(acted: &mut [ActRec], click: &str, result: Result<(), String>) -> bool {
    let Some(r) = acted.iter_mut().find(|r| r.click == click) else {
        return false;
    };
    let (out, err) = match result {
        Ok(()) => (outcome::DONE, None),
        Err(e) => (outcome::FAILED, Some(e)),
    };
    if r.outcome == out && r.error == err {
        return false;
    }
    r.outcome = out.to_owned();
    r.error = err;
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pipeline(st: &str) -> Notification {
        let mut note = Notification::new(Kind::Pipeline, st, false, "1", "r", "p".into());
        note.approval = Some(n::ApprovalInfo {
            stage: "Prod".into(),
            action: "Approve".into(),
            ..Default::default()
        });
        note
    }

    fn click(action: &str, id: &str) -> Click {
        Click {
            action: action.into(),
            basis: None,
            by: "U1".into(),
            at: 100,
            click: id.into(),
        }
    }

    #[test]
    fn an_approval_waiting_offers_approve_reject_and_stop() {
        let ids: Vec<_> = offers(&pipeline(status::WAITING_FOR_APPROVAL), &[])
            .into_iter()
            .map(|o| o.id)
            .collect();
        assert_eq!(ids, ["approve", "reject", "stop_pipeline"]);
    }

    #[test]
    fn an_action_is_claimed_once_and_its_sibling_is_refused() {
        let note = pipeline(status::WAITING_FOR_APPROVAL);
        let mut acted = Vec::new();
        assert_eq!(claim(&note, &mut acted, &click("approve", "c1")), Ok(true));
        // The same click again (a redelivered envelope, another worker): no second claim.
        assert_eq!(claim(&note, &mut acted, &click("approve", "c1")), Ok(false));
        // A double click (a new interaction) and the other answer are refused.
        assert!(matches!(
            claim(&note, &mut acted, &click("approve", "c2")),
            Err(Refusal::Already { .. })
        ));
        assert!(matches!(
            claim(&note, &mut acted, &click("reject", "c3")),
            Err(Refusal::Already { .. })
        ));
        assert_eq!(acted.len(), 1);
        // Being done: the buttons stay, a click is refused with who is doing it.
        assert_eq!(offers(&note, &acted).len(), 3);
        assert!(record(&mut acted, "c1", Ok(())));
        let ids: Vec<_> = offers(&note, &acted).into_iter().map(|o| o.id).collect();
        assert_eq!(ids, ["stop_pipeline"]);
        assert!(matches!(
            claim(&note, &mut acted, &click("reject", "c3")),
            Err(Refusal::Already { what: "done", .. })
        ));
        // A failed call may be tried again.
        assert!(record(
            &mut acted,
            "c1",
            Err("InvalidApprovalTokenException".into())
        ));
        assert_eq!(claim(&note, &mut acted, &click("reject", "c4")), Ok(true));
    }

    #[test]
    fn an_action_the_state_does_not_allow_is_refused_with_the_state() {
        let note = pipeline(status::SUCCEEDED);
        let e = claim(&note, &mut Vec::new(), &click("approve", "c1")).unwrap_err();
        assert_eq!(
            e.to_string(),
            "approve is not possible now: the pipeline is SUCCEEDED"
        );
    }

    #[test]
    fn a_claim_whose_worker_died_blocks_the_action_for_ten_minutes() {
        let note = pipeline(status::WAITING_FOR_APPROVAL);
        let mut acted = Vec::new();
        assert_eq!(claim(&note, &mut acted, &click("approve", "c1")), Ok(true));
        let mut later = click("approve", "c2");
        later.at = 100 + REQUESTED_HOLD_SECS - 1;
        assert!(claim(&note, &mut acted, &later).is_err());
        later.at = 100 + REQUESTED_HOLD_SECS;
        assert_eq!(claim(&note, &mut acted, &later), Ok(true));
    }

    #[test]
    fn a_click_on_an_older_state_is_refused() {
        let mut note = pipeline(status::FAILED);
        note.failure = Some(n::Failure {
            stage: Some("Build".into()),
            actions: Vec::new(),
            reason: None,
        });
        note.finished_at = DateTime::from_timestamp(500, 0);
        let mut c = click("retry_stage", "c1");
        c.basis = Some("retry/Build/400".into());
        assert_eq!(claim(&note, &mut Vec::new(), &c), Err(Refusal::Stale));
        c.basis = Some(basis(&note, "retry_stage"));
        assert_eq!(claim(&note, &mut Vec::new(), &c), Ok(true));
    }

    #[test]
    fn after_traffic_was_rerouted_the_old_task_set_can_be_terminated() {
        let note = Notification::new(Kind::Deployment, status::READY, false, "1", "r", "d".into());
        let mut acted = Vec::new();
        let ids = |acted: &[ActRec]| -> Vec<String> {
            offers(&note, acted).into_iter().map(|o| o.id).collect()
        };
        assert_eq!(ids(&acted), ["continue_deployment", "stop_deployment"]);
        assert!(claim(&note, &mut acted, &click("terminate_old", "c0")).is_err());
        assert_eq!(
            claim(&note, &mut acted, &click("continue_deployment", "c1")),
            Ok(true)
        );
        // Being rerouted: nothing more until it is done.
        assert_eq!(ids(&acted), ["continue_deployment", "stop_deployment"]);
        assert!(record(&mut acted, "c1", Ok(())));
        assert_eq!(ids(&acted), ["terminate_old"]);
        assert_eq!(
            claim(&note, &mut acted, &click("terminate_old", "c2")),
            Ok(true)
        );
        assert!(record(&mut acted, "c2", Ok(())));
        assert!(ids(&acted).is_empty());
    }

    #[test]
    fn a_mute_holds_the_episode_for_an_hour() {
        let mut note = Notification::new(Kind::Alarm, status::ALARM, false, "1", "r", "a".into());
        note.started_at = DateTime::from_timestamp(50, 0);
        let mut acted = Vec::new();
        assert_eq!(claim(&note, &mut acted, &click("mute", "c1")), Ok(true));
        let (m, earlier) = muted(&note, &acted).expect("muted");
        assert!(!earlier);
        assert_eq!(m.until, DateTime::from_timestamp(100 + MUTE_SECS, 0));
        note.muted = Some(m);
        assert!(offers(&note, &acted).is_empty());
        // A flap: the next episode, within the hour, is muted (and held).
        note.started_at = DateTime::from_timestamp(700, 0);
        assert!(matches!(muted(&note, &acted), Some((_, true))));
        // After the hour, not.
        note.started_at = DateTime::from_timestamp(100 + MUTE_SECS, 0);
        assert!(muted(&note, &acted).is_none());
    }
}
