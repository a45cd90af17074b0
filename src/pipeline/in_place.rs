//! Edits in place: on a shared store, a change that only edits messages already posted is
//! delivered first and written once, with what it delivered.

use super::{Delivered, RunError, Runner};
use crate::deliver::{Delivery, Op};
use crate::event::Event;
use std::collections::BTreeSet;

/// What [`Runner::edit_in_place`] did with a thread's events.
pub(super) enum InPlace {
    /// Nothing: the usual path applies them.
    NotEligible,
    /// Applied, edited and written.
    Done(Delivered),
    /// Applied and written with unsure destinations; the usual path delivers.
    Handed(Delivered),
}

/// Lost races an edit in place tries before it hands the thread to the lease.
const MAX_IN_PLACE: usize = 4;

impl Runner {
    /// Applies a thread's events and, when all they leave to do is edit messages already
    /// posted, edits them before writing: the one conditional write then records the change and
    /// the edits together (a delivery under the lease costs two writes: take it, then record
    /// and release). Only when nobody holds the lease (it guards posts), the settle window is
    /// not running, and every destination has its message.
    ///
    /// A lost race means another worker wrote meanwhile and this worker's edits may have
    /// reached the provider after its own: it drafts again from the winner's state and edits
    /// again, until a write holds. A crash before the write leaves the messages unacknowledged,
    /// and their redelivery edits again (`again`: every posted message of the thread is edited,
    /// whatever the events change); a post is never made here, so nothing is posted twice.
    pub(super) async fn edit_in_place(
        &self,
        key: &str,
        evs: &[&Event],
        now: i64,
        again: bool,
    ) -> Result<InPlace, RunError> {
        // Destinations whose message may not show the stored notification: edited by this call
        // and not yet recorded by a write that held, or (`again`) edited by a worker that died.
        let mut edited: BTreeSet<String> = BTreeSet::new();
        let mut total = Delivered::default();
        if !again && opens(evs) && !self.engine.is_cached(key) {
            // An execution that starts here is new: created by a conditional write without
            // reading first (if it exists after all, the failed write returns it, and the events
            // are applied to it).
            self.engine
                .apply_direct(key, evs, now, self, &edited, true)
                .await?;
            return Ok(InPlace::Handed(total));
        }
        for attempt in 0..MAX_IN_PLACE {
            let draft = self.engine.draft(key).await?;
            if let (0, true, Some((_, thread))) = (attempt, again, &draft) {
                edited.extend(
                    thread
                        .deliveries
                        .iter()
                        .filter(|(_, r)| r.message.is_some())
                        .map(|(d, _)| d.clone()),
                );
            }
            let Some((version, mut thread)) = draft else {
                // A new thread: its first message is a post, under the lease. Created here, as
                // the store was just read and had none.
                self.engine
                    .apply_direct(key, evs, now, self, &edited, true)
                    .await?;
                return Ok(InPlace::Handed(total));
            };
            let mut changed = false;
            for ev in evs {
                changed |= thread.apply_at(ev, now, self.engine.timing());
            }
            let note = match (changed, edited.is_empty()) {
                (false, true) => return Ok(InPlace::NotEligible),
                (true, true) => thread.refresh(now),
                // Edited before a lost race: the messages need the current notification even
                // if these events change nothing any more.
                (_, false) => thread.refresh(now).or_else(|| thread.notification()),
            };
            let Some(mut note) = note else {
                return self.hand_over(key, evs, &edited, now, total).await;
            };
            let wanted = self.wanted(&thread, &note);
            let mut targets: Vec<String> = wanted
                .iter()
                .filter(|d| thread.is_behind(d))
                .map(|d| d.to_string())
                .collect();
            for d in &edited {
                if wanted.contains(&d.as_str()) && !targets.contains(d) {
                    targets.push(d.clone());
                }
            }
            let settling =
                note.is_final && now < thread.final_since.unwrap_or(now) + self.settle_secs;
            let eligible = !targets.is_empty()
                && !settling
                && thread.lease.as_ref().is_none_or(|l| {
                    l.until
                        .saturating_add(crate::correlate::TAKEOVER_GRACE_SECS)
                        <= now
                })
                && targets.iter().all(|d| {
                    self.sinks.contains_key(d)
                        && thread
                            .deliveries
                            .get(d)
                            .is_some_and(|r| r.message.is_some())
                });
            if !eligible {
                return self.hand_over(key, evs, &edited, now, total).await;
            }
            thread.lease = None;
            if let Some(enricher) = &self.enricher {
                if let Some(found) = enricher
                    .enrich(key, &thread, &mut note, thread.enrichment.as_deref())
                    .await
                {
                    thread.enrichment = Some(Box::new(found));
                }
            }
            let message_id = thread.message_id(key);
            for dest in &targets {
                let (Some(sink), Some(rec)) =
                    (self.sinks.get(dest), thread.deliveries.get_mut(dest))
                else {
                    continue;
                };
                let delivery = Delivery {
                    op: Op::Update,
                    thread: message_id.clone(),
                    destination: dest.clone(),
                    notification: note.clone(),
                    message: rec.message.clone(),
                };
                match sink.deliver(&delivery).await {
                    Ok(reference) => {
                        edited.insert(dest.clone());
                        total.updates += 1;
                        rec.seq = thread.seq;
                        rec.message = Some(crate::deliver::retry::kept_reference(
                            rec.message.take(),
                            reference,
                        ));
                    }
                    Err(e) => {
                        tracing::warn!(
                            thread = key,
                            destination = %dest,
                            op = ?Op::Update,
                            error = %e,
                            "not delivered; left for redelivery"
                        );
                        // Keep the change (the edits already made are marked unsure).
                        self.hand_over(key, evs, &edited, now, Delivered::default())
                            .await?;
                        return Err(RunError::Sink {
                            destination: dest.clone(),
                            source: e,
                        });
                    }
                }
            }
            if self
                .engine
                .commit(key, version, thread, now)
                .await?
                .is_some()
            {
                self.pending().remove(key);
                return Ok(InPlace::Done(total));
            }
        }
        self.hand_over(key, evs, &edited, now, total).await
    }

    /// Leaves a thread to the usual path (write, then deliver under the lease). When this
    /// worker already edited some of its messages, writes the events now with those
    /// destinations marked unsure, so they are edited again.
    pub(super) async fn hand_over(
        &self,
        key: &str,
        evs: &[&Event],
        edited: &BTreeSet<String>,
        now: i64,
        total: Delivered,
    ) -> Result<InPlace, RunError> {
        if edited.is_empty() {
            return Ok(InPlace::NotEligible);
        }
        self.engine
            .apply_direct(key, evs, now, self, edited, false)
            .await?;
        Ok(InPlace::Handed(total))
    }
}

/// Whether the events start their thread: a pipeline execution's `STARTED`.
fn opens(evs: &[&Event]) -> bool {
    evs.iter()
        .any(|ev| matches!(ev, Event::PipelineExecution(e) if e.state == "STARTED"))
}
