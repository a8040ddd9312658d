//! Alert signatures: the rule identity Suricata's consumers key on (`gid`,
//! `signature_id`, `rev`) and the SOC category of each model label.
//!
//! Input: a bundle's labels and version, with model.json's optional
//! `signatures` (label → id) and `alert_categories` (label → text)
//! overrides. Output: [`Signatures`], one id and one category per label; or
//! the model.json field and the reason an override is refused.
//!
//! - `gid` is [`GID`] for every alert: public rule sets use 1 (and Snort 3
//!   for its shared-object rules), Snort's inspectors 100–499, so ours
//!   cannot clash with any of them.
//! - A label's default `signature_id` is [`SID_BASE`] plus the 32-bit FNV-1a
//!   hash of its UTF-8 bytes modulo [`SID_SPAN`]: the same label gets the same
//!   id in every bundle and every run, whatever the class order.
//! - `rev` comes from the bundle's `version` ([`rev_of`]).
//! - A label's default category is the Snort/Suricata classification its
//!   name points to ([`default_category`]), else `Misc activity`.

use std::collections::BTreeMap;

/// The generator id of every flowsentinel alert.
pub const GID: u32 = 1_000_000;

/// The first default signature id.
pub const SID_BASE: u32 = 9_000_000;

/// How many default signature ids there are (`SID_BASE..SID_BASE + SID_SPAN`).
pub const SID_SPAN: u32 = 1_000_000;

/// The category of a label no rule below matches.
pub const MISC: &str = "Misc activity";

/// The default signature id of a label.
pub fn default_sid(label: &str) -> u32 {
    let mut h: u32 = 0x811c_9dc5;
    for &b in label.as_bytes() {
        h ^= u32::from(b);
        h = h.wrapping_mul(0x0100_0193);
    }
    SID_BASE + h % SID_SPAN
}

/// Words in a label that point to a classification, tried in this order;
/// a word matches a whole word of the label, or any part of it when marked
/// `*` (so `*dos` matches `DDoS`).
const CATEGORIES: [(&str, &[&str]); 7] = [
    (
        "Web Application Attack",
        &["*web", "*xss", "*sql", "*injection", "csrf", "lfi", "rfi"],
    ),
    (
        "Detection of a Network Scan",
        &[
            "*scan", "*probe", "*sweep", "recon", "nmap", "satan", "mscan", "saint",
        ],
    ),
    (
        "Attempted Denial of Service",
        &[
            "*dos",
            "*flood",
            "hulk",
            "goldeneye",
            "slowloris",
            "*slowhttp",
            "slow",
            "loic",
            "hoic",
            "smurf",
            "neptune",
            "teardrop",
            "pod",
            "land",
            "back",
            "apache2",
            "mailbomb",
            "processtable",
            "udpstorm",
        ],
    ),
    (
        "Attempted Administrator Privilege Gain",
        &[
            "u2r",
            "rootkit",
            "buffer",
            "overflow",
            "loadmodule",
            "perl",
            "ps",
            "xterm",
            "httptunnel",
        ],
    ),
    (
        "Attempted User Privilege Gain",
        &[
            "*brute",
            "patator",
            "r2l",
            "passwd",
            "password",
            "guess",
            "ftp",
            "write",
            "imap",
            "multihop",
            "phf",
            "spy",
            "warezclient",
            "warezmaster",
            "xlock",
            "xsnoop",
            "snmpguess",
            "named",
            "sendmail",
            "worm",
        ],
    ),
    (
        "A Network Trojan was detected",
        &["*bot", "trojan", "backdoor", "*infilt", "botnet", "c2"],
    ),
    ("Attempted Information Leak", &["heartbleed", "leak"]),
];

/// The classification a label's name points to (see `CATEGORIES`), else
/// [`MISC`].
pub fn default_category(label: &str) -> &'static str {
    let lower = label.to_lowercase();
    let words: Vec<&str> = lower
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .collect();
    for (category, keys) in CATEGORIES {
        let hit = keys.iter().any(|k| match k.strip_prefix('*') {
            Some(part) => words.iter().any(|w| w.contains(part)),
            None => words.contains(k),
        });
        if hit {
            return category;
        }
    }
    MISC
}

