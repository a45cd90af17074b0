//! Reading `detail` in one pass: every source's fields at once ([`AnyDetail`]), or a raw value read again by shape ([`RawDetail`]).

use super::*;

// ---- reading `detail` ----

/// How `detail` is read into the shape its `detail-type` names.
pub(super) trait DetailSource<'a> {
    fn pipeline(&mut self) -> PipelineDetail<'a>;
    fn codebuild(&mut self) -> CodeBuildDetail;
    fn codedeploy(&mut self) -> CodeDeployDetail;
    fn ecs(&mut self) -> EcsDetail;
    fn alarm(&mut self) -> AlarmDetail;
    fn health(&mut self) -> HealthDetail;
    fn cloudtrail(&mut self) -> CloudTrailDetail;
}

/// `detail` kept as text and parsed as a shape once the kind is known.
pub(super) type RawDetail<'a> = Option<&'a RawValue>;

impl<'a> DetailSource<'a> for RawDetail<'a> {
    fn pipeline(&mut self) -> PipelineDetail<'a> {
        parse_detail(*self)
    }
    fn codebuild(&mut self) -> CodeBuildDetail {
        parse_detail(*self)
    }
    fn codedeploy(&mut self) -> CodeDeployDetail {
        parse_detail(*self)
    }
    fn ecs(&mut self) -> EcsDetail {
        parse_detail(*self)
    }
    fn alarm(&mut self) -> AlarmDetail {
        parse_detail(*self)
    }
    fn health(&mut self) -> HealthDetail {
        parse_detail(*self)
    }
    fn cloudtrail(&mut self) -> CloudTrailDetail {
        parse_detail(*self)
    }
}

/// `detail` read in one pass, before its kind is known (`detail-type` may come after it),
/// into the fields of every shape at once. Each field is read with the type its shapes give
/// it, so whatever this reads without error, each shape reads the same; anything else (a
/// duplicate field, a field of the wrong type, an array) is an error, and the caller falls
/// back to [`RawDetail`]. Like the shapes, a detail that is null or a scalar reads as empty.
#[derive(Default)]
pub(super) struct AnyDetail<'a> {
    // The fields more than one shape reads: `state` (CodePipeline, CodeDeploy, alarms),
    // `region` (CodePipeline, CodeDeploy), `deploymentId` (CodeDeploy, ECS).
    pub(super) state: StateField,
    pub(super) region: S,
    pub(super) deployment_id: S,
    // Each shape's other fields, from the first of them met.
    pub(super) pipeline: Option<PipelineDetail<'a>>,
    pub(super) codebuild: Option<CodeBuildDetail>,
    pub(super) codedeploy: Option<CodeDeployDetail>,
    pub(super) ecs: Option<EcsDetail>,
    pub(super) alarm: Option<AlarmDetail>,
    pub(super) health: Option<HealthDetail>,
    pub(super) cloudtrail: Option<CloudTrailDetail>,
}

