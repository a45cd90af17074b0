//! Every sample of the corpus decodes to the right kind and keys, each quirk of the corpus
//! README has a named test, and no input, however broken, makes the decoder panic.

use herald::event::{decode, Event};
use proptest::prelude::*;
use std::collections::BTreeMap;
use std::path::Path;

fn fixture(name: &str) -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn one(name: &str) -> Event {
    let mut events = decode(&fixture(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
    assert_eq!(events.len(), 1, "{name}: expected one event");
    events.remove(0)
}

/// file | kind | state | account | region | time | key=value; key=value
const TABLE: &[&str] = &[
    "cloudwatch-alarm-configuration-change-create-composite-doc.json | unknown | - | 123456789012 | us-east-1 | 2022-03-03T17:06:22Z | source=aws.cloudwatch; detail_type=CloudWatch Alarm Configuration Change",
    "cloudwatch-alarm-lambda-action-composite-powertools.json | alarm_state | ALARM | 111122223333 | us-east-1 | 2023-08-04T12:56:46.138Z | alarm_name=CompositeDemo.Main; previous_state=ALARM",
    "cloudwatch-alarm-lambda-action-metric-math-powertools.json | alarm_state | ALARM | 912397435824 | eu-west-1 | 2024-02-17T11:53:08.431Z | alarm_name=Test alert; previous_state=OK",
    "cloudwatch-alarm-sns-message-alarm-metric-math-lambda-go-fixture.json | alarm_state | ALARM | EXAMPLE | REGION | 2015-06-03T17:43:27.123Z | alarm_name=EXAMPLE; previous_state=INSUFFICIENT_DATA",
    "cloudwatch-alarm-sns-message-alarm-single-metric-lambda-go-fixture.json | alarm_state | ALARM | 123456789012 | REGION | 2015-06-03T17:43:27.123Z | alarm_name=EXAMPLE; previous_state=INSUFFICIENT_DATA",
    "cloudwatch-alarm-sns-message-body-alarm-meerkat.json | alarm_state | ALARM | 111111111111 | ap-southeast-2 | 2021-09-27T01:38:19.630Z | alarm_name=my-system-lb; previous_state=OK",
    "cloudwatch-alarm-sns-message-ok-anomaly-detection-real.json | alarm_state | OK | 201123718756 | us-east-2 | 2021-06-29T15:36:20.269Z | alarm_name=vibe-nonprod-lb-dev-alb-latency; previous_state=ALARM",
    "cloudwatch-alarm-state-change-alarm-anomaly-detection-doc.json | alarm_state | ALARM | 123456789012 | us-east-1 | 2019-10-03T16:00:04Z | alarm_name=EC2 CPU Utilization Anomaly; previous_state=OK",
    "cloudwatch-alarm-state-change-alarm-composite-suppressor-doc.json | alarm_state | ALARM | 123456789012 | us-east-1 | 2022-07-22T15:57:45Z | alarm_name=ServiceAggregatedAlarm; previous_state=OK",
    "cloudwatch-alarm-state-change-alarm-metric-math-doc.json | alarm_state | ALARM | 123456789012 | us-east-1 | 2019-10-02T17:20:48Z | alarm_name=TotalNetworkTrafficTooHigh; previous_state=INSUFFICIENT_DATA",
    "cloudwatch-alarm-state-change-alarm-single-metric-doc.json | alarm_state | ALARM | 123456789012 | us-east-1 | 2019-10-02T17:04:40Z | alarm_name=ServerCpuTooHigh; previous_state=OK",
    "codebuild-build-phase-change-build-failed-command-error-real.json | build_phase | FAILED | 164943972409 | us-west-2 | 2018-05-22T17:52:45Z | project=buildfish-repo-server-ng-dev; build_id=buildfish-repo-server-ng-dev:1e81d092-63ae-4811-933b-02214d605c6e; phase=BUILD",
    "codebuild-build-phase-change-build-failed-sns-codestar-real.json | build_phase | FAILED | 732945014111 | eu-west-3 | 2024-05-06T19:38:09Z | project=build_04; build_id=build_04:a6fa43db-5062-401a-944e-b660fbeff074; phase=BUILD",
    "codebuild-build-phase-change-completed-doc.json | build_phase | SUCCEEDED | 123456789012 | us-west-2 | 2017-09-01T16:14:21Z | project=my-sample-project; build_id=my-sample-project:8745a7a9-c340-456a-9166-edf953571bEX; phase=COMPLETED",
    "codebuild-build-phase-change-submitted-real.json | build_phase | SUCCEEDED | 164943972409 | us-west-2 | 2018-05-20T04:12:23Z | project=buildfish-web-ng-dev; build_id=buildfish-web-ng-dev:8d2c7ba5-902c-43f1-b1f2-377922a66281; phase=SUBMITTED",
    "codebuild-build-state-change-failed-command-error-real.json | build_state | FAILED | 164943972409 | us-west-2 | 2018-05-22T17:53:36Z | project=buildfish-repo-server-ng-dev; build_id=buildfish-repo-server-ng-dev:1e81d092-63ae-4811-933b-02214d605c6e",
    "codebuild-build-state-change-failed-yaml-file-error-real.json | build_state | FAILED | 132093761664 | us-east-1 | 2017-11-06T01:35:07Z | project=functionci-thestackshack-serverless-demo-master-code-build; build_id=functionci-thestackshack-serverless-demo-master-code-build:845a17d1-3901-40aa-a169-15f7545eca60",
    "codebuild-build-state-change-in-progress-codepipeline-initiated-real.json | build_state | IN_PROGRESS | 132093761664 | us-east-1 | 2017-11-05T22:01:11Z | project=functionci-thestackshack-serverless-demo-master-code-build; build_id=functionci-thestackshack-serverless-demo-master-code-build:93942698-859e-4fa9-8fde-c062977f6053",
    "codebuild-build-state-change-in-progress-processed-cu.json | build_state | IN_PROGRESS | 123456789012 | us-east-1 | 2021-09-22T20:10:51Z | project=sns-teams-relay-dev; build_id=sns-teams-relay-dev:729d7eab-7081-4801-9797-da2bbb4619fe",
    "codebuild-build-state-change-succeeded-doc.json | build_state | SUCCEEDED | 123456789012 | us-west-2 | 2017-09-01T16:14:28Z | project=my-sample-project; build_id=my-sample-project:8745a7a9-c340-456a-9166-edf953571bEX",
    "codebuild-build-state-change-succeeded-float-numbers-lambda-go-fixture.json | build_state | SUCCEEDED | 123456789012 | us-west-2 | 2017-09-01T16:14:28Z | project=my-sample-project; build_id=my-sample-project:8745a7a9-c340-456a-9166-edf953571bEX",
    "codebuild-build-state-change-succeeded-sns-codestar-cu.json | build_state | SUCCEEDED | 123456789012 | us-east-1 | 2021-09-22T20:11:16Z | project=sns-teams-relay-dev; build_id=sns-teams-relay-dev:729d7eab-7081-4801-9797-da2bbb4619fe",
    "codedeploy-deployment-state-change-notification-success-doc.json | deployment_state | SUCCESS | 123456789012 | us-east-1 | 2016-06-30T22:06:31Z | deployment_id=d-123456789; application=myApplication; deployment_group=myDeploymentGroup",
    "codedeploy-instance-state-change-notification-success-doc.json | deployment_instance | SUCCESS | 123456789012 | us-east-1 | 2016-06-30T23:18:50Z | deployment_id=d-123456789; application=myApplication; deployment_group=myDeploymentGroup; instance_id=i-0000000aaaaaaaaaa",
    "codedeploy-lifecycle-hook-invocation-rust-fixture.json | unknown | - | - | - | - | ",
    "codedeploy-trigger-deployment-failed-sns-message-doc.json | deployment_state | FAILURE | 111222333444 | us-west-1 | 2015-11-05T17:23:10.402Z | deployment_id=d-75I7MBT7C; application=ProductionApp-us-west-3; deployment_group=dep-group-def-456",
    "codedeploy-trigger-instance-succeeded-sns-message-doc.json | deployment_instance | SUCCESS | 111222333444 | us-east-2 | 2015-11-05T17:23:27.564Z | deployment_id=d-75I7MBT7C; instance_id=arn:aws:ec2:us-east-2:444455556666:instance/i-496589f7",
    "codepipeline-action-execution-state-change-abandoned-codedeploy-doc.json | action_execution | ABANDONED | 123456789012 | us-west-2 | 2020-01-31T18:21:39Z | pipeline=myPipeline; execution_id=12345678-1234-5678-abcd-12345678abcd; stage=Deploy; action=Deploy; provider=CodeDeploy; category=Deploy",
    "codepipeline-action-execution-state-change-failed-codebuild-processed-meerkat.json | action_execution | FAILED | 000000000000 | ap-southeast-2 | 2022-03-30T09:07:15Z | pipeline=meerkat; execution_id=94fb261b-65d0-41ba-bea3-b08420e9b5e7; stage=Build; action=Build; provider=CodeBuild; category=Build",
    "codepipeline-action-execution-state-change-failed-codebuild-processed-real.json | action_execution | FAILED | 653734769926 | ap-northeast-2 | 2022-07-21T05:26:58Z | pipeline=sin-dev; execution_id=1d247af2-7eb3-4569-aeda-41416e2a81c5; stage=build; action=Build; provider=CodeBuild; category=Build",
    "codepipeline-action-execution-state-change-failed-codebuild-v1-real.json | action_execution | FAILED | 164943972409 | us-west-2 | 2018-05-22T17:54:21Z | pipeline=buildfish-repo-server-ng-code-pipeline-dev; execution_id=a68bd8b4-e5cb-4174-a2f4-8b28652d5352; stage=Build; action=CodeBuildAction; provider=CodeBuild; category=Build",
    "codepipeline-action-execution-state-change-failed-codedeploy-doc.json | action_execution | FAILED | 123456789012 | us-west-2 | 2020-01-31T18:55:43Z | pipeline=myPipeline; execution_id=12345678-1234-5678-abcd-12345678abcd; stage=Deploy; action=Deploy; provider=CodeDeploy; category=Deploy",
    "codepipeline-action-execution-state-change-failed-codedeploy-processed-doc.json | action_execution | FAILED | 123456789012 | us-west-2 | 2021-06-24T00:46:16Z | pipeline=myPipeline; execution_id=12345678-1234-5678-abcd-12345678abcd; stage=Deploy; action=Deploy; provider=CodeDeploy; category=Deploy",
    "codepipeline-action-execution-state-change-failed-commands-compute-real.json | action_execution | FAILED | 686878367233 | us-west-2 | 2026-05-07T13:23:07Z | pipeline=pipeline-ai-analysis-github; execution_id=07e563b5-8802-4efe-94cc-e864390dd7af; stage=Build; action=Build; provider=Commands; category=Compute",
    "codepipeline-action-execution-state-change-failed-manual-approval-rejected-processed-real.json | action_execution | FAILED | 123456789012 | us-east-1 | 2021-09-29T18:30:52Z | pipeline=random-pipeline; execution_id=3b2b283b-2d7b-4d5e-92c9-feff26764009; stage=Approval; action=Approval; provider=Manual; category=Approval",
    "codepipeline-action-execution-state-change-started-codebuild-arabold.json | action_execution | STARTED | 012345678901 | us-east-1 | 2019-02-20T16:34:46Z | pipeline=foo-pipeline; execution_id=4b02612a-1b13-4d4f-bc78-1fb45dc6376e; stage=FooStage; action=PackageExport; provider=CodeBuild; category=Build",
    "codepipeline-action-execution-state-change-started-codedeploy-lambda-go-fixture.json | action_execution | STARTED | 123456789012 | us-east-1 | 2017-04-22T03:31:47Z | pipeline=myPipeline; execution_id=01234567-0123-0123-0123-012345678901; stage=Prod; action=myAction; provider=CodeDeploy; category=Deploy",
    "codepipeline-action-execution-state-change-started-codedeploy-processed-doc.json | action_execution | STARTED | 123456789012 | us-west-2 | 2021-06-24T00:45:44Z | pipeline=myPipeline; execution_id=12345678-1234-5678-abcd-12345678abcd; stage=Deploy; action=Deploy; provider=CodeDeploy; category=Deploy",
    "codepipeline-action-execution-state-change-started-float-version-lambda-go-fixture.json | action_execution | STARTED | 123456789012 | us-east-1 | 2017-04-22T03:31:47Z | pipeline=myPipeline; execution_id=01234567-0123-0123-0123-012345678901; stage=Prod; action=myAction; provider=CodeDeploy; category=Deploy",
    "codepipeline-action-execution-state-change-started-github-thirdparty-v1-real.json | action_execution | STARTED | 164943972409 | us-west-2 | 2018-05-20T04:11:44Z | pipeline=buildfish-web-ng-code-pipeline-dev; execution_id=c776b515-1810-465f-a0ab-3a30a1d4341b; stage=Source; action=SourceAction; provider=GitHub; category=Source",
    "codepipeline-action-execution-state-change-started-manual-approval-arabold.json | action_execution | STARTED | 123456789012 | us-east-1 | 2018-11-06T21:36:10Z | pipeline=mypipeline; execution_id=abcdefgh-ce35-1111-a123-c501546c9cdb; stage=Deploy; action=Deploy; provider=Manual; category=Deploy",
    "codepipeline-action-execution-state-change-started-manual-approval-sns-codestar-real.json | action_execution | STARTED | 429533234373 | us-east-1 | 2022-08-31T09:40:18Z | pipeline=mdp-pipeline-sandbox-pipeline; execution_id=695b5c69-7afe-43c2-a5e7-778ad1763485; stage=Approval; action=ManualApproval; provider=Manual; category=Approval",
    "codepipeline-action-execution-state-change-succeeded-codebuild-processed-meerkat.json | action_execution | SUCCEEDED | 000000000000 | ap-southeast-2 | 2022-03-29T22:46:42Z | pipeline=meerkat; execution_id=f17023e4-eac9-4a52-8e9f-212e7a8d0d6e; stage=Build; action=Build; provider=CodeBuild; category=Build",
    "codepipeline-action-execution-state-change-succeeded-codedeploy-processed-meerkat.json | action_execution | SUCCEEDED | 000000000000 | ap-southeast-2 | 2022-03-29T23:04:17Z | pipeline=meerkat; execution_id=f17023e4-eac9-4a52-8e9f-212e7a8d0d6e; stage=DeployToExternalAccount; action=Deploy-GREEN; provider=CodeDeploy; category=Deploy",
    "codepipeline-action-execution-state-change-succeeded-codestarsourceconnection-github-processed-meerkat.json | action_execution | SUCCEEDED | 111111111111 | ap-southeast-2 | 2021-09-25T07:57:18Z | pipeline=example-pipe-monitor-codepipeline; execution_id=a6bf7e98-2fd2-4977-aed8-c4abd047a8c0; stage=Source; action=Source; provider=CodeStarSourceConnection; category=Source",
    "codepipeline-action-execution-state-change-succeeded-codestarsourceconnection-processed-meerkat.json | action_execution | SUCCEEDED | 000000000000 | ap-southeast-2 | 2022-03-29T22:38:57Z | pipeline=meerkat; execution_id=f17023e4-eac9-4a52-8e9f-212e7a8d0d6e; stage=Source; action=Source; provider=CodeStarSourceConnection; category=Source",
    "codepipeline-action-execution-state-change-succeeded-source-codecommit-doc.json | action_execution | SUCCEEDED | 123456789012 | us-west-2 | 2020-01-24T22:03:11Z | pipeline=myPipeline; execution_id=12345678-1234-5678-abcd-12345678abcd; stage=Source; action=Source; provider=CodeCommit; category=Source",
    "codepipeline-action-execution-state-change-succeeded-source-codecommit-processed-doc.json | action_execution | SUCCEEDED | 123456789012 | us-west-2 | 2021-06-24T00:45:44Z | pipeline=myPipeline; execution_id=arn:aws:codepipeline:us-west-2:123456789012:myPipeline; stage=Source; action=Source; provider=CodeCommit; category=Source",
    "codepipeline-manual-approval-sns-message-arabold.json | manual_approval | - | - | us-east-1 | - | pipeline=mypipeline.name; stage=Deploy; action=Deploy_Approval; token=abcdefgh-b2fb-1234-a00a-31a03b998faa",
    "codepipeline-manual-approval-sns-message-doc.json | manual_approval | - | - | us-east-2 | - | pipeline=MyFirstPipeline; stage=MyApprovalStage; action=MyApprovalAction; token=1a2b3c4d-573f-4ea7-a67E-XAMPLETOKEN",
    "codepipeline-manual-approval-sns-notification-cu.json | manual_approval | - | 123456789012 | us-east-1 | 2021-09-29T17:37:37.563Z | pipeline=tf-jenkins-update-apply-pipeline; stage=Approval; action=Approval; token=db70b4c2-89a9-4257-aa81-6c4d3cfa064b",
    "codepipeline-manual-approval-sns-notification-real.json | manual_approval | - | 429533234373 | us-east-1 | 2022-08-23T11:09:40.068Z | pipeline=vrathore-slack-test2-sandbox-pipeline; stage=Approval; action=ManualApproval; token=0c35520a-b7e6-403d-ba3f-e02120b524c3",
    "codepipeline-pipeline-execution-state-change-failed-doc.json | pipeline_execution | FAILED | 123456789012 | us-west-2 | 2020-01-31T18:55:43Z | pipeline=myPipeline; execution_id=12345678-1234-5678-abcd-12345678abcd",
    "codepipeline-pipeline-execution-state-change-failed-git-tag-trigger-doc.json | pipeline_execution | FAILED | 123456789012 | us-west-2 | 2020-01-31T18:55:43Z | pipeline=myPipeline; execution_id=12345678-1234-5678-abcd-12345678abcd",
    "codepipeline-pipeline-execution-state-change-failed-github-trigger-processed-real.json | pipeline_execution | FAILED | xxxxxxxxxxxx | ap-southeast-1 | 2023-12-20T11:14:33Z | pipeline=my-pipeline; execution_id=xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx",
    "codepipeline-pipeline-execution-state-change-failed-sns-codestar-real.json | pipeline_execution | FAILED | 429533234373 | us-east-1 | 2022-08-24T10:16:14Z | pipeline=workflow-resources-pipeline-test-sandbox-pipeline; execution_id=0a16e1e1-cd3f-4e81-b2e6-bbd9d78b2967",
    "codepipeline-pipeline-execution-state-change-failed-v1-real.json | pipeline_execution | FAILED | 164943972409 | us-west-2 | 2018-05-22T17:54:22Z | pipeline=buildfish-repo-server-ng-code-pipeline-dev; execution_id=a68bd8b4-e5cb-4174-a2f4-8b28652d5352",
    "codepipeline-pipeline-execution-state-change-started-manual-trigger-processed-real.json | pipeline_execution | STARTED | xxxxxxxxxxxx | ap-southeast-1 | 2023-12-24T03:09:27Z | pipeline=my-pipeline; execution_id=xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx",
    "codepipeline-pipeline-execution-state-change-started-processed-cu.json | pipeline_execution | STARTED | 123456789012 | us-east-1 | 2021-09-29T17:25:23Z | pipeline=tf-jenkins-update-apply-pipeline; execution_id=d8fcecc5-d21a-4007-99c0-f4063b2192b1",
    "codepipeline-pipeline-execution-state-change-started-processed-doc.json | pipeline_execution | STARTED | 123456789012 | us-east-1 | 2021-06-24T00:44:50Z | pipeline=myPipeline; execution_id=12345678-1234-5678-abcd-12345678abcd",
    "codepipeline-pipeline-execution-state-change-started-sns-codestar-real.json | pipeline_execution | STARTED | 429533234373 | us-east-1 | 2022-08-23T11:07:17Z | pipeline=vrathore-slack-test2-sandbox-pipeline; execution_id=b7c9a84b-aebf-4f02-9a6a-336282893747",
    "codepipeline-pipeline-execution-state-change-started-v2-doc.json | pipeline_execution | STARTED | 123456789012 | us-east-1 | 2020-01-24T22:03:07Z | pipeline=myPipeline; execution_id=12345678-1234-5678-abcd-12345678abcd",
    "codepipeline-pipeline-execution-state-change-started-webhook-processed-meerkat.json | pipeline_execution | STARTED | 000000000000 | ap-southeast-2 | 2022-03-30T08:52:29Z | pipeline=meerkat; execution_id=94fb261b-65d0-41ba-bea3-b08420e9b5e7",
    "codepipeline-pipeline-execution-state-change-stopping-doc.json | pipeline_execution | STOPPING | 123456789012 | us-west-2 | 2020-01-24T22:02:20Z | pipeline=myPipeline; execution_id=12345678-1234-5678-abcd-12345678abcd",
    "codepipeline-pipeline-execution-state-change-succeeded-doc.json | pipeline_execution | SUCCEEDED | 123456789012 | us-east-1 | 2020-01-24T22:03:44Z | pipeline=myPipeline; execution_id=12345678-1234-5678-abcd-12345678abcd",
    "codepipeline-pipeline-execution-state-change-succeeded-git-tag-trigger-doc.json | pipeline_execution | SUCCEEDED | 123456789012 | eu-central-1 | 2023-10-26T13:50:53Z | pipeline=BuildFromTag; execution_id=e17b5773-cc0d-4db2-9ad7-594c73888de8",
    "codepipeline-pipeline-execution-state-change-succeeded-sns-codestar-real.json | pipeline_execution | SUCCEEDED | 787068200846 | us-west-2 | 2021-10-14T04:55:53Z | pipeline=CronLambdasCDKPipeline; execution_id=87864de9-5bf8-4dc9-abe6-a27914a39aa8",
    "codepipeline-pipeline-execution-state-change-succeeded-v2-real.json | pipeline_execution | SUCCEEDED | 817734611975 | us-west-2 | 2024-12-30T00:53:03Z | pipeline=DMAA-Env-0-4-0-Pipeline; execution_id=417b6f73-99ef-4105-95f1-11ebb1bcade5",
    "codepipeline-stage-execution-state-change-failed-cloudformation-processed-real.json | stage_execution | FAILED | 787068200846 | us-west-2 | 2021-10-13T04:32:15Z | pipeline=CronLambdasCDKPipeline; execution_id=936afa0e-1cf5-4c33-89d2-f8dfbac9a21d; stage=DeployCronLambdaStage",
    "codepipeline-stage-execution-state-change-failed-multi-action-processed-meerkat.json | stage_execution | FAILED | 000000000000 | ap-southeast-2 | 2022-03-29T23:13:13Z | pipeline=meerkat; execution_id=7705a421-5549-4b28-a4ad-2150fee793e8; stage=DeployToExternalAccount",
    "codepipeline-stage-execution-state-change-resumed-after-retry-doc.json | stage_execution | RESUMED | 123456789012 | eu-central-1 | 2023-10-26T14:14:56Z | pipeline=BuildFromTag; execution_id=05dafb6a-5a56-4951-a858-968795364846; stage=Build",
    "codepipeline-stage-execution-state-change-started-lambda-go-fixture.json | stage_execution | STARTED | 123456789012 | us-east-1 | 2017-04-22T03:31:47Z | pipeline=myPipeline; execution_id=01234567-0123-0123-0123-012345678901",
    "codepipeline-stage-execution-state-change-started-processed-doc.json | stage_execution | STARTED | 123456789012 | us-east-1 | 2021-06-24T00:45:40Z | pipeline=myPipeline; execution_id=12345678-1234-5678-abcd-12345678abcd; stage=Source",
    "codepipeline-stage-execution-state-change-started-string-version-arabold.json | stage_execution | STARTED | 123456789012 | us-east-1 | 2017-04-22T03:31:47Z | pipeline=myPipeline; execution_id=01234567-0123-0123-0123-012345678901; stage=Prod",
    "codepipeline-stage-execution-state-change-stopped-doc.json | stage_execution | STOPPED | 123456789012 | us-west-2 | 2020-01-31T18:21:39Z | pipeline=myPipeline; execution_id=12345678-1234-5678-abcd-12345678abcd; stage=Deploy",
    "codepipeline-stage-execution-state-change-stopping-doc.json | stage_execution | STOPPING | 123456789012 | us-west-2 | 2020-01-24T22:02:20Z | pipeline=myPipeline; execution_id=12345678-1234-5678-abcd-12345678abcd; stage=Deploy",
    "ecs-container-instance-state-change-active-doc.json | unknown | - | 111122223333 | us-east-1 | 2016-12-06T16:41:06Z | source=aws.ecs; detail_type=ECS Container Instance State Change",
    "ecs-deployment-state-change-completed-doc.json | ecs_deployment | SERVICE_DEPLOYMENT_COMPLETED | 111122223333 | us-west-2 | 2020-05-23T12:31:14Z | deployment_id=ecs-svc/123; cluster=default; service=servicetest; event_name=SERVICE_DEPLOYMENT_COMPLETED",
    "ecs-deployment-state-change-failed-doc.json | ecs_deployment | SERVICE_DEPLOYMENT_FAILED | 111122223333 | us-west-2 | 2020-05-23T12:31:14Z | deployment_id=ecs-svc/123; cluster=default; service=servicetest; event_name=SERVICE_DEPLOYMENT_FAILED",
    "ecs-deployment-state-change-in-progress-doc.json | ecs_deployment | SERVICE_DEPLOYMENT_IN_PROGRESS | 111122223333 | us-west-2 | 2020-05-23T12:31:14Z | deployment_id=ecs-svc/123; cluster=default; service=servicetest; event_name=SERVICE_DEPLOYMENT_IN_PROGRESS",
    "ecs-deployment-state-change-in-progress-rollback-doc.json | ecs_deployment | SERVICE_DEPLOYMENT_IN_PROGRESS | 111122223333 | us-west-2 | 2020-05-23T12:31:14Z | deployment_id=ecs-svc/123; cluster=default; service=servicetest; event_name=SERVICE_DEPLOYMENT_IN_PROGRESS",
    "ecs-service-action-capacity-provider-steady-state-doc.json | ecs_service_action | CAPACITY_PROVIDER_STEADY_STATE | 111122223333 | us-west-2 | 2019-11-19T19:37:00Z | cluster=default; service=servicetest; event_name=CAPACITY_PROVIDER_STEADY_STATE",
    "ecs-service-action-service-steady-state-doc.json | ecs_service_action | SERVICE_STEADY_STATE | 111122223333 | us-west-2 | 2019-11-19T19:27:22Z | cluster=default; service=servicetest; event_name=SERVICE_STEADY_STATE",
    "ecs-service-action-service-task-placement-failure-ec2-cpu-doc.json | ecs_service_action | SERVICE_TASK_PLACEMENT_FAILURE | 111122223333 | us-west-2 | 2019-11-19T19:55:38Z | cluster=default; service=servicetest; event_name=SERVICE_TASK_PLACEMENT_FAILURE",
    "ecs-service-action-service-task-placement-failure-fargate-spot-doc.json | ecs_service_action | SERVICE_TASK_PLACEMENT_FAILURE | 111122223333 | us-west-2 | 2019-11-19T19:55:38Z | cluster=default; service=servicetest; event_name=SERVICE_TASK_PLACEMENT_FAILURE",
    "ecs-service-action-service-task-start-impaired-doc.json | ecs_service_action | SERVICE_TASK_START_IMPAIRED | 111122223333 | us-west-2 | 2019-11-19T19:55:38Z | cluster=default; service=servicetest; event_name=SERVICE_TASK_START_IMPAIRED",
    "ecs-task-state-change-deprovisioning-exit0-real.json | ecs_task | DEPROVISIONING | 667471847564 | us-east-2 | 2019-11-19T21:13:34Z | cluster=primary-cluster; task_arn=arn:aws:ecs:us-east-2:667471847564:task/e9511a82-9247-4239-89e9-ffd548ed9ee4; last_status=DEPROVISIONING; desired_status=STOPPED",
    "ecs-task-state-change-running-fargate-doc.json | ecs_task | RUNNING | 111122223333 | us-west-2 | 2020-01-23T17:57:58Z | cluster=FargateCluster; task_arn=arn:aws:ecs:us-west-2:111122223333:task/FargateCluster/c13b4cb40f1f4fe4a2971f76ae5a47ad; last_status=RUNNING; desired_status=RUNNING",
    "ecs-task-state-change-stopped-essential-container-exit2-fivexl.json | ecs_task | STOPPED | 111111111111 | eu-central-1 | 2020-03-16T15:37:04Z | cluster=test; task_arn=arn:aws:ecs:eu-central-1:111111111111:task/test/a6eaf0150a4248dAA1bcbd688121014e; last_status=STOPPED; desired_status=STOPPED",
    "ecs-task-state-change-stopped-sns-wrapped-fivexl.json | ecs_task | STOPPED | 111111111111 | eu-central-1 | 2020-03-16T15:37:04Z | cluster=test; task_arn=arn:aws:ecs:eu-central-1:111111111111:task/test/a6eaf0150a4248dAA1bcbd688121014e; last_status=STOPPED; desired_status=STOPPED",
    "cloudtrail-ecs-updateservice-access-denied-herald.json | api_call | UpdateService | 123456789012 | eu-west-1 | 2026-03-02T14:02:11Z | principal=bob-ops; error_code=AccessDenied; cluster=prod; service=gateway",
    "cloudtrail-ecs-updateservice-application-autoscaling-herald.json | api_call | UpdateService | 123456789012 | eu-west-1 | 2026-03-02T13:15:02Z | principal=Application Auto Scaling; invoked_by=ecs.application-autoscaling.amazonaws.com; cluster=prod; service=search-indexer; deployment_id=ecs-svc/5514233109873346001",
    "cloudtrail-ecs-updateservice-desired-count-iam-user-herald.json | api_call | UpdateService | 123456789012 | eu-west-1 | 2026-03-02T12:00:00Z | principal=alice@example.com; api=ecs.amazonaws.com; cluster=prod; service=search-indexer",
    "cloudtrail-ecs-updateservice-new-task-definition-sso-herald.json | api_call | UpdateService | 123456789012 | eu-west-1 | 2026-03-02T09:59:58Z | principal=bob-ops; task_definition=gateway:88; deployment_id=ecs-svc/8245970361628043112",
    "health-aws-health-event-acm-renewal-arabold.json | health | - | 123456789012 | region | 2016-06-05T06:27:57Z | service=service; event_type_code=AWS_service_code",
    "health-aws-health-event-ec2-instance-store-degraded-aws-health-tools.json | health | - | 123456789012 | us-west-2 | 2016-06-05T06:27:57Z | service=EC2; event_type_code=AWS_EC2_INSTANCE_STORE_DRIVE_PERFORMANCE_DEGRADED",
];

#[test]
fn every_fixture_decodes_to_its_kind_and_keys() {
    let mut rows: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for row in TABLE {
        let cols: Vec<&str> = row.split(" | ").collect();
        rows.insert(cols[0], cols);
    }
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).expect("fixtures dir") {
        let path = entry.expect("dir entry").path();
        if path.extension().and_then(|e| e.to_str()) != Some("json") {
            continue;
        }
        let name = path.file_name().and_then(|n| n.to_str()).expect("name");
        let cols = rows
            .get(name)
            .unwrap_or_else(|| panic!("{name} has no row in TABLE"));
        let event = one(name);
        let got = event.to_inspect_json();
        let field = |k: &str| match got.get(k) {
            Some(serde_json::Value::String(s)) if !s.is_empty() => s.clone(),
            _ => "-".to_string(),
        };
        assert_eq!(event.kind(), cols[1], "{name}: kind");
        assert_eq!(field("state"), cols[2], "{name}: state");
        assert_eq!(field("account"), cols[3], "{name}: account");
        assert_eq!(field("region"), cols[4], "{name}: region");
        assert_eq!(field("time"), cols[5], "{name}: time");
        for pair in cols[6].split("; ").filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once('=').expect("key=value");
            assert_eq!(field(k), v, "{name}: {k}");
        }
        seen += 1;
    }
    assert_eq!(seen, TABLE.len(), "every row has its fixture");
}

