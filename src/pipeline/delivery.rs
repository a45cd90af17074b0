//! The delivery protocol of one thread: which destinations want it, the claim (delivery
//! lease) that makes one worker post, the post or edit, and the record that releases it.

use super::{Delivered, RunError, Runner};
use crate::config::Mode;
use crate::correlate::engine::Work;
use crate::correlate::Thread;
use crate::deliver::{fence, Delivery, MessageRef, Op, SinkError};
use crate::notification::Notification;

/// How many times one call delivers a thread: again when it moved on meanwhile, or when the
/// lease ran out before an attempt.
const ROUNDS: usize = 8;

impl Runner {
    pub(super) async fn deliver_keys(
        &self,
        keys: Vec<String>,
        now: i64,
        flush: bool,
    ) -> Result<Delivered, RunError> {
        let mut total = Delivered::default();
        let mut failed = None;
        for key in keys {
            match self.deliver_key(&key, now, flush).await {
                Ok(d) => {
                    total.posts += d.posts;
                    total.updates += d.updates;
                }
                // The in-process store holds the source messages: they come again.
                Err(e) if self.engine.in_process() => return Err(e),
                Err(e) => {
                    // On a shared store no source message waits for this delivery (a final
                    // message's settle window is a timer): the thread's own timer tries again.
                    let again = now.saturating_add(super::TIMER_RETRY_SECS);
                    if let Err(e) = self.engine.retry_at(&key, again, now).await {
                        tracing::warn!(thread = %key, error = %e, "cannot set a failed delivery's timer");
                    }
                    failed.get_or_insert(e);
                }
            }
        }
        match failed {
            Some(e) => Err(e),
            None => Ok(total),
        }
    }

    /// The destinations a notification should be at now, given routing and the mode.
    pub(super) fn wanted(&self, thread: &Thread, note: &Notification) -> Vec<&str> {
        let mut routed = self.router.destinations(note);
        // A held alarm goes only where a rule with `inhibit = false` sends it, and stays
        // edited where it was posted already (before it was known to be held).
        if note.held.is_some() {
            for (d, r) in &thread.deliveries {
                if r.message.is_none() {
                    continue;
                }
                if let Some(name) = self.sinks.keys().find(|k| *k == d) {
                    if !routed.contains(&name.as_str()) {
                        routed.push(name);
                    }
                }
            }
        }
        match self.mode {
            Mode::Progress => routed,
            // final_only posts nothing before the end, but keeps editing what it posted.
            Mode::FinalOnly => routed
                .into_iter()
                .filter(|d| {
                    note.is_final
                        || thread
                            .deliveries
                            .get(*d)
                            .is_some_and(|r| r.message.is_some())
                })
                .collect(),
        }
    }

    /// The destinations whose message is missing or behind the thread's notification.
    pub(super) fn behind(&self, thread: &Thread, note: &Notification) -> Vec<&str> {
        let mut wanted = self.wanted(thread, note);
        wanted.retain(|d| thread.is_behind(d));
        wanted
    }

