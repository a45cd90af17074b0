//! Digest messages: the threads a burst folded into one message (see `deliver::digest`), as
//! each provider shows them. Pure, like the other renderers.
//!
//! Threads are grouped by title (a pipeline, a service, an alarm): one line per group, linked to
//! the group's console page, with its threads by status and short id. While the digest is small
//! each id links to its own thread; when that no longer fits, ids are listed plain. The ids are
//! what names an execution: the first characters of the execution, deployment or build id.
//!
//! How many threads a digest holds is [`budget`]: a cost per group and per thread against what
//! one message can take. Slack refuses a message whose blocks add up to more than about 13,000
//! characters (`msg_blocks_too_long`: measured by users, not documented), Discord an embed over
//! 6,000, Teams a message over 28 KB; Amazon Q shows its description in one Slack section
//! (3,000). With ids plain, a Slack digest names about a thousand executions of a few dozen
//! pipelines.

use super::{status_emoji, truncate};
use super::{status_label, tone, Tone};
use crate::notification::{Kind, Notification};
use serde::Serialize;
use serde_json::{json, Value};

/// One thread of a digest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DigestEntry {
    /// The thread's stable message id ([`crate::deliver::Delivery::thread`]).
    pub thread: String,
    pub kind: Kind,
    pub title: String,
    /// The execution, deployment or build id; shown short.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    pub status: String,
    #[serde(rename = "final")]
    pub is_final: bool,
    /// The thread's own console page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// The console page of what the title names (the pipeline, the service, the alarm).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group_url: Option<String>,
}

impl DigestEntry {
    pub fn new(thread: &str, n: &Notification) -> Self {
        let id = n
            .execution_id
            .as_ref()
            .or(n.deployment_id.as_ref())
            .or(n.build_id.as_ref())
            .cloned();
        let url = n.links.first().map(|l| l.url.clone());
        let r = &n.region;
        let console = format!("https://{r}.console.aws.amazon.com");
        let group_url =
            match n.kind {
                Kind::Pipeline => n.pipeline.as_ref().map(|p| {
                    format!("{console}/codesuite/codepipeline/pipelines/{p}/view?region={r}")
                }),
                Kind::Build => n.project.as_ref().map(|p| {
                    format!("{console}/codesuite/codebuild/projects/{p}/history?region={r}")
                }),
                Kind::Deployment => n
                    .application
                    .as_ref()
                    .map(|a| format!("{console}/codesuite/codedeploy/applications/{a}?region={r}")),
                // Their links already name the service and the alarm, not one episode.
                Kind::EcsDeployment
                | Kind::EcsService
                | Kind::EcsScaling
                | Kind::Alarm
                | Kind::Health => url.clone(),
            };
        Self {
            thread: thread.to_owned(),
            kind: n.kind,
            title: truncate(&n.title, TITLE_MAX).into_owned(),
            id,
            status: n.status.clone(),
            is_final: n.is_final,
            url,
            group_url,
        }
    }

    /// The first characters of the id (after the project of a `project:uuid` build id): what
    /// names the thread in the digest. The link, when shown, carries the whole id.
    pub fn short_id(&self) -> Option<String> {
        let id = self.id.as_deref()?;
        let tail = id.rsplit(':').next().unwrap_or(id);
        Some(tail.chars().take(SHORT_ID).collect())
    }
}

/// A digest as a sink sends it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DigestView {
    /// Unique per digest; Amazon Q threads its messages by it.
    pub id: String,
    /// Every thread of the digest, in the order they were folded in.
    pub entries: Vec<DigestEntry>,
    /// Indices into `entries` that changed since the digest was last sent (all of them the first
    /// time). Sinks that cannot edit show only these.
    pub changed: Vec<usize>,
    /// How many times the digest was sent before this one.
    pub sends: u32,
}

impl DigestView {
    fn changed_entries(&self) -> Vec<&DigestEntry> {
        self.changed
            .iter()
            .filter_map(|i| self.entries.get(*i))
            .collect()
    }
}

/// What a digest message can hold: `group` is charged for the first thread of a title, `entry`
/// for every thread, against `max`.
#[derive(Debug, Clone, Copy)]
pub struct Budget {
    pub max: usize,
    pub group: fn(&DigestEntry) -> usize,
    pub entry: fn(&DigestEntry) -> usize,
}

