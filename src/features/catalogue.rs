//! The column catalogue: every CSV column in its three spellings (CIC-IDS2017,
//! CSE-CIC-IDS2018 and CICFlowMeter master), and the layouts built from it.
//! This one table drives the CSV header, the order of the values and, later,
//! the model inputs.

/// How the Java tool printed a column's values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// An identifier or text (Flow ID, addresses, timestamp, label).
    Text,
    /// A Java `int`/`long`: printed without a decimal point.
    Int,
    /// A Java `double`: printed with `Double.toString`.
    Float,
}

/// One column of the catalogue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Column {
    /// CIC-IDS2017 spelling, leading space included as the era tool wrote it.
    pub y2017: &'static str,
    /// CSE-CIC-IDS2018 spelling.
    pub y2018: &'static str,
    /// CICFlowMeter master spelling.
    pub master: &'static str,
    /// Value kind.
    pub kind: Kind,
}

/// Index in [`COLUMNS`] of the first numeric feature (Flow Duration).
pub const FIRST_FEATURE: usize = 7;
/// Number of numeric features (Flow Duration .. Idle Min).
pub const NUM_FEATURES: usize = 76;
/// Index in [`COLUMNS`] of the Label column.
pub const LABEL: usize = FIRST_FEATURE + NUM_FEATURES;
/// Index in [`COLUMNS`] of Fwd Header Len, which the 2017 layout repeats.
pub const FWD_HEADER_LEN: usize = 40;
/// Index in [`COLUMNS`] of Bwd Seg Size Avg, after which the repeat goes.
const BWD_SEG_SIZE_AVG: usize = 60;

/// A CSV layout: which catalogue columns, in which order, under which spelling.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// The era tool's CIC-IDS2017 layout: 85 columns, Fwd Header Length twice.
    Tool2017,
    /// The era tool's CSE-CIC-IDS2018 layout: 84 columns.
    Tool2018,
    /// CIC-IDS2017 `MachineLearningCVE`: 79 columns, no flow identifiers but
    /// the destination port.
    Ml2017,
    /// CSE-CIC-IDS2018 "Processed Traffic": 80 columns (Dst Port, Protocol,
    /// Timestamp, features, Label).
    Ml2018,
}

impl Layout {
    /// The layout of a profile's CSV: the era tool's, or with `ml_columns`
    /// the dataset's machine-learning layout (`fixed` writes 2018's).
    pub fn for_profile(profile: crate::features::Profile, ml_columns: bool) -> Layout {
        use crate::features::Profile;
        match (profile, ml_columns) {
            (Profile::Cic2017, false) => Layout::Tool2017,
            (Profile::Cic2017, true) => Layout::Ml2017,
            (_, false) => Layout::Tool2018,
            (_, true) => Layout::Ml2018,
        }
    }

    /// Catalogue indices of the layout's columns, in order.
    pub fn columns(self) -> Vec<usize> {
        let first = match self {
            Layout::Tool2017 | Layout::Tool2018 => 0,
            Layout::Ml2017 => 4,
            Layout::Ml2018 => 4,
        };
        let mut cols: Vec<usize> = (first..=LABEL).collect();
        if self == Layout::Ml2017 {
            cols.retain(|&c| c != 5 && c != 6);
        }
        if self == Layout::Ml2018 {
            cols.retain(|&c| c >= 4);
        }
        if matches!(self, Layout::Tool2017 | Layout::Ml2017) {
            if let Some(pos) = cols.iter().position(|&c| c == BWD_SEG_SIZE_AVG) {
                cols.insert(pos + 1, FWD_HEADER_LEN);
            }
        }
        cols
    }

