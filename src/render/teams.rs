//! Microsoft Teams: a notification as a Workflows-webhook message carrying one Adaptive Card
//! (schema 1.4: what Teams renders everywhere), with a FactSet and `Action.OpenUrl` buttons.

use super::{
    duration, first_line, headline, log_caption, log_fitting, short_sha, status_label, test_lines,
    who, Tone,
};
use super::{status_emoji, truncate};
use crate::notification::{LogRegion, Notification};
use serde_json::{json, Value};

/// Teams refuses messages over about 28 KB; keep clear of it.
pub const MESSAGE_BYTES_MAX: usize = 27_000;
/// Teams shows a handful of buttons before folding the rest into "…".
const ACTIONS_MAX: usize = 6;
const ACTIONS_SHOWN: usize = 8;
/// Failed tests listed per action (the rest counted).
const TESTS_SHOWN: usize = 5;
const LOG_LINES_MAX: usize = 20;
const LOG_LINE_MAX: usize = 200;

/// The body to `POST` to a Workflows "When a Teams webhook request is received" URL.
pub fn render(n: &Notification) -> Value {
    // The log tail is the one part that can be long; shrink it until the message fits.
    let mut lines = LOG_LINES_MAX;
    loop {
        let v = envelope(card(n, lines));
        let size = serde_json::to_vec(&v)
            .map(|b| b.len())
            .unwrap_or(usize::MAX);
        if size <= MESSAGE_BYTES_MAX || lines == 0 {
            return v;
        }
        lines /= 2;
    }
}

fn envelope(card: Value) -> Value {
    json!({
        "type": "message",
        "attachments": [{
            "contentType": "application/vnd.microsoft.card.adaptive",
            "contentUrl": null,
            "content": card,
        }],
    })
}

