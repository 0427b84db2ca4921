//! Weather: current conditions at the place the query names, from Open-Meteo.
//!
//! Two calls: geocoding (the place) then forecast (its current conditions). Open-Meteo gives the
//! current time as local wall-clock time without an offset; `utc_offset_seconds` turns it into
//! an RFC 3339 local time and a UTC instant.

use chrono::{FixedOffset, NaiveDateTime, SecondsFormat, TimeZone, Utc};
use serde::{Deserialize, Serialize};

use super::upstream::Fetched;
use super::{Answer, SourceError, Sources};
use crate::model::SourceKind;

const KIND: SourceKind = SourceKind::Weather;

/// Words people put around a place name ("weather in Paris") that the geocoder does not know.
const FILLER_WORDS: &[&str] = &[
    "weather",
    "forecast",
    "temperature",
    "climate",
    "current",
    "today",
    "now",
    "in",
    "at",
    "for",
    "of",
    "the",
];

/// The `data` of a weather result.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Weather {
    pub place: Place,
    pub coordinates: Coordinates,
    pub temperature_c: Option<f64>,
    pub humidity_percent: Option<f64>,
    pub wind_speed_kmh: Option<f64>,
    pub precipitation_mm: Option<f64>,
    pub weather_code: Option<u16>,
    /// The WMO meaning of `weather_code`, `unknown` when the code is not in the table.
    pub conditions: String,
    /// Local observation time with its offset, e.g. `2026-04-04T18:45:00+02:00`.
    pub local_time: Option<String>,
    /// The same instant in UTC, e.g. `2026-04-04T16:45:00Z`.
    pub observed_at: Option<String>,
    pub timezone: Option<String>,
    pub utc_offset_seconds: i32,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Place {
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub admin1: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub country: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub country_code: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Coordinates {
    pub latitude: f64,
    pub longitude: f64,
}

#[derive(Debug, Deserialize)]
struct GeocodingResponse {
    results: Option<Vec<RawPlace>>,
}

#[derive(Debug, Deserialize)]
struct RawPlace {
    name: String,
    latitude: f64,
    longitude: f64,
    admin1: Option<String>,
    country: Option<String>,
    country_code: Option<String>,
}

#[derive(Debug, Deserialize)]
struct ForecastResponse {
    #[serde(default)]
    utc_offset_seconds: i32,
    timezone: Option<String>,
    current: Option<RawCurrent>,
}

#[derive(Debug, Deserialize)]
struct RawCurrent {
    time: Option<String>,
    temperature_2m: Option<f64>,
    relative_humidity_2m: Option<f64>,
    weather_code: Option<u16>,
    wind_speed_10m: Option<f64>,
    precipitation: Option<f64>,
}

/// Open-Meteo's error body: `{"error": true, "reason": "..."}`.
#[derive(Debug, Deserialize)]
struct ErrorBody {
    #[serde(default)]
    error: bool,
    reason: Option<String>,
}

/// The place name to geocode: the query without filler words (kept whole if nothing is left).
pub fn place_name(query: &str) -> String {
    let words: Vec<&str> = query
        .split_whitespace()
        .filter(|word| {
            let bare = word
                .trim_matches(|c: char| !c.is_alphanumeric())
                .to_lowercase();
            !FILLER_WORDS.contains(&bare.as_str())
        })
        .collect();
    if words.is_empty() {
        super::collapse_whitespace(query)
    } else {
        words.join(" ")
    }
}

/// The current weather at the place the query names, or "nothing matched" when Open-Meteo's
/// geocoder knows no such place (it answered: the request is charged).
pub(super) async fn fetch(sources: &Sources, query: &str) -> Result<Answer, SourceError> {
    let name = place_name(query);
    let settings = sources.settings();
    let request = sources
        .client()
        .get(format!("{}/v1/search", settings.geocoding_url))
        .query(&[
            ("name", name.as_str()),
            ("count", "1"),
            ("language", "en"),
            ("format", "json"),
        ]);
    let geocoding: GeocodingResponse = decode(&sources.send(KIND, request).await?)?;
    let Some(place) = geocoding
        .results
        .and_then(|results| results.into_iter().next())
    else {
        return Answer::nothing(
            serde_json::Value::Null,
            format!("Open-Meteo knows no place named \"{name}\""),
        );
    };

    let latitude = place.latitude.to_string();
    let longitude = place.longitude.to_string();
    let request = sources
        .client()
        .get(format!("{}/v1/forecast", settings.forecast_url))
        .query(&[
            ("latitude", latitude.as_str()),
            ("longitude", longitude.as_str()),
            (
                "current",
                "temperature_2m,relative_humidity_2m,weather_code,wind_speed_10m,precipitation",
            ),
            ("timezone", "auto"),
        ]);
    let forecast: ForecastResponse = decode(&sources.send(KIND, request).await?)?;
    let current = forecast.current.ok_or_else(|| {
        SourceError::BadResponse("Open-Meteo's forecast has no current conditions".to_owned())
    })?;
    let (local_time, observed_at) = current
        .time
        .as_deref()
        .and_then(|time| local_and_utc(time, forecast.utc_offset_seconds))
        .unzip();

    Answer::matched(Weather {
        place: Place {
            name: place.name,
            admin1: place.admin1,
            country: place.country,
            country_code: place.country_code,
        },
        coordinates: Coordinates {
            latitude: place.latitude,
            longitude: place.longitude,
        },
        temperature_c: current.temperature_2m,
        humidity_percent: current.relative_humidity_2m,
        wind_speed_kmh: current.wind_speed_10m,
        precipitation_mm: current.precipitation,
        weather_code: current.weather_code,
        conditions: current
            .weather_code
            .map_or("unknown", wmo_meaning)
            .to_owned(),
        local_time,
        observed_at,
        timezone: forecast.timezone,
        utc_offset_seconds: forecast.utc_offset_seconds,
    })
}

/// `("2026-04-04T18:45", 7200)` → (`2026-04-04T18:45:00+02:00`, `2026-04-04T16:45:00Z`).
pub fn local_and_utc(local: &str, utc_offset_seconds: i32) -> Option<(String, String)> {
    let naive = NaiveDateTime::parse_from_str(local.trim(), "%Y-%m-%dT%H:%M")
        .or_else(|_| NaiveDateTime::parse_from_str(local.trim(), "%Y-%m-%dT%H:%M:%S"))
        .ok()?;
    let offset = FixedOffset::east_opt(utc_offset_seconds)?;
    let at = offset.from_local_datetime(&naive).single()?;
    Some((
        at.to_rfc3339_opts(SecondsFormat::Secs, true),
        at.with_timezone(&Utc)
            .to_rfc3339_opts(SecondsFormat::Secs, true),
    ))
}

/// WMO weather interpretation codes as Open-Meteo documents them.
pub fn wmo_meaning(code: u16) -> &'static str {
    match code {
        0 => "clear sky",
        1 => "mainly clear",
        2 => "partly cloudy",
        3 => "overcast",
        45 => "fog",
        48 => "depositing rime fog",
        51 => "light drizzle",
        53 => "moderate drizzle",
        55 => "dense drizzle",
        56 => "light freezing drizzle",
        57 => "dense freezing drizzle",
        61 => "slight rain",
        63 => "moderate rain",
        65 => "heavy rain",
        66 => "light freezing rain",
        67 => "heavy freezing rain",
        71 => "slight snow fall",
        73 => "moderate snow fall",
        75 => "heavy snow fall",
        77 => "snow grains",
        80 => "slight rain showers",
        81 => "moderate rain showers",
        82 => "violent rain showers",
        85 => "slight snow showers",
        86 => "heavy snow showers",
        95 => "thunderstorm",
        96 => "thunderstorm with slight hail",
        99 => "thunderstorm with heavy hail",
        _ => "unknown",
    }
}

