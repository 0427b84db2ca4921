//! Domain types parsed at the edge: user ids, tiers, key names, billing periods.
//! Each has a private field and a `parse` constructor, so a value of the type is valid by construction.
use chrono::{DateTime, Datelike, TimeZone, Utc};
use serde::{Deserialize, Serialize};
use std::fmt;

/// A customer's user id: 1–128 characters of `[A-Za-z0-9._@-]`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct UserId(String);

impl UserId {
    pub const MAX_LEN: usize = 128;

    pub fn parse(raw: &str) -> Result<Self, String> {
        if raw.is_empty() {
            return Err("userId must not be empty".into());
        }
        if raw.chars().count() > Self::MAX_LEN {
            return Err(format!(
                "userId must be at most {} characters",
                Self::MAX_LEN
            ));
        }
        if let Some(bad) = raw.chars().find(|c| !is_user_id_char(*c)) {
            return Err(format!(
                "userId may only contain letters, digits and . _ @ - (found {:?})",
                bad
            ));
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

fn is_user_id_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '@' | '-')
}

impl TryFrom<String> for UserId {
    type Error = String;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<UserId> for String {
    fn from(value: UserId) -> Self {
        value.0
    }
}

impl fmt::Display for UserId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A subscription tier. The tier lives on the stored user record, never in a client header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Tier {
    Free,
    Pro,
    Enterprise,
}

impl Tier {
    pub const ALL: [Tier; 3] = [Tier::Free, Tier::Pro, Tier::Enterprise];

    pub fn parse(raw: &str) -> Result<Self, String> {
        match raw.to_ascii_lowercase().as_str() {
            "free" => Ok(Tier::Free),
            "pro" => Ok(Tier::Pro),
            "enterprise" => Ok(Tier::Enterprise),
            _ => Err(format!(
                "tier must be one of \"free\", \"pro\", \"enterprise\" (got {:?})",
                truncate_for_message(raw)
            )),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Tier::Free => "free",
            Tier::Pro => "pro",
            Tier::Enterprise => "enterprise",
        }
    }
}

impl fmt::Display for Tier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A key's display name: 1–100 printable characters (no control characters).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyName(String);

impl KeyName {
    pub const MAX_LEN: usize = 100;

    pub fn parse(raw: &str) -> Result<Self, String> {
        let trimmed = raw.trim();
        if trimmed.is_empty() {
            return Err("name must not be empty".into());
        }
        if trimmed.chars().count() > Self::MAX_LEN {
            return Err(format!("name must be at most {} characters", Self::MAX_LEN));
        }
        if trimmed.chars().any(char::is_control) {
            return Err("name must not contain control characters".into());
        }
        Ok(Self(trimmed.to_owned()))
    }

    /// The name a rotated key gets: the old name suffixed "(rotated)", cut to fit.
    pub fn rotated(&self) -> Self {
        const SUFFIX: &str = " (rotated)";
        if self.0.ends_with(SUFFIX) {
            return self.clone();
        }
        let keep = Self::MAX_LEN - SUFFIX.len();
        let base: String = self.0.chars().take(keep).collect();
        Self(format!("{base}{SUFFIX}"))
    }

