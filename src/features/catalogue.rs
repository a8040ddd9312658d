//! The column catalogue: every CSV column in its three spellings (CIC-IDS2017,
//! CSE-CIC-IDS2018 and CICFlowMeter master), the [`Col`] that names it, and
//! the layouts built from it.
//!
//! This one table drives the CSV header, where each feature value is stored
//! (a value for [`Col`] `c` lives at `c.feature_index()` of the feature
//! vector) and how model inputs and CSV headers resolve by name. Code names
//! columns with [`Col`], never by position: reordering the table reorders
//! the discriminants with it, and the checks below (at compile time) keep the
//! feature columns one contiguous block.

use crate::profile::Profile;

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

/// Defines [`Col`], [`Col::ALL`], [`Col::column`] and [`COLUMNS`] from one
/// list, so a column's name, position and spellings cannot drift apart.
macro_rules! catalogue {
    ($($col:ident, $kind:ident, $y2017:literal, $y2018:literal, $master:literal;)+) => {
        /// A catalogue column, by name. Variants are named after the
        /// CSE-CIC-IDS2018 spelling (`CwrFlagCnt` is its `CWE Flag Count`);
        /// the discriminant is the column's index in [`COLUMNS`].
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum Col {
            $(
                #[doc = concat!("`", $y2018, "`")]
                $col,
            )+
        }

        /// Number of catalogue columns.
        pub const NUM_COLUMNS: usize = [$(Col::$col),+].len();

        impl Col {
            /// Every column, in catalogue order (`Col::ALL[i] as usize == i`).
            pub const ALL: [Col; NUM_COLUMNS] = [$(Col::$col),+];

            /// The column's spellings and kind.
            #[inline]
            pub const fn column(self) -> &'static Column {
                match self {
                    $(
                        Col::$col => &Column {
                            y2017: $y2017,
                            y2018: $y2018,
                            master: $master,
                            kind: Kind::$kind,
                        },
                    )+
                }
            }
        }

        /// Every column, in the era tool's CSV order (the 2017 layout adds a
        /// repeat): `COLUMNS[c as usize]` is `*c.column()`.
        pub const COLUMNS: [Column; NUM_COLUMNS] = [$(*Col::$col.column()),+];
    };
}

