//! Proof that the emulator path is real: the AWS SDK, over HTTP, creates a table on DynamoDB
//! Local and on moto, and a conditional write succeeds once and fails the second time.

mod support;

use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, KeySchemaElement, KeyType,
    ScalarAttributeType,
};
use aws_sdk_dynamodb::Client;

async fn conditional_write_fails_the_second_time(endpoint: &str) {
    let client = Client::new(&support::sdk_config(endpoint).await);
    let table = support::unique("herald-proof");
    client
        .create_table()
        .table_name(&table)
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name("pk")
                .attribute_type(ScalarAttributeType::S)
                .build()
                .expect("attribute"),
        )
        .key_schema(
            KeySchemaElement::builder()
                .attribute_name("pk")
                .key_type(KeyType::Hash)
                .build()
                .expect("key"),
        )
        .send()
        .await
        .expect("create table");
    let put = || {
        client
            .put_item()
            .table_name(&table)
            .item("pk", AttributeValue::S("thread#1".into()))
            .item("version", AttributeValue::N("1".into()))
            .condition_expression("attribute_not_exists(pk)")
            .send()
    };
    put().await.expect("first conditional write succeeds");
    let err = put().await.expect_err("second conditional write must fail");
    let service = err.into_service_error();
    assert!(
        service.is_conditional_check_failed_exception(),
        "expected ConditionalCheckFailed, got {service:?}"
    );
}

#[tokio::test]
async fn dynamodb_local_conditional_write() {
    conditional_write_fails_the_second_time(&support::dynamodb_endpoint()).await;
}

#[tokio::test]
async fn moto_conditional_write() {
    conditional_write_fails_the_second_time(&support::moto_endpoint()).await;
}
