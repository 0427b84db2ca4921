//! Usage for invoicing: `GET /api/v1/usage?action=export&month=YYYY-MM` as CSV.
//!
//! One row per day: requests (every counted request), refunded (given back because we failed
//! them), billed (= requests − refunded; the day counters keep billed `requests` and
//! `refunded` apart), errors (answers ≥ 400), then requests and errors per
//! source. A key holder exports its own user (another `userId` is 404); the administrator
//! exports one user (`userId=`), or every user of the month a page at a time (`limit`,
//! `cursor`; the next page's cursor in `X-Next-Cursor`), listing only days with requests.
//! `month` defaults to the current month. Months back to the retention
//! (`USAGE_RETENTION_DAYS`) can be read; older day counters are gone (TTL): such a month, or
//! one that has not started, is a 404; a malformed month a 400 that says the format.
use chrono::{DateTime, Duration, NaiveDate, TimeZone, Utc};
use harmonic_shared::auth::Caller;
use harmonic_shared::domain::{truncate_for_message, Period, UserId};
use harmonic_shared::guards::{named_user, own_or_named_user};
use harmonic_shared::http::query::{decode_cursor, encode_cursor, query_int};
use harmonic_shared::http::query_param;
use harmonic_shared::lambda_http::http::{header, HeaderName, HeaderValue, StatusCode};
use harmonic_shared::lambda_http::{Body, Request, Response};
use harmonic_shared::store::{DailyCounters, Subject};
use harmonic_shared::{ApiError, App};
use std::collections::{BTreeMap, BTreeSet};

/// `month=YYYY-MM`, parsed and checked against the retention window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExportMonth(Period);

const MONTH_FORMAT: &str = "month must be YYYY-MM, e.g. month=2026-11";

impl ExportMonth {
    /// Parses `raw`; a month in the future or older than the retention is refused.
    pub fn parse(raw: &str, now: DateTime<Utc>, retention_days: u32) -> Result<Self, ApiError> {
        let bad = || {
            ApiError::BadRequest(format!(
                "{MONTH_FORMAT} (got {:?})",
                truncate_for_message(raw)
            ))
        };
        let bytes = raw.as_bytes();
        if bytes.len() != 7 || bytes[4] != b'-' {
            return Err(bad());
        }
        let digits = |range: std::ops::Range<usize>| {
            let part = &raw[range];
            if part.bytes().all(|b| b.is_ascii_digit()) {
                part.parse::<u32>().ok()
            } else {
                None
            }
        };
        let (Some(year), Some(month)) = (digits(0..4), digits(5..7)) else {
            return Err(bad());
        };
        let first = Utc
            .with_ymd_and_hms(year as i32, month, 1, 0, 0, 0)
            .single()
            .filter(|_| year >= 1970)
            .ok_or_else(bad)?;
        let period = Period::containing(first);
        let current = Period::containing(now);
        // Well-formed months outside the window name no report: 404, not 400.
        if period > current {
            return Err(ApiError::NotFound(format!(
                "month {} has not started; the latest month is {}",
                period.label(),
                current.label()
            )));
        }
        let oldest = Period::containing(now - Duration::days(i64::from(retention_days)));
        if period < oldest {
            return Err(ApiError::NotFound(format!(
                "usage is kept for {retention_days} days; the oldest month that can be exported is {}",
                oldest.label()
            )));
        }
        Ok(Self(period))
    }

    pub fn period(self) -> Period {
        self.0
    }

    /// The month's days up to today.
    fn days(self, now: DateTime<Utc>) -> (NaiveDate, NaiveDate) {
        let from = self.0.start().date_naive();
        let last = (self.0.end() - Duration::days(1)).date_naive();
        (from, last.min(now.date_naive()))
    }
}

/// Whom the export covers.
enum Scope {
    User(UserId),
    AllUsers,
}