const TITLE_MAX: usize = 80;
const SHORT_ID: usize = 8;
const URL_MAX: usize = 500;
/// A group line's emoji, markup and two status labels with their counts (a third, rarer, eats
/// into the margin each budget keeps below its provider's limit).
const GROUP_ROOM: usize = 45;
/// An id and its separator.
const ENTRY_ROOM: usize = SHORT_ID + 2;

/// Slack: the group lines of one message, below the ~13,000 characters Slack takes.
pub const SLACK_LINES_MAX: usize = 11_000;
const DISCORD_LINES_MAX: usize = 3_600;
const TEAMS_LINES_MAX: usize = 16_000;
const AMAZONQ_LINES_MAX: usize = 2_600;
const WEBHOOK_ENTRIES_MAX: usize = 1_000;

fn group_cost(e: &DigestEntry) -> usize {
    e.title.chars().count() + usable(&e.group_url).map_or(0, str::len) + GROUP_ROOM
}

/// The digest budget of a sink kind; `None` for kinds that show no digest.
pub fn budget(kind: &str) -> Option<Budget> {
    let max = match kind {
        "slack" => SLACK_LINES_MAX,
        "discord" => DISCORD_LINES_MAX,
        // JSON around each line costs bytes; lines are fewer than entries.
        "teams" => TEAMS_LINES_MAX,
        "amazonq" => AMAZONQ_LINES_MAX,
        "webhook" => {
            return Some(Budget {
                max: WEBHOOK_ENTRIES_MAX,
                group: |_| 0,
                entry: |_| 1,
            })
        }
        _ => return None,
    };
    Some(Budget {
        max,
        group: group_cost,
        entry: |_| ENTRY_ROOM,
    })
}

/// Whether a kind's digest is one message edited in place (Slack, Discord, webhook receivers
/// keyed by digest id) or a series of new messages, each with what changed (Teams Workflows
/// webhooks and Amazon Q cannot edit).
pub fn edits_in_place(kind: &str) -> bool {
    matches!(kind, "slack" | "discord" | "webhook")
}

fn usable(url: &Option<String>) -> Option<&str> {
    url.as_deref()
        .filter(|u| (u.starts_with("https://") || u.starts_with("http://")) && u.len() <= URL_MAX)
}

fn rank(status: &str) -> u8 {
    match tone(status) {
        Tone::Bad => 0,
        Tone::Warn => 1,
        Tone::Neutral => 2,
        Tone::Good => 3,
    }
}

fn worst(entries: &[&DigestEntry]) -> Tone {
    entries
        .iter()
        .min_by_key(|e| rank(&e.status))
        .map_or(Tone::Neutral, |e| tone(&e.status))
}

/// `❌ 12 FAILED · 🔄 3 IN PROGRESS`, worst first.
fn counts(entries: &[&DigestEntry]) -> String {
    let mut by: Vec<(u8, String, usize)> = Vec::new();
    for e in entries {
        match by.iter_mut().find(|(_, s, _)| *s == e.status) {
            Some(x) => x.2 += 1,
            None => by.push((rank(&e.status), e.status.clone(), 1)),
        }
    }
    by.sort();
    by.into_iter()
        .map(|(_, s, n)| format!("{} {n} {}", status_emoji(&s), status_label(&s)))
        .collect::<Vec<_>>()
        .join(" · ")
}

/// One title's threads.
struct Group<'a> {
    title: &'a str,
    url: Option<&'a str>,
    entries: Vec<&'a DigestEntry>,
}

/// Entries grouped by title; groups worst first, then in order of arrival.
fn groups<'a>(entries: &[&'a DigestEntry]) -> Vec<Group<'a>> {
    let mut out: Vec<Group<'a>> = Vec::new();
    for e in entries {
        match out.iter_mut().find(|g| g.title == e.title) {
            Some(g) => g.entries.push(e),
            None => out.push(Group {
                title: &e.title,
                url: usable(&e.group_url),
                entries: vec![e],
            }),
        }
    }
    out.sort_by_key(|g| g.entries.iter().map(|e| rank(&e.status)).min());
    out
}

