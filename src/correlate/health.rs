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
