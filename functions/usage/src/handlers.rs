//! The usage routes. A key holder sees only its own user (another user id is a 404); the
//! administrator sees any user and the totals.
use chrono::{Duration, NaiveDate};
use harmonic_shared::auth::Caller;
use harmonic_shared::domain::{rfc3339, Period, UserId};
use harmonic_shared::http::json_response;
use harmonic_shared::lambda_http::http::{header, HeaderValue, StatusCode};
use harmonic_shared::lambda_http::{Body, Request, Response};
use harmonic_shared::metering::QuotaState;
use harmonic_shared::store::{CallCounters, DailyCounters, Store, Subject, UserRecord};
use harmonic_shared::{ApiError, App};
use serde_json::{json, Value};
use std::collections::BTreeMap;

use crate::params::{self, Action};

fn credentials_required() -> ApiError {
    ApiError::Unauthorized(
        "credentials required: send X-API-Key (your key) or Authorization: Bearer <admin token>"
            .into(),
    )
}

fn admin_only() -> ApiError {
    ApiError::Forbidden("this action is for the administrator only".into())
}

fn no_such_user(user_id: &UserId) -> ApiError {
    ApiError::NotFound(format!("no user {user_id}"))
}

/// The user whose usage is asked for, if the caller may see it.
async fn target_user(app: &App, caller: Caller, request: &Request) -> Result<UserRecord, ApiError> {
    let requested = params::user_id(request)?;
    match caller {
        Caller::Anonymous => Err(credentials_required()),
        Caller::Holder { user, .. } => match requested {
            Some(other) if other != user.user_id => Err(no_such_user(&other)),
            _ => Ok(*user),
        },
        Caller::Admin => {
            let user_id = requested.ok_or_else(|| {
                ApiError::BadRequest("the administrator names the user: ?userId=<user id>".into())
            })?;
            app.store
                .get_user(&user_id)
                .await?
                .ok_or_else(|| no_such_user(&user_id))
        }
    }
}

/// `GET /api/v1/usage?action=...`.
pub async fn get(app: &App, request: &Request) -> Result<Response<Body>, ApiError> {
    let action = Action::parse(request)?;
    // A malformed paging parameter is refused whichever action it came with, never ignored.
    params::bounded(request, "limit", 1, 1, 100)?;
    params::bounded(request, "days", 1, 1, 90)?;
    let now = app.clock.now();
    let period = Period::containing(now);
    let caller = app.auth.authenticate(request.headers(), now).await?;
    if action == Action::Export {
        return crate::export::export(app, caller, request).await;
    }
    if matches!(action, Action::All | Action::Stats) {
        match caller {
            Caller::Admin => {}
            Caller::Anonymous => return Err(credentials_required()),
            Caller::Holder { .. } => return Err(admin_only()),
        }
        return match action {
            Action::All => all_users(app, request, period).await,
            _ => totals(app, period).await,
        };
    }
    let user = target_user(app, caller, request).await?;
    let subject = Subject::User(user.user_id.clone());
    let body = match action {
        Action::History => {
            let limit = params::bounded(request, "limit", 20, 1, 100)?;
            let cursor = params::decode_cursor(request, Store::is_event_sort_key)?;
            let (events, next) = app
                .store
                .usage_history(&subject, limit as i32, cursor.as_deref())
                .await?;
            json!({
                "userId": user.user_id,
                "count": events.len(),
                "history": events,
                "nextCursor": next.as_deref().map(params::encode_cursor),
            })
        }
        Action::Analytics | Action::Sources | Action::Endpoints | Action::Breakdown => {
            let days = params::bounded(request, "days", 30, 1, 90)?;
            let to = now.date_naive();
            let from = to - Duration::days(days - 1);
            let counters = app.store.daily_counters(&subject, from, to).await?;
            let window = json!({ "from": from, "to": to, "days": days });
            match action {
                Action::Analytics => analytics(&user.user_id, window, &counters, from, to),
                Action::Sources => breakdown(&user.user_id, window, "sources", &counters, |day| {
                    &day.sources
                }),
                Action::Breakdown => {
                    let mut both =
                        breakdown(&user.user_id, window.clone(), "sources", &counters, |day| {
                            &day.sources
                        });
                    both["endpoints"] =
                        breakdown(&user.user_id, window, "endpoints", &counters, |day| {
                            &day.endpoints
                        })["endpoints"]
                            .take();
                    both
                }
                _ => breakdown(&user.user_id, window, "endpoints", &counters, |day| {
                    &day.endpoints
                }),
            }
        }
        _ => app.quota_status_json(&user, period).await?,
    };
    Ok(json_response(StatusCode::OK, &body))
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
    let limit = params::bounded(request, "limit", 50, 1, 100)?;
    let after = params::decode_cursor(request, |text| UserId::parse(text).is_ok())?
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
            "nextCursor": next.map(|id| params::encode_cursor(id.as_str())),
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
    let now = app.clock.now();
    match app.auth.authenticate(request.headers(), now).await? {
        Caller::Admin => {}
        Caller::Anonymous => return Err(credentials_required()),
        Caller::Holder { .. } => return Err(admin_only()),
    }
    let user_id = params::user_id(request)?
        .ok_or_else(|| ApiError::BadRequest("name the user to reset: ?userId=<user id>".into()))?;
    let period = Period::containing(now);
    match app.store.reset_month(&user_id, period).await {
        Ok(()) => {}
        Err(harmonic_shared::store::StoreError::ConditionFailed) => {
            return Err(no_such_user(&user_id))
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

/// `OPTIONS /api/v1/usage`.
pub fn options() -> Response<Body> {
    let documentation = json!({
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
        "quotas": {"free": "FREE_MONTHLY_QUOTA (1000)", "pro": "PRO_MONTHLY_QUOTA (10000)", "enterprise": "unlimited"},
        "reset": "00:00 UTC on the 1st of each month"
    });
    let mut response = json_response(StatusCode::OK, &documentation);
    response.headers_mut().insert(
        header::ALLOW,
        HeaderValue::from_static("GET, DELETE, OPTIONS"),
    );
    response
}