/// Decodes an Open-Meteo answer; `{"error": true, "reason": ...}` (HTTP 400, or any status)
/// becomes a failure carrying the reason.
fn decode<T: serde::de::DeserializeOwned>(fetched: &Fetched) -> Result<T, SourceError> {
    if !fetched.looks_like_json() {
        return Err(if fetched.status.is_success() {
            SourceError::BadResponse(format!(
                "Open-Meteo answered a non-JSON body: {}",
                fetched.excerpt()
            ))
        } else {
            fetched.status_error(KIND)
        });
    }
    let body = fetched.trimmed_body();
    if let Ok(ErrorBody {
        error: true,
        reason,
    }) = serde_json::from_str::<ErrorBody>(body)
    {
        return Err(SourceError::Upstream(format!(
            "Open-Meteo refused the request (HTTP {}): {}",
            fetched.status.as_u16(),
            reason.unwrap_or_else(|| "no reason given".to_owned())
        )));
    }
    if !fetched.status.is_success() {
        return Err(fetched.status_error(KIND));
    }
    serde_json::from_str(body).map_err(|e| {
        SourceError::BadResponse(format!("Open-Meteo's answer could not be read: {e}"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filler_words_are_removed_from_place_names() {
        assert_eq!(place_name("weather in Paris"), "Paris");
        assert_eq!(place_name("New York"), "New York");
        assert_eq!(place_name("weather"), "weather");
    }

    #[test]
    fn local_time_applies_positive_and_negative_offsets() {
        assert_eq!(
            local_and_utc("2026-04-04T18:45", 7200),
            Some((
                "2026-04-04T18:45:00+02:00".to_owned(),
                "2026-04-04T16:45:00Z".to_owned()
            ))
        );
        assert_eq!(
            local_and_utc("2026-04-04T22:30", -14400),
            Some((
                "2026-04-04T22:30:00-04:00".to_owned(),
                "2026-04-05T02:30:00Z".to_owned()
            ))
        );
        assert_eq!(local_and_utc("soon", 0), None);
    }

    #[test]
    fn unknown_wmo_codes_say_unknown() {
        assert_eq!(wmo_meaning(0), "clear sky");
        assert_eq!(wmo_meaning(99), "thunderstorm with heavy hail");
        assert_eq!(wmo_meaning(4), "unknown");
    }
}
