//! One open flow's entry in the table: its first packets kept compactly, its
//! full state only once it needs it.
//!
//! Most flows have two or three packets, and a [`FlowRecord`] is 512 bytes.
//! An entry therefore keeps its first [`INLINE`] packets as [`Pkt`]s (only
//! the fields that the per-packet update reads) and builds its record and
//! its [`Conn`] ([`Full`], boxed) when its next packet comes, when it is
//! snapshotted and when it ends, by replaying the kept packets through
//! [`Full::new`] and [`Full::add`], the very update every later packet goes
//! through. The features are thus the same as if the record had been built
//! at the flow's first packet.
//!
//! Input: the table's packets, with their direction. Output: the flow's
//! [`Full`] state, and what the table's own rules read before it exists
//! (start, last packet, packets, whether the responder answered).
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use crate::decode::{PacketMeta, TcpFlags};
use crate::features::{Direction, FlowRecord};
use crate::kdd::Conn;
use crate::profile::Profile;

/// Packets an entry keeps before it builds its full state.
pub(super) const INLINE: usize = 3;

/// What the per-packet update ([`FlowRecord::new`], [`FlowRecord::add`],
/// [`FlowRecord::update_active_idle`], [`Conn::add`]) reads of a packet,
/// with the packet's direction, in 20 bytes: its time as an offset from the
/// flow's start, its header length in 16 bits (a packet whose values do not
/// fit is not kept: the entry builds its full state instead). A field those
/// functions start to read must be added here and in [`Pkt::meta`].
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Pkt {
    /// µs after the flow's first packet (compat: before it, too).
    dt_us: i32,
    payload_len: u32,
    window: i32,
    header_len: u16,
    flags: TcpFlags,
    icmp: Option<(u8, u8)>,
    wrong_fragment: u8,
    /// [`Pkt::FORWARD`] and [`Pkt::APP_OK`].
    bits: u8,
}

impl Pkt {
    const FORWARD: u8 = 1;
    const APP_OK: u8 = 2;

    /// The packet, when its values fit (`start_us`: the flow's first
    /// packet's time).
    fn of(p: &PacketMeta, forward: bool, start_us: i64) -> Option<Self> {
        Some(Self {
            dt_us: i32::try_from(p.ts_us.checked_sub(start_us)?).ok()?,
            payload_len: p.payload_len,
            window: p.window,
            header_len: u16::try_from(p.header_len).ok()?,
            flags: p.flags,
            icmp: p.icmp,
            wrong_fragment: p.wrong_fragment,
            bits: if forward { Self::FORWARD } else { 0 } | if p.app_ok { Self::APP_OK } else { 0 },
        })
    }

    fn ts_us(&self, start_us: i64) -> i64 {
        start_us + i64::from(self.dt_us)
    }

    fn forward(&self) -> bool {
        self.bits & Self::FORWARD != 0
    }

    /// The packet again, as the update reads it (`proto`: the flow key's,
    /// which is every packet's of the flow).
    fn meta(&self, start_us: i64, proto: u8) -> PacketMeta {
        PacketMeta {
            ts_us: self.ts_us(start_us),
            proto,
            payload_len: self.payload_len,
            header_len: u32::from(self.header_len),
            window: self.window,
            flags: self.flags,
            icmp: self.icmp,
            wrong_fragment: self.wrong_fragment,
            app_ok: self.bits & Self::APP_OK != 0,
            ..PacketMeta::default()
        }
    }

    fn direction(&self) -> Direction {
        if self.forward() {
            Direction::Forward
        } else {
            Direction::Backward
        }
    }
}

/// A flow's full state: its feature record and its connection's KDD state.
#[derive(Debug, Clone)]
pub(super) struct Full {
    pub(super) record: FlowRecord,
    pub(super) conn: Conn,
    /// Packets of the flow at its latest interim snapshot (0: none yet).
    snapped: u64,
}

impl Full {
    /// The state after the flow's first packet.
    fn new(p: &PacketMeta, profile: Profile) -> Self {
        let mut conn = Conn::default();
        conn.add(p, true);
        Self {
            record: FlowRecord::new(p, profile),
            conn,
            snapped: 0,
        }
    }

    /// Adds a packet after the first.
    fn add(&mut self, p: &PacketMeta, dir: Direction, compat: bool, activity_timeout_us: i64) {
        // era: the FIN packet that ends a flow skips the active/idle update.
        if !(compat && p.flags.has(TcpFlags::FIN)) {
            self.record.update_active_idle(p.ts_us, activity_timeout_us);
        }
        self.record.add(p, dir);
        self.conn.add(p, dir == Direction::Forward);
    }
}

