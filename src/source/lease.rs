//! Kinesis shard leases in a DynamoDB table, written only with conditions: one item per shard
//! (`pk` = `stream#shard`) holding its `owner` ("" when free), a `counter` the owner bumps on
//! every renewal, the `checkpoint` (the highest sequence number below which every record is
//! done, `SHARD_END` once the shard is finished) and the shard's `parents`.
//!
//! A lease is expired when its counter has not moved for the failover time *as this worker
//! observed it* (KCL's rule: no clock comparison between workers). Taking a lease is a write
//! conditioned on the counter last seen, so of two workers racing for it exactly one wins, and
//! a live owner's renewal in between makes the taker lose.
//!
//! A checkpoint never moves backwards, whoever writes it: each item also holds `ck`, the
//! checkpoint as a fixed-width key that orders as the sequence numbers do, and a checkpoint is
//! written only over a smaller one (a reader of a lease its worker lost and took again, still
//! finishing, cannot undo what the new reader checkpointed).

use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, KeySchemaElement, KeyType,
    ScalarAttributeType,
};
use aws_sdk_dynamodb::Client;
use std::collections::HashMap;

/// The checkpoint of a finished shard.
pub const SHARD_END: &str = "SHARD_END";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    pub shard: String,
    pub owner: String,
    pub counter: u64,
    /// "" before the first checkpoint.
    pub checkpoint: String,
    pub parents: Vec<String>,
}

impl Lease {
    pub fn finished(&self) -> bool {
        self.checkpoint == SHARD_END
    }
}

/// What a checkpoint write did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Checkpointed {
    Written,
    /// The lease is ours, and its checkpoint is already there or further on: nothing to do.
    AlreadyPast,
    /// The lease is another worker's (or free) now.
    Lost,
}

/// Kinesis sequence numbers are decimal strings of up to 128 digits: zero-padded to that width
/// they order as text as they do as numbers; `SHARD_END` comes after every one of them.
pub fn order_key(checkpoint: &str) -> String {
    if checkpoint == SHARD_END {
        "~".to_owned()
    } else {
        format!("{checkpoint:0>128}")
    }
}

#[derive(Debug, thiserror::Error)]
pub enum LeaseError {
    #[error("lease table: {0}")]
    Api(String),
}

fn api<E: std::error::Error + 'static>(e: aws_sdk_dynamodb::error::SdkError<E>) -> LeaseError {
    LeaseError::Api(aws_sdk_dynamodb::error::DisplayErrorContext(&e).to_string())
}

fn is_condition_failed<E>(e: &aws_sdk_dynamodb::error::SdkError<E>) -> bool
where
    E: aws_sdk_dynamodb::error::ProvideErrorMetadata,
{
    e.as_service_error()
        .and_then(|s| s.code())
        .is_some_and(|c| c == "ConditionalCheckFailedException")
}

/// The outcome of a conditional write: `None` when its condition failed (another worker moved
/// the lease first), an error for anything else.
fn unless_moved<T, E>(
    r: Result<T, aws_sdk_dynamodb::error::SdkError<E>>,
) -> Result<Option<T>, LeaseError>
where
    E: aws_sdk_dynamodb::error::ProvideErrorMetadata + std::error::Error + 'static,
{
    match r {
        Ok(out) => Ok(Some(out)),
        Err(e) if is_condition_failed(&e) => Ok(None),
        Err(e) => Err(api(e)),
    }
}

#[derive(Clone)]
pub struct LeaseTable {
    client: Client,
    table: String,
    stream: String,
}

