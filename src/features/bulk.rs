//! Bulk-transfer state of one flow direction (the `fixed` profile's bulk
//! columns): packets arrive with their payload size and time; out come the
//! averages over the completed bulks (bytes and packets per bulk, bytes per
//! second).

/// Bulk-transfer state of one direction (used by `fixed` only; the era tool
/// never updated it after the first packet, so its bulk columns are always 0).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(super) struct Bulk {
    /// Completed bulks: total duration (µs), bytes, packets, count.
    duration_us: i64,
    bytes: u64,
    packets: u32,
    count: u32,
    /// The candidate bulk in progress (its bytes matter only until it has
    /// four packets, so 32 bits are plenty; they saturate).
    start_us: i64,
    pub(super) last_us: i64,
    helper_bytes: u32,
    helper_packets: u32,
}

impl Bulk {
    /// Adds a data packet at `ts`; `other_last` is the other direction's last
    /// bulk packet time, which breaks a candidate bulk.
    pub(super) fn push(&mut self, ts: i64, size: u32, other_last: i64) {
        if other_last > self.start_us {
            self.start_us = 0;
        }
        if size == 0 {
            return;
        }
        if self.start_us == 0 || ts.saturating_sub(self.last_us) > 1_000_000 {
            self.start_us = ts;
            self.last_us = ts;
            self.helper_packets = 1;
            self.helper_bytes = size;
            return;
        }
        self.helper_packets = self.helper_packets.saturating_add(1);
        self.helper_bytes = self.helper_bytes.saturating_add(size);
        if self.helper_packets == 4 {
            self.count += 1;
            self.packets += 4;
            self.bytes += u64::from(self.helper_bytes);
            self.duration_us += ts.saturating_sub(self.start_us);
        } else if self.helper_packets > 4 {
            self.packets += 1;
            self.bytes += u64::from(size);
            self.duration_us += ts.saturating_sub(self.last_us);
        }
        self.last_us = ts;
    }

    /// The averages over the completed bulks.
    pub(super) fn averages(&self) -> BulkAverages {
        BulkAverages {
            bytes: ratio(self.bytes as f64, f64::from(self.count)),
            packets: ratio(f64::from(self.packets), f64::from(self.count)),
            rate: ratio(self.bytes as f64, self.duration_us as f64 / 1e6),
        }
    }
}

/// A direction's bulk columns: bytes and packets per bulk, bytes per second.
#[derive(Debug, Clone, Copy)]
pub(super) struct BulkAverages {
    pub(super) bytes: f64,
    pub(super) packets: f64,
    pub(super) rate: f64,
}

impl BulkAverages {
    pub(super) const ZERO: Self = Self {
        bytes: 0.0,
        packets: 0.0,
        rate: 0.0,
    };
}

/// `a / b`, or 0 when `b` is 0 (the era tool's guarded division).
pub(super) fn ratio(a: f64, b: f64) -> f64 {
    if b != 0.0 {
        a / b
    } else {
        0.0
    }
}
