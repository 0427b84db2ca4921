use super::*;
use aws_sdk_dynamodb::types::AttributeValue;

fn n(value: &str) -> AttributeValue {
    AttributeValue::N(value.to_owned())
}

#[test]
fn a_day_item_decodes_to_named_counters_per_source_and_endpoint() {
    let names = source_calls("wiki");
    let endpoint = endpoint_calls("POST", "/data");
    let item: Item = HashMap::from([
        (
            schema::SK.to_owned(),
            AttributeValue::S("DAY#2026-11-02".into()),
        ),
        (REQUESTS.to_owned(), n("4")),
        (REFUNDED.to_owned(), n("1")),
        (ERRORS.to_owned(), n("2")),
        (TOTAL_MS.to_owned(), n("50.5")),
        (names.count, n("3")),
        (names.errors, n("1")),
        (names.total_ms, n("30.25")),
        (endpoint.count, n("5")),
        (endpoint.errors, n("2")),
        (endpoint.total_ms, n("50.5")),
    ]);
    let day = day(&item);
    assert_eq!(day.date, "2026-11-02");
    assert_eq!((day.requests, day.refunded, day.errors), (4, 1, 2));
    assert_eq!(day.total_ms, 50.5);
    let wiki = CallCounters {
        count: 3,
        errors: 1,
        total_ms: 30.25,
    };
    assert_eq!(day.sources, BTreeMap::from([("wiki".to_owned(), wiki)]));
    assert_eq!(day.endpoints["POST /data"].count, 5);
}

#[test]
fn months_and_key_use_decode_from_their_encoded_names() {
    let period = Period::containing(chrono::DateTime::UNIX_EPOCH);
    let item: Item = HashMap::from([
        (month(period), n("7")),
        (key_count("AbCdEfGhIj"), n("-1")),
        (key_mark("AbCdEfGhIj"), n("1700000000000123")),
        (tier_total("pro"), n("2")),
    ]);
    assert_eq!(months(&item), HashMap::from([(period.label(), 7)]));
    let usage = KeyUsage::of(&item, "AbCdEfGhIj").unwrap();
    assert_eq!((usage.count, usage.mark), (0, 1_700_000_000_000_123));
    assert_eq!(
        usage.last_used_at().as_deref(),
        Some("2023-11-14T22:13:20.000Z")
    );
    assert_eq!(KeyUsage::of(&item, "Other00000"), None);
    let mut stats = UsageStats::default();
    add_usage_shard(&mut stats, &item);
    assert_eq!(stats.by_tier, BTreeMap::from([("pro".to_owned(), 2)]));
}
