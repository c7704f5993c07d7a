//! Sharding a run without a store: `--shard K/N` (or a 0-based index from an environment
//! variable, `--shard-index-env VAR --shard-count N`) keeps only the rows whose key hashes to
//! shard K.
//!
//! **The hash** is fixed and documented (docs/scale.md): the shard of a key is
//! `u64::from_be_bytes(SHA-256(key as UTF-8)[0..8]) mod N`, 0-based (K = that + 1). It depends
//! on the key alone, so appending rows (or reordering them) never moves another row to another
//! shard. Without `--key`, keys are `row-N`, which is as stable as long as rows are appended.
//!
//! **The record.** A shard's output directory holds `shard.json` ([`Record`]): the shard, the
//! hash, and the input's row count and row numbers, so that `batchgen manifest merge` can tell
//! a missing row from a row that never existed. The shard is also part of the journal's
//! fingerprint. Continuing a directory with another shard (or with none) is refused.

use std::path::Path;

use crate::error::IoAction as _;
use batchgen_dispatch::journal::{Fingerprint, JOURNAL_FILE};
use clap::Args;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::Error;

/// The file in a shard's output directory that records which shard it holds.
pub const SHARD_FILE: &str = "shard.json";

/// The hash's name, as recorded in [`SHARD_FILE`].
pub const HASH: &str = "sha256-be64-mod-n";

/// One shard of N: a 0-based index below `count`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Shard {
    /// 0-based index (`K - 1`).
    pub index: u32,
    /// How many shards there are (N).
    pub count: u32,
}

impl Shard {
    /// Reads `K/N`, 1-based: `1/3`, `2/3`, `3/3`.
    pub fn parse(s: &str) -> Result<Shard, String> {
        let bad = || format!("{s:?} is not K/N: give the 1-based shard and the count, e.g. 2/3");
        let (k, n) = s.trim().split_once('/').ok_or_else(bad)?;
        let k: u32 = k.trim().parse().map_err(|_| bad())?;
        let n: u32 = n.trim().parse().map_err(|_| bad())?;
        if n == 0 || k == 0 || k > n {
            return Err(format!(
                "{s:?}: K must be from 1 to N and N at least 1 (shards are 1-based: 1/{n} … {n}/{n})",
                n = n.max(1)
            ));
        }
        Ok(Shard {
            index: k - 1,
            count: n,
        })
    }

    /// The 0-based shard of `key` among `count` shards.
    pub fn of_key(key: &str, count: u32) -> u32 {
        let digest = Sha256::digest(key.as_bytes());
        let mut first = [0u8; 8];
        first.copy_from_slice(&digest[..8]);
        (u64::from_be_bytes(first) % u64::from(count.max(1))) as u32
    }

    /// Whether the row with `key` belongs to this shard.
    pub fn takes(self, key: &str) -> bool {
        Shard::of_key(key, self.count) == self.index
    }
}

impl std::fmt::Display for Shard {
    /// `K/N`, 1-based.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.index + 1, self.count)
    }
}

/// Whether `shard` (none: every row) takes the row with `key`.
pub fn keeps(shard: Option<Shard>, key: &str) -> bool {
    shard.is_none_or(|s| s.takes(key))
}

/// The sharding flags of `batchgen run` and `batchgen export`.
#[derive(Debug, Clone, Args)]
pub struct ShardArgs {
    /// Run only shard K of N (1-based): the rows whose key hashes to K (SHA-256 of the key; see
    /// docs/scale.md). Join the shards' manifests with `batchgen manifest merge`.
    #[arg(long, value_name = "K/N", value_parser = Shard::parse, conflicts_with = "shard_index_env")]
    pub shard: Option<Shard>,
    /// Take the shard from environment variable VAR as a 0-based index (e.g.
    /// JOB_COMPLETION_INDEX in a Kubernetes Indexed Job); needs --shard-count.
    #[arg(long, value_name = "VAR", requires = "shard_count")]
    pub shard_index_env: Option<String>,
    /// With --shard-index-env: how many shards there are (N).
    #[arg(long, value_name = "N", requires = "shard_index_env",
          value_parser = clap::value_parser!(u32).range(1..))]
    pub shard_count: Option<u32>,
}

impl ShardArgs {
    /// The shard asked for, if any; exit 2 when the environment variable is unset or not an
    /// index below the count.
    pub fn resolve(&self) -> crate::error::Result<Option<Shard>> {
        if let Some(s) = self.shard {
            return Ok(Some(s));
        }
        let (Some(var), Some(count)) = (&self.shard_index_env, self.shard_count) else {
            return Ok(None);
        };
        let value = std::env::var(var).map_err(|_| Error::Usage(format!(
                "failed to pick the shard: environment variable {var} (--shard-index-env) is not set or not UTF-8; set it to the 0-based shard index (0 to {}), or pass --shard K/N",
                count - 1
            )))?;
        match value.trim().parse::<u32>() {
            Ok(index) if index < count => Ok(Some(Shard { index, count })),
            _ => Err(Error::Usage(format!(
                "failed to pick the shard: {var}={value:?} is not a 0-based shard index below --shard-count {count}; set it to 0 … {}",
                count - 1
            ))),
        }
    }
}

