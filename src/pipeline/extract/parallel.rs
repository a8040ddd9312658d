//! `extract` on several threads, with the one thread's CSV byte for byte.
//!
//! This thread reads and decodes, numbers every packet, and shards the
//! packets over the workers by a randomly keyed hash of the
//! direction-neutral flow key, so each flow lives in one worker's table and
//! sees its packets in capture order ([`shard_hash`]: the key's hash
//! without building the key). It sends them in frames of at most
//! [`FRAME`] packets; every worker gets every frame (possibly empty), and a
//! capture that ends (a file with a clock of its own, or `--per-file`) is a
//! frame of its own that ends every open flow.
//!
//! A worker runs its flow table over each frame and, for every flow that
//! ends, renders the row into the frame's buffer: the cells, the Label
//! column and the number formatting all happen here, in parallel. With a
//! connection context (`kdd`, `--context`) the windows must see the
//! connections in the one thread's order, so the worker sends the flow and
//! its features instead and the writer renders it.
//!
//! The writer takes the workers' results frame by frame and merges them by
//! the place the one thread would have written each row: a flow ended by a
//! packet is written at that packet (its number; several flows ended by one
//! packet come from one worker, in its order), the flows a capture's end
//! drains come sorted by first packet and key, as [`FlowTable::drain`]
//! sorts them. Every stage blocks on full channels, so memory stays bounded
//! by a few frames per worker; a failed write ends the workers and the read.

use super::rows::Rows;
use crate::capture::PcapFile;
use crate::decode::{DecodeRules, PacketMeta};
use crate::features::FeatureVector;
use crate::flow::{shard_hash, FinishedFlow, FlowConfig, FlowKey, FlowStats, FlowTable};
use crate::output::CsvWriter;
use crate::pipeline::reader::Reader;
use crossbeam::channel::{bounded, Receiver, Sender};
use std::hash::BuildHasher;
use std::io::{self, Write};

/// Packets per frame at most.
const FRAME: usize = 4096;
/// Frames queued between stages, per worker.
const QUEUE: usize = 2;

/// The reader's message to a worker.
enum Job {
    /// This worker's packets of a frame, each with its number.
    Packets(Vec<(u64, PacketMeta)>),
    /// A capture ends before packet `seq`: end every open flow.
    Restart(u64),
}

/// Where the one thread would have written a row: ordered by packet
/// number, then the flows a capture's end drains before that packet's own,
/// sorted as [`FlowTable::drain`] sorts them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct At {
    seq: u64,
    /// 0: drained when a capture ends before packet `seq`; 1: ended by it.
    by_packet: bool,
    start_us: i64,
    key: FlowKey,
}

/// A flow the writer renders itself (runs with a connection context).
struct Pending {
    flow: FinishedFlow,
    features: FeatureVector,
}

/// One row of a worker's result.
enum Row {
    /// Rendered: the row is the frame buffer's bytes up to this offset.
    Text(usize),
    /// To be rendered by the writer.
    Flow(Box<Pending>),
}

/// A piece of a worker's result for one job, rows in the order it ended
/// the flows. A job's rows come in pieces of at most [`PIECE`] rows (the
/// end of a capture may end many flows at once); the last piece says so.
#[derive(Default)]
struct Piece {
    text: Vec<u8>,
    rows: Vec<(At, Row)>,
    /// The job's last piece.
    last: bool,
    /// The worker's last piece: the end of input's drain is complete. A
    /// channel that closes without it means the worker died.
    fin: bool,
    /// A capture ended here: the connection context starts again after
    /// these rows.
    restart: bool,
}

/// Rows per piece at most.
const PIECE: usize = 512;

/// Turns a worker's ended flows into pieces for the writer.
struct Render<'a> {
    /// Renders rows into memory (`None`: the writer renders them).
    rows: Option<Rows<'a, Vec<u8>>>,
    piece: Piece,
    tx: Sender<Piece>,
    /// The writer is gone (a failed write).
    gone: bool,
}