#[test]
fn every_fixture_round_trips_through_serde() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    for entry in std::fs::read_dir(&dir).expect("fixtures dir") {
        let path = entry.expect("dir entry").path();
        if path.extension().and_then(|e| e.to_str()) != Some("json") {
            continue;
        }
        let events = decode(&std::fs::read(&path).expect("read")).expect("decodes");
        for event in events {
            let text = serde_json::to_string(&event).expect("serialises");
            let back: Event = serde_json::from_str(&text)
                .unwrap_or_else(|e| panic!("{}: {e}\n{text}", path.display()));
            assert_eq!(back, event, "{}", path.display());
        }
    }
}

// ---- quirks of the corpus README, one test each ----

#[test]
fn quirk_detail_version_as_int_float_and_string() {
    for name in [
        "codepipeline-action-execution-state-change-started-float-version-lambda-go-fixture.json",
        "codepipeline-stage-execution-state-change-started-string-version-arabold.json",
        "codepipeline-pipeline-execution-state-change-started-webhook-processed-meerkat.json",
        "codepipeline-stage-execution-state-change-started-processed-doc.json",
    ] {
        assert!(one(name).state().is_some(), "{name}");
    }
}

#[test]
fn quirk_pipeline_execution_attempt_is_a_float() {
    let Event::PipelineExecution(e) = one(
        "codepipeline-pipeline-execution-state-change-failed-github-trigger-processed-real.json",
    ) else {
        panic!("kind")
    };
    assert_eq!(e.state, "FAILED");
}

