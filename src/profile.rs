//! Profiles: which CICFlowMeter the sensor imitates.
//!
//! Owns [`Profile`], the one switch that every stage reads: `decode` (IPv6,
//! era decoding quirks, Ethernet padding), `flow` (keys and lifecycle),
//! `features` (the era bugs), `labels` (the benign label) and `output` (the CSV
//! layout, number and timestamp spelling). It holds no state and does no I/O.
//!
//! * `cic2017` / `cic2018`: bug-compatible with the dataset-era CICFlowMeter
//!   (commit eaa853d), which wrote CIC-IDS2017 and CSE-CIC-IDS2018.
//! * `fixed`: the same columns with the era bugs corrected. Every deviation is
//!   listed in the README's "Profiles" section.
//! * `kdd`: NSL-KDD's 41 connection features (see `kdd`).

/// Which feature semantics to compute.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Profile {
    /// Dataset-era CICFlowMeter, CIC-IDS2017 CSV layout.
    Cic2017,
    /// Dataset-era CICFlowMeter, CSE-CIC-IDS2018 CSV layout.
    Cic2018,
    /// Era bugs corrected.
    Fixed,
    /// NSL-KDD connection records: `fixed`'s keys, decoding and flow
    /// features, with KDD's record rules (one ICMP message per record, a UDP
    /// request with its answer) and the KDD CSV.
    Kdd,
}

impl Profile {
    /// True for the bug-compatible profiles.
    pub fn is_compat(self) -> bool {
        matches!(self, Profile::Cic2017 | Profile::Cic2018)
    }

    /// The profile's name on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Profile::Cic2017 => "cic2017",
            Profile::Cic2018 => "cic2018",
            Profile::Fixed => "fixed",
            Profile::Kdd => "kdd",
        }
    }

    /// The label a flow gets when no episode matches it.
    pub fn benign_label(self) -> &'static str {
        match self {
            Profile::Cic2017 => "BENIGN",
            Profile::Cic2018 => "No Label",
            Profile::Fixed => "Benign",
            Profile::Kdd => "normal",
        }
    }
}
