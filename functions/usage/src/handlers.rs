//! The usage routes. A key holder sees only its own user (another user id is a 404); the
//! administrator sees any user and the totals.
use chrono::{Duration, NaiveDate};
use harmonic_shared::auth::Caller;
use harmonic_shared::config::Config;
use harmonic_shared::domain::{rfc3339, Period, UserId};
use harmonic_shared::guards::{ensure_admin, named_user, own_or_named_user, require_admin};
use harmonic_shared::http::json_response;
use harmonic_shared::http::query::{decode_cursor, encode_cursor, query_int};
use harmonic_shared::lambda_http::http::StatusCode;
use harmonic_shared::lambda_http::{Body, Request, Response};
use harmonic_shared::metering::QuotaState;
use harmonic_shared::store::{CallCounters, DailyCounters, Store, Subject};
use harmonic_shared::{ApiError, App};
use serde_json::{json, Value};
use std::collections::BTreeMap;

use crate::action::Action;

/// `GET /api/v1/usage?action=...`.
pub async fn get(app: &App, request: &Request) -> Result<Response<Body>, ApiError> {
    let action = Action::parse(request)?;
    // A malformed paging parameter is refused whichever action it came with, never ignored.
    query_int(request, "limit", 1, 1..=100)?;
    query_int(request, "days", 1, 1..=90)?;
    let now = app.clock.now();
    let period = Period::containing(now);
    let caller = app.auth.authenticate(request.headers(), now).await?;
    let body = match action {
        Action::Export => return crate::export::export(app, caller, request).await,
        Action::All => {
            ensure_admin(&caller)?;
            return all_users(app, request, period).await;
        }
        Action::Stats => {
            ensure_admin(&caller)?;
            return totals(app, period).await;
        }
        Action::Current => {
            let user = own_or_named_user(app, caller, named_user(request)?).await?;
            app.quota_status_json(&user, period).await?
        }
        Action::History => history(app, request, caller).await?,
        Action::Analytics => daily(app, request, caller, DailyView::Analytics).await?,
        Action::Sources => daily(app, request, caller, DailyView::Sources).await?,
        Action::Endpoints => daily(app, request, caller, DailyView::Endpoints).await?,
        Action::Breakdown => daily(app, request, caller, DailyView::Breakdown).await?,
    };
    Ok(json_response(StatusCode::OK, &body))
}

/// `action=history`: the user's usage events, newest first, a page at a time.
async fn history(app: &App, request: &Request, caller: Caller) -> Result<Value, ApiError> {
    let user = own_or_named_user(app, caller, named_user(request)?).await?;
    let limit = query_int(request, "limit", 20, 1..=100)?;
    let cursor = decode_cursor(request, Store::is_event_sort_key)?;
    let (events, next) = app
        .store
        .usage_history(
            &Subject::User(user.user_id.clone()),
            limit as i32,
            cursor.as_deref(),
        )
        .await?;
    Ok(json!({
        "userId": user.user_id,
        "count": events.len(),
        "history": events,
        "nextCursor": next.as_deref().map(encode_cursor),
    }))
}

/// The views of the user's day counters over a window of `days`.
enum DailyView {
    Analytics,
    Sources,
    Endpoints,
    /// Sources and endpoints together.
    Breakdown,
}

async fn daily(
    app: &App,
    request: &Request,
    caller: Caller,
    view: DailyView,
) -> Result<Value, ApiError> {
    let user = own_or_named_user(app, caller, named_user(request)?).await?;
    let days = query_int(request, "days", 30, 1..=90)?;
    let to = app.clock.now().date_naive();
    let from = to - Duration::days(days - 1);
    let counters = app
        .store
        .daily_counters(&Subject::User(user.user_id.clone()), from, to)
        .await?;
    let window = json!({ "from": from, "to": to, "days": days });
    let user_id = &user.user_id;
    let sources = |window| breakdown(user_id, window, "sources", &counters, |day| &day.sources);
    let endpoints = |window| {
        breakdown(user_id, window, "endpoints", &counters, |day| {
            &day.endpoints
        })
    };
    Ok(match view {
        DailyView::Analytics => analytics(user_id, window, &counters, from, to),
        DailyView::Sources => sources(window),
        DailyView::Endpoints => endpoints(window),
        DailyView::Breakdown => {
            let mut both = sources(window.clone());
            both["endpoints"] = endpoints(window)["endpoints"].take();
            both
        }
    })
}