/// The `rev` of a bundle version: a decimal number is itself (`"7"` → 7);
/// two or three dot-separated numbers, optionally after a `v`, are
/// major·1,000,000 + minor·1,000 + patch (`"v2.1.3"` → 2,001,003, so a
/// later version has a higher rev while minor and patch stay below 1,000);
/// anything else (a date with dashes, a name, a hash) is 1.
pub fn rev_of(version: &str) -> u32 {
    let v = version.trim();
    let v = v.strip_prefix(['v', 'V']).unwrap_or(v);
    let parts: Vec<&str> = v.split('.').collect();
    let numbers: Option<Vec<u32>> = parts
        .iter()
        .map(|p| {
            let digits = !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit());
            digits.then(|| p.parse::<u32>().ok()).flatten()
        })
        .collect();
    let rev = match numbers.as_deref() {
        Some([n]) => Some(*n),
        Some([major, minor, patch @ ..]) if patch.len() <= 1 => {
            let patch = patch.first().copied().unwrap_or(0);
            (*minor < 1000 && patch < 1000)
                .then(|| major.checked_mul(1_000_000))
                .flatten()
                .and_then(|m| m.checked_add(minor * 1000 + patch))
        }
        _ => None,
    };
    rev.unwrap_or(1)
}

/// The signature id and category of every label of a bundle, and its rev.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Signatures {
    ids: Vec<u32>,
    categories: Vec<String>,
    /// `alert.rev`.
    pub rev: u32,
}

/// A refused override: (model.json field, reason).
pub type Refusal = (String, String);

impl Signatures {
    /// The table of `labels` for a bundle of `version`, with model.json's
    /// overrides. An override naming an unknown label, an id of 0 or above
    /// 4,294,967,295, a blank category, or two labels with one id (an
    /// override's or a default's) are refused.
    pub fn new(
        labels: &[String],
        version: &str,
        ids: &BTreeMap<String, u64>,
        categories: &BTreeMap<String, String>,
    ) -> Result<Signatures, Refusal> {
        let unknown = |field: &str, label: &str| {
            (
                format!("{field}.{label}"),
                format!("{label:?} is not one of the model's labels ({labels:?})"),
            )
        };
        for (label, id) in ids {
            if !labels.contains(label) {
                return Err(unknown("signatures", label));
            }
            if *id == 0 || *id > u64::from(u32::MAX) {
                return Err((
                    format!("signatures.{label}"),
                    format!("must be 1..=4294967295, got {id}"),
                ));
            }
        }
        for (label, text) in categories {
            if !labels.contains(label) {
                return Err(unknown("alert_categories", label));
            }
            if text.trim().is_empty() {
                return Err((format!("alert_categories.{label}"), "is blank".into()));
            }
        }
        let mut table = Signatures {
            rev: rev_of(version),
            ..Signatures::default()
        };
        let mut seen: BTreeMap<u32, &str> = BTreeMap::new();
        for label in labels {
            let given = ids.get(label).and_then(|&id| u32::try_from(id).ok());
            let id = given.unwrap_or_else(|| default_sid(label));
            if let Some(other) = seen.insert(id, label) {
                return Err((
                    "signatures".into(),
                    format!(
                        "{other:?} and {label:?} would both have signature id {id}; give one of them its own id in \"signatures\""
                    ),
                ));
            }
            table.ids.push(id);
            let category = categories
                .get(label)
                .map_or_else(|| default_category(label).to_string(), Clone::clone);
            table.categories.push(category);
        }
        Ok(table)
    }

    /// Label `i`'s signature id ([`SID_BASE`] for an index out of range,
    /// which a validated bundle's verdicts never have).
    pub fn id(&self, i: usize) -> u32 {
        self.ids.get(i).copied().unwrap_or(SID_BASE)
    }

