//! The AWS Health thread (`health`): one per Health event ARN, OPEN, UPCOMING or CLOSED as AWS's
//! `statusCode` says, with the service, event type, region, the accounts affected and the
//! latest description, edited as AWS updates the event.

use super::{later, Name, Reg};
use crate::event::Event;
use crate::notification::{self as n, status, Notification};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct HealthEvent {
    pub account: String,
    pub region: String,
    pub event_arn: String,
    pub service: String,
    pub event_type_code: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
    /// The status AWS said last (by when it updated the event).
    pub status: Option<Reg>,
    /// The description AWS gave last.
    pub description: Option<Reg>,
    /// Accounts affected (bounded).
    pub accounts: BTreeSet<String>,
    pub start: Option<DateTime<Utc>>,
    pub end: Option<DateTime<Utc>>,
}

/// Accounts listed per Health event at most.
const ACCOUNTS_KEPT: usize = 50;

impl HealthEvent {
    pub fn new(account: &str, region: &str, event_arn: &str) -> Self {
        Self {
            account: account.into(),
            region: region.into(),
            event_arn: event_arn.into(),
            ..Self::default()
        }
    }

    pub fn apply(&mut self, ev: &Event) -> bool {
        let Event::Health(h) = ev else {
            return false;
        };
        let mut changed = false;
        let set = |slot: &mut String, v: &str| {
            if slot.is_empty() && !v.is_empty() {
                *slot = v.to_owned();
                return true;
            }
            false
        };
        changed |= set(&mut self.service, &h.service);
        changed |= set(&mut self.event_type_code, &h.event_type_code);
        if self.category.is_none() && h.event_type_category.is_some() {
            self.category = h.event_type_category.clone();
            changed = true;
        }
        // AWS's own update time orders its updates; the envelope's time where it gives none.
        let at = h.updated.or(h.meta.time);
        let status = match h.status.as_deref().map(str::to_ascii_lowercase).as_deref() {
            Some("open") => Some(status::OPEN),
            Some("upcoming") => Some(status::UPCOMING),
            Some("closed") => Some(status::CLOSED),
            // Older events carry no status: an end time closes them.
            _ if h.end.is_some() => Some(status::CLOSED),
            _ => None,
        };
        if let Some(s) = status {
            let rank = u8::from(s == status::CLOSED);
            changed |= later(
                &mut self.status,
                Reg {
                    value: Name::Borrowed(s),
                    time: at,
                    rank,
                },
            );
        }
        if let Some(d) = &h.description {
            changed |= later(
                &mut self.description,
                Reg {
                    value: Name::Owned(d.clone()),
                    time: at,
                    rank: 0,
                },
            );
        }
        // The 50 smallest account ids, whatever order they came in.
        let account = h.affected_account.as_deref().unwrap_or(&h.meta.account);
        if !account.is_empty() && self.accounts.insert(account.to_owned()) {
            while self.accounts.len() > ACCOUNTS_KEPT {
                self.accounts.pop_last();
            }
            changed |= self.accounts.contains(account);
        }
        // The earliest start and the latest end any update gave (order does not matter).
        if h.start.is_some() && self.start.is_none_or(|s| h.start < Some(s)) {
            self.start = h.start;
            changed = true;
        }
        if h.end.is_some() && h.end > self.end {
            self.end = h.end;
            changed = true;
        }
        changed
    }

    pub fn notification(&self) -> Notification {
        let st = self
            .status
            .as_ref()
            .map_or(status::OPEN, |r| match r.value.as_ref() {
                "UPCOMING" => status::UPCOMING,
                "CLOSED" => status::CLOSED,
                _ => status::OPEN,
            });
        let is_final = st == status::CLOSED;
        let region = &self.region;
        // One thread for every account's copy: the message names the smallest account id
        // affected (not whichever copy came first); `health.accounts` lists them.
        let account = self.accounts.first().unwrap_or(&self.account);
        let code = if self.event_type_code.is_empty() {
            "AWS Health event"
        } else {
            &self.event_type_code
        };
        Notification {
            title: format!("AWS Health: {code} in {region}"),
            started_at: self.start,
            finished_at: self.end.filter(|_| is_final),
            duration_secs: match (self.start, self.end) {
                (Some(a), Some(b)) if is_final && b >= a => Some((b - a).num_seconds()),
                _ => None,
            },
            health: Some(n::HealthInfo {
                event_arn: self.event_arn.clone(),
                service: self.service.clone(),
                event_type_code: self.event_type_code.clone(),
                category: self.category.clone(),
                accounts: self.accounts.iter().cloned().collect(),
                description: self.description.as_ref().map(|d| d.value.to_string()),
            }),
            links: vec![n::Link {
                label: "AWS Health".into(),
                url: "https://health.aws.amazon.com/health/home#/account/dashboard/open-issues"
                    .into(),
            }],
            ..Notification::new(
                n::Kind::Health,
                st,
                is_final,
                account,
                region,
                String::new(),
            )
        }
    }
}