fn average(total_ms: f64, count: u64) -> f64 {
    if count == 0 {
        0.0
    } else {
        (total_ms / count as f64 * 100.0).round() / 100.0
    }
}

/// Daily series with every day of the window present (zeros included), and totals.
fn analytics(
    user_id: &UserId,
    window: Value,
    counters: &[DailyCounters],
    from: NaiveDate,
    to: NaiveDate,
) -> Value {
    let by_date: BTreeMap<&str, &DailyCounters> = counters
        .iter()
        .map(|day| (day.date.as_str(), day))
        .collect();
    let mut daily = Vec::new();
    let (mut requests, mut refunded, mut errors, mut total_ms) = (0u64, 0u64, 0u64, 0f64);
    let mut date = from;
    while date <= to {
        let label = date.format("%Y-%m-%d").to_string();
        let day = by_date.get(label.as_str());
        let (r, e, ms) = day.map_or((0, 0, 0.0), |d| (d.requests, d.errors, d.total_ms));
        let f = day.map_or(0, |d| d.refunded);
        requests += r;
        refunded += f;
        errors += e;
        total_ms += ms;
        daily.push(json!({
            "date": label,
            "requests": r,
            "refunded": f,
            "errors": e,
            "avgResponseTime": average(ms, r + f),
        }));
        date += Duration::days(1);
    }
    json!({
        "userId": user_id,
        "period": window,
        "daily": daily,
        "total": {
            "requests": requests,
            "refunded": refunded,
            "errors": errors,
            "avgResponseTime": average(total_ms, requests + refunded),
        },
    })
}

/// Per-source or per-endpoint totals over the window, busiest first.
fn breakdown<'a>(
    user_id: &UserId,
    window: Value,
    field: &str,
    counters: &'a [DailyCounters],
    select: impl Fn(&'a DailyCounters) -> &'a BTreeMap<String, CallCounters>,
) -> Value {
    let mut totals: BTreeMap<&str, CallCounters> = BTreeMap::new();
    for day in counters {
        for (name, calls) in select(day) {
            let entry = totals.entry(name.as_str()).or_default();
            entry.count += calls.count;
            entry.errors += calls.errors;
            entry.total_ms += calls.total_ms;
        }
    }
    let mut rows: Vec<_> = totals
        .into_iter()
        .map(|(name, calls)| {
            json!({
                "name": name,
                "count": calls.count,
                "errors": calls.errors,
                "avgResponseTime": average(calls.total_ms, calls.count),
            })
        })
        .collect();
    rows.sort_by_key(|row| std::cmp::Reverse(row["count"].as_u64().unwrap_or(0)));
    json!({ "userId": user_id, "period": window, field: rows })
}

async fn all_users(
    app: &App,
    request: &Request,
    period: Period,
) -> Result<Response<Body>, ApiError> {
    let limit = query_int(request, "limit", 50, 1..=100)?;
    let after = decode_cursor(request, |text| UserId::parse(text).is_ok())?
        .map(|text| UserId::parse(&text).map_err(ApiError::BadRequest))
        .transpose()?;
    let (users, next) = app.store.users_page(limit as i32, after.as_ref()).await?;
    let rows: Vec<Value> = users
        .iter()
        .map(|user| QuotaState::of_user(&app.config, user, period).to_json())
        .collect();
    Ok(json_response(
        StatusCode::OK,
        &json!({
            "count": rows.len(),
            "users": rows,
            "nextCursor": next.map(|id| encode_cursor(id.as_str())),
        }),
    ))
}