    /// Label `i`'s category ([`MISC`] for an index out of range).
    pub fn category(&self, i: usize) -> &str {
        self.categories.get(i).map_or(MISC, String::as_str)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(l: &[&str]) -> Vec<String> {
        l.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn default_ids_are_stable_and_in_range() {
        // FNV-1a 32 of "portscan" is 0x058c7183 (93,090,179).
        assert_eq!(default_sid("portscan"), 9_090_179);
        for l in ["Benign", "portscan", "syn_flood", "DoS Hulk", ""] {
            let id = default_sid(l);
            assert!((SID_BASE..SID_BASE + SID_SPAN).contains(&id), "{l}");
            assert_eq!(id, default_sid(l));
        }
        assert_ne!(default_sid("portscan"), default_sid("syn_flood"));
    }

    #[test]
    fn categories_from_label_names() {
        for (label, want) in [
            ("portscan", "Detection of a Network Scan"),
            ("PortScan", "Detection of a Network Scan"),
            ("syn_flood", "Attempted Denial of Service"),
            ("http_flood", "Attempted Denial of Service"),
            ("slow_http", "Attempted Denial of Service"),
            ("DoS Hulk", "Attempted Denial of Service"),
            ("DDoS", "Attempted Denial of Service"),
            ("DDOS attack-LOIC-UDP", "Attempted Denial of Service"),
            ("neptune", "Attempted Denial of Service"),
            ("ssh_bruteforce", "Attempted User Privilege Gain"),
            ("FTP-Patator", "Attempted User Privilege Gain"),
            ("guess_passwd", "Attempted User Privilege Gain"),
            ("web_attack", "Web Application Attack"),
            ("Web Attack – Brute Force", "Web Application Attack"),
            ("Brute Force -XSS", "Web Application Attack"),
            ("SQL Injection", "Web Application Attack"),
            ("ipsweep", "Detection of a Network Scan"),
            ("buffer_overflow", "Attempted Administrator Privilege Gain"),
            ("Bot", "A Network Trojan was detected"),
            ("Infilteration", "A Network Trojan was detected"),
            ("Heartbleed", "Attempted Information Leak"),
            ("anomaly", MISC),
            ("Anomaly", MISC),
            ("Benign", MISC),
        ] {
            assert_eq!(default_category(label), want, "{label}");
        }
    }

    #[test]
    fn rev_from_version() {
        for (v, rev) in [
            ("1", 1),
            ("7", 7),
            ("0", 0),
            ("v3", 3),
            ("2.1", 2_001_000),
            ("v2.1.3", 2_001_003),
            ("1.10.0", 1_010_000),
            ("1.1000.0", 1),
            ("2026-07-08", 1),
            ("lab-gbdt", 1),
            ("", 1),
            ("1.2.3.4", 1),
            ("99999.0.0", 1),
        ] {
            assert_eq!(rev_of(v), rev, "{v:?}");
        }
    }

    #[test]
    fn overrides_and_refusals() {
        let l = labels(&["Benign", "portscan", "syn_flood"]);
        let none = BTreeMap::new();
        let t = Signatures::new(&l, "4", &none, &BTreeMap::new()).unwrap();
        assert_eq!(t.id(1), default_sid("portscan"));
        assert_eq!(t.category(2), "Attempted Denial of Service");
        assert_eq!(t.rev, 4);
        let ids = BTreeMap::from([("portscan".to_string(), 9_000_001)]);
        let cats = BTreeMap::from([("syn_flood".to_string(), "Custom".to_string())]);
        let t = Signatures::new(&l, "1", &ids, &cats).unwrap();
        assert_eq!((t.id(1), t.category(2)), (9_000_001, "Custom"));
        for (ids, cats, field, why) in [
            (
                vec![("portscn", 5)],
                vec![],
                "signatures.portscn",
                "not one of",
            ),
            (vec![("portscan", 0)], vec![], "signatures.portscan", "1..="),
            (
                vec![("portscan", 1 << 32)],
                vec![],
                "signatures.portscan",
                "1..=",
            ),
            (
                vec![("portscan", 7), ("syn_flood", 7)],
                vec![],
                "signatures",
                "both have signature id 7",
            ),
            (
                vec![("portscan", u64::from(default_sid("syn_flood")))],
                vec![],
                "signatures",
                "both have",
            ),
            (
                vec![],
                vec![("synflood", "x")],
                "alert_categories.synflood",
                "not one of",
            ),
            (
                vec![],
                vec![("syn_flood", " ")],
                "alert_categories.syn_flood",
                "blank",
            ),
        ] {
            let ids = ids.into_iter().map(|(k, v)| (k.to_string(), v)).collect();
            let cats = cats
                .into_iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            let (f, reason) = Signatures::new(&l, "1", &ids, &cats).unwrap_err();
            assert_eq!(f, field);
            assert!(reason.contains(why), "{reason}");
        }
    }
}