#[test]
fn quirk_masked_accounts_are_kept_as_given() {
    let a = one(
        "codepipeline-pipeline-execution-state-change-started-manual-trigger-processed-real.json",
    );
    assert_eq!(a.meta().account, "xxxxxxxxxxxx");
    let b =
        one("codepipeline-pipeline-execution-state-change-started-webhook-processed-meerkat.json");
    assert_eq!(b.meta().account, "000000000000");
}

#[test]
fn quirk_action_region_differs_from_envelope_region() {
    let mut v: serde_json::Value = serde_json::from_slice(&fixture(
        "codepipeline-action-execution-state-change-failed-codedeploy-doc.json",
    ))
    .expect("json");
    v["detail"]["region"] = "eu-west-1".into();
    let events = decode(v.to_string().as_bytes()).expect("decodes");
    let Event::ActionExecution(a) = &events[0] else {
        panic!("kind")
    };
    assert_eq!(a.meta.region, "us-west-2");
    assert_eq!(a.action_region.as_deref(), Some("eu-west-1"));
}

#[test]
fn quirk_codebuild_links_back_only_by_initiator_and_build_id() {
    let Event::BuildState(b) = one("codebuild-build-state-change-failed-command-error-real.json")
    else {
        panic!("kind")
    };
    assert_eq!(
        b.build_id,
        "buildfish-repo-server-ng-dev:1e81d092-63ae-4811-933b-02214d605c6e"
    );
    assert_eq!(
        b.initiator.as_deref(),
        Some("codepipeline/buildfish-repo-server-ng-code-pipeline-dev")
    );
    let failed = b.failed_phase.expect("failed phase");
    assert_eq!(failed.phase, "BUILD");
    assert_eq!(
        failed.context.as_deref(),
        Some("COMMAND_EXECUTION_ERROR: Error while executing command: mvn package. Reason: exit status 1")
    );
    assert_eq!(
        b.start_time.map(|t| t.to_rfc3339()),
        Some("2018-05-22T17:52:17+00:00".into())
    );
}