/// `GET /api/v1/usage?action=export&month=YYYY-MM[&userId=][&limit=&cursor=]`.
pub async fn export(
    app: &App,
    caller: Caller,
    request: &Request,
) -> Result<Response<Body>, ApiError> {
    let now = app.clock.now();
    let named = named_user(request)?;
    let scope = match (&caller, named) {
        // The administrator without a user id exports every user.
        (Caller::Admin, None) => Scope::AllUsers,
        (_, named) => Scope::User(own_or_named_user(app, caller, named).await?.user_id),
    };
    let month = match query_param(request, "month") {
        Some(raw) => ExportMonth::parse(raw.trim(), now, app.config.usage_retention_days)?,
        None => ExportMonth(Period::containing(now)),
    };
    let (from, to) = month.days(now);
    let (rows, next, name) = match scope {
        Scope::User(user_id) => {
            let counters = app
                .store
                .daily_counters(&Subject::User(user_id.clone()), from, to)
                .await?;
            let rows = every_day(&user_id, &counters, from, to);
            (rows, None, user_id.to_string())
        }
        Scope::AllUsers => {
            let limit = query_int(request, "limit", 100, 1..=100)?;
            let after = decode_cursor(request, |text| UserId::parse(text).is_ok())?
                .map(|text| UserId::parse(&text).map_err(ApiError::BadRequest))
                .transpose()?;
            let (users, next) = app.store.users_page(limit as i32, after.as_ref()).await?;
            let mut rows = Vec::new();
            for user in &users {
                let counters = app
                    .store
                    .daily_counters(&Subject::User(user.user_id.clone()), from, to)
                    .await?;
                rows.extend(
                    counters
                        .into_iter()
                        .filter(|day| day.requests > 0 || day.refunded > 0)
                        .map(|day| (user.user_id.clone(), day)),
                );
            }
            (rows, next, "all".to_owned())
        }
    };
    let csv = render(&rows);
    let mut response = Response::new(Body::Text(csv));
    *response.status_mut() = StatusCode::OK;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/csv; charset=utf-8; header=present"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    // User ids are [A-Za-z0-9._@-]: safe inside a quoted filename.
    let disposition = format!(
        "attachment; filename=\"harmonic-usage-{name}-{}.csv\"",
        month.period().label()
    );
    if let Ok(value) = HeaderValue::from_str(&disposition) {
        headers.insert(header::CONTENT_DISPOSITION, value);
    }
    if let Some(next) = next {
        if let Ok(value) = HeaderValue::from_str(&encode_cursor(next.as_str())) {
            headers.insert(HeaderName::from_static("x-next-cursor"), value);
        }
    }
    Ok(response)
}

/// One row per day of the window, zeros included.
fn every_day(
    user_id: &UserId,
    counters: &[DailyCounters],
    from: NaiveDate,
    to: NaiveDate,
) -> Vec<(UserId, DailyCounters)> {
    let by_date: BTreeMap<&str, &DailyCounters> = counters
        .iter()
        .map(|day| (day.date.as_str(), day))
        .collect();
    let mut rows = Vec::new();
    let mut date = from;
    while date <= to {
        let label = date.format("%Y-%m-%d").to_string();
        let day = by_date.get(label.as_str()).map_or_else(
            || DailyCounters {
                date: label.clone(),
                ..DailyCounters::default()
            },
            |day| (*day).clone(),
        );
        rows.push((user_id.clone(), day));
        date += Duration::days(1);
    }
    rows
}

/// RFC 4180 CSV (CRLF line ends), source columns the union of the rows' sources.
fn render(rows: &[(UserId, DailyCounters)]) -> String {
    let sources: BTreeSet<&str> = rows
        .iter()
        .flat_map(|(_, day)| day.sources.keys().map(String::as_str))
        .collect();
    let mut header = vec![
        "date".to_owned(),
        "userId".to_owned(),
        "requests".to_owned(),
        "billed".to_owned(),
        "refunded".to_owned(),
        "errors".to_owned(),
    ];
    for source in &sources {
        header.push(format!("{source}_requests"));
        header.push(format!("{source}_errors"));
    }
    let mut lines = vec![header.iter().map(|c| cell(c)).collect::<Vec<_>>().join(",")];
    for (user_id, day) in rows {
        let mut line = vec![
            cell(&day.date),
            cell(user_id.as_str()),
            (day.requests + day.refunded).to_string(),
            day.requests.to_string(),
            day.refunded.to_string(),
            day.errors.to_string(),
        ];
        for source in &sources {
            let calls = day.sources.get(*source).copied().unwrap_or_default();
            line.push(calls.count.to_string());
            line.push(calls.errors.to_string());
        }
        lines.push(line.join(","));
    }
    let mut csv = lines.join("\r\n");
    csv.push_str("\r\n");
    csv
}

