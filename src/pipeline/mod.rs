//! Pipeline: wires the stages together. For `extract` this is one thread:
//! capture → decode → flow table → features → CSV, with no per-packet
//! allocation and counters for everything that does not become a flow.

pub mod check;
pub mod live;
mod outfile;
pub use outfile::OutputStats;
pub mod sensor;

use crate::capture::{CaptureError, Frame, PcapFile};
use crate::decode::{decode, DecodeRules, PacketMeta, SkipReason};
use crate::error::Error;
use crate::features::{Layout, Profile};
use crate::flow::{FlowConfig, FlowTable};
use crate::labels::Labeler;
use crate::output::CsvWriter;
use std::collections::BTreeMap;
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// Link-layer padding policy (`--l2-padding`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Padding {
    /// Padding bytes count as TCP/UDP payload, as in the CIC-IDS2017 CSVs.
    Count,
    /// Padding is ignored, as in CSE-CIC-IDS2018 (jnetpcap 1.4).
    Exclude,
}

impl Padding {
    /// The profile's default.
    pub fn default_for(profile: Profile) -> Self {
        match profile {
            Profile::Cic2017 => Padding::Count,
            Profile::Cic2018 | Profile::Fixed => Padding::Exclude,
        }
    }
}

/// Everything `extract` needs.
#[derive(Debug, Clone)]
pub struct ExtractConfig {
    /// Capture files, read in order.
    pub files: Vec<PathBuf>,
    /// Output CSV path; `-` is standard output.
    pub output: PathBuf,
    /// Flow settings (profile and timeouts).
    pub flow: FlowConfig,
    /// Padding policy.
    pub padding: Padding,
    /// Write the dataset's machine-learning layout instead of the tool layout.
    pub ml_columns: bool,
    /// Attack episodes for the Label column.
    pub labels: Option<PathBuf>,
    /// Restart the flow table for each file.
    pub per_file: bool,
    /// Show a progress line on standard error.
    pub progress: bool,
}

/// What a run did.
#[derive(Debug, Default)]
pub struct Summary {
    /// Frames read from the files.
    pub packets_read: u64,
    /// Frames that became flow packets.
    pub packets_decoded: u64,
    /// Frames skipped, by reason.
    pub skipped: BTreeMap<SkipReason, u64>,
    /// Flows written.
    pub flows_written: u64,
    /// Compat only: single-packet flows the era tool never wrote.
    pub single_packet_flows: u64,
    /// Flows ended early by the `max_flows` cap (written like any other).
    pub evicted: u64,
    /// Peak resident memory, bytes.
    pub peak_rss: u64,
    /// Files that ended early (their whole packets were processed).
    pub truncated: Vec<CaptureError>,
    /// Wall time.
    pub elapsed: Duration,
}

impl Summary {
    /// Renders the end-of-run summary.
    pub fn render(&self) -> String {
        let secs = self.elapsed.as_secs_f64().max(1e-9);
        let mut s = format!(
            "packets read       {}\npackets decoded    {}\n",
            self.packets_read, self.packets_decoded
        );
        for reason in SkipReason::ALL {
            let n = self.skipped.get(&reason).copied().unwrap_or(0);
            if n > 0 {
                s.push_str(&format!("skipped {:<26} {n}\n", reason.label()));
            }
        }
        if self.single_packet_flows > 0 {
            s.push_str(&format!(
                "single-packet flows not written (era rule) {}\n",
                self.single_packet_flows
            ));
        }
        s.push_str(&format!("flows written      {}\n", self.flows_written));
        if self.evicted > 0 {
            s.push_str(&format!("  of them evicted (max flows) {}\n", self.evicted));
        }
        s.push_str(&format!(
            "elapsed            {:.3} s\npackets per second {:.0}\npeak resident memory {:.1} MiB\n",
            secs,
            self.packets_read as f64 / secs,
            self.peak_rss as f64 / 1_048_576.0
        ));
        s
    }
}