/// How a group line is marked up, per provider.
struct Markup {
    bold_link: fn(&str, &str) -> String,
    bold: fn(&str) -> String,
    link: fn(&str, &str) -> String,
    esc: fn(&str) -> String,
}

const SLACK: Markup = Markup {
    bold_link: |u, t| format!("*{}*", super::slack::link(u, t)),
    bold: |t| format!("*{t}*"),
    link: super::slack::link,
    esc: super::slack::esc,
};

const DISCORD: Markup = Markup {
    bold_link: |u, t| format!("**[{t}]({})**", super::discord::link_url(u)),
    bold: |t| format!("**{t}**"),
    link: |u, t| format!("[{t}]({})", super::discord::link_url(u)),
    esc: super::discord::esc,
};

const TEAMS: Markup = Markup {
    bold_link: |u, t| format!("**[{t}]({})**", teams_url(u)),
    bold: |t| format!("**{t}**"),
    link: |u, t| format!("[{t}]({})", teams_url(u)),
    esc: |t| t.replace(['[', ']', '*', '_'], ""),
};

fn teams_url(u: &str) -> String {
    u.replace(' ', "%20").replace(')', "%29")
}

/// `❌ *<url|web-app>* — ❌ 2 FAILED: 3f1c9a2e, 9a8b7c6d · ✅ 1 SUCCEEDED: 1a2b3c4d`.
fn group_line(g: &Group<'_>, m: &Markup, linked: bool) -> String {
    let title = (m.esc)(g.title);
    let head = match g.url {
        Some(u) => (m.bold_link)(u, &title),
        None => (m.bold)(&title),
    };
    let worst = g
        .entries
        .iter()
        .min_by_key(|e| rank(&e.status))
        .map_or("ℹ️", |e| status_emoji(&e.status));
    let mut by: Vec<(u8, &str, Vec<&DigestEntry>)> = Vec::new();
    for e in &g.entries {
        match by.iter_mut().find(|(_, s, _)| *s == e.status) {
            Some(x) => x.2.push(e),
            None => by.push((rank(&e.status), &e.status, vec![e])),
        }
    }
    by.sort_by_key(|(r, s, _)| (*r, s.to_string()));
    let parts: Vec<String> = by
        .into_iter()
        .map(|(_, s, es)| {
            let ids: Vec<String> = es
                .iter()
                .filter_map(|e| {
                    let short = (m.esc)(&e.short_id()?);
                    Some(match (linked, usable(&e.url)) {
                        (true, Some(u)) => (m.link)(u, &short),
                        _ => short,
                    })
                })
                .collect();
            let head = format!("{} {} {}", status_emoji(s), es.len(), status_label(s));
            if ids.is_empty() {
                head
            } else {
                format!("{head}: {}", ids.join(", "))
            }
        })
        .collect();
    format!("{worst} {head} — {}", parts.join(" · "))
}

/// The group lines, with each id linked when that fits in `max` characters, else plain.
fn lines(entries: &[&DigestEntry], m: &Markup, max: usize) -> Vec<String> {
    let gs = groups(entries);
    let linked: Vec<String> = gs.iter().map(|g| group_line(g, m, true)).collect();
    let size: usize = linked.iter().map(|l| l.chars().count() + 1).sum();
    if size <= max {
        return linked;
    }
    gs.iter().map(|g| group_line(g, m, false)).collect()
}

fn heading(total: usize, shown: usize, sends: u32, edits: bool) -> String {
    if edits || sends == 0 {
        format!("📋 Digest: {total} notifications")
    } else {
        format!("📋 Digest, continued: {shown} of {total} notifications changed")
    }
}

const WHY: &str = "More notifications arrived than this destination may be sent; they are \
                   folded into this digest, which follows their later states.";

// ---------------------------------------------------------------------------------------------
// Slack