/// A text cell, safe to open in a spreadsheet: a leading `=`, `+`, `-`, `@`, tab or carriage
/// return would start a formula (CSV injection), so it is prefixed with `'`; a cell with a
/// comma, quote or line break is quoted.
pub fn cell(text: &str) -> String {
    let neutral = if text.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{text}")
    } else {
        text.to_owned()
    };
    if neutral.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", neutral.replace('"', "\"\""))
    } else {
        neutral
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use harmonic_shared::store::CallCounters;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 15, 12, 0, 0).unwrap()
    }

    #[test]
    fn cells_that_would_be_formulas_are_neutralised() {
        for (raw, expected) in [
            ("=1+1", "'=1+1"),
            ("+SUM(A1)", "'+SUM(A1)"),
            ("-2", "'-2"),
            ("@evil", "'@evil"),
            ("\tx", "'\tx"),
            ("a,b", "\"a,b\""),
            ("say \"hi\"", "\"say \"\"hi\"\"\""),
            (
                "=HYPERLINK(\"x\",\"y\")",
                "\"'=HYPERLINK(\"\"x\"\",\"\"y\"\")\"",
            ),
            ("alice@example.com", "alice@example.com"),
            ("2026-11-01", "2026-11-01"),
        ] {
            assert_eq!(cell(raw), expected, "{raw:?}");
        }
    }

    #[test]
    fn months_are_yyyy_mm_within_the_retention() {
        assert_eq!(
            ExportMonth::parse("2026-11", now(), 90)
                .unwrap()
                .period()
                .label(),
            "2026-11"
        );
        assert!(
            ExportMonth::parse("2026-08", now(), 90).is_ok(),
            "2026-08-17 is 90 days back"
        );
        for (raw, expected) in [
            ("", "YYYY-MM"),
            ("2026-13", "YYYY-MM"),
            ("2026-00", "YYYY-MM"),
            ("2026-1", "YYYY-MM"),
            ("26-11", "YYYY-MM"),
            ("2026/11", "YYYY-MM"),
            ("+026-11", "YYYY-MM"),
            ("2026-11-01", "YYYY-MM"),
            ("２０２６-11", "YYYY-MM"),
            ("2026-12", "has not started"),
            (
                "2026-07",
                "kept for 90 days; the oldest month that can be exported is 2026-08",
            ),
        ] {
            let error = ExportMonth::parse(raw, now(), 90).unwrap_err().to_string();
            assert!(error.contains(expected), "{raw:?}: {error}");
        }
    }

    #[test]
    fn the_current_month_ends_today() {
        let month = ExportMonth::parse("2026-11", now(), 90).unwrap();
        let (from, to) = month.days(now());
        assert_eq!(
            (from.to_string(), to.to_string()),
            ("2026-11-01".into(), "2026-11-15".into())
        );
        let past = ExportMonth::parse("2026-10", now(), 90).unwrap();
        assert_eq!(past.days(now()).1.to_string(), "2026-10-31");
    }

    #[test]
    fn rows_have_billed_refunded_and_per_source_columns() {
        let user = UserId::parse("-alice").unwrap();
        let mut day = DailyCounters {
            date: "2026-11-02".into(),
            // The day counters keep billed requests and refunded ones apart.
            requests: 4,
            errors: 2,
            refunded: 1,
            ..DailyCounters::default()
        };
        let calls = |count, errors| CallCounters {
            count,
            errors,
            total_ms: 10.0,
        };
        day.sources.insert("wiki".into(), calls(4, 1));
        day.sources.insert("arxiv".into(), calls(1, 1));
        let csv = render(&[(user, day)]);
        assert_eq!(
            csv,
            "date,userId,requests,billed,refunded,errors,arxiv_requests,arxiv_errors,wiki_requests,wiki_errors\r\n\
             2026-11-02,'-alice,5,4,1,2,1,1,4,1\r\n"
        );
    }
}
