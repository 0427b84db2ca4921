//! The table's item keys and attribute names, defined once: every key builder (`USER#…`,
//! `USAGE#…`, `DAY#…`, `STATS#USAGE#…`) and every attribute name an expression mentions. serde
//! cannot take a constant in `#[serde(rename)]`, so the items keep their serde names and the
//! tests at the end assert them against these constants.
//!
//! Counter attributes whose names carry data (`m#YYYY-MM`, `n#<keyId>`, `src|…|n`) are encoded
//! and decoded in [`super::counters`].
use aws_sdk_dynamodb::types::AttributeValue;
use chrono::NaiveDate;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::fmt::Write;

use crate::apikey::KeyId;
use crate::domain::{Period, UserId};

// Key attributes of the table and of its two indexes.
pub const PK: &str = "pk";
pub const SK: &str = "sk";
pub const GSI1_PK: &str = "gsi1pk";
pub const GSI1_SK: &str = "gsi1sk";
pub const GSI2_PK: &str = "gsi2pk";
pub const GSI2_SK: &str = "gsi2sk";
pub const GSI_OWNER: &str = "gsi1";
pub const GSI_DIRECTORY: &str = "gsi2";

// Attributes named in expressions.
pub const TTL: &str = "ttl";
pub const TIER: &str = "tier";
pub const LIVE_KEYS: &str = "liveKeys";
/// On a counter item: the mark of its last count (lets a compensation find its own charge).
pub const COUNTER_MARK: &str = "mk";
/// On a user or demo item: the id of its last refund (a refund is applied once).
pub const REFUND_MARK: &str = "rf";
/// On a counter shard or day item: the id of the last event counted (a resend is a no-op).
pub const LAST_EVENT: &str = "last";
pub const SIGNUPS: &str = "signups";
pub const REVOKED_AT: &str = "revokedAt";
pub const ROTATED_TO: &str = "rotatedTo";
pub const USAGE_COUNT: &str = "usageCount";
pub const LAST_USED_AT: &str = "lastUsedAt";
/// On a cached result: the answer, as the JSON text the data function serialised.
pub const CACHED_VALUE: &str = "value";
/// On a cached result: epoch second after which it is a miss, whether or not the TTL sweep
/// (which dynalite never runs, and DynamoDB runs up to days late) has deleted it yet.
pub const EXPIRES_AT: &str = "expiresAt";
/// On a politeness gate: epoch millisecond of the next free slot of the upstream.
pub const NEXT_SLOT: &str = "nextSlot";

// Sort keys and partitions with a fixed name.
pub const PROFILE: &str = "PROFILE";
pub const METER_SK: &str = "METER";
pub const KEY_SK: &str = "KEY";
pub const DIRECTORY_USERS: &str = "DIR#USERS";
pub const DIRECTORY_EXPIRING: &str = "DIR#EXPIRING";
pub const KEY_STATS_PK: &str = "STATS#KEYS";
pub const EVENT_PREFIX: &str = "EVT#";
pub const DAY_PREFIX: &str = "DAY#";
pub const CACHED_RESULT_SK: &str = "RESULT";
pub const GATE_SK: &str = "GATE";

/// A raw item, or the primary key of one.
pub(crate) type Item = HashMap<String, AttributeValue>;

/// The primary key of an item.
pub(crate) fn item_key(pk: impl Into<String>, sk: impl Into<String>) -> Item {
    Item::from([
        (PK.to_owned(), AttributeValue::S(pk.into())),
        (SK.to_owned(), AttributeValue::S(sk.into())),
    ])
}

/// The primary key of one of an Enterprise user's meter shards (`METER#<userId>#<n>` /
/// `METER`): each its own partition, so one user's counting is not capped by one item.
pub(crate) fn meter_shard_key(user_id: &UserId, shard: u32) -> Item {
    item_key(format!("METER#{user_id}#{shard}"), METER_SK)
}

/// The primary key of a user's item.
pub(crate) fn profile_key(user_id: &UserId) -> Item {
    item_key(user_pk(user_id), PROFILE)
}

pub fn user_pk(user_id: &UserId) -> String {
    format!("USER#{user_id}")
}

pub fn demo_pk(group: &str) -> String {
    format!("DEMO#{group}")
}

pub fn signup_pk(group: &str) -> String {
    format!("SIGNUP#{group}")
}

pub fn day_sk(day: NaiveDate) -> String {
    format!("{DAY_PREFIX}{}", day.format("%Y-%m-%d"))
}

pub fn key_pk(key_id: &KeyId) -> String {
    format!("KEY#{key_id}")
}

pub fn owner_pk(user_id: &UserId) -> String {
    format!("OWNER#{user_id}")
}