impl LeaseTable {
    pub fn new(client: Client, table: impl Into<String>, stream: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
            stream: stream.into(),
        }
    }

    fn pk(&self, shard: &str) -> AttributeValue {
        AttributeValue::S(format!("{}#{shard}", self.stream))
    }

    /// A conditional update of one shard's lease: `set` under `condition`, with the names
    /// `#o` (owner), `#c` (counter), `#cp` (checkpoint), `#ck` (its order key) and the values
    /// given.
    fn conditional(
        &self,
        shard: &str,
        set: &str,
        condition: &str,
        values: &[(&str, AttributeValue)],
    ) -> aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder {
        let mut req = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", self.pk(shard))
            .update_expression(set)
            .condition_expression(condition);
        // DynamoDB refuses a name the expressions do not use: only the ones they name.
        let used = |name: &str| {
            [set, condition].iter().any(|e| {
                e.split(|c: char| !(c.is_ascii_alphanumeric() || c == '#'))
                    .any(|t| t == name)
            })
        };
        for (name, attr) in [
            ("#o", "owner"),
            ("#c", "counter"),
            ("#cp", "checkpoint"),
            ("#ck", "ck"),
        ] {
            if used(name) {
                req = req.expression_attribute_names(name, attr);
            }
        }
        for (k, v) in values {
            req = req.expression_attribute_values(*k, v.clone());
        }
        req
    }

    /// Creates the lease table (on-demand, partition key `pk` string) only when `DescribeTable`
    /// says it does not exist. A table that exists (the deploy template creates it in kinesis
    /// mode) costs one `DescribeTable`, so a deployed worker needs no `dynamodb:CreateTable`;
    /// any other `DescribeTable` failure (AccessDenied included) is returned, naming the table.
    pub async fn create_table_if_missing(&self) -> Result<(), LeaseError> {
        match self
            .client
            .describe_table()
            .table_name(&self.table)
            .send()
            .await
        {
            Ok(_) => return Ok(()),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_resource_not_found_exception()) => {}
            Err(e) => {
                return Err(LeaseError::Api(format!(
                    "DescribeTable on `{}`: {}",
                    self.table,
                    aws_sdk_dynamodb::error::DisplayErrorContext(&e)
                )))
            }
        }
        let r = self
            .client
            .create_table()
            .table_name(&self.table)
            .billing_mode(BillingMode::PayPerRequest)
            .attribute_definitions(
                AttributeDefinition::builder()
                    .attribute_name("pk")
                    .attribute_type(ScalarAttributeType::S)
                    .build()
                    .map_err(|e| LeaseError::Api(e.to_string()))?,
            )
            .key_schema(
                KeySchemaElement::builder()
                    .attribute_name("pk")
                    .key_type(KeyType::Hash)
                    .build()
                    .map_err(|e| LeaseError::Api(e.to_string()))?,
            )
            .send()
            .await;
        match r {
            Ok(_) => Ok(()),
            // Another worker created it first.
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_resource_in_use_exception()) =>
            {
                Ok(())
            }
            Err(e) => Err(LeaseError::Api(format!(
                "CreateTable `{}`: {}",
                self.table,
                aws_sdk_dynamodb::error::DisplayErrorContext(&e)
            ))),
        }
    }

    /// Every lease of this stream (strongly consistent).
    pub async fn list(&self) -> Result<Vec<Lease>, LeaseError> {
        let mut out = Vec::new();
        let mut start: Option<HashMap<String, AttributeValue>> = None;
        loop {
            let r = self
                .client
                .scan()
                .table_name(&self.table)
                .consistent_read(true)
                .filter_expression("#s = :s")
                .expression_attribute_names("#s", "stream")
                .expression_attribute_values(":s", AttributeValue::S(self.stream.clone()))
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(api)?;
            for item in r.items() {
                if let Some(l) = decode(item) {
                    out.push(l);
                }
            }
            match r.last_evaluated_key() {
                Some(k) if !k.is_empty() => start = Some(k.clone()),
                _ => break,
            }
        }
        Ok(out)
    }

    /// Creates a free lease for a shard unless one exists.
    pub async fn create(&self, shard: &str, parents: &[String]) -> Result<(), LeaseError> {
        let mut req = self
            .client
            .put_item()
            .table_name(&self.table)
            .item("pk", self.pk(shard))
            .item("stream", AttributeValue::S(self.stream.clone()))
            .item("shard", AttributeValue::S(shard.to_owned()))
            .item("owner", AttributeValue::S(String::new()))
            .item("counter", AttributeValue::N("0".into()))
            .item("checkpoint", AttributeValue::S(String::new()))
            .condition_expression("attribute_not_exists(pk)");
        if !parents.is_empty() {
            req = req.item(
                "parents",
                AttributeValue::L(
                    parents
                        .iter()
                        .map(|p| AttributeValue::S(p.clone()))
                        .collect(),
                ),
            );
        }
        unless_moved(req.send().await).map(|_| ())
    }

    /// Takes a lease whose counter is still `seen`: free, expired, or stolen for balance.
    /// Returns the new counter, or `None` when someone else moved it first.
    pub async fn take(
        &self,
        shard: &str,
        seen: u64,
        owner: &str,
    ) -> Result<Option<u64>, LeaseError> {
        let r = self
            .conditional(
                shard,
                "SET #o = :me, #c = :next",
                "#c = :seen",
                &[
                    (":me", AttributeValue::S(owner.to_owned())),
                    (":seen", AttributeValue::N(seen.to_string())),
                    (":next", AttributeValue::N((seen + 1).to_string())),
                ],
            )
            .send()
            .await;
        Ok(unless_moved(r)?.map(|_| seen + 1))
    }

    /// Bumps the counter of a lease we own; `false` when it is no longer ours.
    pub async fn renew(&self, shard: &str, owner: &str) -> Result<Option<u64>, LeaseError> {
        let r = self
            .conditional(
                shard,
                "SET #c = #c + :one",
                "#o = :me",
                &[
                    (":me", AttributeValue::S(owner.to_owned())),
                    (":one", AttributeValue::N("1".into())),
                ],
            )
            .return_values(aws_sdk_dynamodb::types::ReturnValue::UpdatedNew)
            .send()
            .await;
        Ok(unless_moved(r)?.and_then(|out| {
            out.attributes()
                .and_then(|a| a.get("counter"))
                .and_then(|v| v.as_n().ok())
                .and_then(|n| n.parse().ok())
        }))
    }

    /// Writes a checkpoint if we still own the lease and it moves the stored one forward.
    pub async fn checkpoint(
        &self,
        shard: &str,
        owner: &str,
        checkpoint: &str,
    ) -> Result<Checkpointed, LeaseError> {
        let r = self
            .conditional(
                shard,
                "SET #cp = :cp, #ck = :ck",
                "#o = :me AND (attribute_not_exists(#ck) OR #ck < :ck)",
                &[
                    (":me", AttributeValue::S(owner.to_owned())),
                    (":cp", AttributeValue::S(checkpoint.to_owned())),
                    (":ck", AttributeValue::S(order_key(checkpoint))),
                ],
            )
            .send()
            .await;
        if unless_moved(r)?.is_some() {
            return Ok(Checkpointed::Written);
        }
        // Which condition failed: read the lease (rare: a lost lease, or a reader behind).
        let item = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", self.pk(shard))
            .consistent_read(true)
            .send()
            .await
            .map_err(api)?;
        let ours = item
            .item()
            .and_then(|i| i.get("owner"))
            .and_then(|v| v.as_s().ok())
            .is_some_and(|o| o == owner);
        Ok(if ours {
            Checkpointed::AlreadyPast
        } else {
            Checkpointed::Lost
        })
    }

    /// Gives a lease up (shutdown) so another worker takes it at once.
    pub async fn release(&self, shard: &str, owner: &str) -> Result<bool, LeaseError> {
        let r = self
            .conditional(
                shard,
                "SET #o = :free, #c = #c + :one",
                "#o = :me",
                &[
                    (":me", AttributeValue::S(owner.to_owned())),
                    (":free", AttributeValue::S(String::new())),
                    (":one", AttributeValue::N("1".into())),
                ],
            )
            .send()
            .await;
        Ok(unless_moved(r)?.is_some())
    }
}