// Generated once from the era tool's header and the CICFlowMeter master
// header; edit by hand from now on. A feature is every column between
// Timestamp and Label; `FIRST_FEATURE` and `NUM_FEATURES` follow the table.
catalogue! {
    // Col             Kind   CIC-IDS2017                     CSE-CIC-IDS2018      master
    FlowId,            Text,  "Flow ID",                      "Flow ID",           "Flow ID";
    SrcIp,             Text,  " Source IP",                   "Src IP",            "Src IP";
    SrcPort,           Text,  " Source Port",                 "Src Port",          "Src Port";
    DstIp,             Text,  " Destination IP",              "Dst IP",            "Dst IP";
    DstPort,           Text,  " Destination Port",            "Dst Port",          "Dst Port";
    Protocol,          Text,  " Protocol",                    "Protocol",          "Protocol";
    Timestamp,         Text,  " Timestamp",                   "Timestamp",         "Timestamp";
    FlowDuration,      Int,   " Flow Duration",               "Flow Duration",     "Flow Duration";
    TotFwdPkts,        Int,   " Total Fwd Packets",           "Tot Fwd Pkts",      "Total Fwd Packet";
    TotBwdPkts,        Int,   " Total Backward Packets",      "Tot Bwd Pkts",      "Total Bwd packets";
    TotLenFwdPkts,     Float, "Total Length of Fwd Packets",  "TotLen Fwd Pkts",   "Total Length of Fwd Packet";
    TotLenBwdPkts,     Float, " Total Length of Bwd Packets", "TotLen Bwd Pkts",   "Total Length of Bwd Packet";
    FwdPktLenMax,      Float, " Fwd Packet Length Max",       "Fwd Pkt Len Max",   "Fwd Packet Length Max";
    FwdPktLenMin,      Float, " Fwd Packet Length Min",       "Fwd Pkt Len Min",   "Fwd Packet Length Min";
    FwdPktLenMean,     Float, " Fwd Packet Length Mean",      "Fwd Pkt Len Mean",  "Fwd Packet Length Mean";
    FwdPktLenStd,      Float, " Fwd Packet Length Std",       "Fwd Pkt Len Std",   "Fwd Packet Length Std";
    BwdPktLenMax,      Float, "Bwd Packet Length Max",        "Bwd Pkt Len Max",   "Bwd Packet Length Max";
    BwdPktLenMin,      Float, " Bwd Packet Length Min",       "Bwd Pkt Len Min",   "Bwd Packet Length Min";
    BwdPktLenMean,     Float, " Bwd Packet Length Mean",      "Bwd Pkt Len Mean",  "Bwd Packet Length Mean";
    BwdPktLenStd,      Float, " Bwd Packet Length Std",       "Bwd Pkt Len Std",   "Bwd Packet Length Std";
    FlowBytsPerSec,    Float, "Flow Bytes/s",                 "Flow Byts/s",       "Flow Bytes/s";
    FlowPktsPerSec,    Float, " Flow Packets/s",              "Flow Pkts/s",       "Flow Packets/s";
    FlowIatMean,       Float, " Flow IAT Mean",               "Flow IAT Mean",     "Flow IAT Mean";
    FlowIatStd,        Float, " Flow IAT Std",                "Flow IAT Std",      "Flow IAT Std";
    FlowIatMax,        Float, " Flow IAT Max",                "Flow IAT Max",      "Flow IAT Max";
    FlowIatMin,        Float, " Flow IAT Min",                "Flow IAT Min",      "Flow IAT Min";
    FwdIatTot,         Float, "Fwd IAT Total",                "Fwd IAT Tot",       "Fwd IAT Total";
    FwdIatMean,        Float, " Fwd IAT Mean",                "Fwd IAT Mean",      "Fwd IAT Mean";
    FwdIatStd,         Float, " Fwd IAT Std",                 "Fwd IAT Std",       "Fwd IAT Std";
    FwdIatMax,         Float, " Fwd IAT Max",                 "Fwd IAT Max",       "Fwd IAT Max";
    FwdIatMin,         Float, " Fwd IAT Min",                 "Fwd IAT Min",       "Fwd IAT Min";
    BwdIatTot,         Float, "Bwd IAT Total",                "Bwd IAT Tot",       "Bwd IAT Total";
    BwdIatMean,        Float, " Bwd IAT Mean",                "Bwd IAT Mean",      "Bwd IAT Mean";
    BwdIatStd,         Float, " Bwd IAT Std",                 "Bwd IAT Std",       "Bwd IAT Std";
    BwdIatMax,         Float, " Bwd IAT Max",                 "Bwd IAT Max",       "Bwd IAT Max";
    BwdIatMin,         Float, " Bwd IAT Min",                 "Bwd IAT Min",       "Bwd IAT Min";
    FwdPshFlags,       Int,   "Fwd PSH Flags",                "Fwd PSH Flags",     "Fwd PSH Flags";
    BwdPshFlags,       Int,   " Bwd PSH Flags",               "Bwd PSH Flags",     "Bwd PSH Flags";
    FwdUrgFlags,       Int,   " Fwd URG Flags",               "Fwd URG Flags",     "Fwd URG Flags";
    BwdUrgFlags,       Int,   " Bwd URG Flags",               "Bwd URG Flags",     "Bwd URG Flags";
    FwdHeaderLen,      Int,   " Fwd Header Length",           "Fwd Header Len",    "Fwd Header Length";
    BwdHeaderLen,      Int,   " Bwd Header Length",           "Bwd Header Len",    "Bwd Header Length";
    FwdPktsPerSec,     Float, "Fwd Packets/s",                "Fwd Pkts/s",        "Fwd Packets/s";
    BwdPktsPerSec,     Float, " Bwd Packets/s",               "Bwd Pkts/s",        "Bwd Packets/s";
    PktLenMin,         Float, " Min Packet Length",           "Pkt Len Min",       "Packet Length Min";
    PktLenMax,         Float, " Max Packet Length",           "Pkt Len Max",       "Packet Length Max";
    PktLenMean,        Float, " Packet Length Mean",          "Pkt Len Mean",      "Packet Length Mean";
    PktLenStd,         Float, " Packet Length Std",           "Pkt Len Std",       "Packet Length Std";
    PktLenVar,         Float, " Packet Length Variance",      "Pkt Len Var",       "Packet Length Variance";
    FinFlagCnt,        Int,   "FIN Flag Count",               "FIN Flag Cnt",      "FIN Flag Count";
    SynFlagCnt,        Int,   " SYN Flag Count",              "SYN Flag Cnt",      "SYN Flag Count";
    RstFlagCnt,        Int,   " RST Flag Count",              "RST Flag Cnt",      "RST Flag Count";
    PshFlagCnt,        Int,   " PSH Flag Count",              "PSH Flag Cnt",      "PSH Flag Count";
    AckFlagCnt,        Int,   " ACK Flag Count",              "ACK Flag Cnt",      "ACK Flag Count";
    UrgFlagCnt,        Int,   " URG Flag Count",              "URG Flag Cnt",      "URG Flag Count";
    CwrFlagCnt,        Int,   " CWE Flag Count",              "CWE Flag Count",    "CWR Flag Count";
    EceFlagCnt,        Int,   " ECE Flag Count",              "ECE Flag Cnt",      "ECE Flag Count";
    DownUpRatio,       Float, " Down/Up Ratio",               "Down/Up Ratio",     "Down/Up Ratio";
    PktSizeAvg,        Float, " Average Packet Size",         "Pkt Size Avg",      "Average Packet Size";
    FwdSegSizeAvg,     Float, " Avg Fwd Segment Size",        "Fwd Seg Size Avg",  "Fwd Segment Size Avg";
    BwdSegSizeAvg,     Float, " Avg Bwd Segment Size",        "Bwd Seg Size Avg",  "Bwd Segment Size Avg";
    FwdBytsPerBulkAvg, Int,   "Fwd Avg Bytes/Bulk",           "Fwd Byts/b Avg",    "Fwd Bytes/Bulk Avg";
    FwdPktsPerBulkAvg, Int,   " Fwd Avg Packets/Bulk",        "Fwd Pkts/b Avg",    "Fwd Packet/Bulk Avg";
    FwdBulkRateAvg,    Int,   " Fwd Avg Bulk Rate",           "Fwd Blk Rate Avg",  "Fwd Bulk Rate Avg";
    BwdBytsPerBulkAvg, Int,   " Bwd Avg Bytes/Bulk",          "Bwd Byts/b Avg",    "Bwd Bytes/Bulk Avg";
    BwdPktsPerBulkAvg, Int,   " Bwd Avg Packets/Bulk",        "Bwd Pkts/b Avg",    "Bwd Packet/Bulk Avg";
    BwdBulkRateAvg,    Int,   "Bwd Avg Bulk Rate",            "Bwd Blk Rate Avg",  "Bwd Bulk Rate Avg";
    SubflowFwdPkts,    Int,   "Subflow Fwd Packets",          "Subflow Fwd Pkts",  "Subflow Fwd Packets";
    SubflowFwdByts,    Int,   " Subflow Fwd Bytes",           "Subflow Fwd Byts",  "Subflow Fwd Bytes";
    SubflowBwdPkts,    Int,   " Subflow Bwd Packets",         "Subflow Bwd Pkts",  "Subflow Bwd Packets";
    SubflowBwdByts,    Int,   " Subflow Bwd Bytes",           "Subflow Bwd Byts",  "Subflow Bwd Bytes";
    InitFwdWinByts,    Int,   "Init_Win_bytes_forward",       "Init Fwd Win Byts", "FWD Init Win Bytes";
    InitBwdWinByts,    Int,   " Init_Win_bytes_backward",     "Init Bwd Win Byts", "Bwd Init Win Bytes";
    FwdActDataPkts,    Int,   " act_data_pkt_fwd",            "Fwd Act Data Pkts", "Fwd Act Data Pkts";
    FwdSegSizeMin,     Int,   " min_seg_size_forward",        "Fwd Seg Size Min",  "Fwd Seg Size Min";
    ActiveMean,        Float, "Active Mean",                  "Active Mean",       "Active Mean";
    ActiveStd,         Float, " Active Std",                  "Active Std",        "Active Std";
    ActiveMax,         Float, " Active Max",                  "Active Max",        "Active Max";
    ActiveMin,         Float, " Active Min",                  "Active Min",        "Active Min";
    IdleMean,          Float, "Idle Mean",                    "Idle Mean",         "Idle Mean";
    IdleStd,           Float, " Idle Std",                    "Idle Std",          "Idle Std";
    IdleMax,           Float, " Idle Max",                    "Idle Max",          "Idle Max";
    IdleMin,           Float, " Idle Min",                    "Idle Min",          "Idle Min";
    Label,             Text,  " Label",                       "Label",             "Label";
}