    /// Brings every destination of a thread up to date with its notification, under the
    /// thread's delivery lease so that edits reach the provider in order and a message is
    /// posted once. Loops: after recording, it re-reads and sends what other workers changed
    /// meanwhile (they left it to the lease holder).
    pub async fn deliver_key(
        &self,
        key: &str,
        now: i64,
        flush: bool,
    ) -> Result<Delivered, RunError> {
        let mut total = Delivered::default();
        let mut now = now;
        // Whatever happens below, the thread no longer waits here unless the settle window
        // puts it back: another worker may have delivered it meanwhile (nothing is behind), and
        // a key left waiting would hold its messages' acks for good.
        self.pending().remove(key);
        'rounds: for round in 0..ROUNDS {
            let Some((mut basis, mut thread)) = self.engine.load(key).await? else {
                break;
            };
            // final_only before the end, with nothing posted: no work, and no need to build the
            // notification to find that out (most events of a replay land here).
            if self.mode == Mode::FinalOnly
                && thread.final_since.is_none()
                && thread.deliveries.is_empty()
            {
                break;
            }
            let fresh = self.engine.take_fresh(key, thread.note_hash);
            let Some(mut note) = fresh.or_else(|| thread.notification()) else {
                break;
            };
            let mut behind = self.behind(&thread, &note);
            if behind.is_empty() {
                if self.engine.holds(&thread, now) {
                    self.engine.release(key, now).await?;
                }
                break;
            }
            if note.is_final && !flush {
                let due = thread.final_since.unwrap_or(now) + self.settle_secs;
                if now < due {
                    // The lease (if ours) is kept through the window; it outlives it.
                    self.pending().insert(key.to_owned(), due);
                    break;
                }
            }
            self.pending().remove(key);
            if !self.engine.holds(&thread, now) {
                match self.engine.acquire(key, now, self).await? {
                    Some((v, t)) => (basis, thread) = (v, t),
                    // Someone else holds the lease and will deliver, or nothing is left to do.
                    None => break,
                }
                // The thread as of the lease may be newer than the one loaded.
                note = match thread.notification() {
                    Some(n) => n,
                    None => break,
                };
                behind = self.behind(&thread, &note);
            }
            // Enrichment runs only here, for a thread about to be delivered, bounded by its own
            // deadline; what it learns is stored with the thread so it is fetched once.
            if let Some(enricher) = &self.enricher {
                if let Some(found) = enricher
                    .enrich(key, &thread, &mut note, thread.enrichment.as_deref())
                    .await
                {
                    self.learn_group_alarms(&thread, &found, now).await;
                    if let Some((v, t, _)) = self
                        .engine
                        .update_at(
                            key,
                            now,
                            || None,
                            |t, _| {
                                let new = t.enrichment.as_deref() != Some(&found);
                                if new {
                                    t.enrichment = Some(Box::new(found.clone()));
                                }
                                new
                            },
                        )
                        .await?
                    {
                        (basis, thread) = (v, t);
                    }
                }
                // What enrichment added may route the notification elsewhere.
                behind = self.behind(&thread, &note);
            }
            // What each destination shows now, taken out so the thread itself can be let go:
            // the in-process store then records in place instead of copying a shared thread.
            let work: Vec<(&str, Option<MessageRef>)> = behind
                .into_iter()
                .map(|d| {
                    let shown = thread.deliveries.get(d).and_then(|r| r.message.clone());
                    (d, shown)
                })
                .collect();
            let (seq, mut message_id) = (thread.seq, thread.message_id(key));
            // With `fence`, every attempt below is fenced by this worker's lease (held here):
            // one that would start after it ran out is not made (`deliver::fence`).
            let lease_until = thread.lease.as_ref().map_or(now, |l| l.until);
            // Discord and Teams messages cannot take clicks: while something can be done, they
            // link to the thread's Slack message, where it can.
            let act_in_slack = if !self.act_links || note.actions.is_empty() {
                None
            } else {
                thread.deliveries.values().find_map(|r| {
                    r.message
                        .as_ref()?
                        .get("permalink")?
                        .as_str()
                        .map(str::to_owned)
                })
            };
            drop(thread);
            let mut note = Some(note);
            let mut recorded = None;
            let count = work.len();
            for (i, (dest, existing)) in work.into_iter().enumerate() {
                let last = i + 1 == count;
                let sink = match self.sinks.get(dest) {
                    Some(s) => s,
                    None => {
                        self.engine.release(key, now).await?;
                        return Err(RunError::NoSink(dest.to_owned()));
                    }
                };
                let op = if existing.is_some() {
                    Op::Update
                } else {
                    Op::Post
                };
                // The last destination takes the notification itself, the others a copy.
                let notification = match (last, &mut note) {
                    (true, n) => n.take(),
                    (false, n) => n.clone(),
                };
                let Some(mut notification) = notification else {
                    break;
                };
                if let (Some(url), "discord" | "teams") = (&act_in_slack, sink.kind()) {
                    notification.links.push(crate::notification::Link {
                        label: "act in Slack".into(),
                        url: url.clone(),
                    });
                }
                let delivery = Delivery {
                    op,
                    thread: if last {
                        std::mem::take(&mut message_id)
                    } else {
                        message_id.clone()
                    },
                    destination: dest.to_owned(),
                    notification,
                    message: existing,
                };
                let sent = match self.fence {
                    true => fence::under_lease(lease_until, sink.deliver(&delivery)).await,
                    false => sink.deliver(&delivery).await,
                };
                match sent {
                    Ok(reference) => {
                        let reference =
                            crate::deliver::retry::kept_reference(delivery.message, reference);
                        recorded = self
                            .engine
                            .record(key, dest, seq, reference, last, basis, now)
                            .await?;
                        if let Some((v, _)) = &recorded {
                            basis = *v;
                        }
                        match op {
                            Op::Post => total.posts += 1,
                            _ => total.updates += 1,
                        }
                    }
                    Err(SinkError::Fenced) if round + 1 < ROUNDS => {
                        // This worker's lease ran out before the attempt (a slow path, a
                        // pause): take the lease again on the time it is now, or find another
                        // worker holding it, which then delivers. Never earlier than the old
                        // lease's end: the fence fires half a second before it, when the whole
                        // seconds of `now` would still say it holds.
                        tracing::info!(thread = key, destination = %dest, "delivery lease ran out before the attempt; taking it again");
                        now = now.max(crate::clock::unix_now()).max(lease_until);
                        continue 'rounds;
                    }
                    Err(e) => {
                        tracing::warn!(
                            thread = key,
                            destination = %dest,
                            op = ?op,
                            error = %e,
                            "not delivered; left for redelivery"
                        );
                        self.engine.release(key, now).await?;
                        return Err(RunError::Sink {
                            destination: dest.to_owned(),
                            source: e,
                        });
                    }
                }
            }
            // Done, unless the thread moved on while this worker delivered (the record's
            // write re-reads on a lost race, so it shows what other workers changed) or a
            // destination was marked unsure meanwhile: then go round again.
            if recorded
                .is_some_and(|(_, t)| t.seq == seq && !self.engine.holds(&t, now) && !t.unsure())
            {
                break;
            }
        }
        Ok(total)
    }
}