/// The AWS services an ECS deployment uses: an open Health issue of one of them in its account
/// and region is named on its message.
pub const ECS_USES: [&str; 5] = ["ECS", "FARGATE", "EC2", "ELASTICLOADBALANCING", "ECR"];

/// Health issues a board or a deployment keeps at most.
const ISSUES_KEPT: usize = 16;

/// Deployments a board follows at most (the oldest are let go).
const DEPLOYS_KEPT: usize = 32;

/// `ah#account#region`: where AWS Health issues and ECS deployments of one account and region
/// meet (issue 16 §5). It keeps the latest update of each open-or-recent issue of a service
/// ECS deployments use, and the recent deployments; each side is sent what overlaps it of the
/// other, so the deployment's thread names the issue whatever the order.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct HealthBoard {
    /// The latest Health event of each issue.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub issues: Vec<Event>,
    /// Recent deployments: (thread key, start, Unix seconds).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub deploys: Vec<(String, i64)>,
}

/// An issue's span (Unix seconds): its start (else its event's time) to its end, if any.
fn span(h: &crate::event::Health) -> (i64, Option<i64>) {
    let start = h.start.or(h.meta.time).map_or(0, |t| t.timestamp());
    (start, h.end.map(|t| t.timestamp()))
}

/// Whether an issue spanning `issue` overlaps a deployment that started at `start` (taken as
/// running for `OPEN_DEPLOYMENT_SECS` at most).
fn overlaps(issue: (i64, Option<i64>), start: i64) -> bool {
    let until = start.saturating_add(super::pointer::OPEN_DEPLOYMENT_SECS);
    issue.0 <= until && issue.1.is_none_or(|e| e >= start)
}

/// Whether a Health event is an issue of a service ECS deployments use.
pub fn concerns_ecs(h: &crate::event::Health) -> bool {
    ECS_USES.contains(&h.service.to_ascii_uppercase().as_str())
        && h.event_type_category
            .as_deref()
            .is_none_or(|c| c == "issue")
        && h.event_arn.is_some()
}

impl HealthBoard {
    /// A Health update: kept and sent to the deployments it overlaps if it is the issue's
    /// latest. True (second) if the board changed.
    pub fn note_issue(&mut self, ev: &Event) -> (Vec<(String, Event)>, bool) {
        let Event::Health(h) = ev else {
            return (Vec::new(), false);
        };
        let updated = |e: &Event| match e {
            Event::Health(x) => x.updated.or(x.meta.time),
            _ => None,
        };
        let same = self
            .issues
            .iter()
            .position(|e| matches!(e, Event::Health(x) if x.event_arn == h.event_arn));
        // The deployments the update it replaces reached are told it too (an issue that
        // closed may no longer overlap them: they learn it closed before they started).
        let mut before = None;
        let changed = match same {
            Some(i) if updated(&self.issues[i]) >= updated(ev) => false,
            Some(i) => {
                if let Event::Health(old) = &self.issues[i] {
                    before = Some(span(old));
                }
                self.issues[i] = ev.clone();
                true
            }
            None => {
                self.issues.push(ev.clone());
                if self.issues.len() > ISSUES_KEPT {
                    self.issues.sort_by_key(|e| std::cmp::Reverse(updated(e)));
                    self.issues.truncate(ISSUES_KEPT);
                }
                true
            }
        };
        if !changed {
            // Not news: the deployments it concerns were told the newer update.
            return (Vec::new(), false);
        }
        let out = self
            .deploys
            .iter()
            .filter(|(_, start)| {
                overlaps(span(h), *start) || before.is_some_and(|b| overlaps(b, *start))
            })
            .map(|(k, _)| (k.clone(), ev.clone()))
            .collect();
        (out, true)
    }