/// Index in [`COLUMNS`] of the first numeric feature (Flow Duration).
pub const FIRST_FEATURE: usize = Col::FlowDuration as usize;
/// Number of numeric features (Flow Duration .. Idle Min).
pub const NUM_FEATURES: usize = Col::IdleMin as usize + 1 - FIRST_FEATURE;

// Compile-time checks of the table's shape: 76 features, and the numeric
// columns exactly the features, so one contiguous block between the
// identifiers and the label; `ALL` in discriminant order.
const _: () = {
    assert!(NUM_FEATURES == 76);
    assert!(Col::Label as usize == NUM_COLUMNS - 1);
    let mut cols: &[Col] = &Col::ALL;
    let mut i = 0;
    while let [col, rest @ ..] = cols {
        assert!(*col as usize == i);
        let numeric = !matches!(col.column().kind, Kind::Text);
        assert!(numeric == col.feature_index().is_some());
        cols = rest;
        i += 1;
    }
};

impl Col {
    /// The column's index in [`COLUMNS`].
    #[inline]
    pub const fn index(self) -> usize {
        self as usize
    }

    /// The column at `index` in [`COLUMNS`].
    pub fn from_index(index: usize) -> Option<Col> {
        Col::ALL.get(index).copied()
    }

    /// Where a feature column's value lives in a
    /// [`FeatureVector`](super::FeatureVector); `None` for the identifier
    /// columns and the label.
    #[inline]
    pub const fn feature_index(self) -> Option<usize> {
        let i = self as usize;
        if i >= FIRST_FEATURE && i < FIRST_FEATURE + NUM_FEATURES {
            Some(i - FIRST_FEATURE)
        } else {
            None
        }
    }