#[test]
fn quirk_codebuild_us_locale_times() {
    let Event::BuildState(b) = one("codebuild-build-state-change-succeeded-doc.json") else {
        panic!("kind")
    };
    assert_eq!(
        b.start_time.map(|t| t.to_rfc3339()),
        Some("2017-09-01T16:12:29+00:00".into())
    );
}

#[test]
fn quirk_execution_result_is_optional() {
    let Event::ActionExecution(a) =
        one("codepipeline-action-execution-state-change-failed-codebuild-v1-real.json")
    else {
        panic!("kind")
    };
    assert_eq!(a.state, "FAILED");
    assert_eq!(a.external_execution_id, None);
    assert_eq!(a.error_code, None);
}

#[test]
fn quirk_codestar_connection_summary_is_a_json_string() {
    let Event::ActionExecution(a) = one(
        "codepipeline-action-execution-state-change-succeeded-codestarsourceconnection-processed-meerkat.json",
    ) else {
        panic!("kind")
    };
    let commit = a.commit.expect("commit");
    assert_eq!(
        commit.id.as_deref(),
        Some("1a104adf6a84de18fa3e3c4cb42b5024fe450ed5")
    );
    assert_eq!(commit.provider.as_deref(), Some("Bitbucket"));
    assert_eq!(
        commit.message.as_deref(),
        Some("Merge branches 'develop' and 'develop' of https://bitbucket.org/project/repository into develop")
    );
}