/// gsi1 sort key of a key item: a user's keys sort by creation.
pub fn owner_sk(created_at: &str, key_id: &KeyId) -> String {
    format!("{created_at}#{key_id}")
}

/// gsi2 sort key of an unrevoked expiring key: the expired ones sort below now.
pub fn expiring_sk(expires_at: &str, key_id: &KeyId) -> String {
    format!("{expires_at}#{key_id}")
}

/// The usage partition of a user (`USAGE#<userId>`) or a demo caller (`USAGE#DEMO#<group>`).
pub fn user_usage_pk(user_id: &UserId) -> String {
    format!("USAGE#{user_id}")
}

pub fn demo_usage_pk(group: &str) -> String {
    format!("USAGE#DEMO#{group}")
}

pub fn event_sk(at: &str, nonce: u32) -> String {
    format!("{EVENT_PREFIX}{at}#{nonce:08x}")
}

/// The month's admin totals as earlier versions wrote them (one partition, `SHARD#<n>` items);
/// still read, never written.
pub fn usage_stats_pk(period: Period) -> String {
    format!("STATS#USAGE#{}", period.label())
}

/// A container's own day item of a subject (see `tallies`): sorts right after `DAY#<date>`.
pub fn container_day_sk(day: NaiveDate, container: &str, serial: u64) -> String {
    format!("{}#C#{container}#{serial}", day_sk(day))
}

/// The last sort key of a day's items (`~` sorts after every character the keys use).
pub fn day_items_end(day: NaiveDate) -> String {
    format!("{}#~", day_sk(day))
}

/// One of the month's admin-totals partitions (`STATS#USAGE#<month>#<shard>`).
pub fn usage_totals_pk(period: Period, partition: u32) -> String {
    format!("{}#{partition:02}", usage_stats_pk(period))
}

/// A container's own item in a totals partition.
pub fn container_sk(container: &str, serial: u64) -> String {
    format!("C#{container}#{serial}")
}

pub fn shard_sk(shard: u32) -> String {
    format!("SHARD#{shard}")
}

pub fn audit_pk(user_id: &UserId) -> String {
    format!("AUDIT#{user_id}")
}

pub fn audit_sk(at: &str, nonce: u32) -> String {
    format!("{at}#{nonce:08x}")
}

pub fn alerts_pk(user_id: &UserId) -> String {
    format!("ALERTS#{user_id}")
}

/// The sort-key prefix of a month's crossings.
pub fn crossing_month_prefix(period: Period) -> String {
    format!("QUOTA#{}#", period.label())
}

pub fn crossing_sk(period: Period, threshold: u8) -> String {
    format!("{}{threshold:03}", crossing_month_prefix(period))
}

/// The partition of a source's cached result for one normalised cache key:
/// `CACHE#<source>#<SHA-256 of the key, lowercase hex>`. Hashed because keys are free text up
/// to hundreds of bytes (a pk holds 2 KB at most) and may contain any character; SHA-256 is
/// stable across builds and platforms (unlike `std`'s hasher), so every container and every
/// release finds the same item.
pub fn cache_pk(source: &str, normalised_key: &str) -> String {
    let digest = Sha256::digest(normalised_key.as_bytes());
    let mut pk = String::with_capacity(7 + source.len() + 64);
    pk.push_str("CACHE#");
    pk.push_str(source);
    pk.push('#');
    for byte in digest {
        // Writing into a String cannot fail.
        let _ = write!(pk, "{byte:02x}");
    }
    pk
}

/// The partition of an upstream's fleet-wide politeness gate: `GATE#arxiv`.
pub fn gate_pk(upstream: &str) -> String {
    format!("GATE#{upstream}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cache_partition_is_the_source_and_the_sha256_hex_of_the_key() {
        // SHA-256("abc"), the FIPS 180-2 test vector.
        assert_eq!(
            cache_pk("wiki", "abc"),
            "CACHE#wiki#ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn cache_partitions_differ_by_source_and_by_key_and_stay_short() {
        let long_key = "q".repeat(2_000);
        let partitions = [
            cache_pk("wiki", "quantum"),
            cache_pk("arxiv", "quantum"),
            cache_pk("wiki", "Quantum"),
            cache_pk("wiki", &long_key),
        ];
        for (index, pk) in partitions.iter().enumerate() {
            assert!(pk.len() <= 6 + 9 + 1 + 64, "{pk}");
            assert!(
                partitions[index + 1..].iter().all(|other| other != pk),
                "{pk} repeats"
            );
        }
    }

    #[test]
    fn the_gate_partition_names_its_upstream() {
        assert_eq!(gate_pk("arxiv"), "GATE#arxiv");
    }
}
