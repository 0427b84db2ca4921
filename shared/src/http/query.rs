//! Query string parameters: a parameter's text, a whole number within a range, and the opaque
//! paging cursors (base64url of a position the store checks before use).
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use lambda_http::{Request, RequestExt};

use crate::domain::truncate_for_message;
use crate::error::ApiError;

/// A query string parameter.
pub fn query_param(request: &Request, name: &str) -> Option<String> {
    request
        .query_string_parameters_ref()
        .and_then(|params| params.first(name))
        .map(str::to_owned)
}

/// An integer parameter within `range`, `default` when absent; anything else is a 400 that
/// names the parameter, the range and (shortened) what was sent.
pub fn query_int(
    request: &Request,
    name: &str,
    default: i64,
    range: std::ops::RangeInclusive<i64>,
) -> Result<i64, ApiError> {
    let Some(raw) = query_param(request, name) else {
        return Ok(default);
    };
    match raw.trim().parse::<i64>() {
        Ok(value) if range.contains(&value) => Ok(value),
        _ => Err(ApiError::BadRequest(format!(
            "`{name}` must be a whole number from {} to {} (got {:?})",
            range.start(),
            range.end(),
            truncate_for_message(&raw)
        ))),
    }
}

/// A position as the cursor clients pass back unchanged.
pub fn encode_cursor(position: &str) -> String {
    URL_SAFE_NO_PAD.encode(position.as_bytes())
}

/// The `cursor` parameter decoded back into a position that `is_valid` accepts.
pub fn decode_cursor(
    request: &Request,
    is_valid: impl Fn(&str) -> bool,
) -> Result<Option<String>, ApiError> {
    let Some(raw) = query_param(request, "cursor") else {
        return Ok(None);
    };
    let bad = || {
        ApiError::BadRequest(
            "`cursor` is not a cursor this API gave out; pass nextCursor from the previous page unchanged"
                .into(),
        )
    };
    let bytes = URL_SAFE_NO_PAD.decode(raw.trim()).map_err(|_| bad())?;
    let text = String::from_utf8(bytes).map_err(|_| bad())?;
    if is_valid(&text) {
        Ok(Some(text))
    } else {
        Err(bad())
    }
}