#[test]
fn quirk_additional_attributes_disagree_with_themselves() {
    let Event::StageExecution(s) =
        one("codepipeline-stage-execution-state-change-failed-multi-action-processed-meerkat.json")
    else {
        panic!("kind")
    };
    // failedActionCount says 4; three are listed, and the list is what Herald believes.
    assert_eq!(s.failed_actions.len(), 3);
    assert_eq!(
        s.failed_actions[0].reason.as_deref(),
        Some("Deployment d-C3XYEM1QF failed")
    );
}

#[test]
fn quirk_codedeploy_trigger_failed_is_failure() {
    let Event::DeploymentState(d) =
        one("codedeploy-trigger-deployment-failed-sns-message-doc.json")
    else {
        panic!("kind")
    };
    assert_eq!(d.state, "FAILURE");
    assert_eq!(d.error_code.as_deref(), Some("IAM_ROLE_MISSING"));
    assert_eq!(
        d.meta.time.map(|t| t.to_rfc3339()),
        Some("2015-11-05T17:23:10.402+00:00".into())
    );
}

#[test]
fn quirk_sns_record_with_null_subject() {
    let Event::EcsTask(t) = one("ecs-task-state-change-stopped-sns-wrapped-fivexl.json") else {
        panic!("kind")
    };
    assert_eq!(t.cluster, "test");
    assert_eq!(t.group.as_deref(), Some("service:example-api-v1"));
    assert_eq!(
        t.containers.iter().map(|c| c.exit_code).collect::<Vec<_>>(),
        vec![Some(0), Some(2)]
    );
}

