//! Durations as operators type and read them: parsing `500us`, `5ms`, `1.5s`, `2m` from the
//! command line and suite files, and formatting like Go's `time.Duration.String()`, which is
//! what the nats CLI prints for `-T` timestamps.

use std::time::Duration;

/// Parses a duration such as `250ms`, `1.5s`, `500us`/`500µs`, `100ns`, `2m`, `1h`, or a bare
/// number of seconds.
pub(crate) fn parse(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let value: f64 = number.parse().map_err(|_| {
        format!("invalid duration {text:?}: expected a number with a unit like 5ms")
    })?;
    let nanos_per_unit = match unit.trim() {
        "ns" => 1.0,
        "us" | "µs" | "μs" => 1e3,
        "ms" => 1e6,
        "" | "s" => 1e9,
        "m" => 60e9,
        "h" => 3600e9,
        other => {
            return Err(format!(
                "invalid duration {text:?}: unknown unit {other:?} (use ns, us, ms, s, m or h)"
            ));
        }
    };
    let nanos = value * nanos_per_unit;
    if !nanos.is_finite() || nanos > u64::MAX as f64 {
        return Err(format!("invalid duration {text:?}: too large"));
    }
    Ok(Duration::from_nanos(nanos.round() as u64))
}

/// Rounds to the nearest microsecond, halves away from zero (Go's `Duration.Round`).
pub(crate) fn round_to_micros(nanos: i128) -> i128 {
    let rem = nanos % 1000;
    let base = nanos - rem;
    if rem.abs() * 2 >= 1000 {
        base + if nanos < 0 { -1000 } else { 1000 }
    } else {
        base
    }
}

/// Formats nanoseconds like Go's `time.Duration.String()`: `0s`, `750ns`, `12.5µs`,
/// `1.234ms`, `2.5s`, `1m30s`, `1h0m0s`.
pub(crate) fn go_string(nanos: i128) -> String {
    if nanos == 0 {
        return "0s".to_string();
    }
    let sign = if nanos < 0 { "-" } else { "" };
    let n = nanos.unsigned_abs();
    if n < 1_000_000_000 {
        let (unit, scale) = if n < 1_000 {
            ("ns", 1)
        } else if n < 1_000_000 {
            ("µs", 1_000)
        } else {
            ("ms", 1_000_000)
        };
        return format!("{sign}{}{unit}", fraction(n, scale));
    }
    let hours = n / 3_600_000_000_000;
    let minutes = (n / 60_000_000_000) % 60;
    let seconds = fraction(n % 60_000_000_000, 1_000_000_000);
    if hours > 0 {
        format!("{sign}{hours}h{minutes}m{seconds}s")
    } else if minutes > 0 {
        format!("{sign}{minutes}m{seconds}s")
    } else {
        format!("{sign}{seconds}s")
    }
}

/// `value / scale` in decimal with trailing zeros of the fraction removed.
fn fraction(value: u128, scale: u128) -> String {
    let whole = value / scale;
    let rest = value % scale;
    if rest == 0 {
        return whole.to_string();
    }
    let digits = scale.to_string().len() - 1;
    let frac = format!("{rest:0digits$}");
    format!("{whole}.{}", frac.trim_end_matches('0'))
}

/// Formats a [`Duration`] the Go way.
pub(crate) fn go_string_of(d: Duration) -> String {
    go_string(d.as_nanos() as i128)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_like_go() {
        assert_eq!(go_string(0), "0s");
        assert_eq!(go_string(750), "750ns");
        assert_eq!(go_string(12_500), "12.5µs");
        assert_eq!(go_string(1_234_000), "1.234ms");
        assert_eq!(go_string(2_500_000_000), "2.5s");
        assert_eq!(go_string(90_000_000_000), "1m30s");
        assert_eq!(go_string(3_600_000_000_000), "1h0m0s");
        assert_eq!(go_string(-1_500), "-1.5µs");
    }

    #[test]
    fn rounds_like_go() {
        assert_eq!(round_to_micros(1_499), 1_000);
        assert_eq!(round_to_micros(1_500), 2_000);
        assert_eq!(round_to_micros(-1_500), -2_000);
        assert_eq!(go_string(round_to_micros(12_345_678)), "12.346ms");
    }

    #[test]
    fn parses_what_operators_type() {
        assert_eq!(parse("5ms"), Ok(Duration::from_millis(5)));
        assert_eq!(parse("500us"), Ok(Duration::from_micros(500)));
        assert_eq!(parse("500µs"), Ok(Duration::from_micros(500)));
        assert_eq!(parse("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse("2"), Ok(Duration::from_secs(2)));
        assert_eq!(parse("2m"), Ok(Duration::from_secs(120)));
        assert!(parse("5 parsecs").is_err());
        assert!(parse("ms").is_err());
        assert!(parse("").is_err());
    }
}