async fn totals(app: &App, period: Period) -> Result<Response<Body>, ApiError> {
    let (stats, users) = tokio::try_join!(app.store.usage_stats(period), app.store.count_users())?;
    Ok(json_response(
        StatusCode::OK,
        &json!({
            "period": stats.period,
            "periodStart": rfc3339(period.start()),
            "users": users,
            "requests": stats.requests,
            "refunded": stats.refunded,
            "errors": stats.errors,
            "byTier": stats.by_tier,
        }),
    ))
}

/// `DELETE /api/v1/usage?userId=` (admin): the user's current month starts again from zero.
pub async fn reset(app: &App, request: &Request) -> Result<Response<Body>, ApiError> {
    require_admin(app, request).await?;
    let now = app.clock.now();
    let user_id = named_user(request)?
        .ok_or_else(|| ApiError::BadRequest("name the user to reset: ?userId=<user id>".into()))?;
    let period = Period::containing(now);
    match app.store.reset_month(&user_id, period).await {
        Ok(()) => {}
        Err(harmonic_shared::store::StoreError::ConditionFailed) => {
            return Err(ApiError::no_such_user(&user_id))
        }
        Err(other) => return Err(other.into()),
    }
    tracing::info!(user_id = %user_id, period = %period.label(), "monthly usage reset by admin");
    app.audit(
        harmonic_shared::audit::AuditAction::UsageReset,
        &user_id,
        None,
        json!({ "period": period.label() }),
    )
    .await;
    Ok(json_response(
        StatusCode::OK,
        &json!({ "success": true, "userId": user_id, "period": period.label(), "used": 0 }),
    ))
}

/// `OPTIONS /api/v1/usage`, with the quotas this deployment is configured with.
pub fn documentation(config: &Config) -> Value {
    json!({
        "service": "HARMONIC API — usage",
        "authentication": "X-API-Key (your own user) or Authorization: Bearer <admin token> (any user, with userId)",
        "endpoints": [
            {"method": "GET", "path": "/api/v1/usage?action=current", "returns": "quota, used, remaining, percentageUsed, period and reset date"},
            {"method": "GET", "path": "/api/v1/usage?action=history&limit=1..100&cursor=", "returns": "usage events, newest first, with nextCursor"},
            {"method": "GET", "path": "/api/v1/usage?action=analytics&days=1..90", "returns": "daily requests, errors and average response time, and totals"},
            {"method": "GET", "path": "/api/v1/usage?action=sources&days=1..90", "returns": "per-source counts, errors, average time"},
            {"method": "GET", "path": "/api/v1/usage?action=endpoints&days=1..90", "returns": "per-endpoint counts, errors, average time"},
            {"method": "GET", "path": "/api/v1/usage?action=breakdown&days=1..90", "returns": "per-source and per-endpoint counts together (Phase 4's name)"},
            {"method": "GET", "path": "/api/v1/usage?action=export&month=YYYY-MM", "returns": "text/csv, one row per day: requests, billed, refunded, errors, per source (admin: userId=, or every user with limit/cursor and X-Next-Cursor)"},
            {"method": "GET", "path": "/api/v1/usage?action=all&limit=1..100&cursor=", "returns": "every user's current usage (admin)"},
            {"method": "GET", "path": "/api/v1/usage?action=stats", "returns": "this month's totals (admin)"},
            {"method": "DELETE", "path": "/api/v1/usage?userId=", "returns": "resets the user's current month (admin)"},
            {"method": "GET", "path": "/dashboard", "returns": "the usage dashboard page (HTML) for a key holder"}
        ],
        "quotas": {"free": config.free_monthly_quota, "pro": config.pro_monthly_quota, "enterprise": "unlimited"},
        "reset": "00:00 UTC on the 1st of each month"
    })
}