fn decode(item: &HashMap<String, AttributeValue>) -> Option<Lease> {
    let s = |k: &str| item.get(k).and_then(|v| v.as_s().ok()).cloned();
    Some(Lease {
        shard: s("shard")?,
        owner: s("owner").unwrap_or_default(),
        counter: item
            .get("counter")
            .and_then(|v| v.as_n().ok())
            .and_then(|n| n.parse().ok())
            .unwrap_or(0),
        checkpoint: s("checkpoint").unwrap_or_default(),
        parents: item
            .get("parents")
            .and_then(|v| v.as_l().ok())
            .map(|l| l.iter().filter_map(|p| p.as_s().ok().cloned()).collect())
            .unwrap_or_default(),
    })
}

/// Orders Kinesis sequence numbers (decimal strings of up to 128 digits).
pub fn seq_cmp(a: &str, b: &str) -> std::cmp::Ordering {
    a.len().cmp(&b.len()).then_with(|| a.cmp(b))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cmp::Ordering;

    #[test]
    fn sequence_numbers_order_by_value_not_text() {
        assert_eq!(seq_cmp("9", "10"), Ordering::Less);
        assert_eq!(seq_cmp("10", "9"), Ordering::Greater);
        assert_eq!(seq_cmp("123", "123"), Ordering::Equal);
        let a = "49590338271490256608559692538361571095921575989136588898";
        let b = "49590338271490256608559692540925702759324208523137515618";
        assert_eq!(seq_cmp(a, b), Ordering::Less);
        assert_eq!(seq_cmp(b, a), Ordering::Greater);
    }

    #[test]
    fn an_item_decodes_with_its_defaults() {
        let mut item = HashMap::new();
        item.insert("shard".to_string(), AttributeValue::S("shardId-1".into()));
        let l = decode(&item).expect("a lease");
        assert_eq!(
            (l.owner.as_str(), l.counter, l.checkpoint.as_str()),
            ("", 0, "")
        );
        assert!(l.parents.is_empty() && !l.finished());
        item.insert("checkpoint".into(), AttributeValue::S(SHARD_END.into()));
        item.insert(
            "parents".into(),
            AttributeValue::L(vec![AttributeValue::S("shardId-0".into())]),
        );
        let l = decode(&item).expect("a lease");
        assert!(l.finished());
        assert_eq!(l.parents, vec!["shardId-0".to_string()]);
        assert!(decode(&HashMap::new()).is_none(), "no shard, no lease");
    }

    /// DynamoDB Local, as every store test (`scripts/test.sh` starts it).
    async fn table() -> LeaseTable {
        let endpoint = std::env::var("HERALD_TEST_DYNAMODB").unwrap_or_default();
        assert!(
            endpoint.starts_with("http://127.0.0.1:"),
            "HERALD_TEST_DYNAMODB must name DynamoDB Local on loopback (`bash scripts/test.sh` starts it), not {endpoint:?}"
        );
        let conf = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .region(aws_config::Region::new("us-east-1"))
            .endpoint_url(&endpoint)
            .credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
                "testing", "testing", None, None, "static",
            ))
            .load()
            .await;
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let t = LeaseTable::new(Client::new(&conf), format!("leases-{nanos}"), "stream-a");
        t.create_table_if_missing().await.expect("table");
        t
    }

    fn one(leases: &[Lease], shard: &str) -> Lease {
        leases
            .iter()
            .find(|l| l.shard == shard)
            .cloned()
            .expect("the lease")
    }

    /// The protocol a shard's lease follows between two workers: taken by its counter, renewed
    /// and checkpointed only by its owner, stolen by a counter that has not moved, and then
    /// fenced: the old owner can neither renew, checkpoint nor release it, and its checkpoint
    /// stays where the table has it.
    #[tokio::test]
    async fn a_lease_is_taken_renewed_stolen_and_fenced_by_its_counter() {
        let t = table().await;
        t.create("shardId-1", &["shardId-0".to_string()])
            .await
            .expect("create");
        t.create("shardId-1", &[])
            .await
            .expect("create again: no-op");
        let l = one(&t.list().await.expect("list"), "shardId-1");
        assert_eq!((l.owner.as_str(), l.counter), ("", 0));
        assert_eq!(
            l.parents,
            vec!["shardId-0".to_string()],
            "the first create stays"
        );

        // Both saw counter 0: one takes it.
        assert_eq!(t.take("shardId-1", 0, "a").await.expect("take"), Some(1));
        assert_eq!(t.take("shardId-1", 0, "b").await.expect("take"), None);
        // Only the owner renews and checkpoints.
        assert_eq!(t.renew("shardId-1", "a").await.expect("renew"), Some(2));
        assert_eq!(t.renew("shardId-1", "b").await.expect("renew"), None);
        let cp = |r: Result<Checkpointed, LeaseError>| r.expect("checkpoint");
        assert_eq!(
            cp(t.checkpoint("shardId-1", "a", "100").await),
            Checkpointed::Written
        );
        assert_eq!(
            cp(t.checkpoint("shardId-1", "b", "999").await),
            Checkpointed::Lost
        );
        let l = one(&t.list().await.expect("list"), "shardId-1");
        assert_eq!(
            (l.owner.as_str(), l.counter, l.checkpoint.as_str()),
            ("a", 2, "100")
        );

        // B saw counter 2 and it did not move (A stopped renewing): B steals it.
        assert_eq!(t.take("shardId-1", 2, "b").await.expect("steal"), Some(3));
        // A wakes: fenced everywhere.
        assert_eq!(t.renew("shardId-1", "a").await.expect("renew"), None);
        assert_eq!(
            cp(t.checkpoint("shardId-1", "a", "200").await),
            Checkpointed::Lost
        );
        assert!(!t.release("shardId-1", "a").await.expect("release"));
        let l = one(&t.list().await.expect("list"), "shardId-1");
        assert_eq!(
            (l.owner.as_str(), l.counter, l.checkpoint.as_str()),
            ("b", 3, "100"),
            "the old owner moved nothing"
        );
        // B releases it for whoever comes next; a stale counter cannot take it.
        assert!(t.release("shardId-1", "b").await.expect("release"));
        let l = one(&t.list().await.expect("list"), "shardId-1");
        assert_eq!((l.owner.as_str(), l.counter), ("", 4));
        assert_eq!(t.take("shardId-1", 3, "a").await.expect("take"), None);
        assert_eq!(t.take("shardId-1", 4, "a").await.expect("take"), Some(5));
    }

    /// The order key orders sequence numbers by value, whatever their length, and puts the end
    /// of a shard after all of them.
    #[test]
    fn order_keys_order_as_sequence_numbers_do() {
        let seqs = [
            "0",
            "9",
            "10",
            "49590338271490256608559692538361571095921575989136588898",
            "49590338271490256608559692540925702759324208523137515618",
            &"9".repeat(128),
        ];
        for w in seqs.windows(2) {
            assert!(order_key(w[0]) < order_key(w[1]), "{} < {}", w[0], w[1]);
            assert_eq!(seq_cmp(w[0], w[1]), Ordering::Less);
        }
        for s in seqs {
            assert!(order_key(s) < order_key(SHARD_END));
        }
    }

    /// A checkpoint moves only forward, even when its own owner writes an older one (a reader
    /// of a lease lost and taken again, finishing late): the table keeps the furthest, and says
    /// the lease is still ours. After the shard's end nothing moves it back.
    #[tokio::test]
    async fn a_checkpoint_never_moves_backwards() {
        let t = table().await;
        t.create("shardId-7", &[]).await.expect("create");
        assert_eq!(t.take("shardId-7", 0, "a").await.expect("take"), Some(1));
        let cp = |r: Result<Checkpointed, LeaseError>| r.expect("checkpoint");
        let stored = |leases: Vec<Lease>| one(&leases, "shardId-7").checkpoint;
        // "9" < "10" as numbers, not as text.
        assert_eq!(
            cp(t.checkpoint("shardId-7", "a", "9").await),
            Checkpointed::Written
        );
        assert_eq!(
            cp(t.checkpoint("shardId-7", "a", "10").await),
            Checkpointed::Written
        );
        assert_eq!(
            cp(t.checkpoint("shardId-7", "a", "9").await),
            Checkpointed::AlreadyPast
        );
        assert_eq!(
            cp(t.checkpoint("shardId-7", "a", "10").await),
            Checkpointed::AlreadyPast,
            "the same checkpoint again is no move"
        );
        assert_eq!(stored(t.list().await.expect("list")), "10");
        assert_eq!(
            cp(t.checkpoint("shardId-7", "a", SHARD_END).await),
            Checkpointed::Written
        );
        assert_eq!(
            cp(t.checkpoint("shardId-7", "a", &"9".repeat(100)).await),
            Checkpointed::AlreadyPast
        );
        let l = one(&t.list().await.expect("list"), "shardId-7");
        assert!(l.finished());
        // A lease of a table written before the order key (no `ck`) takes its next checkpoint.
        t.client
            .put_item()
            .table_name(&t.table)
            .item("pk", t.pk("shardId-8"))
            .item("stream", AttributeValue::S(t.stream.clone()))
            .item("shard", AttributeValue::S("shardId-8".into()))
            .item("owner", AttributeValue::S("a".into()))
            .item("counter", AttributeValue::N("1".into()))
            .item("checkpoint", AttributeValue::S("500".into()))
            .send()
            .await
            .expect("an old item");
        assert_eq!(
            cp(t.checkpoint("shardId-8", "a", "600").await),
            Checkpointed::Written
        );
        assert_eq!(
            cp(t.checkpoint("shardId-8", "b", "700").await),
            Checkpointed::Lost
        );
    }

    /// Leases of another stream in the same table are not listed.
    #[tokio::test]
    async fn a_table_lists_only_its_streams_leases() {
        let t = table().await;
        let other = LeaseTable::new(t.client.clone(), t.table.clone(), "stream-b");
        t.create("shardId-1", &[]).await.expect("create");
        other.create("shardId-1", &[]).await.expect("create");
        other.create("shardId-2", &[]).await.expect("create");
        assert_eq!(t.list().await.expect("list").len(), 1);
        assert_eq!(other.list().await.expect("list").len(), 2);
    }
}
