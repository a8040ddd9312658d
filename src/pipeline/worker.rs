//! The flow worker stage: each worker owns one shard of the flow table
//! (lock-free by ownership: no other thread touches it) and turns the
//! epochs of packets the reader sends it into finished flows and interim
//! snapshots, each with its features.
//!
//! Each item carries why its flow is not scored, if the address rule of
//! [`crate::unscored`] says so (unless every flow is scored); an open flow
//! that is not scored gets no interim snapshots.
//!
//! Every epoch is answered with one [`Finished`] message, even an empty
//! one, so that inference can release epochs in order. At the end of input
//! the worker drains its table and sends every open flow as epoch
//! `u64::MAX`, in release order, [`DRAIN_PART`] flows a message (the last
//! says so): the order stage merges the workers' parts as they come, so the
//! drain never holds every open flow at once.

use super::counters::{Counter, Metrics};
use super::reader::Epoch;
use crate::alert::FlowSummary;
use crate::features::{FeatureVector, FlowRecord};
use crate::flow::{FinishedFlow, FlowConfig, FlowKey, FlowTable, Snapshot};
use crate::infer::FlowRow;
use crate::kdd::{Conn, ConnId, KddRow};
use crate::unscored::Unscored;
use crossbeam::channel::{Receiver, Sender};

/// A flow as the worker hands it on: ended, or a snapshot of an open one.
pub(super) enum Flow {
    /// The flow ended.
    Finished(FinishedFlow),
    /// An interim snapshot of a flow still open.
    Interim(Snapshot),
}

/// A flow with its features and the capture file its first packet came from.
pub(super) struct Item {
    /// The flow.
    pub(super) flow: Flow,
    /// Its features.
    pub(super) features: FeatureVector,
    /// Its connection context, filled by the context stage when it runs
    /// (boxed: most runs have none, and items are moved and sorted).
    pub(super) kdd: Option<Box<KddRow>>,
    /// The capture file of its first packet.
    pub(super) file: usize,
    /// Why the flow is not scored (`None`: it is).
    pub(super) unscored: Option<Unscored>,
}

impl Flow {
    /// (key, whether the source is `key.a`, the record).
    fn parts(&self) -> (&FlowKey, bool, &FlowRecord) {
        match self {
            Flow::Finished(f) => (&f.key, f.src_is_a, &f.record),
            Flow::Interim(s) => (&s.key, s.src_is_a, &s.record),
        }
    }

    /// Why the flow is not scored, by the address rule.
    fn unscored(&self) -> Option<Unscored> {
        let (key, src_is_a, _) = self.parts();
        let (src, _, dst, _) = key.endpoints(src_is_a);
        Unscored::of(src.to_ip(), dst.to_ip())
    }
}

impl Item {
    /// A finished flow with its features (`score_all`: the address rule is
    /// off).
    fn finished(f: FinishedFlow, score_all: bool) -> Item {
        let flow = Flow::Finished(f);
        let unscored = if score_all { None } else { flow.unscored() };
        Item::new(flow, unscored)
    }

    /// An interim snapshot with its features, unless its flow is not scored.
    fn interim(s: Snapshot, score_all: bool) -> Option<Item> {
        let flow = Flow::Interim(s);
        (score_all || flow.unscored().is_none()).then(|| Item::new(flow, None))
    }

    /// An item of `flow`, with its features.
    fn new(flow: Flow, unscored: Option<Unscored>) -> Item {
        let (features, source) = match &flow {
            Flow::Finished(f) => (f.record.features(), f.source),
            Flow::Interim(s) => (s.record.features(), s.source),
        };
        Item {
            features,
            file: source as usize,
            flow,
            kdd: None,
            unscored,
        }
    }

    /// True for an interim snapshot.
    pub(super) fn is_interim(&self) -> bool {
        matches!(self.flow, Flow::Interim(_))
    }

    /// The flow's summary, for events and alerts.
    pub(super) fn summary(&self) -> FlowSummary {
        match &self.flow {
            Flow::Finished(f) => FlowSummary::finished(f),
            Flow::Interim(s) => FlowSummary::snapshot(s),
        }
    }

    /// The flow's connection identity, if its protocol has KDD records.
    pub(super) fn conn(&self) -> Option<(ConnId, Conn)> {
        match &self.flow {
            Flow::Finished(f) => f.conn_id().map(|id| (id, f.conn)),
            Flow::Interim(s) => s.conn_id().map(|id| (id, s.conn)),
        }
    }

    /// The release order of flows: (last packet, first packet, key, then a
    /// finished flow before a snapshot).
    pub(super) fn sort_key(&self) -> (i64, i64, FlowKey, bool) {
        let (key, _, record) = self.flow.parts();
        (record.last_us(), record.start_us(), *key, self.is_interim())
    }