/// Runs `extract`: every file through the flow engine into one CSV.
pub fn extract(cfg: &ExtractConfig) -> Result<Summary, Error> {
    let t0 = Instant::now();
    let profile = cfg.flow.profile;
    let labeler = match &cfg.labels {
        Some(p) => Labeler::load(p)?,
        None => Labeler::default(),
    };
    // Open every file first, so a bad one is refused before any output.
    let mut files = Vec::with_capacity(cfg.files.len());
    for path in &cfg.files {
        files.push(PcapFile::open(path)?);
    }
    let layout = match (profile, cfg.ml_columns) {
        (Profile::Cic2017, false) => Layout::Tool2017,
        (Profile::Cic2017, true) => Layout::Ml2017,
        (_, false) => Layout::Tool2018,
        (_, true) => Layout::Ml2018,
    };
    let out_err = |source| Error::Output {
        path: cfg.output.clone(),
        source,
    };
    let sink: Box<dyn Write> = if cfg.output.as_os_str() == "-" {
        Box::new(std::io::stdout().lock())
    } else {
        Box::new(std::fs::File::create(&cfg.output).map_err(out_err)?)
    };
    let mut csv = CsvWriter::new(
        std::io::BufWriter::with_capacity(1 << 16, sink),
        layout,
        profile,
    )
    .map_err(out_err)?;

    let rules = decode_rules(profile, cfg.padding);
    let mut summary = Summary::default();
    let mut table = FlowTable::new(cfg.flow);
    let mut write_err: Option<std::io::Error> = None;
    let mut flows_written = 0u64;
    let mut write_flow = |f: crate::flow::FinishedFlow| {
        if write_err.is_some() {
            return;
        }
        let (src, _, dst, _) = f.endpoints();
        let label = labeler.label(src, dst, f.record.start_us(), profile);
        let features = f.record.features();
        match csv.write(&f, &features, label) {
            Ok(()) => flows_written += 1,
            Err(e) => write_err = Some(e),
        }
    };
    let mut reader = Reader::new(cfg.progress, t0);
    let nfiles = files.len();
    for (i, mut file) in files.into_iter().enumerate() {
        reader.read(i, nfiles, &mut file, rules, |meta| {
            table.on_packet(&meta, &mut write_flow);
            true
        });
        if cfg.per_file {
            table.drain(&mut write_flow);
        }
    }
    table.drain(&mut write_flow);
    reader.finish();
    if let Some(e) = write_err {
        return Err(out_err(e));
    }
    csv.finish().map_err(out_err)?;
    summary.flows_written = flows_written;
    summary.single_packet_flows = table.stats().single_packet_discarded;
    summary.evicted = table.stats().evicted;
    summary.peak_rss = memory().peak_rss;
    summary.packets_read = reader.packets_read;
    summary.packets_decoded = reader.packets_decoded;
    summary.skipped = reader.skipped();
    summary.truncated = reader.truncated;
    summary.elapsed = t0.elapsed();
    Ok(summary)
}

/// The decoding rules of a profile with a padding policy.
pub(crate) fn decode_rules(profile: Profile, padding: Padding) -> DecodeRules {
    DecodeRules {
        ipv6: !profile.is_compat(),
        era_quirks: profile.is_compat(),
        count_padding: padding == Padding::Count,
    }
}

/// The capture and decode stage that `extract` and `replay` share: reads
/// files to their end, decodes every frame, counts what it skips, warns about
/// truncated files, and shows the progress line.
pub(crate) struct Reader {
    /// Frames read.
    pub(crate) packets_read: u64,
    /// Frames that became flow packets.
    pub(crate) packets_decoded: u64,
    /// Skipped frames, indexed by reason (`SkipReason::ALL` is in declaration order).
    skipped: [u64; SkipReason::ALL.len()],
    /// Files that ended early.
    pub(crate) truncated: Vec<CaptureError>,
    progress: Progress,
    t0: Instant,
}

impl Reader {
    /// A reader whose progress line shows when `progress` is on and stderr is a terminal.
    pub(crate) fn new(progress: bool, t0: Instant) -> Self {
        Self {
            packets_read: 0,
            packets_decoded: 0,
            skipped: [0; SkipReason::ALL.len()],
            truncated: Vec::new(),
            progress: Progress::new(progress && std::io::stderr().is_terminal()),
            t0,
        }
    }