fn card(n: &Notification, log_lines: usize) -> Value {
    let colour = match super::tone_of(n) {
        Tone::Good => "Good",
        Tone::Bad => "Attention",
        Tone::Warn => "Warning",
        Tone::Neutral => "Default",
    };
    let mut body = vec![
        json!({
            "type": "TextBlock",
            "text": truncate(&headline(n), 300),
            "size": "Large",
            "weight": "Bolder",
            "color": colour,
            "wrap": true,
        }),
        json!({
            "type": "TextBlock",
            "text": format!(
                "**{}** · {} · {}",
                status_label(&n.status),
                truncate(&who(n), 200),
                n.region
            ),
            "isSubtle": true,
            "spacing": "None",
            "wrap": true,
        }),
    ];

    let mut facts = Vec::new();
    if let Some(d) = n.duration_secs {
        facts.push(fact("Duration", &duration(d)));
    }
    if let Some(t) = &n.trigger {
        facts.push(fact("Trigger", &truncate(t, 300)));
    }
    if !n.stages.is_empty() {
        let s: Vec<String> = n
            .stages
            .iter()
            .map(|s| format!("{} {}", status_emoji(&s.status), truncate(&s.name, 100)))
            .collect();
        facts.push(fact("Stages", &truncate(&s.join(" → "), 1000)));
    }
    if let Some(c) = &n.commit {
        let mut v = Vec::new();
        if let Some(id) = &c.id {
            v.push(short_sha(id).to_string());
        }
        if let Some(b) = &c.branch {
            v.push(format!("on {}", truncate(b, 100)));
        }
        if let Some(a) = &c.author {
            v.push(format!("by {}", truncate(a, 100)));
        }
        if !v.is_empty() {
            facts.push(fact("Commit", &v.join(" ")));
        }
        if let Some(m) = &c.message {
            facts.push(fact("Message", &truncate(first_line(m), 300)));
        }
    }
    if !facts.is_empty() {
        body.push(json!({"type": "FactSet", "facts": facts}));
    }

    let mut actions = Vec::new();
    if let Some(f) = &n.failure {
        let mut items = Vec::new();
        if let Some(stage) = &f.stage {
            items.push(text(&format!(
                "**Failed in stage** {}",
                truncate(stage, 100)
            )));
        }
        if let Some(r) = &f.reason {
            items.push(text(&format!("**Reason:** {}", truncate(r, 800))));
        }
        let mut tail_shown = false;
        for a in f.actions.iter().take(ACTIONS_SHOWN) {
            let mut head = format!("❌ **{}**", truncate(&a.action, 100));
            if let Some(p) = &a.provider {
                head.push_str(&format!(" ({})", truncate(p, 60)));
            }
            if let Some(c) = &a.error_code {
                head.push_str(&format!(" · {}", truncate(c, 60)));
            }
            items.push(text(&head));
            if let Some(r) = &a.reason {
                let mut t = text(&truncate(r, 400));
                t["spacing"] = json!("None");
                items.push(t);
            }
            let tests = test_lines(a, TESTS_SHOWN, 200, str::to_owned);
            if !tests.is_empty() {
                let mut t = text(&tests.join("\n\n"));
                t["spacing"] = json!("None");
                items.push(t);
            }
            // One log tail is enough to read; a card with eight is a wall.
            if !tail_shown && !a.log_tail.is_empty() && log_lines > 0 {
                tail_shown = true;
                if let Some(c) = log_caption(a.log_region.as_ref(), a.log_tail.len().min(log_lines))
                {
                    let mut t = text(&c);
                    t["isSubtle"] = json!(true);
                    items.push(t);
                }
                items.push(log_tail(&a.log_tail, a.log_region.as_ref(), log_lines));
            }
            if let Some(u) = &a.log_url {
                actions.push(open_url(&format!("Logs: {}", truncate(&a.action, 40)), u));
            }
        }
        if f.actions.len() > ACTIONS_SHOWN {
            items.push(text(&format!(
                "…and {} more failed actions",
                f.actions.len() - ACTIONS_SHOWN
            )));
        }
        if !items.is_empty() {
            body.push(json!({"type": "Container", "style": "attention", "items": items}));
        }
    }
    if let Some(a) = &n.approval {
        let mut items = vec![text(&format!(
            "⏸️ **Approval needed** at {} / {}",
            truncate(&a.stage, 100),
            truncate(&a.action, 100)
        ))];
        if let Some(c) = &a.custom_data {
            items.push(text(&truncate(c, 500)));
        }
        if let Some(e) = &a.expires {
            items.push(text(&format!("Expires {}", e.format("%Y-%m-%d %H:%M UTC"))));
        }
        body.push(json!({"type": "Container", "style": "warning", "items": items}));
        // The review button comes first: it is what the reader is asked to do.
        if let Some(u) = &a.review_link {
            actions.insert(0, open_url("Review", u));
        }
        if let Some(u) = &a.external_link {
            actions.push(open_url("Details", u));
        }
    }
    if let Some(l) = super::stall_line(n) {
        body.push(text(&l));
    }
    if let Some(l) = super::reminder_line(n) {
        body.push(text(&l));
    }
    if let Some(l) = super::health_line(n) {
        body.push(text(&l));
    }
    for l in super::verdict_lines(n) {
        body.push(text(&l));
    }
    for l in super::acted_lines(n, |u| u.to_owned()) {
        body.push(text(&l));
    }
    for w in n.warnings.iter().take(5) {
        body.push(text(&format!("⚠️ {}", truncate(w, 300))));
    }
    if let Some(c) = &n.commit {
        if let Some(u) = &c.url {
            actions.push(open_url("Commit", u));
        }
    }
    for l in &n.links {
        actions.push(open_url(&truncate(&l.label, 40), &l.url));
    }
    let actions: Vec<Value> = actions.into_iter().flatten().take(ACTIONS_MAX).collect();

    let mut card = json!({
        "type": "AdaptiveCard",
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "version": "1.4",
        "msteams": {"width": "Full"},
        "body": body,
    });
    if !actions.is_empty() {
        card["actions"] = json!(actions);
    }
    card
}

fn text(s: &str) -> Value {
    json!({"type": "TextBlock", "text": s, "wrap": true})
}

