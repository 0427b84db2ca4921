//! Weather against stubs that answer like Open-Meteo's geocoding and forecast APIs.

use harmonic_data::model::SourceKind;
use serde_json::{json, Value};
use wiremock::matchers::{method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::common::{failure, run, sources, success};

const WEATHER: SourceKind = SourceKind::Weather;

fn json_response(status: u16, body: Value) -> ResponseTemplate {
    ResponseTemplate::new(status).set_body_raw(body.to_string(), "application/json; charset=utf-8")
}

fn berlin() -> Value {
    json!({"results": [{"id": 2950159, "name": "Berlin", "latitude": 52.52437, "longitude": 13.41053,
        "elevation": 74.0, "feature_code": "PPLC", "country_code": "DE", "timezone": "Europe/Berlin",
        "population": 3426354, "country": "Germany", "admin1": "Land Berlin"}], "generationtime_ms": 0.566})
}

fn forecast(time: &str, offset: i64, timezone: &str, code: u16) -> Value {
    json!({"latitude": 52.52, "longitude": 13.419998, "generationtime_ms": 0.19,
        "utc_offset_seconds": offset, "timezone": timezone, "timezone_abbreviation": "GMT+2",
        "elevation": 38.0,
        "current_units": {"time": "iso8601", "interval": "seconds", "temperature_2m": "°C",
            "relative_humidity_2m": "%", "precipitation": "mm", "wind_speed_10m": "km/h",
            "weather_code": "wmo code"},
        "current": {"time": time, "interval": 900, "temperature_2m": 18.1,
            "relative_humidity_2m": 57, "precipitation": 0.00, "wind_speed_10m": 12.8,
            "weather_code": code}})
}

async fn mount_geocoding(server: &MockServer, name: &str, body: Value) {
    Mock::given(method("GET"))
        .and(path("/v1/search"))
        .and(query_param("name", name))
        .and(query_param("count", "1"))
        .and(query_param("language", "en"))
        .and(query_param("format", "json"))
        .respond_with(json_response(200, body))
        .mount(server)
        .await;
}

#[tokio::test]
async fn current_conditions_with_a_positive_utc_offset() {
    let server = MockServer::start().await;
    mount_geocoding(&server, "Berlin", berlin()).await;
    Mock::given(path("/v1/forecast"))
        .and(query_param("latitude", "52.52437"))
        .and(query_param("longitude", "13.41053"))
        .and(query_param(
            "current",
            "temperature_2m,relative_humidity_2m,weather_code,wind_speed_10m,precipitation",
        ))
        .and(query_param("timezone", "auto"))
        .respond_with(json_response(
            200,
            forecast("2026-04-04T18:45", 7200, "Europe/Berlin", 0),
        ))
        .expect(1)
        .mount(&server)
        .await;

    let data = success(run(&sources(&server), WEATHER, "weather in Berlin").await).data;

    assert_eq!(
        data,
        json!({
            "place": {"name": "Berlin", "admin1": "Land Berlin", "country": "Germany", "countryCode": "DE"},
            "coordinates": {"latitude": 52.52437, "longitude": 13.41053},
            "temperatureC": 18.1,
            "humidityPercent": 57.0,
            "windSpeedKmh": 12.8,
            "precipitationMm": 0.0,
            "weatherCode": 0,
            "conditions": "clear sky",
            "localTime": "2026-04-04T18:45:00+02:00",
            "observedAt": "2026-04-04T16:45:00Z",
            "timezone": "Europe/Berlin",
            "utcOffsetSeconds": 7200
        })
    );
}

#[tokio::test]
async fn local_time_with_a_negative_offset_crosses_midnight_in_utc() {
    let server = MockServer::start().await;
    mount_geocoding(
        &server,
        "New York",
        json!({"results": [{"id": 5128581, "name": "New York", "latitude": 40.71427, "longitude": -74.00597,
            "country_code": "US", "timezone": "America/New_York", "country": "United States", "admin1": "New York"}],
            "generationtime_ms": 0.3}),
    )
    .await;
    Mock::given(path("/v1/forecast"))
        .respond_with(json_response(
            200,
            forecast("2026-04-04T22:30", -14400, "America/New_York", 63),
        ))
        .mount(&server)
        .await;

    let data = success(run(&sources(&server), WEATHER, "New York").await).data;

    assert_eq!(data["localTime"], "2026-04-04T22:30:00-04:00");
    assert_eq!(data["observedAt"], "2026-04-05T02:30:00Z");
    assert_eq!(data["conditions"], "moderate rain");
}

#[tokio::test]
async fn unknown_weather_codes_say_unknown() {
    let server = MockServer::start().await;
    mount_geocoding(&server, "Berlin", berlin()).await;
    Mock::given(path("/v1/forecast"))
        .respond_with(json_response(
            200,
            forecast("2026-04-04T18:45", 7200, "Europe/Berlin", 42),
        ))
        .mount(&server)
        .await;

    let data = success(run(&sources(&server), WEATHER, "Berlin").await).data;

    assert_eq!(data["weatherCode"], 42);
    assert_eq!(data["conditions"], "unknown");
}

#[tokio::test]
async fn an_unknown_place_is_an_answer_that_nothing_matched() {
    let server = MockServer::start().await;
    mount_geocoding(&server, "Atlantisxq", json!({"generationtime_ms": 0.155})).await;
    Mock::given(path("/v1/forecast"))
        .respond_with(json_response(
            200,
            forecast("2026-04-04T18:45", 0, "GMT", 0),
        ))
        .expect(0)
        .mount(&server)
        .await;

    let result = success(run(&sources(&server), WEATHER, "Atlantisxq").await);

    assert!(!result.matched);
    assert_eq!(result.data, serde_json::Value::Null);
    assert_eq!(
        result.message.as_deref(),
        Some("Open-Meteo knows no place named \"Atlantisxq\"")
    );
}

#[tokio::test]
async fn an_error_body_is_a_failure_carrying_the_reason() {
    let server = MockServer::start().await;
    mount_geocoding(&server, "Berlin", berlin()).await;
    Mock::given(path("/v1/forecast"))
        .respond_with(json_response(
            400,
            json!({"error": true, "reason": "Cannot initialize WeatherVariable from invalid String value tempeture_2m for key current"}),
        ))
        .mount(&server)
        .await;

    let failure = failure(run(&sources(&server), WEATHER, "Berlin").await);

    assert_eq!(failure.code, "upstream_error");
    assert!(
        failure.error.contains("Cannot initialize WeatherVariable"),
        "{}",
        failure.error
    );
}

#[tokio::test]
async fn a_429_quota_answer_is_rate_limited_and_backs_off() {
    let server = MockServer::start().await;
    Mock::given(path("/v1/search"))
        .respond_with(json_response(
            429,
            json!({"error": true, "reason": "Minutely API request limit exceeded. Please try again in one minute."}),
        ))
        .expect(1)
        .mount(&server)
        .await;
    let sources = sources(&server);

    let first = failure(run(&sources, WEATHER, "Berlin").await);
    let second = failure(run(&sources, WEATHER, "Paris").await);

    assert_eq!(first.code, "rate_limited");
    assert_eq!(second.code, "rate_limited");
}