/// The `chat.postMessage` / `chat.update` body of a digest, without `channel` and `ts`.
pub fn slack(v: &DigestView) -> Value {
    use super::slack::{esc, fit, SECTION_MAX, TEXT_MAX};
    let all: Vec<&DigestEntry> = v.entries.iter().collect();
    let mut sections = Vec::new();
    let mut current = String::new();
    for line in lines(&all, &SLACK, SLACK_LINES_MAX) {
        let line = fit(&line, SECTION_MAX);
        if !current.is_empty() && current.chars().count() + line.chars().count() + 1 > SECTION_MAX {
            sections.push(std::mem::take(&mut current));
        }
        if !current.is_empty() {
            current.push('\n');
        }
        current.push_str(&line);
    }
    if !current.is_empty() {
        sections.push(current);
    }
    let mut blocks = vec![json!({
        "type": "context",
        "elements": [{"type": "mrkdwn", "text": format!("*{}*\n{}", counts(&all), WHY)}],
    })];
    blocks.extend(sections.into_iter().map(
        |s| json!({"type": "section", "text": {"type": "mrkdwn", "text": fit(&s, SECTION_MAX)}}),
    ));
    let colour = match worst(&all) {
        Tone::Good => "#2EB67D",
        Tone::Bad => "#E01E5A",
        Tone::Warn => "#ECB22E",
        Tone::Neutral => "#9E9E9E",
    };
    let head = heading(all.len(), all.len(), v.sends, true);
    json!({
        "text": fit(&esc(&format!("{head} ({})", counts(&all))), TEXT_MAX),
        "blocks": [{
            "type": "header",
            "text": {"type": "plain_text", "text": head, "emoji": true},
        }],
        "attachments": [{"color": colour, "blocks": blocks}],
    })
}

// ---------------------------------------------------------------------------------------------
// Discord

/// The execute-webhook / edit body of a digest: one embed.
pub fn discord(v: &DigestView) -> Value {
    let all: Vec<&DigestEntry> = v.entries.iter().collect();
    let mut text = vec![counts(&all), String::new()];
    text.extend(lines(&all, &DISCORD, DISCORD_LINES_MAX));
    let colour = match worst(&all) {
        Tone::Good => 0x2EB67D,
        Tone::Bad => 0xE01E5A,
        Tone::Warn => 0xECB22E,
        Tone::Neutral => 0x9E9E9E,
    };
    json!({
        "embeds": [{
            "title": heading(all.len(), all.len(), v.sends, true),
            "description": truncate(&text.join("\n"), super::discord::DESCRIPTION_MAX),
            "color": colour,
            "footer": {"text": format!("herald · digest · {}", v.id)},
        }],
        "allowed_mentions": {"parse": []},
    })
}

// ---------------------------------------------------------------------------------------------
// Teams

/// A Workflows-webhook message for a digest: the threads that changed since the last one.
pub fn teams(v: &DigestView) -> Value {
    let shown = v.changed_entries();
    let colour = match worst(&shown) {
        Tone::Good => "Good",
        Tone::Bad => "Attention",
        Tone::Warn => "Warning",
        Tone::Neutral => "Default",
    };
    let mut body = vec![
        json!({
            "type": "TextBlock",
            "text": heading(v.entries.len(), shown.len(), v.sends, false),
            "size": "Large",
            "weight": "Bolder",
            "color": colour,
            "wrap": true,
        }),
        json!({
            "type": "TextBlock",
            "text": format!("**{}**  \n{WHY}", counts(&shown)),
            "isSubtle": true,
            "wrap": true,
        }),
    ];
    // One block per line: Teams' markdown joins single newlines into one paragraph.
    body.extend(
        lines(&shown, &TEAMS, TEAMS_LINES_MAX)
            .into_iter()
            .map(|l| json!({"type": "TextBlock", "text": l, "spacing": "Small", "wrap": true})),
    );
    json!({
        "type": "message",
        "attachments": [{
            "contentType": "application/vnd.microsoft.card.adaptive",
            "contentUrl": null,
            "content": {
                "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
                "type": "AdaptiveCard",
                "version": "1.4",
                "msteams": {"width": "Full"},
                "body": body,
            },
        }],
    })
}

// ---------------------------------------------------------------------------------------------
// Amazon Q

