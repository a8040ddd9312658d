//! The connection-context columns: NSL-KDD's 41 features by their
//! `header.arff` names, then flowsentinel's per-source window columns, and
//! [`KddRow`], one connection's values of all of them.
//!
//! Input: a column name. Output: its [`KddCol`], its kind and, for the three
//! categorical columns, its vocabulary. A [`KddRow`] stores every column as a
//! number: counts and bytes as themselves, rates rounded to 0.01, and a
//! categorical column as its index in the vocabulary (so `text` gives the
//! name back and ordinal codes come free).

use super::vocab::{Flag, PROTOCOLS, SERVICES};

/// How a context column's values are spelled and fed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KddKind {
    /// A whole number (seconds, bytes, counts, 0/1).
    Int,
    /// A rate in [0, 1], rounded to 0.01 and written with two decimals.
    Rate,
    /// A name from a fixed vocabulary.
    Cat,
}

/// Defines [`KddCol`] and its table from one list.
macro_rules! kdd_columns {
    ($($col:ident, $name:literal, $kind:ident;)+) => {
        /// A connection-context column. The first 41 are NSL-KDD's features
        /// in `header.arff` order; the rest are the per-source windows.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum KddCol {
            $(
                #[doc = concat!("`", $name, "`")]
                $col,
            )+
        }

        /// Number of context columns.
        pub const NUM_KDD: usize = [$(KddCol::$col),+].len();

        impl KddCol {
            /// Every column, in order (`KddCol::ALL[i] as usize == i`).
            pub const ALL: [KddCol; NUM_KDD] = [$(KddCol::$col),+];

            /// The column's name.
            pub const fn name(self) -> &'static str {
                match self {
                    $(KddCol::$col => $name,)+
                }
            }

            /// The column's kind.
            pub const fn kind(self) -> KddKind {
                match self {
                    $(KddCol::$col => KddKind::$kind,)+
                }
            }
        }
    };
}

kdd_columns! {
    Duration, "duration", Int;
    ProtocolType, "protocol_type", Cat;
    Service, "service", Cat;
    Flag, "flag", Cat;
    SrcBytes, "src_bytes", Int;
    DstBytes, "dst_bytes", Int;
    Land, "land", Int;
    WrongFragment, "wrong_fragment", Int;
    Urgent, "urgent", Int;
    Hot, "hot", Int;
    NumFailedLogins, "num_failed_logins", Int;
    LoggedIn, "logged_in", Int;
    NumCompromised, "num_compromised", Int;
    RootShell, "root_shell", Int;
    SuAttempted, "su_attempted", Int;
    NumRoot, "num_root", Int;
    NumFileCreations, "num_file_creations", Int;
    NumShells, "num_shells", Int;
    NumAccessFiles, "num_access_files", Int;
    NumOutboundCmds, "num_outbound_cmds", Int;
    IsHostLogin, "is_host_login", Int;
    IsGuestLogin, "is_guest_login", Int;
    Count, "count", Int;
    SrvCount, "srv_count", Int;
    SerrorRate, "serror_rate", Rate;
    SrvSerrorRate, "srv_serror_rate", Rate;
    RerrorRate, "rerror_rate", Rate;
    SrvRerrorRate, "srv_rerror_rate", Rate;
    SameSrvRate, "same_srv_rate", Rate;
    DiffSrvRate, "diff_srv_rate", Rate;
    SrvDiffHostRate, "srv_diff_host_rate", Rate;
    DstHostCount, "dst_host_count", Int;
    DstHostSrvCount, "dst_host_srv_count", Int;
    DstHostSameSrvRate, "dst_host_same_srv_rate", Rate;
    DstHostDiffSrvRate, "dst_host_diff_srv_rate", Rate;
    DstHostSameSrcPortRate, "dst_host_same_src_port_rate", Rate;
    DstHostSrvDiffHostRate, "dst_host_srv_diff_host_rate", Rate;
    DstHostSerrorRate, "dst_host_serror_rate", Rate;
    DstHostSrvSerrorRate, "dst_host_srv_serror_rate", Rate;
    DstHostRerrorRate, "dst_host_rerror_rate", Rate;
    DstHostSrvRerrorRate, "dst_host_srv_rerror_rate", Rate;
    SrcCount, "src_count", Int;
    SrcSameSrvRate, "src_same_srv_rate", Rate;
    SrcDiffSrvRate, "src_diff_srv_rate", Rate;
    SrcDiffHostCount, "src_diff_host_count", Int;
    SrcDiffPortCount, "src_diff_port_count", Int;
    SrcSerrorRate, "src_serror_rate", Rate;
    SrcRerrorRate, "src_rerror_rate", Rate;
    SrcHostCount, "src_host_count", Int;
    SrcHostSameSrvRate, "src_host_same_srv_rate", Rate;
    SrcHostDiffSrvRate, "src_host_diff_srv_rate", Rate;
    SrcHostDiffHostCount, "src_host_diff_host_count", Int;
    SrcHostDiffPortCount, "src_host_diff_port_count", Int;
    SrcHostSerrorRate, "src_host_serror_rate", Rate;
    SrcHostRerrorRate, "src_host_rerror_rate", Rate;
}

