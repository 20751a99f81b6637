use serde::{Deserialize, Serialize};

use crate::enums::string_enum;

string_enum!(
    /// `test_helpers.test_clock.status`.
    TestClockStatus { Advancing => "advancing", InternalFailure => "internal_failure", Ready => "ready" }
);

/// `test_helpers.test_clock`: a frozen time of its own for the test-mode objects attached to it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TestClock {
    pub id: String,
    pub object: String,
    pub created: i64,
    /// When the clock deletes itself (and what is attached to it).
    pub deletes_after: i64,
    /// The time every object attached to the clock sees.
    pub frozen_time: i64,
    pub livemode: bool,
    pub name: Option<String>,
    pub status: TestClockStatus,
    pub status_details: TestClockStatusDetails,
    /// Keys this version does not know, kept and serialized back.
    #[serde(flatten, serialize_with = "crate::order::map")]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

impl TestClock {
    pub const OBJECT: &'static str = "test_helpers.test_clock";
}

impl crate::expandable::HasId for TestClock {
    fn id(&self) -> &str {
        &self.id
    }
}

/// `status_details`: empty unless the clock is advancing.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct TestClockStatusDetails {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub advancing: Option<TestClockAdvancing>,
    /// Keys this version does not know, kept and serialized back.
    #[serde(flatten, serialize_with = "crate::order::map")]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TestClockAdvancing {
    /// The `frozen_time` the clock is advancing towards.
    pub target_frozen_time: i64,
    /// Keys this version does not know, kept and serialized back.
    #[serde(flatten, serialize_with = "crate::order::map")]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

/// What deleting a test clock returns.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DeletedTestClock {
    pub id: String,
    pub object: String,
    pub deleted: bool,
    /// Keys this version does not know, kept and serialized back.
    #[serde(flatten, serialize_with = "crate::order::map")]
    pub extra: serde_json::Map<String, serde_json::Value>,
}