fn fact(title: &str, value: &str) -> Value {
    json!({"title": title, "value": value})
}

/// One monospace block per line: Teams' markdown joins single newlines, which would turn a log
/// into one paragraph.
fn log_tail(lines: &[String], region: Option<&LogRegion>, max_lines: usize) -> Value {
    let error = region.is_some_and(|r| r.kind == "error");
    let mut items = Vec::new();
    if error {
        // An error region's first lines hold the error, its last the exit line.
        let mut shown: Vec<&String> = lines.iter().collect();
        if shown.len() > max_lines {
            let dropped = shown.len() - max_lines;
            let last = shown[shown.len() - 1];
            shown.truncate(max_lines.saturating_sub(1));
            items.extend(shown.iter().map(|l| mono(&truncate(l, LOG_LINE_MAX))));
            items.push(mono(&format!("…({dropped} more lines)")));
            items.push(mono(&truncate(last, LOG_LINE_MAX)));
        } else {
            items.extend(shown.iter().map(|l| mono(&truncate(l, LOG_LINE_MAX))));
        }
    } else {
        let start = lines.len().saturating_sub(max_lines);
        let (kept, note) = log_fitting(&lines[start..], region, usize::MAX, LOG_LINE_MAX, |l| {
            l.to_string()
        });
        if start > 0 {
            items.push(mono(&format!("…({start} earlier lines)")));
        } else if let Some(n) = note {
            items.push(mono(&n));
        }
        items.extend(kept.iter().map(|l| mono(l)));
    }
    json!({"type": "Container", "style": "emphasis", "items": items})
}

fn mono(line: &str) -> Value {
    json!({
        "type": "TextBlock",
        "text": if line.is_empty() { " " } else { line },
        "fontType": "Monospace",
        "size": "Small",
        "spacing": "None",
        "wrap": true,
    })
}

fn open_url(title: &str, url: &str) -> Option<Value> {
    let ok = (url.starts_with("https://") || url.starts_with("http://")) && url.len() <= 2048;
    ok.then(|| json!({"type": "Action.OpenUrl", "title": title, "url": url}))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notification::{status, FailedActionInfo, Failure, Kind};

    #[test]
    fn a_huge_failure_still_fits_in_a_teams_message() {
        let n = Notification {
            stalled: false,
            stalled_since: None,
            stalled_for_secs: None,
            reminder: None,
            principal: None,
            invoked_by: None,
            desired_count: None,
            crashes: None,
            last_crash: None,
            health: None,
            verdict: None,
            alarms: Vec::new(),
            deployment: None,
            aws_health: Vec::new(),
            held: None,
            actions: vec![],
            acted: vec![],
            muted: None,
            kind: Kind::Build,
            status: status::FAILED.into(),
            is_final: true,
            account: "1".into(),
            account_alias: None,
            region: "r".into(),
            pipeline: None,
            execution_id: None,
            project: None,
            build_id: None,
            application: None,
            deployment_group: None,
            deployment_id: None,
            cluster: None,
            service: None,
            alarm_name: None,
            title: "t".into(),
            started_at: None,
            finished_at: None,
            duration_secs: None,
            trigger: None,
            commit: None,
            stages: vec![],
            failure: Some(Failure {
                stage: None,
                reason: None,
                actions: (0..20)
                    .map(|i| FailedActionInfo {
                        action: format!("a{i}"),
                        reason: Some("理由".repeat(500)),
                        log_url: Some(format!("https://example.com/{i}")),
                        log_tail: (0..500).map(|_| "ログ".repeat(500)).collect(),
                        ..Default::default()
                    })
                    .collect(),
            }),
            approval: None,
            warnings: vec![],
            links: vec![],
        };
        let v = render(&n);
        assert!(serde_json::to_vec(&v).unwrap().len() <= MESSAGE_BYTES_MAX);
        let card = &v["attachments"][0]["content"];
        assert_eq!(card["version"], "1.4");
        assert!(card["actions"].as_array().unwrap().len() <= ACTIONS_MAX);
    }
}
