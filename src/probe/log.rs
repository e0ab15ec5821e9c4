//! One line per probe on stderr: `time case=… result=… duration=… route=… servers=…` (and
//! `changed=true`, `reason=…`, `detail=…` when they apply), or the same as a JSON object per
//! line with `--log-format json`. Text from the network is escaped.

use std::io::Write;

use serde::Serialize;

use crate::probe::{LogFormat, ProbeResult};

#[derive(Serialize)]
struct LogLine<'a> {
    time: String,
    case: &'a str,
    result: &'a str,
    duration_seconds: f64,
    route: Option<String>,
    servers: Option<usize>,
    changed: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<&'a str>,
    #[serde(skip_serializing_if = "str::is_empty")]
    detail: &'a str,
}

/// The log line of `result` in `format`, without its line end.
pub(crate) fn line(result: &ProbeResult, format: LogFormat) -> String {
    let entry = LogLine {
        time: chrono::DateTime::<chrono::Utc>::from(result.finished_at)
            .to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        case: &result.case,
        result: result.verdict(),
        duration_seconds: result.duration.as_secs_f64(),
        route: result
            .fingerprint
            .as_ref()
            .map(crate::trace::route::Fingerprint::hash),
        servers: result.route.as_ref().map(|r| r.hops.len()),
        changed: result.differs,
        reason: result.reason,
        detail: &result.detail,
    };
    match format {
        LogFormat::Json => serde_json::to_string(&entry).unwrap_or_default(),
        LogFormat::Text => text_line(&entry),
    }
}

fn text_line(entry: &LogLine<'_>) -> String {
    let mut line = format!(
        "{} case={:?} result={} duration={} route={} servers={}",
        entry.time,
        crate::text::sanitize(entry.case),
        entry.result,
        crate::duration::go_string_of(std::time::Duration::from_secs_f64(entry.duration_seconds)),
        entry.route.as_deref().unwrap_or("-"),
        entry
            .servers
            .map_or_else(|| "-".to_string(), |n| n.to_string()),
    );
    if entry.changed {
        line.push_str(" changed=true");
    }
    if let Some(reason) = entry.reason {
        line.push_str(&format!(" reason={reason}"));
    }
    if !entry.detail.is_empty() {
        line.push_str(&format!(
            " detail={:?}",
            crate::text::sanitize(entry.detail)
        ));
    }
    line
}

/// Writes the log line of `result` on stderr; a closed stderr is no reason to stop.
pub(crate) fn write_line(result: &ProbeResult, format: LogFormat) {
    let _ = writeln!(std::io::stderr().lock(), "{}", line(result, format));
}
