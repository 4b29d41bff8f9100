//! Typed identifiers. Every id is a UUID (v7 when we make it, so ids sort by creation time).

use std::fmt;
use std::str::FromStr;

/// An id string that is not a UUID.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a valid id: {0:?}")]
pub struct IdParseError(pub String);

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
        #[serde(transparent)]
        pub struct $name(uuid::Uuid);

        impl $name {
            /// A fresh, time-ordered id (UUIDv7). Only IO layers call this; pure logic takes ids.
            pub fn generate() -> Self {
                Self(uuid::Uuid::now_v7())
            }
            /// Wraps an existing UUID.
            pub const fn from_uuid(uuid: uuid::Uuid) -> Self {
                Self(uuid)
            }
            /// The underlying UUID.
            pub const fn as_uuid(&self) -> &uuid::Uuid {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(&self.0.hyphenated(), f)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($name), self.0.hyphenated())
            }
        }

        impl FromStr for $name {
            type Err = IdParseError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                uuid::Uuid::try_parse(s).map(Self).map_err(|_| IdParseError(s.chars().take(64).collect()))
            }
        }
    };
}

id_type!(
    /// A business using Switchboard; every other record belongs to exactly one tenant.
    TenantId
);
id_type!(
    /// A person who logs in: owner, admin, supervisor or agent.
    UserId
);
id_type!(
    /// A skill agents have and queues require.
    SkillId
);
id_type!(
    /// A queue where contacts wait.
    QueueId
);
id_type!(
    /// A channel endpoint: phone number, SMS number, inbound e-mail address or chat widget.
    EndpointId
);
id_type!(
    /// A named weekly schedule of opening hours.
    BusinessHoursId
);
id_type!(
    /// A tenant API key for server-to-server calls.
    ApiKeyId
);
id_type!(
    /// A login session: one family of rotating refresh tokens.
    SessionId
);

id_type!(
    /// One customer interaction on one channel (a call, a chat, an SMS or e-mail thread, a task).
    ContactId
);
id_type!(
    /// The person behind contacts, matched across channels.
    CustomerId
);

id_type!(
    /// A tenant's outbound webhook endpoint.
    WebhookId
);
id_type!(
    /// A tenant's IVR flow.
    IvrFlowId
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_through_text() {
        let id = TenantId::generate();
        let parsed: TenantId = id.to_string().parse().expect("parses");
        assert_eq!(id, parsed);
    }

    #[test]
    fn garbage_is_not_an_id() {
        assert!("not-a-uuid".parse::<QueueId>().is_err());
        assert!("".parse::<QueueId>().is_err());
    }

    #[test]
    fn generated_ids_sort_by_creation() {
        let a = UserId::generate();
        let b = UserId::generate();
        assert!(a.to_string() < b.to_string());
    }
}