impl Render<'_> {
    /// Adds one ended flow: its row rendered, or the flow itself.
    fn emit(&mut self, at: At, f: FinishedFlow) {
        let features = f.record.features();
        let row = match self.rows.as_mut() {
            Some(rows) => {
                // Writing into memory cannot fail.
                let _ = rows.write(&f, &features);
                Row::Text(rows.csv.get_mut().len())
            }
            None => Row::Flow(Box::new(Pending { flow: f, features })),
        };
        self.piece.rows.push((at, row));
        if self.piece.rows.len() >= PIECE {
            self.send(false);
        }
    }

    /// Sends the piece so far (`last`: the job's last one).
    fn send(&mut self, last: bool) {
        let mut piece = std::mem::take(&mut self.piece);
        piece.last = last;
        if let Some(rows) = self.rows.as_mut() {
            piece.text = std::mem::replace(rows.csv.get_mut(), Vec::with_capacity(1 << 16));
        }
        self.piece.restart = piece.restart;
        self.gone |= self.tx.send(piece).is_err();
    }
}

/// A flow worker: its shard of the flow table, and its rows.
struct Worker<'a> {
    table: FlowTable,
    render: Render<'a>,
}

impl Worker<'_> {
    /// Runs one job; false once the writer is gone.
    fn run(&mut self, job: Job) -> bool {
        match job {
            Job::Packets(packets) => {
                for (seq, meta) in packets {
                    self.table.on_packet(&meta, &mut |f| {
                        let at = At {
                            seq,
                            by_packet: true,
                            start_us: 0,
                            key: f.key,
                        };
                        self.render.emit(at, f);
                    });
                }
            }
            Job::Restart(seq) => {
                self.render.piece.restart = true;
                self.drain(seq);
            }
        }
        self.render.send(true);
        self.render.piece.restart = false;
        !self.render.gone
    }

    /// Ends every open flow, as a capture's end before packet `seq`.
    fn drain(&mut self, seq: u64) {
        self.table.drain(&mut |f| {
            let at = At {
                seq,
                by_packet: false,
                start_us: f.record.start_us(),
                key: f.key,
            };
            self.render.emit(at, f);
        });
    }
}

/// Runs `extract` with `threads` workers; returns the flow tables' summed
/// counters and the rows written.
pub(super) fn run<W: Write + Send>(
    flow: FlowConfig,
    per_file: bool,
    files: Vec<PcapFile>,
    rules: DecodeRules,
    reader: &mut Reader,
    rows: Rows<'_, W>,
    threads: usize,
) -> io::Result<(FlowStats, u64)> {
    let profile = flow.profile;
    // Workers render unless the windows must see every row in order.
    let render = rows.windows.is_none().then(|| rows.csv.format());
    let labeler = rows.labeler;
    std::thread::scope(|s| {
        let mut to_workers = Vec::with_capacity(threads);
        let mut from_workers = Vec::with_capacity(threads);
        let mut handles = Vec::with_capacity(threads);
        for _ in 0..threads {
            let (job_tx, job_rx) = bounded::<Job>(QUEUE);
            let (out_tx, out_rx) = bounded::<Piece>(QUEUE);
            to_workers.push(job_tx);
            from_workers.push(out_rx);
            let mut worker = Worker {
                table: FlowTable::new(flow),
                render: Render {
                    rows: render.map(|f| Rows {
                        csv: CsvWriter::in_memory(f, profile, &[], false),
                        labeler,
                        profile,
                        windows: None,
                    }),
                    piece: Piece::default(),
                    tx: out_tx,
                    gone: false,
                },
            };
            handles.push(s.spawn(move || {
                for job in job_rx {
                    if !worker.run(job) {
                        // The writer stopped (a failed write): stop too.
                        return worker.table.stats();
                    }
                }
                worker.drain(u64::MAX);
                worker.render.piece.fin = true;
                worker.render.send(true);
                worker.table.stats()
            }));
        }
        let writer = s.spawn(move || write(from_workers, rows));
        read(per_file, files, rules, reader, to_workers);
        let mut stats = FlowStats::default();
        let mut panicked = false;
        for h in handles {
            let Ok(w) = h.join() else {
                panicked = true;
                continue;
            };
            stats += w;
        }
        let written = writer
            .join()
            .unwrap_or_else(|_| Err(io::Error::other("the CSV writer thread panicked")))?;
        if panicked {
            return Err(io::Error::other("a flow worker thread panicked"));
        }
        Ok((stats, written))
    })
}

