//! `model check`: loads a bundle, describes it (where every input column
//! comes from, how categorical ones are encoded, how the graph is fed), and
//! optionally scores a flow CSV, writing one `label,score[,class
//! probabilities]` row per input row.

use super::graph::{ColumnType, Feed};
use super::{Device, GroupBy, LayoutSpec, Model, OutputKind};
use crate::error::Error;
use crate::flowcsv;
use std::io::Write;
use std::path::PathBuf;

/// What `model check` needs.
#[derive(Debug, Clone)]
pub struct CheckConfig {
    /// The bundle directory.
    pub model: PathBuf,
    /// Execution provider.
    pub device: Device,
    /// Explicit ONNX Runtime library.
    pub onnxruntime: Option<PathBuf>,
    /// A flow CSV to score.
    pub csv: Option<PathBuf>,
    /// Where to write the scores (`-` for standard output).
    pub scores: Option<PathBuf>,
}

/// Rows scored per run of the graph.
const BATCH: usize = 1024;

/// Runs `model check`, printing the description to `out`.
pub fn check(cfg: &CheckConfig, out: &mut dyn Write) -> Result<(), Error> {
    let mut model = Model::load(&cfg.model, cfg.device, cfg.onnxruntime.as_deref())?;
    let (_, lib) = super::runtime::init(cfg.onnxruntime.as_deref())?;
    let desc = describe(&model, &lib.display().to_string());
    let stdout_err = |source| Error::Output {
        path: PathBuf::from("-"),
        source,
    };
    out.write_all(desc.as_bytes()).map_err(stdout_err)?;
    let Some(csv) = &cfg.csv else {
        return Ok(());
    };
    let b = &model.bundle;
    let by_src = matches!(
        b.layout,
        LayoutSpec::Sequence {
            group_by: GroupBy::SrcIp,
            ..
        }
    );
    let rows = flowcsv::read(csv, &b.inputs, by_src)?;
    let scores_path = cfg.scores.clone();
    let mut sink: Option<Box<dyn Write>> = match &scores_path {
        None => None,
        Some(p) if p.as_os_str() == "-" => Some(Box::new(std::io::stdout().lock())),
        Some(p) => Some(Box::new(std::io::BufWriter::new(
            std::fs::File::create(p).map_err(|source| Error::Output {
                path: p.clone(),
                source,
            })?,
        ))),
    };
    let mut line = String::from("label,score");
    if b.output == OutputKind::Probabilities {
        for c in &b.labels {
            line.push(',');
            line.push_str(c);
        }
    }
    line.push('\n');
    let mut counts = vec![0u64; b.labels.len()];
    let mut alerts = 0u64;
    let labels = b.labels.clone();
    for chunk in rows.chunks(BATCH) {
        let scored = model.score(chunk)?;
        for (i, v) in scored.verdicts.iter().enumerate() {
            if let Some(n) = counts.get_mut(v.label) {
                *n += 1;
            }
            alerts += u64::from(v.alert);
            if sink.is_none() {
                continue;
            }
            line.push_str(labels.get(v.label).map_or("", String::as_str));
            line.push(',');
            line.push_str(&v.score.to_string());
            for p in scored.probs_of(i) {
                line.push(',');
                line.push_str(&p.to_string());
            }
            line.push('\n');
        }
        if let (Some(s), Some(p)) = (sink.as_mut(), &scores_path) {
            s.write_all(line.as_bytes())
                .map_err(|source| Error::Output {
                    path: p.clone(),
                    source,
                })?;
        }
        line.clear();
    }
    if let (Some(s), Some(p)) = (sink.as_mut(), &scores_path) {
        s.write_all(line.as_bytes())
            .and_then(|()| s.flush())
            .map_err(|source| Error::Output {
                path: p.clone(),
                source,
            })?;
    }
    let mut summary = format!("scored: {} rows of {}\n", rows.len(), csv.display());
    for (l, n) in labels.iter().zip(&counts) {
        summary.push_str(&format!("  {l:<24} {n}\n"));
    }
    summary.push_str(&format!("  alerts                   {alerts}\n"));
    // Keep standard output for the scores when they go there.
    if scores_path.as_deref().is_some_and(|p| p.as_os_str() == "-") {
        eprint!("{summary}");
    } else {
        out.write_all(summary.as_bytes()).map_err(stdout_err)?;
    }
    Ok(())
}

/// The human description of a loaded model.
pub fn describe(model: &Model, lib: &str) -> String {
    let b = &model.bundle;
    let mut s = format!(
        "model     {} version {}\nbundle    {}\nprofile   {}\nruntime   {} ({} execution provider)\n",
        b.name,
        b.version,
        b.dir.display(),
        b.profile.name(),
        lib,
        model.provider
    );
    if let Some(t) = &b.trained_on {
        s.push_str(&format!("trained   {t}\n"));
    }
    s.push_str(&match b.layout {
        LayoutSpec::Flat => format!("layout    flat [batch, {}]\n", b.width()),
        LayoutSpec::Sequence { length, group_by } => format!(
            "layout    sequence [batch, {length}, {}] grouped by {}\n",
            b.width(),
            match group_by {
                GroupBy::None => "none",
                GroupBy::SrcIp => "src_ip",
            }
        ),
    });
    s.push_str(&format!(
        "preproc   non-finite -> {}; scaler {}\n",
        b.nonfinite,
        b.scaler.as_ref().map_or("none", |x| x.kind)
    ));
    s.push_str(&match model.plan().feed {
        Feed::Tensor(ref name) => format!("inputs    {} into graph input {name:?}\n", b.width()),
        Feed::Columns(_) => format!(
            "inputs    {}, one [batch, 1] graph input per column\n",
            b.width()
        ),
    });
    if b.needs_context() {
        s.push_str("context   the pipeline computes connection context for this model\n");
    }
    for (i, (name, input)) in b.input_names.iter().zip(&b.inputs).enumerate() {
        let fed = match model.plan().feed {
            Feed::Columns(ref cols) => {
                cols.iter()
                    .find(|c| c.input == i)
                    .map_or(String::new(), |c| {
                        format!(
                            " [{}]",
                            match c.ty {
                                ColumnType::Text => "string",
                                ColumnType::F32 => "float32",
                                ColumnType::F64 => "float64",
                                ColumnType::I64 => "int64",
                            }
                        )
                    })
            }
            Feed::Tensor(_) => String::new(),
        };
        s.push_str(&format!(
            "  {i:>3} {:<32} {}{fed}\n",
            name.trim(),
            input.source()
        ));
    }
    let kind = match b.output {
        OutputKind::Probabilities => "probabilities",
        OutputKind::Labels => "labels",
        OutputKind::Reconstruction => "reconstruction",
    };
    s.push_str(&format!("output    {kind}\n"));
    for (i, (l, t)) in b.labels.iter().zip(&b.thresholds).enumerate() {
        let role = if i == b.benign {
            "benign".to_string()
        } else if b.output == OutputKind::Labels {
            "alerts".to_string()
        } else {
            format!("alerts at score >= {t}")
        };
        s.push_str(&format!("  {i:>3} {l:<32} {role}\n"));
    }
    s
}