/// `fp` with the shard added (nothing added for an unsharded run, so that its journals stay
/// as they were).
pub fn mark(fp: Fingerprint, shard: Option<Shard>) -> Fingerprint {
    match shard {
        Some(s) => fp.text("shard", s.to_string()),
        None => fp,
    }
}

/// What `shard.json` holds.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    /// Format version: 1.
    pub batchgen_shard: u32,
    /// `K/N`, 1-based (what a user reads).
    pub shard: String,
    /// 0-based index.
    pub index: u32,
    /// N.
    pub count: u32,
    /// The hash ([`HASH`]).
    pub hash: String,
    /// The rows of the whole input (blank rows excluded).
    pub input_rows: u64,
    /// The input's row numbers, as inclusive ranges (blank rows leave gaps).
    pub input_row_numbers: Vec<[u64; 2]>,
    /// The rows this shard took.
    pub rows: u64,
}

impl Record {
    /// Reads `dir/shard.json`: `None` when there is none.
    pub fn read(dir: &Path) -> crate::error::Result<Option<Record>> {
        let path = dir.join(SHARD_FILE);
        let text = match std::fs::read(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e).action(|| format!("read {}", path.display())),
        };
        let record: Record = serde_json::from_slice(&text).map_err(|e| {
            Error::unusable(
                format!("read {}", path.display()),
                e,
                Some("it is not a batchgen shard record (run the shard again into a new --out)"),
            )
        })?;
        Ok(Some(record))
    }

    /// The shard recorded.
    pub fn spec(&self) -> Shard {
        Shard {
            index: self.index,
            count: self.count,
        }
    }
}

/// Counts the rows as they go by, in input order, and decides which the shard takes.
#[derive(Clone, Debug)]
pub struct Tally {
    /// The shard (none: every row).
    pub shard: Option<Shard>,
    input_rows: u64,
    numbers: Vec<[u64; 2]>,
    /// Rows taken.
    pub taken: u64,
}

impl Tally {
    /// A tally for `shard`.
    pub fn new(shard: Option<Shard>) -> Tally {
        Tally {
            shard,
            input_rows: 0,
            numbers: Vec::new(),
            taken: 0,
        }
    }

    /// Sees row `number` with `key` (every row of the input, in order); true if the shard
    /// takes it.
    pub fn take(&mut self, number: u64, key: &str) -> bool {
        self.input_rows += 1;
        match self.numbers.last_mut() {
            Some(r) if r[1] + 1 == number => r[1] = number,
            _ => self.numbers.push([number, number]),
        }
        let takes = keeps(self.shard, key);
        self.taken += u64::from(takes);
        takes
    }

    /// Refuses (exit 2) to continue `out` with another shard than the one it holds, or to mix
    /// a sharded and an unsharded run in it.
    pub fn check_out(&self, out: &Path) -> crate::error::Result<()> {
        let recorded = Record::read(out)?.map(|r| r.spec());
        let has_journal = out.join(JOURNAL_FILE).exists();
        let refuse = |message: String| Err(Error::Usage(message));
        match (recorded, self.shard) {
            (Some(was), Some(now)) if was != now => refuse(format!(
                "failed to continue the run in {}: it holds shard {was}, not shard {now}; a shard's rows are fixed by K/N, so run shard {now} into its own --out (or continue this one with --shard {was})",
                out.display()
            )),
            (Some(was), None) => refuse(format!(
                "failed to continue the run in {}: it holds shard {was} of a sharded run; pass --shard {was} to continue it, or choose another --out for an unsharded run",
                out.display()
            )),
            (None, Some(now)) if has_journal => refuse(format!(
                "failed to continue the run in {}: it holds an unsharded run, and --shard {now} would leave its other rows behind; continue it without --shard, or run the shard into a new --out",
                out.display()
            )),
            _ => Ok(()),
        }
    }

    /// Writes `out/shard.json` (sharded runs only) and returns the summary's `shard` field.
    pub fn record(
        &self,
        out: &Path,
    ) -> crate::error::Result<Option<(&'static str, serde_json::Value)>> {
        let Some(s) = self.shard else {
            return Ok(None);
        };
        let record = Record {
            batchgen_shard: 1,
            shard: s.to_string(),
            index: s.index,
            count: s.count,
            hash: HASH.into(),
            input_rows: self.input_rows,
            input_row_numbers: self.numbers.clone(),
            rows: self.taken,
        };
        let path = out.join(SHARD_FILE);
        let mut text = serde_json::to_vec_pretty(&record).expect("the record serialises");
        text.push(b'\n');
        batchgen_dispatch::manifest::write_atomic(&path, |w| w.write_all(&text))
            .action(|| format!("write {}", path.display()))?;
        Ok(Some((
            "shard",
            serde_json::json!({"shard": record.shard, "rows": self.taken, "input_rows": self.input_rows}),
        )))
    }