#[test]
fn several_sns_records_give_several_events() {
    let a: serde_json::Value = serde_json::from_slice(&fixture(
        "codepipeline-manual-approval-sns-notification-cu.json",
    ))
    .expect("json");
    let b: serde_json::Value = serde_json::from_slice(&fixture(
        "codepipeline-manual-approval-sns-notification-real.json",
    ))
    .expect("json");
    let both = serde_json::json!({"Records": [a["Records"][0], b["Records"][0]]});
    let events = decode(both.to_string().as_bytes()).expect("decodes");
    let pipelines: Vec<_> = events
        .iter()
        .map(|e| match e {
            Event::ManualApproval(m) => m.pipeline.as_str(),
            _ => "?",
        })
        .collect();
    assert_eq!(
        pipelines,
        [
            "tf-jenkins-update-apply-pipeline",
            "vrathore-slack-test2-sandbox-pipeline"
        ]
    );
}

#[test]
fn sns_notification_document_as_sqs_delivers_it() {
    let v: serde_json::Value = serde_json::from_slice(&fixture(
        "codepipeline-pipeline-execution-state-change-failed-sns-codestar-real.json",
    ))
    .expect("json");
    let doc = v["Records"][0]["Sns"].clone();
    assert_eq!(doc["Type"], "Notification");
    let events = decode(doc.to_string().as_bytes()).expect("decodes");
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].kind(), "pipeline_execution");
    assert_eq!(events[0].state(), Some("FAILED"));
}

