//! Conversions between domain ids and times and their protobuf encodings:
//! UUIDs travel as 16 raw bytes, times as microseconds since the Unix epoch.
use bytes::Bytes;
use chrono::{DateTime, SecondsFormat, Utc};
use uuid::Uuid;

/// Encodes a UUID as its 16 raw bytes.
pub fn uuid_bytes(id: Uuid) -> Bytes {
    Bytes::copy_from_slice(id.as_bytes())
}

/// Decodes 16 raw bytes into a UUID; anything else is `None`.
pub fn uuid_from(bytes: &[u8]) -> Option<Uuid> {
    Uuid::from_slice(bytes).ok()
}

/// Converts a time to microseconds since the Unix epoch.
pub fn micros(at: DateTime<Utc>) -> i64 {
    at.timestamp_micros()
}

/// Converts microseconds since the Unix epoch to a time (the epoch when out of range).
pub fn from_micros(us: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_micros(us).unwrap_or_default()
}

/// Formats microseconds since the epoch as RFC 3339 UTC with millisecond precision.
pub fn rfc3339(us: i64) -> String {
    from_micros(us).to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// Returns a fresh time-ordered (v7) UUID.
pub fn new_id() -> Uuid {
    Uuid::now_v7()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuid_round_trips_through_bytes() {
        let id = Uuid::now_v7();
        assert_eq!(uuid_from(&uuid_bytes(id)), Some(id));
        assert_eq!(uuid_from(b"short"), None);
    }

    #[test]
    fn rfc3339_is_utc_with_z() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00.000Z");
    }
}