/// What an entry's state is built with.
#[derive(Debug, Clone, Copy)]
pub(super) struct Rules {
    pub(super) profile: Profile,
    pub(super) activity_timeout_us: i64,
    /// The flow key's protocol.
    pub(super) proto: u8,
}

impl Rules {
    fn build(&self, start_us: i64, pkts: &[Pkt]) -> Option<Full> {
        let (first, rest) = pkts.split_first()?;
        let mut full = Full::new(&first.meta(start_us, self.proto), self.profile);
        for p in rest {
            self.add(&mut full, &p.meta(start_us, self.proto), p.direction());
        }
        Some(full)
    }

    fn add(&self, full: &mut Full, p: &PacketMeta, dir: Direction) {
        let compat = self.profile.is_compat();
        full.add(p, dir, compat, self.activity_timeout_us);
    }
}

#[derive(Debug, Clone)]
enum State {
    /// The first `n` packets (at least one), the first at `start_us`;
    /// `snapped`: packets at the latest interim snapshot (0: none yet).
    Small {
        start_us: i64,
        n: u8,
        snapped: u8,
        pkts: [Pkt; INLINE],
    },
    Full(Box<Full>),
}

/// One open flow.
#[derive(Debug, Clone)]
pub(super) struct Entry {
    state: State,
    /// The input of the first packet.
    pub(super) source: u32,
    pub(super) src_is_a: bool,
    /// FIN seen from the forward (bit 0) and backward (bit 1) side (fixed).
    pub(super) fins: u8,
    /// Interim snapshots taken so far.
    pub(super) interims: u32,
}

impl Entry {
    /// A flow with its first packet.
    pub(super) fn new(p: &PacketMeta, src_is_a: bool, source: u32, rules: &Rules) -> Self {
        let state = match Pkt::of(p, true, p.ts_us) {
            Some(first) => {
                let mut pkts = [Pkt::default(); INLINE];
                if let Some(slot) = pkts.first_mut() {
                    *slot = first;
                }
                State::Small {
                    start_us: p.ts_us,
                    n: 1,
                    snapped: 0,
                    pkts,
                }
            }
            None => State::Full(Box::new(Full::new(p, rules.profile))),
        };
        Self {
            state,
            source,
            src_is_a,
            fins: 0,
            interims: 0,
        }
    }

    fn kept(n: u8, pkts: &[Pkt; INLINE]) -> &[Pkt] {
        pkts.get(..usize::from(n)).unwrap_or(pkts)
    }

    /// The first packet's time, µs.
    pub(super) fn start_us(&self) -> i64 {
        match &self.state {
            State::Small { start_us, .. } => *start_us,
            State::Full(f) => f.record.start_us(),
        }
    }

    /// The last packet's time, µs.
    pub(super) fn last_us(&self) -> i64 {
        match &self.state {
            State::Small {
                start_us, n, pkts, ..
            } => Self::kept(*n, pkts)
                .last()
                .map_or(*start_us, |p| p.ts_us(*start_us)),
            State::Full(f) => f.record.last_us(),
        }
    }

    /// Packets in both directions.
    pub(super) fn packets(&self) -> u64 {
        match &self.state {
            State::Small { n, .. } => u64::from(*n),
            State::Full(f) => f.record.packets(),
        }
    }

    /// True once the responder sent anything ([`Conn::answered`]).
    pub(super) fn answered(&self) -> bool {
        match &self.state {
            State::Small { n, pkts, .. } => Self::kept(*n, pkts).iter().any(|p| !p.forward()),
            State::Full(f) => f.conn.answered(),
        }
    }

    /// Adds a packet after the first.
    pub(super) fn add(&mut self, p: &PacketMeta, dir: Direction, rules: &Rules) {
        if let State::Small {
            start_us, n, pkts, ..
        } = &mut self.state
        {
            let slot = pkts.get_mut(usize::from(*n));
            let pkt = Pkt::of(p, dir == Direction::Forward, *start_us);
            if let (Some(slot), Some(pkt)) = (slot, pkt) {
                *slot = pkt;
                *n += 1;
                return;
            }
        }
        if let Some(full) = self.full(rules) {
            rules.add(full, p, dir);
        }
    }

    /// The full state, built now if it was not yet.
    fn full(&mut self, rules: &Rules) -> Option<&mut Full> {
        if let State::Small {
            start_us,
            n,
            snapped,
            pkts,
        } = &self.state
        {
            let mut full = rules.build(*start_us, Self::kept(*n, pkts))?;
            full.snapped = u64::from(*snapped);
            self.state = State::Full(Box::new(full));
        }
        match &mut self.state {
            State::Full(f) => Some(f),
            State::Small { .. } => None,
        }
    }