    /// The header line (without newline).
    pub fn header(self) -> String {
        let cols = self.columns();
        let mut seen_fwd_header = false;
        let names: Vec<&str> = cols
            .iter()
            .filter_map(|&c| COLUMNS.get(c).map(|col| (c, col)))
            .map(|(c, col)| match self {
                Layout::Tool2017 | Layout::Ml2017 => {
                    if c == FWD_HEADER_LEN && seen_fwd_header && self == Layout::Ml2017 {
                        " Fwd Header Length.1"
                    } else {
                        seen_fwd_header |= c == FWD_HEADER_LEN;
                        col.y2017
                    }
                }
                Layout::Tool2018 | Layout::Ml2018 => col.y2018,
            })
            .collect();
        names.join(",")
    }
}

/// Finds a catalogue column by any of its spellings (case and surrounding
/// space ignored).
pub fn lookup(name: &str) -> Option<usize> {
    let want = name.trim();
    COLUMNS.iter().position(|c| {
        [c.y2017, c.y2018, c.master]
            .iter()
            .any(|s| s.trim().eq_ignore_ascii_case(want))
    })
}

// Column names in the three spellings, in CIC-IDS2017 tool order. Generated once from the
// era tool's header and the CICFlowMeter master header; edit by hand from now on.
/// Every column, in CSE-CIC-IDS2018 tool order.
pub const COLUMNS: &[Column] = &[
    Column {
        y2017: "Flow ID",
        y2018: "Flow ID",
        master: "Flow ID",
        kind: Kind::Text,
    },
    Column {
        y2017: " Source IP",
        y2018: "Src IP",
        master: "Src IP",
        kind: Kind::Text,
    },
    Column {
        y2017: " Source Port",
        y2018: "Src Port",
        master: "Src Port",
        kind: Kind::Text,
    },
    Column {
        y2017: " Destination IP",
        y2018: "Dst IP",
        master: "Dst IP",
        kind: Kind::Text,
    },
    Column {
        y2017: " Destination Port",
        y2018: "Dst Port",
        master: "Dst Port",
        kind: Kind::Text,
    },
    Column {
        y2017: " Protocol",
        y2018: "Protocol",
        master: "Protocol",
        kind: Kind::Text,
    },
    Column {
        y2017: " Timestamp",
        y2018: "Timestamp",
        master: "Timestamp",
        kind: Kind::Text,
    },
    Column {
        y2017: " Flow Duration",
        y2018: "Flow Duration",
        master: "Flow Duration",
        kind: Kind::Int,
    },
    Column {
        y2017: " Total Fwd Packets",
        y2018: "Tot Fwd Pkts",
        master: "Total Fwd Packet",
        kind: Kind::Int,
    },
    Column {
        y2017: " Total Backward Packets",
        y2018: "Tot Bwd Pkts",
        master: "Total Bwd packets",
        kind: Kind::Int,
    },
    Column {
        y2017: "Total Length of Fwd Packets",
        y2018: "TotLen Fwd Pkts",
        master: "Total Length of Fwd Packet",
        kind: Kind::Float,
    },
    Column {
        y2017: " Total Length of Bwd Packets",
        y2018: "TotLen Bwd Pkts",
        master: "Total Length of Bwd Packet",
        kind: Kind::Float,
    },
    Column {
        y2017: " Fwd Packet Length Max",
        y2018: "Fwd Pkt Len Max",
        master: "Fwd Packet Length Max",
        kind: Kind::Float,
    },
    Column {
        y2017: " Fwd Packet Length Min",
        y2018: "Fwd Pkt Len Min",
        master: "Fwd Packet Length Min",
        kind: Kind::Float,
    },
    Column {
        y2017: " Fwd Packet Length Mean",
        y2018: "Fwd Pkt Len Mean",
        master: "Fwd Packet Length Mean",
        kind: Kind::Float,
    },
    Column {
        y2017: " Fwd Packet Length Std",
        y2018: "Fwd Pkt Len Std",
        master: "Fwd Packet Length Std",
        kind: Kind::Float,
    },
    Column {
        y2017: "Bwd Packet Length Max",
        y2018: "Bwd Pkt Len Max",
        master: "Bwd Packet Length Max",
        kind: Kind::Float,
    },
    Column {
        y2017: " Bwd Packet Length Min",
        y2018: "Bwd Pkt Len Min",
        master: "Bwd Packet Length Min",
        kind: Kind::Float,
    },
    Column {
        y2017: " Bwd Packet Length Mean",
        y2018: "Bwd Pkt Len Mean",
        master: "Bwd Packet Length Mean",
        kind: Kind::Float,
    },
    Column {
        y2017: " Bwd Packet Length Std",
        y2018: "Bwd Pkt Len Std",
        master: "Bwd Packet Length Std",
        kind: Kind::Float,
    },
    Column {
        y2017: "Flow Bytes/s",
        y2018: "Flow Byts/s",
        master: "Flow Bytes/s",
        kind: Kind::Float,
    },
    Column {
        y2017: " Flow Packets/s",
        y2018: "Flow Pkts/s",
        master: "Flow Packets/s",
        kind: Kind::Float,
    },
    Column {
        y2017: " Flow IAT Mean",
        y2018: "Flow IAT Mean",
        master: "Flow IAT Mean",
        kind: Kind::Float,
    },
    Column {
        y2017: " Flow IAT Std",
        y2018: "Flow IAT Std",
        master: "Flow IAT Std",
        kind: Kind::Float,
    },
    Column {
        y2017: " Flow IAT Max",
        y2018: "Flow IAT Max",
        master: "Flow IAT Max",
        kind: Kind::Float,
    },
    Column {
        y2017: " Flow IAT Min",
        y2018: "Flow IAT Min",
        master: "Flow IAT Min",
        kind: Kind::Float,
    },
    Column {
        y2017: "Fwd IAT Total",
        y2018: "Fwd IAT Tot",
        master: "Fwd IAT Total",
        kind: Kind::Float,
    },
    Column {
        y2017: " Fwd IAT Mean",
        y2018: "Fwd IAT Mean",
        master: "Fwd IAT Mean",
        kind: Kind::Float,
    },
    Column {
        y2017: " Fwd IAT Std",
        y2018: "Fwd IAT Std",
        master: "Fwd IAT Std",
        kind: Kind::Float,
    },
    Column {
        y2017: " Fwd IAT Max",
        y2018: "Fwd IAT Max",
        master: "Fwd IAT Max",
        kind: Kind::Float,
    },
    Column {
        y2017: " Fwd IAT Min",
        y2018: "Fwd IAT Min",
        master: "Fwd IAT Min",
        kind: Kind::Float,
    },
    Column {
        y2017: "Bwd IAT Total",
        y2018: "Bwd IAT Tot",
        master: "Bwd IAT Total",
        kind: Kind::Float,
    },
    Column {
        y2017: " Bwd IAT Mean",
        y2018: "Bwd IAT Mean",
        master: "Bwd IAT Mean",
        kind: Kind::Float,
    },
    Column {
        y2017: " Bwd IAT Std",
        y2018: "Bwd IAT Std",
        master: "Bwd IAT Std",
        kind: Kind::Float,
    },
    Column {
        y2017: " Bwd IAT Max",
        y2018: "Bwd IAT Max",
        master: "Bwd IAT Max",
        kind: Kind::Float,
    },
    Column {
        y2017: " Bwd IAT Min",
        y2018: "Bwd IAT Min",
        master: "Bwd IAT Min",
        kind: Kind::Float,
    },
    Column {
        y2017: "Fwd PSH Flags",
        y2018: "Fwd PSH Flags",
        master: "Fwd PSH Flags",
        kind: Kind::Int,
    },
    Column {
        y2017: " Bwd PSH Flags",
        y2018: "Bwd PSH Flags",
        master: "Bwd PSH Flags",
        kind: Kind::Int,
    },
    Column {
        y2017: " Fwd URG Flags",
        y2018: "Fwd URG Flags",
        master: "Fwd URG Flags",
        kind: Kind::Int,
    },
    Column {
        y2017: " Bwd URG Flags",
        y2018: "Bwd URG Flags",
        master: "Bwd URG Flags",
        kind: Kind::Int,
    },
    Column {
        y2017: " Fwd Header Length",
        y2018: "Fwd Header Len",
        master: "Fwd Header Length",
        kind: Kind::Int,
    },
    Column {
        y2017: " Bwd Header Length",
        y2018: "Bwd Header Len",
        master: "Bwd Header Length",
        kind: Kind::Int,
    },
    Column {
        y2017: "Fwd Packets/s",
        y2018: "Fwd Pkts/s",
        master: "Fwd Packets/s",
        kind: Kind::Float,
    },
    Column {
        y2017: " Bwd Packets/s",
        y2018: "Bwd Pkts/s",
        master: "Bwd Packets/s",
        kind: Kind::Float,
    },
    Column {
        y2017: " Min Packet Length",
        y2018: "Pkt Len Min",
        master: "Packet Length Min",
        kind: Kind::Float,
    },
    Column {
        y2017: " Max Packet Length",
        y2018: "Pkt Len Max",
        master: "Packet Length Max",
        kind: Kind::Float,
    },
    Column {
        y2017: " Packet Length Mean",
        y2018: "Pkt Len Mean",
        master: "Packet Length Mean",
        kind: Kind::Float,
    },
    Column {
        y2017: " Packet Length Std",
        y2018: "Pkt Len Std",
        master: "Packet Length Std",
        kind: Kind::Float,
    },
    Column {
        y2017: " Packet Length Variance",
        y2018: "Pkt Len Var",
        master: "Packet Length Variance",
        kind: Kind::Float,
    },
    Column {
        y2017: "FIN Flag Count",
        y2018: "FIN Flag Cnt",
        master: "FIN Flag Count",
        kind: Kind::Int,
    },
    Column {
        y2017: " SYN Flag Count",
        y2018: "SYN Flag Cnt",
        master: "SYN Flag Count",
        kind: Kind::Int,
    },
    Column {
        y2017: " RST Flag Count",
        y2018: "RST Flag Cnt",
        master: "RST Flag Count",
        kind: Kind::Int,
    },
    Column {
        y2017: " PSH Flag Count",
        y2018: "PSH Flag Cnt",
        master: "PSH Flag Count",
        kind: Kind::Int,
    },
    Column {
        y2017: " ACK Flag Count",
        y2018: "ACK Flag Cnt",
        master: "ACK Flag Count",
        kind: Kind::Int,
    },
    Column {
        y2017: " URG Flag Count",
        y2018: "URG Flag Cnt",
        master: "URG Flag Count",
        kind: Kind::Int,
    },
    Column {
        y2017: " CWE Flag Count",
        y2018: "CWE Flag Count",
        master: "CWR Flag Count",
        kind: Kind::Int,
    },
    Column {
        y2017: " ECE Flag Count",
        y2018: "ECE Flag Cnt",
        master: "ECE Flag Count",
        kind: Kind::Int,
    },
    Column {
        y2017: " Down/Up Ratio",
        y2018: "Down/Up Ratio",
        master: "Down/Up Ratio",
        kind: Kind::Float,
    },
    Column {
        y2017: " Average Packet Size",
        y2018: "Pkt Size Avg",
        master: "Average Packet Size",
        kind: Kind::Float,
    },
    Column {
        y2017: " Avg Fwd Segment Size",
        y2018: "Fwd Seg Size Avg",
        master: "Fwd Segment Size Avg",
        kind: Kind::Float,
    },
    Column {
        y2017: " Avg Bwd Segment Size",
        y2018: "Bwd Seg Size Avg",
        master: "Bwd Segment Size Avg",
        kind: Kind::Float,
    },
    Column {
        y2017: "Fwd Avg Bytes/Bulk",
        y2018: "Fwd Byts/b Avg",
        master: "Fwd Bytes/Bulk Avg",
        kind: Kind::Int,
    },
    Column {
        y2017: " Fwd Avg Packets/Bulk",
        y2018: "Fwd Pkts/b Avg",
        master: "Fwd Packet/Bulk Avg",
        kind: Kind::Int,
    },
    Column {
        y2017: " Fwd Avg Bulk Rate",
        y2018: "Fwd Blk Rate Avg",
        master: "Fwd Bulk Rate Avg",
        kind: Kind::Int,
    },
    Column {
        y2017: " Bwd Avg Bytes/Bulk",
        y2018: "Bwd Byts/b Avg",
        master: "Bwd Bytes/Bulk Avg",
        kind: Kind::Int,
    },
    Column {
        y2017: " Bwd Avg Packets/Bulk",
        y2018: "Bwd Pkts/b Avg",
        master: "Bwd Packet/Bulk Avg",
        kind: Kind::Int,
    },
    Column {
        y2017: "Bwd Avg Bulk Rate",
        y2018: "Bwd Blk Rate Avg",
        master: "Bwd Bulk Rate Avg",
        kind: Kind::Int,
    },
    Column {
        y2017: "Subflow Fwd Packets",
        y2018: "Subflow Fwd Pkts",
        master: "Subflow Fwd Packets",
        kind: Kind::Int,
    },
    Column {
        y2017: " Subflow Fwd Bytes",
        y2018: "Subflow Fwd Byts",
        master: "Subflow Fwd Bytes",
        kind: Kind::Int,
    },
    Column {
        y2017: " Subflow Bwd Packets",
        y2018: "Subflow Bwd Pkts",
        master: "Subflow Bwd Packets",
        kind: Kind::Int,
    },
    Column {
        y2017: " Subflow Bwd Bytes",
        y2018: "Subflow Bwd Byts",
        master: "Subflow Bwd Bytes",
        kind: Kind::Int,
    },
    Column {
        y2017: "Init_Win_bytes_forward",
        y2018: "Init Fwd Win Byts",
        master: "FWD Init Win Bytes",
        kind: Kind::Int,
    },
    Column {
        y2017: " Init_Win_bytes_backward",
        y2018: "Init Bwd Win Byts",
        master: "Bwd Init Win Bytes",
        kind: Kind::Int,
    },
    Column {
        y2017: " act_data_pkt_fwd",
        y2018: "Fwd Act Data Pkts",
        master: "Fwd Act Data Pkts",
        kind: Kind::Int,
    },
    Column {
        y2017: " min_seg_size_forward",
        y2018: "Fwd Seg Size Min",
        master: "Fwd Seg Size Min",
        kind: Kind::Int,
    },
    Column {
        y2017: "Active Mean",
        y2018: "Active Mean",
        master: "Active Mean",
        kind: Kind::Float,
    },
    Column {
        y2017: " Active Std",
        y2018: "Active Std",
        master: "Active Std",
        kind: Kind::Float,
    },
    Column {
        y2017: " Active Max",
        y2018: "Active Max",
        master: "Active Max",
        kind: Kind::Float,
    },
    Column {
        y2017: " Active Min",
        y2018: "Active Min",
        master: "Active Min",
        kind: Kind::Float,
    },
    Column {
        y2017: "Idle Mean",
        y2018: "Idle Mean",
        master: "Idle Mean",
        kind: Kind::Float,
    },
    Column {
        y2017: " Idle Std",
        y2018: "Idle Std",
        master: "Idle Std",
        kind: Kind::Float,
    },
    Column {
        y2017: " Idle Max",
        y2018: "Idle Max",
        master: "Idle Max",
        kind: Kind::Float,
    },
    Column {
        y2017: " Idle Min",
        y2018: "Idle Min",
        master: "Idle Min",
        kind: Kind::Float,
    },
    Column {
        y2017: " Label",
        y2018: "Label",
        master: "Label",
        kind: Kind::Text,
    },
];