    /// The feature columns, in feature-vector order.
    pub fn features() -> impl Iterator<Item = Col> {
        Col::ALL.into_iter().filter(|c| c.feature_index().is_some())
    }
}

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
    /// The layout a profile writes: its tool layout, or with `ml_columns` its
    /// dataset's machine-learning layout (`fixed` writes the 2018 ones).
    pub fn for_profile(profile: Profile, ml_columns: bool) -> Layout {
        match (profile, ml_columns) {
            (Profile::Cic2017, false) => Layout::Tool2017,
            (Profile::Cic2017, true) => Layout::Ml2017,
            (Profile::Cic2018 | Profile::Fixed | Profile::Kdd, false) => Layout::Tool2018,
            (Profile::Cic2018 | Profile::Fixed | Profile::Kdd, true) => Layout::Ml2018,
        }
    }

    /// True for the CIC-IDS2017 layouts (2017 spelling, Fwd Header Length
    /// repeated after Bwd Seg Size Avg).
    fn is_2017(self) -> bool {
        matches!(self, Layout::Tool2017 | Layout::Ml2017)
    }

    /// The layout's columns, in order.
    pub fn columns(self) -> Vec<Col> {
        use Col::*;
        let leading: &[Col] = match self {
            Layout::Tool2017 | Layout::Tool2018 => {
                &[FlowId, SrcIp, SrcPort, DstIp, DstPort, Protocol, Timestamp]
            }
            Layout::Ml2017 => &[DstPort],
            Layout::Ml2018 => &[DstPort, Protocol, Timestamp],
        };
        let mut cols = leading.to_vec();
        for c in Col::features() {
            cols.push(c);
            if c == BwdSegSizeAvg && self.is_2017() {
                // era: the 2017 tool wrote Fwd Header Length a second time here.
                cols.push(FwdHeaderLen);
            }
        }
        cols.push(Label);
        cols
    }

    /// The header line (without newline).
    pub fn header(self) -> String {
        let mut seen_fwd_header = false;
        let names: Vec<&str> = self
            .columns()
            .into_iter()
            .map(|c| {
                if !self.is_2017() {
                    return c.column().y2018;
                }
                let repeat = c == Col::FwdHeaderLen && seen_fwd_header;
                seen_fwd_header |= c == Col::FwdHeaderLen;
                if repeat && self == Layout::Ml2017 {
                    // MachineLearningCVE spells the repeat as pandas renames a duplicate.
                    " Fwd Header Length.1"
                } else {
                    c.column().y2017
                }
            })
            .collect();
        names.join(",")
    }
}

