//! The probe's page (`GET /`): every case with its last result, when it ran, how long it
//! took, its route fingerprint and its route tree. Everything in it that came from the suite
//! or the network is HTML-escaped.

use std::fmt::Write;

use crate::probe::Observer;

/// The page.
pub(crate) fn index(observer: &Observer) -> String {
    let mut html = String::from(
        "<!doctype html>\n<html><head><meta charset=\"utf-8\"><meta http-equiv=\"refresh\" content=\"10\">\
         <title>nats-trace probe</title><style>body{font-family:sans-serif}td,th{padding:2px 8px;text-align:left}\
         .pass{color:#070}.fail,.error,.incomplete{color:#b00}pre{background:#f4f4f4;padding:6px}</style></head><body>\n\
         <h1>nats-trace probe</h1>\n<p><a href=\"/metrics\">/metrics</a></p>\n\
         <table><tr><th>case</th><th>result</th><th>ended</th><th>took</th><th>route</th><th>detail</th></tr>\n",
    );
    for (case, last) in observer.last_results() {
        let case = escape(case);
        let Some(result) = last else {
            let _ = writeln!(html, "<tr><td>{case}</td><td>not run yet</td></tr>");
            continue;
        };
        let verdict = result.verdict();
        let ended = chrono::DateTime::<chrono::Utc>::from(result.finished_at)
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        let route = result
            .fingerprint
            .as_ref()
            .map_or_else(String::new, |f| f.hash());
        let changed = if result.differs { " (changed)" } else { "" };
        let _ = writeln!(
            html,
            "<tr><td>{case}</td><td class=\"{verdict}\">{verdict}</td><td>{ended}</td><td>{:.1?}</td><td><code>{route}</code>{changed}</td><td>{}</td></tr>",
            result.duration,
            escape(&result.detail)
        );
    }
    html.push_str("</table>\n");
    for (case, last) in observer.last_results() {
        if let Some(report) = last.and_then(|r| r.report.as_ref()) {
            let tree = crate::ci::check::plain_tree(report);
            let _ = writeln!(
                html,
                "<h2>{}</h2>\n<pre>{}</pre>",
                escape(case),
                escape(&tree)
            );
        }
    }
    html.push_str("</body></html>\n");
    html
}

/// `text` made safe for HTML (the same escaping as the trace pages).
pub(crate) use crate::render::html::esc as escape;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markup_from_the_network_is_escaped() {
        assert_eq!(
            escape("<script>alert('x')</script> & \"q\""),
            "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;q&quot;"
        );
    }
}
