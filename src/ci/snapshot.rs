//! Route snapshots for `check --snapshot FILE` and `probe`: the file (one route
//! [`Fingerprint`] per case, at a [`SnapshotLevel`]), reading and writing it, comparing a
//! case's route with its stored one, and the readable line diff shown when they differ.
//!
//! The file is JSON: `{"schema": 1, "level": "cluster", "cases": {"NAME": ["line", …]}}`,
//! cases in name order, so that it diffs well in version control. It is read with a bound
//! ([`MAX_SNAPSHOT_BYTES`]).

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::trace::route::{Fingerprint, SnapshotLevel};

/// The version of the snapshot file.
pub(crate) const SNAPSHOT_SCHEMA_VERSION: u32 = 1;

/// The largest snapshot file read.
pub(crate) const MAX_SNAPSHOT_BYTES: u64 = 16 * 1024 * 1024;

/// The most lines a diff shows; the rest are counted.
const MAX_DIFF_LINES: usize = 200;

/// `check --snapshot FILE [--update-snapshots] [--snapshot-level L]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotSettings {
    pub path: PathBuf,
    /// Write the routes seen instead of comparing.
    pub update: bool,
    /// The level of fingerprints written (comparing uses the file's own level).
    pub level: SnapshotLevel,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct SnapshotDocument {
    schema: u32,
    level: String,
    cases: BTreeMap<String, Vec<String>>,
}

/// The stored routes, by case name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Snapshots {
    pub level: SnapshotLevel,
    pub cases: BTreeMap<String, Fingerprint>,
}

/// How a case's route compares with its snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Comparison {
    Same,
    /// The case has no stored route.
    Unknown,
    /// The route changed: the diff, `- ` stored, `+ ` seen, `  ` both.
    Changed(Vec<String>),
}

impl Snapshots {
    /// Empty snapshots at `level`.
    pub(crate) fn new(level: SnapshotLevel) -> Snapshots {
        Snapshots {
            level,
            cases: BTreeMap::new(),
        }
    }

    /// Reads a snapshot file.
    pub(crate) fn load(path: &Path) -> Result<Snapshots, String> {
        let shown = path.display();
        let file =
            std::fs::File::open(path).map_err(|e| format!("cannot read snapshot {shown}: {e}"))?;
        let mut text = String::new();
        file.take(MAX_SNAPSHOT_BYTES + 1)
            .read_to_string(&mut text)
            .map_err(|e| format!("cannot read snapshot {shown}: {e}"))?;
        if text.len() as u64 > MAX_SNAPSHOT_BYTES {
            return Err(format!(
                "snapshot {shown} is larger than {MAX_SNAPSHOT_BYTES} bytes"
            ));
        }
        Snapshots::parse(&text).map_err(|e| format!("snapshot {shown}: {e}"))
    }

    /// Parses snapshot text.
    pub(crate) fn parse(text: &str) -> Result<Snapshots, String> {
        let doc: SnapshotDocument = serde_json::from_str(text).map_err(|e| e.to_string())?;
        if doc.schema != SNAPSHOT_SCHEMA_VERSION {
            return Err(format!(
                "schema {} is not supported (this version reads {SNAPSHOT_SCHEMA_VERSION})",
                doc.schema
            ));
        }
        let level = SnapshotLevel::parse(&doc.level)
            .ok_or_else(|| format!("unknown level {:?} (use cluster or server)", doc.level))?;
        let cases = doc
            .cases
            .into_iter()
            .map(|(name, lines)| (name, Fingerprint { lines }))
            .collect();
        Ok(Snapshots { level, cases })
    }