/// The custom-notification SNS message of a digest: the threads that changed since the last
/// one, in the digest's own chat thread.
pub fn amazonq(v: &DigestView) -> Value {
    use super::amazonq::{DESCRIPTION_MAX, SUMMARY_MAX, TITLE_MAX};
    let shown = v.changed_entries();
    let amazonq = Markup {
        link: super::amazonq::link,
        bold_link: |u, t| format!("*{}*", super::amazonq::link(u, t)),
        ..SLACK
    };
    let mut text = vec![format!("*{}*", counts(&shown))];
    text.extend(lines(&shown, &amazonq, AMAZONQ_LINES_MAX));
    let head = heading(v.entries.len(), shown.len(), v.sends, false);
    json!({
        "version": "1.0",
        "source": "custom",
        "id": format!("{}#{}", v.id, v.sends),
        "content": {
            "textType": "client-markdown",
            "title": truncate(&head, TITLE_MAX),
            "description": super::slack::fit(&text.join("\n"), DESCRIPTION_MAX),
        },
        "metadata": {
            "threadId": v.id,
            "summary": truncate(&format!("{head} ({})", counts(&shown)), SUMMARY_MAX),
            "eventType": "digest",
        },
    })
}

// ---------------------------------------------------------------------------------------------
// Text

/// A digest as the terminal shows it.
pub fn text(v: &DigestView) -> String {
    let all: Vec<&DigestEntry> = v.entries.iter().collect();
    let plain = Markup {
        bold_link: |_, t| t.to_string(),
        bold: |t| t.to_string(),
        link: |_, t| t.to_string(),
        esc: |t| t.to_string(),
    };
    let mut out = format!(
        "{} ({})",
        heading(all.len(), all.len(), v.sends, true),
        counts(&all)
    );
    for l in lines(&all, &plain, usize::MAX) {
        out.push_str(&format!("\n  {l}"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(i: usize, pipeline: usize, status: &str) -> DigestEntry {
        let id = format!(
            "{:08x}-7d1e-4c1a-9f3b-5a9d1c2e3f40",
            0x9e37_79b9u64.wrapping_mul(i as u64 + 1) & 0xffff_ffff
        );
        let p = format!("checkout-service-{pipeline}");
        DigestEntry {
            thread: format!("ex#111122223333#eu-west-1#{p}#{id}"),
            kind: Kind::Pipeline,
            title: p.clone(),
            url: Some(format!(
                "https://eu-west-1.console.aws.amazon.com/codesuite/codepipeline/pipelines/{p}/executions/{id}/timeline?region=eu-west-1"
            )),
            group_url: Some(format!(
                "https://eu-west-1.console.aws.amazon.com/codesuite/codepipeline/pipelines/{p}/view?region=eu-west-1"
            )),
            id: Some(id),
            status: status.into(),
            is_final: true,
        }
    }

    /// As many entries (over `pipelines` titles) as `kind`'s budget allows, up to `n`.
    fn fill(kind: &str, pipelines: usize, n: usize) -> DigestView {
        let b = budget(kind).expect("a budget");
        let mut used = 0;
        let mut entries: Vec<DigestEntry> = Vec::new();
        while entries.len() < n {
            let i = entries.len();
            let e = entry(
                i,
                i % pipelines,
                if i.is_multiple_of(3) {
                    "SUCCEEDED"
                } else {
                    "FAILED"
                },
            );
            let mut c = (b.entry)(&e);
            if !entries.iter().any(|x| x.title == e.title) {
                c += (b.group)(&e);
            }
            if used + c > b.max {
                break;
            }
            used += c;
            entries.push(e);
        }
        let changed = (0..entries.len()).collect();
        DigestView {
            id: "dg-1".into(),
            entries,
            changed,
            sends: 0,
        }
    }

    fn all_text(v: &Value, out: &mut usize) {
        match v {
            Value::Object(m) => {
                if let Some(Value::String(t)) = m.get("text") {
                    *out += t.chars().count();
                }
                m.values().for_each(|x| all_text(x, out));
            }
            Value::Array(a) => a.iter().for_each(|x| all_text(x, out)),
            _ => {}
        }
    }

    fn named(body: &str, v: &DigestView) {
        for e in &v.entries {
            let short = e.short_id().unwrap_or_default();
            assert!(body.contains(&short), "{short} is not named");
        }
    }

    #[test]
    fn short_ids_name_the_execution() {
        let e = entry(7, 0, "FAILED");
        assert_eq!(e.short_id().map(|s| s.len()), Some(8));
        let mut b = e.clone();
        b.id = Some("web-build:0f1e2d3c-aaaa".into());
        assert_eq!(b.short_id().as_deref(), Some("0f1e2d3c"));
        b.id = None;
        assert_eq!(b.short_id(), None);
    }

    #[test]
    fn a_storm_of_500_over_40_pipelines_fits_in_one_slack_digest_or_two() {
        let v = fill("slack", 40, 500);
        assert!(v.entries.len() >= 250, "{} entries", v.entries.len());
        let s = slack(&v);
        let blocks = s["attachments"][0]["blocks"].as_array().expect("blocks");
        assert!(blocks.len() < super::super::slack::BLOCKS_MAX);
        for b in blocks {
            let t = b["text"]["text"].as_str().unwrap_or_default();
            assert!(t.chars().count() <= super::super::slack::SECTION_MAX);
            assert!(!t.ends_with('…'), "nothing cut");
        }
        let mut total = 0;
        all_text(&s["attachments"], &mut total);
        all_text(&s["blocks"], &mut total);
        assert!(total <= 12_000, "{total} characters of blocks");
        named(&s.to_string(), &v);
        assert_eq!(s["attachments"][0]["color"], "#E01E5A");
        assert!(s["blocks"][0]["text"]["text"]
            .as_str()
            .is_some_and(|t| t.contains(&format!("{} notifications", v.entries.len()))));
    }

    #[test]
    fn a_small_digest_links_every_thread() {
        let v = fill("slack", 3, 6);
        let s = slack(&v).to_string();
        for e in &v.entries {
            assert!(s.contains(e.url.as_deref().unwrap_or_default()), "{s}");
        }
        assert!(s.contains("❌ 4 FAILED"), "{s}");
        assert!(s.contains("✅ 2 SUCCEEDED"), "{s}");
    }

    #[test]
    fn a_full_discord_digest_stays_within_the_embed_limits() {
        let v = fill("discord", 5, 500);
        assert!(v.entries.len() >= 200, "{}", v.entries.len());
        let d = discord(&v);
        let e = &d["embeds"][0];
        assert!(super::super::discord::embed_text_len(e) <= super::super::discord::EMBED_TOTAL_MAX);
        let desc = e["description"].as_str().unwrap_or_default();
        assert!(!desc.ends_with('…'), "nothing cut");
        named(desc, &v);
    }

    #[test]
    fn teams_and_amazonq_show_what_changed_within_their_limits() {
        let mut v = fill("teams", 40, 500);
        let t = teams(&v);
        assert!(
            serde_json::to_vec(&t).expect("json").len() <= super::super::teams::MESSAGE_BYTES_MAX
        );
        named(&t.to_string(), &v);
        v.changed = vec![1];
        v.sends = 3;
        let t = teams(&v).to_string();
        assert!(t.contains("1 of"), "{t}");
        assert!(t.contains(&v.entries[1].short_id().unwrap_or_default()));
        assert!(!t.contains(&v.entries[2].short_id().unwrap_or_default()));

        let v = fill("amazonq", 10, 500);
        let q = amazonq(&v);
        let desc = q["content"]["description"].as_str().unwrap_or_default();
        assert!(desc.chars().count() <= super::super::amazonq::DESCRIPTION_MAX);
        assert!(!desc.ends_with('…'), "nothing cut");
        named(desc, &v);
        assert_eq!(q["metadata"]["threadId"], "dg-1");
    }

    #[test]
    fn counts_put_the_worst_first() {
        let a = entry(1, 0, "SUCCEEDED");
        let b = entry(2, 0, "FAILED");
        let c = entry(3, 1, "FAILED");
        assert_eq!(counts(&[&a, &b, &c]), "❌ 2 FAILED · ✅ 1 SUCCEEDED");
        let t = text(&DigestView {
            id: "d".into(),
            entries: vec![a, b, c],
            changed: vec![],
            sends: 0,
        });
        let first = t.lines().nth(1).unwrap_or_default();
        assert!(
            first.starts_with("  ❌ checkout-service-0 — ❌ 1 FAILED"),
            "{t}"
        );
    }
}