#[test]
fn approval_without_account_takes_the_topic_account() {
    let Event::ManualApproval(m) = one("codepipeline-manual-approval-sns-notification-real.json")
    else {
        panic!("kind")
    };
    assert_eq!(m.meta.account, "429533234373");
    assert_eq!(
        m.meta.id.as_deref(),
        Some("341a58fe-f662-55aa-b071-038041d6eb47")
    );
    assert_eq!(
        m.expires.map(|t| t.to_rfc3339()),
        Some("2022-08-30T11:09:00+00:00".into())
    );
    assert!(m
        .review_link
        .as_deref()
        .is_some_and(|l| l.contains("/approve/")));
    assert_eq!(
        m.custom_data.as_deref(),
        Some("Testing of all dags, flows and connection is completed, please approve to deploy flows and connection")
    );
}

#[test]
fn alarm_region_from_human_name_when_no_arn() {
    let mut v: serde_json::Value = serde_json::from_slice(&fixture(
        "cloudwatch-alarm-sns-message-body-alarm-meerkat.json",
    ))
    .expect("json");
    v.as_object_mut().expect("object").remove("AlarmArn");
    let events = decode(v.to_string().as_bytes()).expect("decodes");
    assert_eq!(events[0].meta().region, "ap-southeast-2");
    let ohio = one("cloudwatch-alarm-sns-message-ok-anomaly-detection-real.json");
    assert_eq!(ohio.meta().region, "us-east-2");
}

#[test]
fn account_from_the_arn_when_the_envelope_lacks_it() {
    let mut v: serde_json::Value =
        serde_json::from_slice(&fixture("ecs-deployment-state-change-failed-doc.json"))
            .expect("json");
    v.as_object_mut().expect("object").remove("account");
    v.as_object_mut().expect("object").remove("region");
    let events = decode(v.to_string().as_bytes()).expect("decodes");
    assert_eq!(events[0].meta().account, "111122223333");
    assert_eq!(events[0].meta().region, "us-west-2");
}

#[test]
fn alarm_configuration_change_is_not_a_state_change() {
    let e = one("cloudwatch-alarm-configuration-change-create-composite-doc.json");
    assert_eq!(e.kind(), "unknown");
}

#[test]
fn lambda_alarm_action_account_comes_from_the_arn() {
    let e = one("cloudwatch-alarm-lambda-action-metric-math-powertools.json");
    assert_eq!(e.meta().account, "912397435824");
}

