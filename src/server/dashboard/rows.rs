//! The rows of the status page: one per pipeline, its newest execution, built at `now` (pure).

use super::*;

/// Where a pipeline execution's chat message is, at one destination.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatRef {
    pub destination: String,
    /// `posted` once the provider returned a reference, else `pending`.
    pub state: String,
    /// A link that opens the message's conversation, when the reference allows one (Slack).
    pub url: Option<String>,
}

/// One line of the status page: a pipeline and its newest execution.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PipelineRow {
    pub pipeline: String,
    pub account: String,
    pub account_alias: Option<String>,
    pub region: String,
    pub execution_id: Option<String>,
    pub status: String,
    /// The stage the status is about: the failed stage, the stage waiting for approval, the
    /// stage running, or the last stage of a finished execution.
    pub stage: Option<String>,
    pub stages: Vec<StageInfo>,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    /// Seconds from `started_at` to the `now` the row was built with.
    pub age_secs: Option<i64>,
    pub duration_secs: Option<i64>,
    /// The execution in the AWS console.
    pub console_url: Option<String>,
    pub chat: Vec<ChatRef>,
}

impl PipelineRow {
    /// The row for a pipeline execution's notification and its deliveries; `None` for any
    /// other kind of thread.
    pub fn new(
        note: &Notification,
        deliveries: &BTreeMap<String, DeliveryRec>,
        now: DateTime<Utc>,
    ) -> Option<Self> {
        if note.kind != Kind::Pipeline {
            return None;
        }
        let console_url = note
            .links
            .iter()
            .find(|l| l.label == "execution")
            .and_then(|l| safe_url(&l.url))
            .map(str::to_owned);
        Some(Self {
            pipeline: note.pipeline.clone().unwrap_or_else(|| note.title.clone()),
            account: note.account.clone(),
            account_alias: note.account_alias.clone(),
            region: note.region.clone(),
            execution_id: note.execution_id.clone(),
            status: note.status.clone(),
            stage: current_stage(note),
            stages: note.stages.clone(),
            started_at: note.started_at,
            finished_at: note.finished_at,
            age_secs: note.started_at.map(|s| (now - s).num_seconds().max(0)),
            duration_secs: note
                .duration_secs
                .or_else(|| Some((note.finished_at? - note.started_at?).num_seconds().max(0))),
            console_url,
            chat: deliveries
                .iter()
                .map(|(dest, rec)| chat_ref(dest, rec))
                .collect(),
        })
    }

    /// The same row, aged to `now`.
    pub fn aged(mut self, now: DateTime<Utc>) -> Self {
        self.age_secs = self.started_at.map(|s| (now - s).num_seconds().max(0));
        self
    }

    /// The account as people name it: the alias when there is one.
    pub fn account_label(&self) -> String {
        match &self.account_alias {
            Some(a) if !a.is_empty() => format!("{a} ({})", self.account),
            _ => self.account.clone(),
        }
    }
}

fn current_stage(note: &Notification) -> Option<String> {
    let named = |want: &str| {
        note.stages
            .iter()
            .rev()
            .find(|s| s.status == want)
            .map(|s| s.name.clone())
    };
    match note.status.as_str() {
        status::FAILED => note
            .failure
            .as_ref()
            .and_then(|f| f.stage.clone())
            .or_else(|| named(status::FAILED)),
        status::WAITING_FOR_APPROVAL => note.approval.as_ref().map(|a| a.stage.clone()),
        _ => None,
    }
    .or_else(|| {
        note.stages
            .iter()
            .rev()
            .find(|s| s.status != status::SUCCEEDED)
            .or(note.stages.last())
            .map(|s| s.name.clone())
    })
}

/// What a delivery reference tells about where the message is. Slack references carry the
/// message's permalink (`chat.getPermalink` at post time); one without it (the lookup failed,
/// or `permalinks = false`) opens the channel through `app_redirect`. Other providers'
/// references (Discord message ids, Teams, SNS, files) name no place a browser can open.
pub fn chat_ref(destination: &str, rec: &DeliveryRec) -> ChatRef {
    let url = rec.message.as_ref().and_then(|m| {
        if let Some(link) = m.get("permalink").and_then(|v| v.as_str()) {
            if link.starts_with("https://") {
                return Some(link.to_owned());
            }
        }
        let channel = m.get("channel")?.as_str()?;
        m.get("ts")?.as_str()?;
        (!channel.is_empty()).then(|| {
            format!(
                "https://slack.com/app_redirect?channel={}",
                percent_encode(channel)
            )
        })
    });
    ChatRef {
        destination: destination.to_owned(),
        state: if rec.message.is_some() {
            "posted"
        } else {
            "pending"
        }
        .to_owned(),
        url,
    }
}

/// `?account=` (an account id or alias) and `?status=`; empty means any.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct Filters {
    #[serde(default)]
    pub account: Option<String>,
    #[serde(default)]
    pub status: Option<String>,
}

impl Filters {
    pub(super) fn normalised(self) -> Self {
        let keep = |v: Option<String>| v.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty());
        Self {
            account: keep(self.account),
            status: keep(self.status),
        }
    }

    pub fn matches(&self, row: &PipelineRow) -> bool {
        let account_ok = self.account.as_deref().is_none_or(|a| {
            row.account == a || row.account_alias.as_deref().is_some_and(|x| x == a)
        });
        let status_ok = self
            .status
            .as_deref()
            .is_none_or(|s| row.status.eq_ignore_ascii_case(s));
        account_ok && status_ok
    }
}

/// Newest execution first, then by account and pipeline, so the order is stable between
/// refreshes.
pub fn sort_rows(rows: &mut [PipelineRow]) {
    rows.sort_by(|a, b| {
        b.started_at
            .cmp(&a.started_at)
            .then_with(|| a.account.cmp(&b.account))
            .then_with(|| a.pipeline.cmp(&b.pipeline))
            .then_with(|| a.region.cmp(&b.region))
    });
}

/// What the JSON endpoint answers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PipelinesDoc {
    pub generated_at: DateTime<Utc>,
    pub pipelines: Vec<PipelineRow>,
}
