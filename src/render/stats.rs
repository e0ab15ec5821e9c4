//! Drawing `trace --count` statistics ([`crate::trace::stats::StatsSummary`]): a tree-ish
//! table (servers indented by their hop depth, then links, then route shapes with counts),
//! or the same statistics as one JSON document.

use std::io::{self, Write};

use crate::duration::go_string;
use crate::trace::stats::{Arrivals, StatsSummary};

/// The most columns of indentation a server row gets.
const MAX_INDENT: usize = 16;

/// Writes `summary` as text.
pub(crate) fn write_text(summary: &StatsSummary, out: &mut dyn Write) -> io::Result<()> {
    writeln!(
        out,
        "{} trace(s) of {}: {} complete, {} incomplete, {} failed",
        summary.traces,
        crate::text::sanitize(&summary.subject),
        summary.complete,
        summary.incomplete,
        summary.failed
    )?;
    writeln!(out)?;
    write_header(out, "server")?;
    for row in &summary.servers {
        let indent = "  ".repeat(row.depth.min(MAX_INDENT));
        let name = format!("{indent}{}", row.server);
        let missing = if row.missing > 0 {
            format!("  ({} missing)", row.missing)
        } else {
            String::new()
        };
        write_row(out, &name, &row.arrivals, &missing)?;
    }
    writeln!(out)?;
    write_header(out, "link")?;
    for row in &summary.links {
        let name = format!("{} -{}-> {}", row.from, row.kind, row.to);
        write_row(out, &name, &row.arrivals, "")?;
    }
    writeln!(out)?;
    writeln!(out, "route shapes:")?;
    for row in &summary.shapes {
        writeln!(out, "{:>6}  {}", row.count, row.shape)?;
    }
    if summary.left_out > 0 {
        writeln!(
            out,
            "({} more servers, links or shapes not shown)",
            summary.left_out
        )?;
    }
    Ok(())
}

/// Writes `summary` as one JSON document.
pub(crate) fn write_json(summary: &StatsSummary, out: &mut dyn Write) -> io::Result<()> {
    serde_json::to_writer_pretty(&mut *out, summary).map_err(io::Error::other)?;
    writeln!(out)
}

fn write_header(out: &mut dyn Write, what: &str) -> io::Result<()> {
    writeln!(
        out,
        "{what:<36} {:>9} {:>6} {:>10} {:>10} {:>10} {:>10} {:>10}",
        "arrivals", "loss", "min", "avg", "p50", "p99", "max"
    )
}

fn write_row(out: &mut dyn Write, name: &str, row: &Arrivals, note: &str) -> io::Result<()> {
    let times = row.latency.map_or_else(
        || vec!["-".to_string(); 5],
        |l| {
            [
                l.min_seconds,
                l.avg_seconds,
                l.p50_seconds,
                l.p99_seconds,
                l.max_seconds,
            ]
            .iter()
            .map(|s| go_string(crate::duration::round_to_micros((s * 1e9) as i128)))
            .collect()
        },
    );
    writeln!(
        out,
        "{name:<36} {:>9} {:>5.1}% {:>10} {:>10} {:>10} {:>10} {:>10}{note}",
        row.arrivals, row.loss_percent, times[0], times[1], times[2], times[3], times[4]
    )
}