    /// Writes the snapshot file (through a temporary file in the same directory, so that a
    /// failed write leaves the old one).
    pub(crate) fn save(&self, path: &Path) -> Result<(), String> {
        let doc = SnapshotDocument {
            schema: SNAPSHOT_SCHEMA_VERSION,
            level: self.level.name().to_string(),
            cases: self
                .cases
                .iter()
                .map(|(name, print)| (name.clone(), print.lines.clone()))
                .collect(),
        };
        let cannot = |e: String| format!("cannot write snapshot {}: {e}", path.display());
        let mut text = serde_json::to_string_pretty(&doc).map_err(|e| cannot(e.to_string()))?;
        text.push('\n');
        let dir = match path.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir,
            _ => Path::new("."),
        };
        let mut temp = tempfile::NamedTempFile::new_in(dir).map_err(|e| cannot(e.to_string()))?;
        std::io::Write::write_all(&mut temp, text.as_bytes()).map_err(|e| cannot(e.to_string()))?;
        temp.persist(path).map_err(|e| cannot(e.to_string()))?;
        Ok(())
    }

    /// How `seen` compares with the stored route of case `name`.
    pub(crate) fn compare(&self, name: &str, seen: &Fingerprint) -> Comparison {
        match self.cases.get(name) {
            None => Comparison::Unknown,
            Some(stored) if stored == seen => Comparison::Same,
            Some(stored) => Comparison::Changed(diff(&stored.lines, &seen.lines)),
        }
    }
}

/// A line diff of `old` and `new` (longest common subsequence): `- ` removed, `+ ` added,
/// `  ` kept; at most [`MAX_DIFF_LINES`] lines.
pub(crate) fn diff(old: &[String], new: &[String]) -> Vec<String> {
    let (n, m) = (old.len(), new.len());
    // common[i][j]: the longest common subsequence of old[i..] and new[j..].
    let mut common = vec![vec![0u32; m + 1]; n + 1];
    for i in (0..n).rev() {
        for j in (0..m).rev() {
            common[i][j] = if old[i] == new[j] {
                common[i + 1][j + 1] + 1
            } else {
                common[i + 1][j].max(common[i][j + 1])
            };
        }
    }
    let mut out = Vec::new();
    let (mut i, mut j) = (0, 0);
    while i < n || j < m {
        if i < n && j < m && old[i] == new[j] {
            out.push(format!("  {}", old[i]));
            (i, j) = (i + 1, j + 1);
        } else if i < n && (j == m || common[i + 1][j] >= common[i][j + 1]) {
            out.push(format!("- {}", old[i]));
            i += 1;
        } else {
            out.push(format!("+ {}", new[j]));
            j += 1;
        }
    }
    if out.len() > MAX_DIFF_LINES {
        let more = out.len() - MAX_DIFF_LINES;
        out.truncate(MAX_DIFF_LINES);
        out.push(format!("… {more} more line(s)"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(text: &[&str]) -> Vec<String> {
        text.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn the_diff_marks_removed_and_added_lines() {
        let old = lines(&["a (delivered)", "  -> client", "  gateway> B (delivered)"]);
        let new = lines(&["a (delivered)", "  -> client", "  gateway> C (delivered)"]);
        assert_eq!(
            diff(&old, &new),
            [
                "  a (delivered)",
                "    -> client",
                "-   gateway> B (delivered)",
                "+   gateway> C (delivered)"
            ]
        );
    }

    #[test]
    fn files_round_trip_and_bad_ones_say_why() {
        let mut snapshots = Snapshots::new(SnapshotLevel::Server);
        let print = Fingerprint {
            lines: lines(&["n1 (delivered)"]),
        };
        snapshots.cases.insert("a".into(), print.clone());
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("routes.json");
        snapshots.save(&path).expect("saves");
        let back = Snapshots::load(&path).expect("loads");
        assert_eq!(back, snapshots);
        assert_eq!(back.compare("a", &print), Comparison::Same);
        assert_eq!(back.compare("b", &print), Comparison::Unknown);
        for (text, wanted) in [
            (r#"{"schema":2,"level":"server","cases":{}}"#, "schema 2"),
            (
                r#"{"schema":1,"level":"galaxy","cases":{}}"#,
                "unknown level",
            ),
            ("[", "EOF"),
        ] {
            let err = Snapshots::parse(text).expect_err(text);
            assert!(err.contains(wanted), "{err}");
        }
    }
}
