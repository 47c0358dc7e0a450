//! Quantities as a person reads them in a log line: durations rounded to the
//! precision that matters (`6days 14h 24m`, not `6days 14h 24m 6s 870ms 565us 583ns`).

use std::time::Duration;

/// A duration rounded for humans: to the minute from an hour up, to the
/// second from a second up, to the millisecond below that.
pub fn duration(d: Duration) -> String {
    const MINUTE: u128 = 60_000;
    const SECOND: u128 = 1_000;
    let ms = d.as_millis() + u128::from(d.subsec_nanos() % 1_000_000 >= 500_000);
    let unit = match ms {
        ms if ms >= 60 * MINUTE => MINUTE,
        ms if ms >= SECOND => SECOND,
        _ => 1,
    };
    let rounded = (ms + unit / 2) / unit * unit;
    let rounded = Duration::from_millis(u64::try_from(rounded).unwrap_or(u64::MAX));
    humantime::format_duration(rounded).to_string()
}

/// [`duration`] for a chrono span; a negative one reads as `0s`.
pub fn span(d: chrono::Duration) -> String {
    duration(d.to_std().unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_are_rounded_to_what_a_reader_needs() {
        let late = Duration::new(6 * 86_400 + 14 * 3_600 + 24 * 60 + 6, 870_565_583);
        assert_eq!(duration(late), "6days 14h 24m");
        assert_eq!(duration(Duration::from_secs(3_600 + 29)), "1h");
        assert_eq!(duration(Duration::from_secs(3_600 + 30)), "1h 1m");
        assert_eq!(duration(Duration::from_millis(754_400)), "12m 34s");
        assert_eq!(duration(Duration::from_millis(1_499)), "1s");
        assert_eq!(duration(Duration::from_millis(59_600)), "1m");
        assert_eq!(duration(Duration::from_micros(20_400)), "20ms");
        assert_eq!(duration(Duration::from_micros(999_600)), "1s");
        assert_eq!(duration(Duration::ZERO), "0s");
    }

    #[test]
    fn a_negative_span_is_zero() {
        assert_eq!(span(chrono::Duration::seconds(-5)), "0s");
        assert_eq!(span(chrono::Duration::minutes(90)), "1h 30m");
    }
}