    /// The model's input row.
    pub(super) fn row(&self) -> FlowRow {
        let (key, src_is_a, _) = self.flow.parts();
        let (src, src_port, dst, dst_port) = key.endpoints(src_is_a);
        FlowRow {
            features: self.features,
            src,
            dst,
            src_port,
            dst_port,
            proto: key.proto,
            interim: self.is_interim(),
            kdd: self.kdd.as_deref().copied().unwrap_or_default(),
        }
    }
}

/// `to.extend(items)`, but a move when `to` is empty: the end-of-input
/// drain hands over every open flow at once.
pub(super) fn append(to: &mut Vec<Item>, items: Vec<Item>) {
    if to.is_empty() {
        *to = items;
    } else {
        to.extend(items);
    }
}

/// Flows per message of the end-of-input drain.
pub(super) const DRAIN_PART: usize = 1024;

/// A worker → order stage message: what one epoch finished.
pub(super) struct Finished {
    /// The worker that sends it.
    pub(super) worker: usize,
    /// The epoch (`u64::MAX`: the end-of-input drain).
    pub(super) epoch: u64,
    /// The epoch's last message from this worker (only the end-of-input
    /// drain comes in several).
    pub(super) last: bool,
    /// Finished flows and interim snapshots.
    pub(super) items: Vec<Item>,
    /// The capture ended with this epoch: connection context restarts.
    pub(super) restart: bool,
}

/// Worker settings.
#[derive(Debug, Clone, Copy)]
pub(super) struct WorkerOpts {
    /// The flow table's settings (its share of the cap).
    pub(super) flow: FlowConfig,
    /// Score open flows every this many µs of their life (0: never).
    pub(super) interim_after_us: i64,
    /// Score every flow: the address rule of [`crate::unscored`] is off.
    pub(super) score_all: bool,
}

/// Runs worker `me` until the reader lets it go, then drains its table.
pub(super) fn run(
    rx: Receiver<Epoch>,
    tx: Sender<Finished>,
    opts: WorkerOpts,
    metrics: &Metrics,
    me: usize,
) {
    let mut table = FlowTable::new(opts.flow);
    let publish = |table: &FlowTable| {
        let st = table.stats();
        metrics.set_worker(me, Counter::FlowsActive, table.len() as u64);
        metrics.set_worker(me, Counter::FlowsEvicted, st.evicted);
        metrics.set_worker(me, Counter::SinglePacketFlows, st.single_packet_discarded);
    };
    for e in rx.iter() {
        let mut items = Vec::new();
        table.set_source(u32::try_from(e.file).unwrap_or(u32::MAX));
        let mut finished = |f: FinishedFlow| items.push(Item::finished(f, opts.score_all));
        for p in &e.packets {
            table.on_packet(p, &mut finished);
        }
        let mut interim = 0u64;
        let restart = e.tick.is_some_and(|t| t.restart);
        match e.tick {
            Some(t) if t.restart => table.drain(&mut finished),
            Some(t) => {
                if t.sweep {
                    table.sweep(t.now_us, &mut finished);
                }
                table.interim(t.now_us, opts.interim_after_us, &mut |s: Snapshot| {
                    if let Some(item) = Item::interim(s, opts.score_all) {
                        interim += 1;
                        items.push(item);
                    }
                });
            }
            None => {}
        }
        metrics.add(Counter::FlowsFinished, items.len() as u64 - interim);
        metrics.add(Counter::InterimScored, interim);
        publish(&table);
        let done = Finished {
            worker: me,
            epoch: e.id,
            last: true,
            items,
            restart,
        };
        if tx.send(done).is_err() {
            return;
        }
    }
    // End of input: every open flow in release order, a part at a time.
    let mut items = Vec::with_capacity(DRAIN_PART.min(table.len()));
    let mut gone = false;
    let part = |items: &mut Vec<Item>, last: bool| {
        metrics.add(Counter::FlowsFinished, items.len() as u64);
        let done = Finished {
            worker: me,
            epoch: u64::MAX,
            last,
            items: std::mem::replace(items, Vec::with_capacity(DRAIN_PART)),
            restart: false,
        };
        tx.send(done).is_ok()
    };
    table.drain_by_last(&mut |f: FinishedFlow| {
        if !gone {
            items.push(Item::finished(f, opts.score_all));
            if items.len() >= DRAIN_PART {
                gone = !part(&mut items, false);
            }
        }
    });
    publish(&table);
    if !gone {
        part(&mut items, true);
    }
}