/// Finds a catalogue column by any of its spellings (case and surrounding
/// space ignored).
pub fn lookup(name: &str) -> Option<Col> {
    let want = name.trim();
    Col::ALL.into_iter().find(|c| {
        let col = c.column();
        [col.y2017, col.y2018, col.master]
            .iter()
            .any(|s| s.trim().eq_ignore_ascii_case(want))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_for_profile() {
        let cases = [
            (Profile::Cic2017, false, Layout::Tool2017),
            (Profile::Cic2017, true, Layout::Ml2017),
            (Profile::Cic2018, false, Layout::Tool2018),
            (Profile::Cic2018, true, Layout::Ml2018),
            (Profile::Fixed, false, Layout::Tool2018),
            (Profile::Fixed, true, Layout::Ml2018),
        ];
        for (profile, ml, want) in cases {
            assert_eq!(Layout::for_profile(profile, ml), want, "{profile:?} {ml}");
        }
    }

    #[test]
    fn layouts_have_the_datasets_column_counts() {
        for (layout, n) in [
            (Layout::Tool2017, 85),
            (Layout::Tool2018, 84),
            (Layout::Ml2017, 79),
            (Layout::Ml2018, 80),
        ] {
            assert_eq!(layout.columns().len(), n, "{layout:?}");
            assert_eq!(layout.header().split(',').count(), n, "{layout:?}");
            assert_eq!(layout.columns().last(), Some(&Col::Label), "{layout:?}");
        }
    }

    #[test]
    fn layouts_name_their_leading_columns_and_the_2017_repeat() {
        let h = Layout::Tool2017.header();
        assert!(h.starts_with("Flow ID, Source IP, Source Port, Destination IP,"));
        assert_eq!(h.matches(" Fwd Header Length,").count(), 2);
        assert!(h.contains(" Avg Bwd Segment Size, Fwd Header Length,Fwd Avg Bytes/Bulk"));
        assert!(Layout::Ml2017
            .header()
            .starts_with(" Destination Port, Flow Duration,"));
        assert!(Layout::Ml2017
            .header()
            .contains(" Avg Bwd Segment Size, Fwd Header Length.1,Fwd Avg Bytes/Bulk"));
        assert!(Layout::Ml2018
            .header()
            .starts_with("Dst Port,Protocol,Timestamp,Flow Duration,"));
        assert!(Layout::Tool2018
            .header()
            .starts_with("Flow ID,Src IP,Src Port"));
        assert!(!Layout::Tool2018
            .header()
            .contains("Fwd Header Len,Fwd Header Len"));
    }

    #[test]
    fn every_spelling_looks_up_its_column() {
        for c in Col::ALL {
            let col = c.column();
            for name in [col.y2017, col.y2018, col.master] {
                assert_eq!(lookup(name), Some(c), "{name:?}");
            }
            assert_eq!(Col::from_index(c.index()), Some(c));
            assert_eq!(&COLUMNS[c.index()], col);
        }
        assert_eq!(lookup(" fwd pkt len max "), Some(Col::FwdPktLenMax));
        assert_eq!(lookup("no such column"), None);
    }

    #[test]
    fn feature_indices_follow_the_catalogue() {
        let features: Vec<Col> = Col::features().collect();
        assert_eq!(features.len(), NUM_FEATURES);
        for (i, c) in features.iter().enumerate() {
            assert_eq!(c.feature_index(), Some(i), "{c:?}");
            assert_eq!(c.index(), FIRST_FEATURE + i, "{c:?}");
        }
        assert_eq!(features.first(), Some(&Col::FlowDuration));
        assert_eq!(features.last(), Some(&Col::IdleMin));
        for c in [Col::FlowId, Col::Timestamp, Col::Label] {
            assert_eq!(c.feature_index(), None);
        }
    }
}