keys! {
    /// The JSON names of the fields of every detail shape.
    DetailKey {
        State = "state",
        Region = "region",
        DeploymentId = "deploymentId",
        // CodePipeline.
        Pipeline = "pipeline",
        ExecutionId = "execution-id",
        Stage = "stage",
        Action = "action",
        StartTime = "start-time",
        ActionExecutionId = "action-execution-id",
        Trigger = "execution-trigger",
        StopComments = "stop-execution-comments",
        ActionType = "type",
        Result = "execution-result",
        // CodeBuild.
        Project = "project-name",
        BuildId = "build-id",
        BuildStatus = "build-status",
        CurrentPhase = "current-phase",
        CompletedPhase = "completed-phase",
        CompletedPhaseStatus = "completed-phase-status",
        CompletedPhaseContext = "completed-phase-context",
        CompletedPhaseStart = "completed-phase-start",
        Info = "additional-information",
        // CodeDeploy.
        Application = "application",
        DeploymentGroup = "deploymentGroup",
        InstanceId = "instanceId",
        // ECS.
        ClusterArn = "clusterArn",
        TaskArn = "taskArn",
        Group = "group",
        StartedBy = "startedBy",
        LastStatus = "lastStatus",
        DesiredStatus = "desiredStatus",
        StoppedReason = "stoppedReason",
        StopCode = "stopCode",
        Containers = "containers",
        EventType = "eventType",
        EventName = "eventName",
        UpdatedAt = "updatedAt",
        Reason = "reason",
        // CloudWatch alarms.
        AlarmName = "alarmName",
        PreviousState = "previousState",
        Configuration = "configuration",
        // AWS Health.
        EventArn = "eventArn",
        Service = "service",
        EventTypeCode = "eventTypeCode",
        EventTypeCategory = "eventTypeCategory",
        StatusCode = "statusCode",
        Description = "eventDescription",
        AffectedAccount = "affectedAccount",
        HealthStart = "startTime",
        HealthEnd = "endTime",
        HealthUpdated = "lastUpdatedTime",
        // CloudTrail (`eventName` is ECS's too).
        EventSource = "eventSource",
        ErrorCode = "errorCode",
        EventId = "eventID",
        UserIdentity = "userIdentity",
        RequestParameters = "requestParameters",
        ResponseElements = "responseElements",
    }
}

impl<'a> AnyDetail<'a> {
    pub(super) fn pipeline_fields(&mut self) -> &mut PipelineDetail<'a> {
        self.pipeline.get_or_insert_with(Default::default)
    }
    pub(super) fn codebuild_fields(&mut self) -> &mut CodeBuildDetail {
        self.codebuild.get_or_insert_with(Default::default)
    }
    pub(super) fn codedeploy_fields(&mut self) -> &mut CodeDeployDetail {
        self.codedeploy.get_or_insert_with(Default::default)
    }
    pub(super) fn ecs_fields(&mut self) -> &mut EcsDetail {
        self.ecs.get_or_insert_with(Default::default)
    }
    pub(super) fn alarm_fields(&mut self) -> &mut AlarmDetail {
        self.alarm.get_or_insert_with(Default::default)
    }
    pub(super) fn health_fields(&mut self) -> &mut HealthDetail {
        self.health.get_or_insert_with(Default::default)
    }
    pub(super) fn cloudtrail_fields(&mut self) -> &mut CloudTrailDetail {
        self.cloudtrail.get_or_insert_with(Default::default)
    }
}

impl<'de> Deserialize<'de> for AnyDetail<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let mut detail = AnyDetail::default();
        Self::deserialize_in_place(d, &mut detail)?;
        Ok(detail)
    }

    // In place: it is large (every shape's fields), and is read into the envelope's.
    fn deserialize_in_place<D: Deserializer<'de>>(d: D, place: &mut Self) -> Result<(), D::Error> {
        *place = AnyDetail::default();
        d.deserialize_any(place)
    }
}