    /// A deployment (its thread `key`, started at `start`): followed, and given the issues it
    /// overlaps when it is new or started earlier than known.
    pub fn note_deploy(&mut self, key: &str, start: i64) -> (Vec<(String, Event)>, bool) {
        let changed = match self.deploys.iter_mut().find(|(k, _)| k == key) {
            Some((_, s)) if *s <= start => false,
            Some((_, s)) => {
                *s = start;
                true
            }
            None => {
                self.deploys.push((key.to_owned(), start));
                if self.deploys.len() > DEPLOYS_KEPT {
                    self.deploys.sort_by_key(|(_, s)| std::cmp::Reverse(*s));
                    self.deploys.truncate(DEPLOYS_KEPT);
                }
                true
            }
        };
        if !changed {
            return (Vec::new(), false);
        }
        let out = self
            .issues
            .iter()
            .filter(|e| matches!(e, Event::Health(h) if overlaps(span(h), start)))
            .map(|e| (key.to_owned(), e.clone()))
            .collect();
        (out, true)
    }
}

/// A Health issue as a deployment keeps it: the latest update of each (by AWS's time).
pub fn observe_issue(kept: &mut Vec<crate::event::Health>, h: &crate::event::Health) -> bool {
    let at = |x: &crate::event::Health| x.updated.or(x.meta.time);
    match kept.iter_mut().find(|k| k.event_arn == h.event_arn) {
        Some(k) if at(k) >= at(h) => false,
        Some(k) => {
            *k = h.clone();
            true
        }
        None => {
            kept.push(h.clone());
            if kept.len() > ISSUES_KEPT {
                kept.remove(0);
            }
            true
        }
    }
}

/// The issues a deployment that ran from `start` (to `end`, if it ended) names: those that
/// overlap it, oldest first, as a message says them ("AWS_ECS_OPERATIONAL_ISSUE open in
/// eu-west-1 since 20:00 UTC").
pub fn issues_during(
    kept: &[crate::event::Health],
    start: Option<i64>,
    end: Option<i64>,
) -> Vec<n::HealthIssue> {
    let Some(start) = start else {
        return Vec::new();
    };
    let mut out: Vec<n::HealthIssue> = kept
        .iter()
        .filter(|h| {
            let (s, e) = span(h);
            s <= end.unwrap_or(start.saturating_add(super::pointer::OPEN_DEPLOYMENT_SECS))
                && e.is_none_or(|e| e >= start)
        })
        .map(|h| {
            let closed = h
                .status
                .as_deref()
                .is_some_and(|s| s.eq_ignore_ascii_case("closed"))
                || (h.status.is_none() && h.end.is_some());
            n::HealthIssue {
                event_arn: h.event_arn.clone().unwrap_or_default(),
                service: h.service.clone(),
                event_type_code: h.event_type_code.clone(),
                status: if closed { status::CLOSED } else { status::OPEN }.into(),
                since: h.start.or(h.meta.time),
            }
        })
        .collect();
    out.sort_by(|a, b| (a.since, &a.event_arn).cmp(&(b.since, &b.event_arn)));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{Health, Meta};

    fn update(status: Option<&str>, updated: i64, end: Option<i64>) -> Event {
        Event::Health(Health {
            meta: Meta {
                account: "111122223333".into(),
                region: "eu-west-1".into(),
                time: DateTime::from_timestamp(updated + 5, 0),
                ..Meta::default()
            },
            service: "ECS".into(),
            event_type_code: "AWS_ECS_OPERATIONAL_ISSUE".into(),
            event_type_category: Some("issue".into()),
            status: status.map(str::to_owned),
            description: Some(format!("update at {updated}")),
            event_arn: Some("arn:aws:health:eu-west-1::event/ECS/X/Y".into()),
            affected_account: None,
            start: DateTime::from_timestamp(1_000, 0),
            end: end.and_then(|e| DateTime::from_timestamp(e, 0)),
            updated: DateTime::from_timestamp(updated, 0),
        })
    }

    #[test]
    fn the_latest_update_by_aws_time_wins_and_closes_it() {
        let mut h = HealthEvent::new("111122223333", "eu-west-1", "arn");
        // The closing update arrives first, an earlier one after it.
        assert!(h.apply(&update(Some("closed"), 3_000, Some(2_900))));
        assert!(
            !h.apply(&update(Some("open"), 2_000, None)),
            "an older update changes nothing"
        );
        let n = h.notification();
        assert_eq!((n.status.as_str(), n.is_final), ("CLOSED", true));
        let info = n.health.as_ref().expect("health");
        assert_eq!(info.description.as_deref(), Some("update at 3000"));
        assert_eq!(n.duration_secs, Some(1_900));
        assert!(
            !h.apply(&update(Some("closed"), 3_000, Some(2_900))),
            "a duplicate"
        );
        let rule: crate::route::expr::Expr = "kind:health & health.service:ECS & status:CLOSED"
            .parse()
            .expect("rule");
        assert!(rule.matches(&n.to_value()), "{}", n.to_value());
        // An older event with no status and an end time is closed; without either, open.
        let mut old = HealthEvent::new("1", "r", "arn");
        old.apply(&update(None, 10, None));
        assert_eq!(old.notification().status, "OPEN");
        old.apply(&update(None, 20, Some(20)));
        assert_eq!(old.notification().status, "CLOSED");
    }

    #[test]
    fn the_accounts_kept_are_the_smallest_whatever_the_order() {
        let copy = |account: usize| {
            let mut e = update(Some("open"), 100, None);
            if let Event::Health(h) = &mut e {
                h.affected_account = Some(format!("{account:012}"));
            }
            e
        };
        let (mut up, mut down) = (
            HealthEvent::new("1", "r", "arn"),
            HealthEvent::new("1", "r", "arn"),
        );
        for a in 0..60 {
            up.apply(&copy(a));
            down.apply(&copy(59 - a));
        }
        assert_eq!(up.accounts, down.accounts);
        assert_eq!(up.accounts.len(), ACCOUNTS_KEPT);
        assert_eq!(up.notification().account, "000000000000");
    }
}