    /// True when the flow had packets since its latest interim snapshot
    /// (or has none yet), which it now marks as snapped.
    pub(super) fn mark_snapped(&mut self) -> bool {
        let (now, snapped) = match &mut self.state {
            State::Small { n, snapped, .. } => {
                let now = *n;
                (u64::from(now), std::mem::replace(snapped, now).into())
            }
            State::Full(f) => {
                let now = f.record.packets();
                (now, std::mem::replace(&mut f.snapped, now))
            }
        };
        now != snapped
    }

    /// A copy of the full state, leaving the entry as it is.
    pub(super) fn snapshot(&self, rules: &Rules) -> Option<Full> {
        match &self.state {
            State::Small {
                start_us, n, pkts, ..
            } => rules.build(*start_us, Self::kept(*n, pkts)),
            State::Full(f) => Some(Full::clone(f)),
        }
    }

    /// The full state, for a flow that ends.
    pub(super) fn into_full(self, rules: &Rules) -> Option<Full> {
        match self.state {
            State::Small {
                start_us, n, pkts, ..
            } => rules.build(start_us, Self::kept(n, &pkts)),
            State::Full(f) => Some(*f),
        }
    }
}
#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::Fragment;

    fn packet(i: u32, ts_us: i64) -> PacketMeta {
        PacketMeta {
            ts_us,
            proto: 6,
            payload_len: i * 37 % 11,
            padding_len: i % 3,
            header_len: 20 + 4 * (i % 4),
            flags: TcpFlags([0x02, 0x12, 0x10, 0x18, 0x11, 0x04, 0x29][i as usize % 7]),
            window: 1000 + i as i32,
            icmp: (i % 2 == 1).then_some((8, i as u8)),
            frag: (i % 6 == 5).then_some(Fragment::default()),
            app_ok: i % 4 == 1,
            wrong_fragment: if i % 3 == 2 { 3 } else { 0 },
            ..PacketMeta::default()
        }
    }

    /// The entry's state, built late from its kept packets, is the state
    /// built at the first packet, whatever the flow's length, and also when
    /// a packet's time or header length does not fit a kept packet.
    #[test]
    fn late_state_is_the_eager_state() {
        let gaps = [
            vec![10, 7_000_000, 3, 0, 2_000_000, 1],
            vec![-5, 3_000_000_000, 4, 9],
            vec![1, 2, 3, 4, 5, 6],
        ];
        for profile in [Profile::Cic2018, Profile::Fixed, Profile::Kdd] {
            for gap in &gaps {
                for len in 1..=gap.len() + 1 {
                    let rules = Rules {
                        profile,
                        activity_timeout_us: 5_000_000,
                        proto: 6,
                    };
                    let mut ts = 1_700_000_000_000_000i64;
                    let first = packet(0, ts);
                    let mut entry = Entry::new(&first, true, 0, &rules);
                    let mut eager = Full::new(&first, profile);
                    for i in 1..len {
                        ts += gap.get(i - 1).copied().unwrap_or(0);
                        let mut p = packet(i as u32, ts);
                        if i == 2 && gap.first() == Some(&1) {
                            p.header_len = 70_000;
                        }
                        let dir = if i % 2 == 0 {
                            Direction::Forward
                        } else {
                            Direction::Backward
                        };
                        entry.add(&p, dir, &rules);
                        rules.add(&mut eager, &p, dir);
                        assert_eq!(entry.packets(), eager.record.packets());
                        assert_eq!(entry.start_us(), eager.record.start_us());
                        assert_eq!(entry.last_us(), eager.record.last_us());
                        assert_eq!(entry.answered(), eager.conn.answered());
                    }
                    // Debug spelling: NaN statistics of empty directions
                    // are equal there, and -0.0 differs from 0.0.
                    let want = format!("{:?} {:?}", eager.record, eager.conn);
                    let late = entry.snapshot(&rules).expect("state");
                    let got = format!("{:?} {:?}", late.record, late.conn);
                    assert_eq!(got, want, "{profile:?} {gap:?} {len}");
                    let late = entry.into_full(&rules).expect("state");
                    let got = format!("{:?} {:?}", late.record, late.conn);
                    assert_eq!(got, want, "{profile:?} {gap:?} {len}");
                }
            }
        }
    }

    /// A flow of up to three packets costs its slot 88 bytes, not the
    /// 512 of a record.
    #[test]
    fn small_entry() {
        assert!(std::mem::size_of::<Entry>() <= 88);
    }
}
