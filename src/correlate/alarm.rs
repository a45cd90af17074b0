//! The alarm-episode thread: one message from ALARM until back to OK.
//!
//! An episode opens at the earliest ALARM and closes at the first OK after it; an ALARM later
//! than the close starts a new episode (a new chat message). Events older than the current
//! episode are history and change nothing.

use crate::event::Event;
use crate::notification::{self as n, status, Notification};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct AlarmEpisodes {
    pub account: String,
    pub region: String,
    pub alarm_name: String,
    /// 1 for the first episode seen; part of the chat message id.
    pub episode: u64,
    pub opened_at: Option<DateTime<Utc>>,
    pub closed_at: Option<DateTime<Utc>>,
    pub reason: Option<String>,
    pub ok_reason: Option<String>,
    pub description: Option<String>,
    pub alarm_arn: Option<String>,
    /// Recent deployments of what the alarm watches, as service pointers told them (see
    /// [`super::verdict`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub deploys: Vec<crate::event::LinkedDeploy>,
    /// How long after its end a deployment is named (`[verdicts] watch_secs`).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub watch_secs: i64,
    /// The current episode was held for a deployment that ran [`MAX_HOLD_SECS`] without its
    /// end being heard of: it is told after all.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub hold_over: bool,
    /// The CodeDeploy deployment groups (application, group) whose alarm configuration names
    /// this alarm, as enrichment learned it (`GetDeploymentGroup`): it watches them.
    #[serde(default, skip_serializing_if = "std::collections::BTreeSet::is_empty")]
    pub groups: std::collections::BTreeSet<(String, String)>,
}

/// An alarm held while what it watches deploys is told anyway once it has waited this long
/// (processing time) for the deployment's end.
pub const MAX_HOLD_SECS: i64 = 3600;

fn is_zero(x: &i64) -> bool {
    *x == 0
}

impl AlarmEpisodes {
    pub fn new(account: &str, region: &str, name: &str) -> Self {
        Self {
            account: account.into(),
            region: region.into(),
            alarm_name: name.into(),
            ..Self::default()
        }
    }

    pub fn apply(&mut self, ev: &Event) -> bool {
        let a = match ev {
            Event::AlarmState(a) => a,
            Event::DeployLink(l) => {
                return super::verdict::merge_links(&mut self.deploys, &mut self.watch_secs, l)
            }
            _ => return false,
        };
        let t = a.meta.time;
        let mut changed = false;
        if self.description.is_none() && a.description.is_some() {
            self.description = a.description.clone();
            self.alarm_arn = self.alarm_arn.take().or_else(|| a.alarm_arn.clone());
            changed = true;
        }
        match a.state.as_str() {
            "ALARM" => {
                let new_episode =
                    self.episode == 0 || matches!((self.closed_at, t), (Some(c), Some(t)) if t > c);
                if new_episode {
                    self.episode += 1;
                    self.hold_over = false;
                    self.opened_at = t;
                    self.closed_at = None;
                    self.reason = a.reason.clone();
                    self.ok_reason = None;
                    return true;
                }
                // Inside the current episode: keep the earliest ALARM as its start.
                let earlier = matches!((self.opened_at, t), (None, Some(_)))
                    || matches!((self.opened_at, t), (Some(o), Some(t)) if t < o);
                if earlier {
                    self.opened_at = t;
                    self.reason = a.reason.clone();
                    changed = true;
                }
                changed
            }
            "OK" => {
                if self.episode == 0 {
                    // OK before any ALARM: an episode whose start has not arrived yet.
                    self.episode = 1;
                    self.closed_at = t;
                    self.ok_reason = a.reason.clone();
                    return true;
                }
                let after_open = match (self.opened_at, t) {
                    (Some(o), Some(t)) => t >= o,
                    _ => true,
                };
                let earlier_close = match (self.closed_at, t) {
                    (None, _) => true,
                    (Some(c), Some(t)) => t < c,
                    _ => false,
                };
                if after_open && earlier_close {
                    self.closed_at = t;
                    self.ok_reason = a.reason.clone();
                    return true;
                }
                changed
            }
            _ => changed,
        }
    }

    /// Whether the current episode is held while what it watches deploys (and has not waited
    /// [`MAX_HOLD_SECS`] yet).
    pub fn holding(&self) -> bool {
        if self.deploys.is_empty() || self.hold_over {
            return false;
        }
        let (_, held) = self.deployment_and_hold();
        held.is_some_and(|h| h.reason == "deploying")
    }

    fn deployment_and_hold(&self) -> (Option<n::DeploymentRef>, Option<n::Held>) {
        super::verdict::deployment_of(
            &self.deploys,
            self.watch_secs,
            self.opened_at.map(|t| t.timestamp()),
            self.closed_at.map(|t| t.timestamp()),
        )
    }

    pub fn notification(&self) -> Notification {
        let closed = self.closed_at.is_some();
        let st = if closed { status::OK } else { status::ALARM };
        let region = &self.region;
        let (deployment, held) = self.deployment_and_hold();
        let held = held.filter(|_| !self.hold_over);
        Notification {
            deployment,
            held,
            alarm_name: Some(self.alarm_name.clone()),
            title: self.alarm_name.clone(),
            started_at: self.opened_at,
            finished_at: self.closed_at,
            duration_secs: match (self.opened_at, self.closed_at) {
                (Some(a), Some(b)) if b >= a => Some((b - a).num_seconds()),
                _ => None,
            },
            failure: self.reason.clone().map(|r| n::Failure {
                stage: None,
                actions: Vec::new(),
                reason: Some(r),
            }),
            links: vec![n::Link {
                label: "alarm".into(),
                url: format!(
                    "https://{region}.console.aws.amazon.com/cloudwatch/home?region={region}#alarmsV2:alarm/{}",
                    self.alarm_name
                ),
            }],
            ..Notification::new(n::Kind::Alarm, st, closed, &self.account, region, String::new())
        }
    }
}