#[cfg(test)]
mod board_tests {
    use super::*;
    use crate::event::{Health, Meta};

    fn issue(start: i64, end: Option<i64>, updated: i64) -> Event {
        Event::Health(Health {
            meta: Meta {
                account: "1".into(),
                region: "eu-west-1".into(),
                time: DateTime::from_timestamp(updated, 0),
                ..Meta::default()
            },
            service: "ECS".into(),
            event_type_code: "AWS_ECS_OPERATIONAL_ISSUE".into(),
            event_type_category: Some("issue".into()),
            status: Some(if end.is_some() { "closed" } else { "open" }.into()),
            description: None,
            event_arn: Some("arn:x".into()),
            affected_account: None,
            start: DateTime::from_timestamp(start, 0),
            end: end.and_then(|e| DateTime::from_timestamp(e, 0)),
            updated: DateTime::from_timestamp(updated, 0),
        })
    }

    #[test]
    fn an_issue_and_a_deployment_meet_whichever_comes_first() {
        let mut b = HealthBoard::default();
        // The issue first: a deployment during it is given it; one after it ended is not.
        let (out, c) = b.note_issue(&issue(1_000, None, 1_000));
        assert!(out.is_empty() && c);
        let (out, c) = b.note_deploy("ecs#d1", 2_000);
        assert!(c);
        assert_eq!(out.len(), 1);
        assert_eq!(b.note_deploy("ecs#d1", 2_000), (Vec::new(), false));
        // The closing update reaches the deployment already followed.
        let (out, c) = b.note_issue(&issue(1_000, Some(3_000), 3_000));
        assert!(c);
        assert_eq!(
            out.iter().map(|(k, _)| k.as_str()).collect::<Vec<_>>(),
            ["ecs#d1"]
        );
        let (out, _) = b.note_deploy("ecs#d2", 4_000);
        assert!(out.is_empty(), "after it closed");
        // An older update changes nothing.
        assert!(!b.note_issue(&issue(1_000, None, 1_500)).1);

        let mut kept = Vec::new();
        for ev in [issue(1_000, Some(3_000), 3_000), issue(1_000, None, 1_000)] {
            if let Event::Health(h) = &ev {
                observe_issue(&mut kept, h);
            }
        }
        let told = issues_during(&kept, Some(2_000), Some(2_500));
        assert_eq!(told.len(), 1);
        assert_eq!(
            (told[0].status.as_str(), told[0].event_type_code.as_str()),
            ("CLOSED", "AWS_ECS_OPERATIONAL_ISSUE")
        );
        assert!(issues_during(&kept, Some(3_500), Some(3_600)).is_empty());
    }
}