    pub fn default_name() -> Self {
        Self("Default key".to_owned())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A calendar month in UTC: the billing period. Quotas reset when it changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Period {
    year: i32,
    month: u32,
}

impl Period {
    pub fn containing(instant: DateTime<Utc>) -> Self {
        Self {
            year: instant.year(),
            month: instant.month(),
        }
    }

    /// `YYYY-MM`, the form stored in item attribute names.
    pub fn label(self) -> String {
        format!("{:04}-{:02}", self.year, self.month)
    }

    pub fn start(self) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(self.year, self.month, 1, 0, 0, 0)
            .single()
            .unwrap_or(DateTime::<Utc>::MIN_UTC)
    }

    pub fn next(self) -> Self {
        if self.month == 12 {
            Self {
                year: self.year + 1,
                month: 1,
            }
        } else {
            Self {
                year: self.year,
                month: self.month + 1,
            }
        }
    }

    /// The instant the next period starts: the quota reset.
    pub fn end(self) -> DateTime<Utc> {
        self.next().start()
    }
}

/// The group a client address is metered and limited by: an IPv4 address itself, an IPv6
/// address by its /64 (one customer line or cloud host usually holds a whole /64, so counting each
/// address alone would hand out a quota per address). IPv4-mapped IPv6 addresses count as IPv4.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ClientGroup(String);

impl ClientGroup {
    pub fn of(address: Option<&str>) -> Self {
        use std::net::IpAddr;
        let parsed = address.and_then(|text| text.trim().parse::<IpAddr>().ok());
        Self(match parsed {
            Some(IpAddr::V4(v4)) => v4.to_string(),
            Some(IpAddr::V6(v6)) => match v6.to_ipv4_mapped() {
                Some(v4) => v4.to_string(),
                None => {
                    let s = v6.segments();
                    format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
                }
            },
            None => "unknown".to_owned(),
        })
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ClientGroup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Shortens user-supplied text before it is echoed in an error message.
pub fn truncate_for_message(raw: &str) -> String {
    const MAX: usize = 40;
    if raw.chars().count() <= MAX {
        raw.to_owned()
    } else {
        let head: String = raw.chars().take(MAX).collect();
        format!("{head}…")
    }
}

/// RFC 3339 with millisecond precision and a `Z`, the one timestamp format of the API.
pub fn rfc3339(instant: DateTime<Utc>) -> String {
    instant.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_ids_accept_the_documented_alphabet_and_reject_the_rest() {
        for good in [
            "user123",
            "a",
            "first.last@example.com",
            "A-B_C",
            &"x".repeat(128),
        ] {
            assert!(UserId::parse(good).is_ok(), "{good:?} should be accepted");
        }
        for bad in [
            "",
            "has space",
            "slash/y",
            "quote\"",
            "ünïcode",
            "nul\0",
            "attribute_exists(pk)",
            &"x".repeat(129),
        ] {
            assert!(UserId::parse(bad).is_err(), "{bad:?} should be rejected");
        }
    }

    #[test]
    fn tiers_parse_case_insensitively_and_name_the_valid_values_on_error() {
        assert_eq!(Tier::parse("PRO"), Ok(Tier::Pro));
        let message = Tier::parse("platinum").unwrap_err();
        assert!(message.contains("enterprise") && message.contains("platinum"));
    }

    #[test]
    fn key_names_are_trimmed_bounded_and_free_of_control_characters() {
        assert_eq!(KeyName::parse("  ci  ").unwrap().as_str(), "ci");
        assert!(KeyName::parse("").is_err());
        assert!(KeyName::parse("bell\u{7}").is_err());
        assert!(KeyName::parse(&"n".repeat(101)).is_err());
        let long = KeyName::parse(&"n".repeat(100)).unwrap();
        assert_eq!(long.rotated().as_str().chars().count(), 100);
        assert!(long.rotated().as_str().ends_with("(rotated)"));
    }

    #[test]
    fn ipv6_callers_are_grouped_by_their_64_and_ipv4_by_address() {
        let group = |ip: &str| ClientGroup::of(Some(ip)).to_string();
        assert_eq!(group("198.51.100.7"), "198.51.100.7");
        assert_eq!(group("2001:db8:1:2:aaaa::1"), "2001:db8:1:2::/64");
        assert_eq!(
            group("2001:db8:1:2:ffff:ffff:ffff:ffff"),
            "2001:db8:1:2::/64"
        );
        assert_ne!(group("2001:db8:1:3::1"), group("2001:db8:1:2::1"));
        assert_eq!(group("::ffff:203.0.113.9"), "203.0.113.9");
        assert_eq!(ClientGroup::of(None).as_str(), "unknown");
        assert_eq!(group("not an address"), "unknown");
    }

    #[test]
    fn a_period_ends_where_the_next_one_starts_including_across_a_year() {
        let december = Period::containing(Utc.with_ymd_and_hms(2026, 12, 31, 23, 59, 59).unwrap());
        assert_eq!(december.label(), "2026-12");
        assert_eq!(
            december.end(),
            Utc.with_ymd_and_hms(2027, 1, 1, 0, 0, 0).unwrap()
        );
        assert_eq!(december.next().label(), "2027-01");
    }
}