impl<'de> Visitor<'de> for &mut AnyDetail<'de> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a detail object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<(), A::Error> {
        use DetailKey as K;
        let mut seen = 0;
        while let Some(key) = m.next_key::<DetailKey>()? {
            key.first_time(&mut seen)?;
            match key {
                K::State => self.state = m.next_value()?,
                K::Region => self.region = m.next_value()?,
                K::DeploymentId => self.deployment_id = m.next_value()?,
                K::Pipeline => self.pipeline_fields().pipeline = m.next_value()?,
                K::ExecutionId => self.pipeline_fields().execution_id = m.next_value()?,
                K::Stage => self.pipeline_fields().stage = m.next_value()?,
                K::Action => self.pipeline_fields().action = m.next_value()?,
                K::StartTime => self.pipeline_fields().start_time = m.next_value()?,
                K::ActionExecutionId => {
                    self.pipeline_fields().action_execution_id = m.next_value()?
                }
                K::Trigger => self.pipeline_fields().trigger = m.next_value()?,
                K::StopComments => self.pipeline_fields().stop_comments = m.next_value()?,
                K::ActionType => self.pipeline_fields().action_type = m.next_value()?,
                K::Result => self.pipeline_fields().result = m.next_value()?,
                K::Project => self.codebuild_fields().project = m.next_value()?,
                K::BuildId => self.codebuild_fields().build_id = m.next_value()?,
                K::BuildStatus => self.codebuild_fields().build_status = m.next_value()?,
                K::CurrentPhase => self.codebuild_fields().current_phase = m.next_value()?,
                K::CompletedPhase => self.codebuild_fields().completed_phase = m.next_value()?,
                K::CompletedPhaseStatus => {
                    self.codebuild_fields().completed_phase_status = m.next_value()?
                }
                K::CompletedPhaseContext => {
                    self.codebuild_fields().completed_phase_context = m.next_value()?
                }
                K::CompletedPhaseStart => {
                    self.codebuild_fields().completed_phase_start = m.next_value()?
                }
                K::Info => self.codebuild_fields().info = m.next_value()?,
                K::Application => self.codedeploy_fields().application = m.next_value()?,
                K::DeploymentGroup => self.codedeploy_fields().deployment_group = m.next_value()?,
                K::InstanceId => self.codedeploy_fields().instance_id = m.next_value()?,
                K::ClusterArn => self.ecs_fields().cluster_arn = m.next_value()?,
                K::TaskArn => self.ecs_fields().task_arn = m.next_value()?,
                K::Group => self.ecs_fields().group = m.next_value()?,
                K::StartedBy => self.ecs_fields().started_by = m.next_value()?,
                K::LastStatus => self.ecs_fields().last_status = m.next_value()?,
                K::DesiredStatus => self.ecs_fields().desired_status = m.next_value()?,
                K::StoppedReason => self.ecs_fields().stopped_reason = m.next_value()?,
                K::StopCode => self.ecs_fields().stop_code = m.next_value()?,
                K::Containers => self.ecs_fields().containers = m.next_value()?,
                K::EventType => self.ecs_fields().event_type = m.next_value()?,
                K::EventName => self.ecs_fields().event_name = m.next_value()?,
                K::UpdatedAt => self.ecs_fields().updated_at = m.next_value()?,
                K::Reason => self.ecs_fields().reason = m.next_value()?,
                K::AlarmName => self.alarm_fields().alarm_name = m.next_value()?,
                K::PreviousState => self.alarm_fields().previous_state = m.next_value()?,
                K::Configuration => self.alarm_fields().configuration = m.next_value()?,
                K::EventArn => self.health_fields().event_arn = m.next_value()?,
                K::Service => self.health_fields().service = m.next_value()?,
                K::EventTypeCode => self.health_fields().event_type_code = m.next_value()?,
                K::EventTypeCategory => {
                    self.health_fields().event_type_category = m.next_value()?
                }
                K::StatusCode => self.health_fields().status_code = m.next_value()?,
                K::Description => self.health_fields().description = m.next_value()?,
                K::AffectedAccount => self.health_fields().affected_account = m.next_value()?,
                K::HealthStart => self.health_fields().start_time = m.next_value()?,
                K::HealthEnd => self.health_fields().end_time = m.next_value()?,
                K::HealthUpdated => self.health_fields().last_updated = m.next_value()?,
                K::EventSource => self.cloudtrail_fields().event_source = m.next_value()?,
                K::ErrorCode => self.cloudtrail_fields().error_code = m.next_value()?,
                K::EventId => self.cloudtrail_fields().event_id = m.next_value()?,
                K::UserIdentity => self.cloudtrail_fields().user_identity = m.next_value()?,
                K::RequestParameters => self.cloudtrail_fields().request = m.next_value()?,
                K::ResponseElements => self.cloudtrail_fields().response = m.next_value()?,
                K::Other => {
                    m.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(())
    }

    // A scalar or null: no shape reads anything from it.
    fn visit_str<E: de::Error>(self, _: &str) -> Result<(), E> {
        Ok(())
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<(), E> {
        Ok(())
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<(), E> {
        Ok(())
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<(), E> {
        Ok(())
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<(), E> {
        Ok(())
    }
    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        Ok(())
    }
    // An array would be read by position into each shape's fields: left to RawDetail.
}

/// `state` in [`AnyDetail`]: a string to CodePipeline and CodeDeploy (which read an object as
/// absent), an object to alarms (which reject a detail whose `state` is not one).
#[derive(Default)]
pub(super) enum StateField {
    #[default]
    Absent,
    Text(S),
    Object(StateValue),
}

impl StateField {
    pub(super) fn from_text(t: Option<Cow<'_, str>>) -> StateField {
        StateField::Text(S(t.map(Cow::into_owned)))
    }

    /// As `S` reads it.
    pub(super) fn text(&mut self) -> S {
        match std::mem::take(self) {
            StateField::Text(s) => s,
            StateField::Absent | StateField::Object(_) => S::default(),
        }
    }
}

impl<'de> Deserialize<'de> for StateField {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = StateField;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a state")
            }
            fn visit_map<A: MapAccess<'de>>(self, m: A) -> Result<StateField, A::Error> {
                StateValue::deserialize(de::value::MapAccessDeserializer::new(m))
                    .map(StateField::Object)
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<StateField, E> {
                ScalarText.visit_str(v).map(StateField::from_text)
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<StateField, E> {
                ScalarText.visit_string(v).map(StateField::from_text)
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<StateField, E> {
                ScalarText.visit_i64(v).map(StateField::from_text)
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<StateField, E> {
                ScalarText.visit_u64(v).map(StateField::from_text)
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<StateField, E> {
                ScalarText.visit_f64(v).map(StateField::from_text)
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<StateField, E> {
                ScalarText.visit_bool(v).map(StateField::from_text)
            }
            fn visit_unit<E: de::Error>(self) -> Result<StateField, E> {
                Ok(StateField::Text(S(None)))
            }
            // An array: `S` reads it as absent, `StateValue` by position; left to RawDetail.
        }
        d.deserialize_any(V)
    }
}

impl<'a> DetailSource<'a> for AnyDetail<'a> {
    fn pipeline(&mut self) -> PipelineDetail<'a> {
        let mut d = self.pipeline.take().unwrap_or_default();
        d.state = self.state.text();
        d.region = std::mem::take(&mut self.region);
        d
    }
    fn codebuild(&mut self) -> CodeBuildDetail {
        self.codebuild.take().unwrap_or_default()
    }
    fn codedeploy(&mut self) -> CodeDeployDetail {
        let mut d = self.codedeploy.take().unwrap_or_default();
        d.state = self.state.text();
        d.region = std::mem::take(&mut self.region);
        d.deployment_id = std::mem::take(&mut self.deployment_id);
        d
    }
    fn ecs(&mut self) -> EcsDetail {
        let mut d = self.ecs.take().unwrap_or_default();
        d.deployment_id = std::mem::take(&mut self.deployment_id);
        d
    }
    fn alarm(&mut self) -> AlarmDetail {
        let state = match std::mem::take(&mut self.state) {
            StateField::Absent => StateValue::default(),
            StateField::Object(state) => state,
            // `StateValue` rejects a string or null, and so the whole detail.
            StateField::Text(_) => return AlarmDetail::default(),
        };
        let mut d = self.alarm.take().unwrap_or_default();
        d.state = state;
        d
    }
    fn health(&mut self) -> HealthDetail {
        self.health.take().unwrap_or_default()
    }
    fn cloudtrail(&mut self) -> CloudTrailDetail {
        let mut d = self.cloudtrail.take().unwrap_or_default();
        d.event_name = self
            .ecs
            .as_mut()
            .map(|e| std::mem::take(&mut e.event_name))
            .unwrap_or_default();
        d
    }
}