impl Runner {
    /// A CodeDeploy deployment's group's alarms, newly learned by enrichment, watch the group
    /// from now on (deploy verdicts). Best effort: a failure is logged, and the next deployment
    /// of the group learns them again.
    async fn learn_group_alarms(
        &self,
        thread: &Thread,
        found: &crate::notification::enrichment::Enrichment,
        now: i64,
    ) {
        let crate::correlate::Body::Deployment(d) = &thread.body else {
            return;
        };
        let Some(alarms) = found.group_alarms.as_ref().filter(|a| !a.is_empty()) else {
            return;
        };
        let known = thread
            .enrichment
            .as_ref()
            .and_then(|e| e.group_alarms.as_ref());
        if known == Some(alarms) || d.application.is_empty() {
            return;
        }
        if let Err(e) = self
            .engine
            .learn_group_alarms(
                &d.account,
                &d.region,
                &d.application,
                &d.deployment_group,
                alarms,
                now,
            )
            .await
        {
            tracing::warn!(deployment = %d.deployment_id, error = %e, "cannot keep a deployment group's alarms");
        }
    }
}

/// The engine asks this when it writes a change: whether some destination's message is missing
/// or behind the thread's notification.
impl Work for Runner {
    fn has_work(&self, thread: &Thread, note: &Notification) -> bool {
        self.wanted(thread, note)
            .iter()
            .any(|d| thread.is_behind(d))
    }
}