    /// Reads file `i` of `n` to its end, handing each decoded packet to
    /// `on_packet`; stops early, returning false, when `on_packet` does.
    pub(crate) fn read(
        &mut self,
        i: usize,
        n: usize,
        file: &mut PcapFile,
        rules: DecodeRules,
        mut on_packet: impl FnMut(PacketMeta) -> bool,
    ) -> bool {
        loop {
            let frame = match file.next_frame() {
                Ok(Some(frame)) => frame,
                Ok(None) => return true,
                Err(e) => {
                    self.progress.clear();
                    eprintln!("warning: {e}");
                    self.truncated.push(e);
                    return true;
                }
            };
            if let Some(meta) = self.decode(&frame, rules) {
                if !on_packet(meta) {
                    return false;
                }
            }
            if self.packets_read & 0xffff == 0 {
                self.progress.show(i, n, file, self.packets_read, self.t0);
            }
        }
    }

    /// Counts and decodes one frame; `None` when it is skipped.
    pub(crate) fn decode(&mut self, frame: &Frame<'_>, rules: DecodeRules) -> Option<PacketMeta> {
        self.packets_read += 1;
        match decode(frame, rules) {
            Ok(meta) => {
                self.packets_decoded += 1;
                Some(meta)
            }
            Err(reason) => {
                if let Some(k) = self.skipped.get_mut(reason as usize) {
                    *k += 1;
                }
                None
            }
        }
    }

    /// Skipped frames, indexed as `SkipReason::ALL`.
    pub(crate) fn skipped_by_index(&self) -> [u64; SkipReason::ALL.len()] {
        self.skipped
    }

    /// Clears the progress line.
    pub(crate) fn finish(&mut self) {
        self.progress.clear();
    }

    /// The skip counts by reason, without zeros.
    pub(crate) fn skipped(&self) -> BTreeMap<SkipReason, u64> {
        SkipReason::ALL
            .iter()
            .zip(self.skipped)
            .filter(|&(_, n)| n > 0)
            .map(|(r, n)| (*r, n))
            .collect()
    }
}

/// A one-line progress display on a terminal.
struct Progress {
    on: bool,
    last: Option<Instant>,
}

impl Progress {
    fn new(on: bool) -> Self {
        Self { on, last: None }
    }

    fn show(&mut self, i: usize, n: usize, file: &PcapFile, packets: u64, t0: Instant) {
        if !self.on
            || self
                .last
                .is_some_and(|t| t.elapsed() < Duration::from_millis(200))
        {
            return;
        }
        self.last = Some(Instant::now());
        let rate = packets as f64 / t0.elapsed().as_secs_f64().max(1e-9);
        let pct = file
            .position()
            .map(|p| 100.0 * p as f64 / file.size().max(1) as f64);
        let bar = pct.map_or(String::new(), |p| {
            let filled = ((p / 5.0) as usize).min(20);
            format!(
                "[{}{}] {p:5.1}% ",
                "#".repeat(filled),
                "-".repeat(20 - filled)
            )
        });
        eprint!(
            "\r\x1b[2Kfile {}/{n} {bar}{packets} packets, {rate:.0} pkt/s",
            i + 1
        );
    }

    fn clear(&mut self) {
        if self.on && self.last.is_some() {
            eprint!("\r\x1b[2K");
        }
    }
}

/// The process's resident memory, bytes (Linux `/proc/self/status`; zeros
/// where that cannot be read).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Memory {
    /// Resident now (VmRSS).
    pub rss: u64,
    /// The peak so far (VmHWM).
    pub peak_rss: u64,
}

/// Reads [`Memory`].
pub fn memory() -> Memory {
    let text = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let kib = |key: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(key))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .map_or(0, |k| k * 1024)
    };
    Memory {
        rss: kib("VmRSS:"),
        peak_rss: kib("VmHWM:"),
    }
}