/// NSL-KDD's feature count: the first 41 columns.
pub const NUM_NSL: usize = 41;

impl KddCol {
    /// The column called `name` (exact, case-sensitive as in `header.arff`).
    pub fn lookup(name: &str) -> Option<KddCol> {
        KddCol::ALL.iter().copied().find(|c| c.name() == name)
    }

    /// NSL-KDD's 41 features, in `header.arff` order.
    pub fn nsl() -> impl Iterator<Item = KddCol> {
        KddCol::ALL.into_iter().take(NUM_NSL)
    }

    /// True for a window column (NSL-KDD's 23–41 and the per-source ones):
    /// its value depends on the connections around this one.
    pub fn is_window(self) -> bool {
        self >= KddCol::Count
    }

    /// The vocabulary of a categorical column, in `header.arff` order.
    pub fn vocabulary(self) -> Option<&'static [&'static str]> {
        match self {
            KddCol::ProtocolType => Some(&PROTOCOLS),
            KddCol::Service => Some(&SERVICES),
            KddCol::Flag => Some(&FLAG_NAMES),
            _ => None,
        }
    }
}

/// `flag` values, in `header.arff` order.
const FLAG_NAMES: [&str; 11] = {
    let mut names = [""; 11];
    let mut i = 0;
    while i < Flag::ALL.len() {
        names[i] = Flag::ALL[i].name();
        i += 1;
    }
    names
};

/// One connection's context values, every column stored as a number
/// (categorical ones as their vocabulary index).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct KddRow {
    values: [f64; NUM_KDD],
}

impl Default for KddRow {
    fn default() -> Self {
        Self::ZERO
    }
}

impl KddRow {
    /// Every column 0.
    pub const ZERO: KddRow = KddRow {
        values: [0.0; NUM_KDD],
    };

    /// The value of `c` as a number (a vocabulary index for a categorical
    /// column).
    #[inline]
    pub fn get(&self, c: KddCol) -> f64 {
        self.values.get(c as usize).copied().unwrap_or(0.0)
    }

    /// Sets `c`; a rate is rounded to 0.01 here, the one place it is.
    #[inline]
    pub fn set(&mut self, c: KddCol, v: f64) {
        let v = if c.kind() == KddKind::Rate {
            (v * 100.0).round() / 100.0
        } else {
            v
        };
        if let Some(slot) = self.values.get_mut(c as usize) {
            *slot = v;
        }
    }

    /// The name a categorical column holds (`None` for the others).
    pub fn text(&self, c: KddCol) -> Option<&'static str> {
        let vocab = c.vocabulary()?;
        vocab.get(self.get(c) as usize).copied()
    }

    /// Appends the value of `c` as NSL-KDD spells it: a name, a whole
    /// number, or a rate with two decimals.
    pub fn push_value(&self, c: KddCol, out: &mut String) {
        match c.kind() {
            KddKind::Cat => out.push_str(self.text(c).unwrap_or("other")),
            KddKind::Int => crate::text::push_int(out, self.get(c) as i64),
            KddKind::Rate => {
                // Rates are in [0, 1] and already rounded: whole hundredths.
                let cents = (self.get(c) * 100.0).round().clamp(0.0, 100.0) as u8;
                out.push(char::from(b'0' + cents / 100));
                out.push('.');
                out.push(char::from(b'0' + cents / 10 % 10));
                out.push(char::from(b'0' + cents % 10));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_41_columns_are_nsl_kdd_in_order() {
        let names: Vec<&str> = KddCol::nsl().map(KddCol::name).collect();
        assert_eq!(names.len(), 41);
        assert_eq!(names.first(), Some(&"duration"));
        assert_eq!(names.last(), Some(&"dst_host_srv_rerror_rate"));
        assert_eq!(KddCol::lookup("count"), Some(KddCol::Count));
        assert!(KddCol::Count.is_window() && !KddCol::IsGuestLogin.is_window());
    }

    #[test]
    fn rows_round_rates_and_spell_names() {
        let mut r = KddRow::default();
        r.set(KddCol::SameSrvRate, 2.0 / 3.0);
        r.set(KddCol::Flag, 9.0);
        r.set(KddCol::Count, 511.0);
        let mut s = String::new();
        for c in [KddCol::SameSrvRate, KddCol::Flag, KddCol::Count] {
            r.push_value(c, &mut s);
            s.push(',');
        }
        assert_eq!(s, "0.67,SF,511,");
        assert_eq!(r.text(KddCol::Flag), Some("SF"));
    }
}