#[test]
fn ecs_names_are_short() {
    let Event::EcsDeployment(d) = one("ecs-deployment-state-change-failed-doc.json") else {
        panic!("kind")
    };
    assert_eq!(
        (d.cluster.as_str(), d.service.as_str()),
        ("default", "servicetest")
    );
    assert_eq!(
        d.reason.as_deref(),
        Some("ECS deployment circuit breaker: task failed to start.")
    );
}

#[test]
fn v2_trigger_carries_the_commit() {
    let Event::PipelineExecution(p) = one(
        "codepipeline-pipeline-execution-state-change-failed-github-trigger-processed-real.json",
    ) else {
        panic!("kind")
    };
    let t = p.trigger.expect("trigger");
    let c = t.commit.expect("commit");
    assert_eq!(c.id.as_deref(), Some("abcdefg"));
    assert_eq!(c.author.as_deref(), Some("Github User"));
    assert_eq!(c.provider.as_deref(), Some("GitHub"));
}

#[test]
fn scenarios_decode_line_by_line() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/scenarios");
    for entry in std::fs::read_dir(&dir).expect("scenarios dir") {
        let path = entry.expect("entry").path();
        let text = std::fs::read_to_string(&path).expect("read");
        for (i, line) in text
            .lines()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty())
        {
            let events = decode(line.as_bytes())
                .unwrap_or_else(|e| panic!("{}:{}: {e}", path.display(), i + 1));
            assert!(
                events.iter().all(|e| e.kind() != "unknown"),
                "{}:{}",
                path.display(),
                i + 1
            );
        }
    }
}

// ---- properties ----

fn corpus() -> Vec<Vec<u8>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let mut out: Vec<Vec<u8>> = std::fs::read_dir(&dir)
        .expect("fixtures")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().and_then(|e| e.to_str()) == Some("json"))
        .filter_map(|p| std::fs::read(p).ok())
        .collect();
    out.sort();
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = decode(&bytes);
    }

    #[test]
    fn mutated_real_events_never_panic(
        idx in 0usize..92,
        cuts in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..8),
        truncate in any::<Option<usize>>(),
    ) {
        let corpus = corpus();
        let mut bytes = corpus[idx % corpus.len()].clone();
        for (pos, b) in cuts {
            if !bytes.is_empty() {
                let i = pos % bytes.len();
                bytes[i] = b;
            }
        }
        if let Some(t) = truncate {
            let len = bytes.len();
            bytes.truncate(t % (len + 1));
        }
        let _ = decode(&bytes);
    }

    /// Replacing any string or number in a real event with another JSON value keeps it valid
    /// JSON; whatever decodes must survive serialise -> deserialise unchanged.
    #[test]
    fn decoded_events_round_trip(
        idx in 0usize..92,
        path_seed in any::<u64>(),
        replacement in prop_oneof![
            Just(serde_json::Value::Null),
            any::<i64>().prop_map(serde_json::Value::from),
            any::<f64>().prop_filter("finite", |f| f.is_finite()).prop_map(serde_json::Value::from),
            "[a-zA-Z0-9 :/._-]{0,20}".prop_map(serde_json::Value::from),
            Just(serde_json::json!({"x": [1, "y"]})),
        ],
    ) {
        let corpus = corpus();
        let mut v: serde_json::Value = serde_json::from_slice(&corpus[idx % corpus.len()]).expect("json");
        let mut leaves = Vec::new();
        collect_leaves(&v, String::new(), &mut leaves);
        if !leaves.is_empty() {
            let ptr = &leaves[(path_seed as usize) % leaves.len()];
            if let Some(slot) = v.pointer_mut(ptr) {
                *slot = replacement;
            }
        }
        if let Ok(events) = decode(v.to_string().as_bytes()) {
            for event in events {
                let text = serde_json::to_string(&event).expect("serialises");
                let back: Event = serde_json::from_str(&text).expect("deserialises");
                prop_assert_eq!(back, event);
            }
        }
    }
}

fn collect_leaves(v: &serde_json::Value, at: String, out: &mut Vec<String>) {
    match v {
        serde_json::Value::Object(m) => {
            for (k, x) in m {
                collect_leaves(
                    x,
                    format!("{at}/{}", k.replace('~', "~0").replace('/', "~1")),
                    out,
                );
            }
        }
        serde_json::Value::Array(a) => {
            for (i, x) in a.iter().enumerate() {
                collect_leaves(x, format!("{at}/{i}"), out);
            }
        }
        _ => out.push(at),
    }
}

/// What links an alarm to what it watches: its metrics' dimensions (EventBridge's
/// `configuration.metrics`, every metric of a metric-math alarm; the classic SNS message's
/// `Trigger.Dimensions`) and a composite alarm's rule.
#[test]
fn alarms_carry_their_dimensions_and_rules() {
    let dims = |name: &str| match one(name) {
        Event::AlarmState(a) => (a.dimensions, a.alarm_rule),
        other => panic!("{name}: {other:?}"),
    };
    let (d, r) = dims("cloudwatch-alarm-state-change-alarm-single-metric-doc.json");
    assert_eq!(
        d.get("InstanceId").map(String::as_str),
        Some("i-12345678901234567")
    );
    assert!(r.is_none());
    let (d, _) = dims("cloudwatch-alarm-state-change-alarm-metric-math-doc.json");
    assert_eq!(d.len(), 1, "{d:?}");
    let (d, _) = dims("cloudwatch-alarm-sns-message-body-alarm-meerkat.json");
    assert_eq!(
        d.get("LoadBalancer").map(String::as_str),
        Some("app/lb/12343464af00accc")
    );
    let (d, r) = dims("cloudwatch-alarm-state-change-alarm-composite-suppressor-doc.json");
    assert!(d.is_empty());
    assert_eq!(
        r.as_deref(),
        Some("ALARM(ServerCpuTooHigh) OR ALARM(TotalNetworkTrafficTooHigh)")
    );
    assert_eq!(
        herald::correlate::verdict::rule_alarms(r.as_deref().unwrap_or_default()),
        ["ServerCpuTooHigh", "TotalNetworkTrafficTooHigh"]
    );
}