/// Reads every file, sharding the packets over the workers in frames;
/// returns when the input ends or the workers are gone.
fn read(
    per_file: bool,
    files: Vec<PcapFile>,
    rules: DecodeRules,
    reader: &mut Reader,
    to_workers: Vec<Sender<Job>>,
) {
    let n = to_workers.len();
    let seed = std::hash::RandomState::new().hash_one(0u64);
    let mut frame: Vec<Vec<(u64, PacketMeta)>> = vec![Vec::new(); n];
    let mut in_frame = 0usize;
    let mut seq = 0u64;
    // Sends the frame so far to every worker; false once they are gone.
    let send = |frame: &mut Vec<Vec<(u64, PacketMeta)>>, in_frame: &mut usize| {
        *in_frame = 0;
        to_workers.iter().zip(frame.iter_mut()).all(|(tx, b)| {
            let packets = std::mem::replace(b, Vec::with_capacity(FRAME / n + 64));
            tx.send(Job::Packets(packets)).is_ok()
        })
    };
    let nfiles = files.len();
    for (i, mut file) in files.into_iter().enumerate() {
        let more = reader.read(i, nfiles, &mut file, rules, per_file, |meta, restart| {
            if restart
                && !(send(&mut frame, &mut in_frame)
                    && to_workers
                        .iter()
                        .all(|tx| tx.send(Job::Restart(seq)).is_ok()))
            {
                return false;
            }
            let w = (shard_hash(&meta, seed) % n as u64) as usize;
            if let Some(b) = frame.get_mut(w) {
                b.push((seq, meta));
            }
            seq += 1;
            in_frame += 1;
            in_frame < FRAME || send(&mut frame, &mut in_frame)
        });
        if !more {
            return;
        }
    }
    if in_frame > 0 {
        send(&mut frame, &mut in_frame);
    }
    // Dropping the senders lets the workers drain and end.
}

/// Merges the workers' pieces job by job into the CSV; returns the rows
/// written. Returning early (a failed write) drops the receivers, which
/// stops the workers and then the read.
fn write<W: Write>(from_workers: Vec<Receiver<Piece>>, mut rows: Rows<'_, W>) -> io::Result<u64> {
    let mut written = 0u64;
    let mut finished = false;
    // Every worker answers every job, in order; a job's pieces end with
    // its last one.
    while let Some(mut pieces) = from_workers
        .iter()
        .map(|rx| rx.recv().ok())
        .collect::<Option<Vec<Piece>>>()
    {
        let mut restart = false;
        let mut at = vec![0usize; pieces.len()];
        let mut from = vec![0usize; pieces.len()];
        loop {
            // The worker whose next row comes first (few workers: a scan);
            // a worker's piece that runs out is followed by its next one.
            let mut best: Option<(usize, At)> = None;
            for (w, p) in pieces.iter_mut().enumerate() {
                let (Some(k), Some(start)) = (at.get_mut(w), from.get_mut(w)) else {
                    continue;
                };
                while *k == p.rows.len() && !p.last {
                    let Some(next) = from_workers.get(w).and_then(|rx| rx.recv().ok()) else {
                        return Err(io::Error::other("a flow worker ended early"));
                    };
                    (*p, *k, *start) = (next, 0, 0);
                }
                restart |= p.restart;
                finished |= p.fin;
                if let Some((a, _)) = p.rows.get(*k) {
                    if best.is_none_or(|(_, b)| *a < b) {
                        best = Some((w, *a));
                    }
                }
            }
            let Some((w, _)) = best else { break };
            let (Some(p), Some(k), Some(start)) = (pieces.get(w), at.get_mut(w), from.get_mut(w))
            else {
                break;
            };
            match p.rows.get(*k) {
                Some((_, Row::Text(end))) => {
                    rows.csv
                        .get_mut()
                        .write_all(p.text.get(*start..*end).unwrap_or_default())?;
                    *start = *end;
                }
                Some((_, Row::Flow(f))) => rows.write(&f.flow, &f.features)?,
                None => {}
            }
            *k += 1;
            written += 1;
        }
        if restart {
            rows.restart();
        }
    }
    if !finished {
        // A worker's channel closed before its end-of-input drain.
        return Err(io::Error::other(
            "a flow worker ended before the end of input",
        ));
    }
    rows.csv.finish()?;
    Ok(written)
}