    /// The line the summary adds: how many rows the shard took of how many.
    pub fn summary_line(&self) -> Option<String> {
        self.shard.map(|s| {
            format!(
                "shard {s}: {} of the input's {} rows (the other shards take the rest)",
                self.taken, self.input_rows
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_are_one_based_k_of_n() {
        assert_eq!(Shard::parse("2/3").unwrap(), Shard { index: 1, count: 3 });
        assert_eq!(Shard::parse(" 1/1 ").unwrap().to_string(), "1/1");
        for bad in ["0/3", "4/3", "1/0", "3", "a/b", "1/3/4", "-1/3", ""] {
            assert!(Shard::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_hash_is_the_documented_one() {
        // SHA-256("row-1") = 0f719b1f3a428a4d…: the first 8 bytes big-endian, mod N
        // (`printf row-1 | sha256sum`, checked with a shell).
        let digest = Sha256::digest(b"row-1");
        let first = u64::from_be_bytes(digest[..8].try_into().unwrap());
        for n in 1..10 {
            assert_eq!(u64::from(Shard::of_key("row-1", n)), first % u64::from(n));
        }
        // Fixed values, so a change of hash cannot pass unnoticed.
        let fixed: Vec<u32> = (1..=8)
            .map(|i| Shard::of_key(&format!("row-{i}"), 3))
            .collect();
        assert_eq!(fixed, FIXED_ROW_SHARDS_OF_3);
    }

    /// `Shard::of_key("row-1" … "row-8", 3)`, as documented in docs/scale.md.
    const FIXED_ROW_SHARDS_OF_3: [u32; 8] = [2, 1, 2, 1, 2, 0, 0, 0];

    fn assign(keys: &[String], n: u32) -> Vec<u32> {
        keys.iter().map(|k| Shard::of_key(k, n)).collect()
    }

    #[test]
    fn n_shards_partition_the_rows_exactly() {
        let keys: Vec<String> = (1..=1000).map(|i| format!("p{i}@example.com")).collect();
        for n in [1, 2, 3, 7] {
            let mut seen = vec![0u32; keys.len()];
            for index in 0..n {
                let s = Shard { index, count: n };
                let mut tally = Tally::new(Some(s));
                for (i, k) in keys.iter().enumerate() {
                    if tally.take(i as u64 + 1, k) {
                        seen[i] += 1;
                    }
                }
                // Every shard gets a fair share (a hash, not a range).
                assert!(
                    tally.taken as f64 > 0.7 * keys.len() as f64 / f64::from(n),
                    "shard {s} took {}",
                    tally.taken
                );
            }
            assert!(seen.iter().all(|&c| c == 1), "n={n}");
        }
    }

    #[test]
    fn appending_rows_keeps_every_earlier_rows_shard() {
        let keys: Vec<String> = (1..=300).map(|i| format!("row-{i}")).collect();
        let before = assign(&keys[..200], 4);
        let after = assign(&keys, 4);
        assert_eq!(before[..], after[..200]);
    }

    #[test]
    fn the_tally_records_row_numbers_with_their_gaps() {
        let mut t = Tally::new(None);
        for n in [1, 2, 3, 5, 6, 9] {
            assert!(t.take(n, &format!("row-{n}")));
        }
        assert_eq!(t.numbers, [[1, 3], [5, 6], [9, 9]]);
        assert_eq!((t.input_rows, t.taken), (6, 6));
    }

    #[test]
    fn an_out_dir_keeps_its_shard() {
        let dir = tempfile::tempdir().unwrap();
        let two = Tally::new(Some(Shard::parse("2/3").unwrap()));
        two.check_out(dir.path()).unwrap();
        two.record(dir.path()).unwrap();
        two.check_out(dir.path()).unwrap();
        let e = Tally::new(Some(Shard::parse("1/3").unwrap()))
            .check_out(dir.path())
            .unwrap_err()
            .to_string();
        assert!(e.contains("holds shard 2/3, not shard 1/3"), "{e}");
        let e = Tally::new(None)
            .check_out(dir.path())
            .unwrap_err()
            .to_string();
        assert!(e.contains("pass --shard 2/3"), "{e}");
        let plain = tempfile::tempdir().unwrap();
        std::fs::write(plain.path().join(JOURNAL_FILE), "{}\n").unwrap();
        let e = two.check_out(plain.path()).unwrap_err().to_string();
        assert!(e.contains("unsharded run"), "{e}");
    }
}
