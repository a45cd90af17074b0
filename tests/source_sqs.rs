//! The SQS source against moto (the AWS SDK over HTTP): messages from an SNS topic reach it
//! through SNS-to-SQS subscriptions with and without raw message delivery, and both decode to
//! the same event; a finished message is deleted, a released one comes back.

mod support;
mod worker;

use herald::source::sqs::{SqsOptions, SqsSource};
use herald::source::{Outcome, Source};
use std::time::Duration;

async fn subscribed_queue(
    sqs: &aws_sdk_sqs::Client,
    sns: &aws_sdk_sns::Client,
    topic: &str,
    raw: bool,
) -> String {
    let url = sqs
        .create_queue()
        .queue_name(support::unique(if raw { "sns-raw" } else { "sns-wrapped" }))
        .send()
        .await
        .expect("queue")
        .queue_url()
        .expect("url")
        .to_owned();
    let arn = sqs
        .get_queue_attributes()
        .queue_url(&url)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
        .send()
        .await
        .expect("attrs")
        .attributes()
        .and_then(|a| {
            a.get(&aws_sdk_sqs::types::QueueAttributeName::QueueArn)
                .cloned()
        })
        .expect("arn");
    let mut sub = sns
        .subscribe()
        .topic_arn(topic)
        .protocol("sqs")
        .endpoint(arn);
    if raw {
        sub = sub.attributes("RawMessageDelivery", "true");
    }
    sub.send().await.expect("subscribe");
    url
}

async fn one(source: &SqsSource) -> herald::source::Envelope {
    let batch = tokio::time::timeout(Duration::from_secs(30), source.next_batch())
        .await
        .expect("a message within 30 s")
        .expect("a batch");
    batch.into_iter().next().expect("one message")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sns_subscriptions_with_and_without_raw_delivery_decode_the_same() {
    let cfg = support::sdk_config(&support::moto_endpoint()).await;
    let sqs = aws_sdk_sqs::Client::new(&cfg);
    let sns = aws_sdk_sns::Client::new(&cfg);
    let topic = sns
        .create_topic()
        .name(support::unique("herald-topic"))
        .send()
        .await
        .expect("topic")
        .topic_arn()
        .expect("arn")
        .to_owned();
    let raw_url = subscribed_queue(&sqs, &sns, &topic, true).await;
    let wrapped_url = subscribed_queue(&sqs, &sns, &topic, false).await;
    let event = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/codepipeline-pipeline-execution-state-change-failed-doc.json"
    ))
    .expect("fixture");
    sns.publish()
        .topic_arn(&topic)
        .message(&event)
        .send()
        .await
        .expect("publish");

    let mut kinds = Vec::new();
    for (url, raw) in [(&raw_url, true), (&wrapped_url, false)] {
        let source = SqsSource::start(
            sqs.clone(),
            SqsOptions {
                queue_url: url.clone(),
                pollers: 1,
                wait_time_secs: 1,
                visibility_timeout_secs: 2,
                ..SqsOptions::default()
            },
        );
        let env = one(&source).await;
        let body: serde_json::Value = serde_json::from_slice(&env.body).expect("json body");
        // Without raw delivery SQS holds SNS's notification document around the event.
        assert_eq!(body.get("Type").is_some(), !raw, "{body}");
        let events = herald::event::decode(&env.body).expect("decodes");
        assert_eq!(events.len(), 1);
        kinds.push((events[0].kind(), events[0].state().map(str::to_owned)));
        if raw {
            // Released: not deleted, back after its visibility timeout.
            env.ack.finish(Outcome::Release);
            let again = one(&source).await;
            assert!(
                again.receive_count >= 2,
                "receive count {}",
                again.receive_count
            );
            again.ack.finish(Outcome::Done);
        } else {
            env.ack.finish(Outcome::Done);
        }
        source.stop();
        source.drain().await;
        assert_eq!(worker::depth(&sqs, url).await, (0, 0), "deleted from {url}");
    }
    assert_eq!(kinds[0], kinds[1]);
    assert_eq!(kinds[0].0, "pipeline_execution");
}
