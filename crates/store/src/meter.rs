//! The transfer meter: bytes into and out of the node, per calendar month
//! (UTC).

use rusqlite::{OptionalExtension, params};
use serde::Serialize;

use crate::StoreError;
use crate::catalog::{Catalog, now_ms};

type Result<T> = std::result::Result<T, StoreError>;

/// Bytes moved, in all and in the current month.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Meter {
    /// Bytes into the node since the meter began; `None` before any.
    pub total_incoming: Option<u64>,
    /// Bytes out of the node since the meter began; `None` before any.
    pub total_outgoing: Option<u64>,
    /// Bytes into the node this month.
    pub month_incoming: u64,
    /// Bytes out of the node this month.
    pub month_outgoing: u64,
}

impl Catalog {
    /// Adds bytes to the current month's meter.
    pub fn meter_add(&self, incoming: u64, outgoing: u64) -> Result<()> {
        let month = month_of(now_ms());
        self.with(|c| {
            c.execute(
                "INSERT INTO transfer_meter (month, incoming, outgoing) VALUES (?1, ?2, ?3) \
                 ON CONFLICT (month) DO UPDATE SET incoming = incoming + ?2, outgoing = outgoing + ?3",
                params![month, incoming as i64, outgoing as i64],
            )?;
            Ok(())
        })
    }

    /// The meter's readings.
    pub fn meter(&self) -> Result<Meter> {
        let month = month_of(now_ms());
        self.with(|c| {
            let (total_in, total_out): (Option<i64>, Option<i64>) = c.query_row(
                "SELECT sum(incoming), sum(outgoing) FROM transfer_meter",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )?;
            let (month_in, month_out): (i64, i64) = c
                .query_row(
                    "SELECT incoming, outgoing FROM transfer_meter WHERE month = ?1",
                    [month],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .optional()?
                .unwrap_or((0, 0));
            Ok(Meter {
                total_incoming: total_in.map(|v| v as u64),
                total_outgoing: total_out.map(|v| v as u64),
                month_incoming: month_in as u64,
                month_outgoing: month_out as u64,
            })
        })
    }
}

/// "YYYY-MM" of a Unix time in milliseconds, in UTC (days-to-civil, after
/// Howard Hinnant's public-domain algorithm).
pub fn month_of(ms: i64) -> String {
    let days = ms.div_euclid(86_400_000);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn months_of_known_instants() {
        assert_eq!(month_of(0), "1970-01");
        assert_eq!(month_of(951_782_400_000), "2000-02"); // 2000-02-29
        assert_eq!(month_of(1_795_363_200_000), "2026-11"); // 2026-11-22
        assert_eq!(month_of(1_798_761_599_000), "2026-12"); // 2026-12-31 23:59:59
    }

    #[test]
    fn the_meter_is_empty_then_adds_up() {
        let cat = Catalog::open_in_memory().unwrap();
        let m = cat.meter().unwrap();
        assert_eq!((m.total_incoming, m.month_outgoing), (None, 0));
        cat.meter_add(10, 0).unwrap();
        cat.meter_add(5, 7).unwrap();
        let m = cat.meter().unwrap();
        assert_eq!((m.total_incoming, m.total_outgoing), (Some(15), Some(7)));
        assert_eq!((m.month_incoming, m.month_outgoing), (15, 7));
    }
}
