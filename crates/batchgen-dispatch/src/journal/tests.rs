//! The journal's tests: lines written, replayed, damaged, taken over.

use super::*;
use std::fs::OpenOptions;
use std::io::Write as _;
use std::path::Path;

fn fp() -> Fingerprint {
    Fingerprint::new()
        .bytes("data", b"k\n1\n")
        .text("base_url", "http://127.0.0.1:1")
}

fn open_new(dir: &Path) -> Journal {
    match Journal::open(dir, fp(), vec!["batchgen".into()], Some(2), false).unwrap() {
        Opened::New(j) => j,
        Opened::Resumed(..) => panic!("expected a new journal"),
    }
}

#[tokio::test]
async fn events_replay_into_row_records() {
    let dir = tempfile::tempdir().unwrap();
    let j = open_new(dir.path());
    assert_eq!(j.header().run_tag().len(), 6);
    let k = |s: &str| s.to_owned();
    j.record(Event::Submitting {
        name: None,
        hash: None,
        row: 1,
        key: k("a"),
        at: 1,
    })
    .await
    .unwrap();
    j.record(Event::Submitting {
        name: None,
        hash: None,
        row: 1,
        key: k("a"),
        at: 2,
    })
    .await
    .unwrap();
    j.record_later(Event::Submitted {
        row: 1,
        key: k("a"),
        id: k("p1"),
        recovered: true,
        draft: false,
        at: 3,
    });
    j.record_later(Event::Ready {
        row: 1,
        key: k("a"),
        download_url: k("http://x/p1.mp4"),
        credits: Some(2),
        at: 4,
    });
    j.record_later(Event::Invalid {
        row: 2,
        key: k("b"),
        error: k("bad"),
        at: 5,
    });
    j.record(Event::Submitting {
        name: None,
        hash: None,
        row: 3,
        key: k("c"),
        at: 6,
    })
    .await
    .unwrap();
    j.close().unwrap();
    let r = Replay::read(&dir.path().join(JOURNAL_FILE)).unwrap();
    assert!(!r.torn_tail);
    let a = &r.rows["a"];
    assert_eq!((a.state, a.attempts), (RowState::Ready, 2));
    assert_eq!(a.project_id.as_deref(), Some("p1"));
    assert_eq!(a.download_url.as_deref(), Some("http://x/p1.mp4"));
    assert_eq!(r.rows["b"].state, RowState::Invalid);
    assert_eq!(r.rows["c"].state, RowState::Submitting);
    assert!(j.record(Event::Interrupted { at: 7 }).await.is_err());
}

#[tokio::test]
async fn a_torn_last_line_is_ignored_and_cut_off_on_resume() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(JOURNAL_FILE);
    let j = open_new(dir.path());
    j.record(Event::Submitting {
        name: None,
        hash: None,
        row: 1,
        key: "a".into(),
        at: 1,
    })
    .await
    .unwrap();
    j.close().unwrap();
    drop(j);
    let intact = std::fs::metadata(&path).unwrap().len();
    // A power cut in the middle of the next line.
    let mut f = OpenOptions::new().append(true).open(&path).unwrap();
    f.write_all(br#"{"event":"submitted","row":1,"key":"a","id":"p"#)
        .unwrap();
    drop(f);
    let r = Replay::read(&path).unwrap();
    assert!(r.torn_tail);
    assert_eq!(r.intact_len, intact);
    assert_eq!(r.rows["a"].state, RowState::Submitting);
    let Opened::Resumed(j, replay) = Journal::open(dir.path(), fp(), vec![], None, true).unwrap()
    else {
        panic!("expected a resumed journal")
    };
    assert!(replay.torn_tail);
    j.record(Event::Submitted {
        row: 1,
        key: "a".into(),
        id: "p2".into(),
        recovered: false,
        draft: false,
        at: 2,
    })
    .await
    .unwrap();
    j.close().unwrap();
    let r = Replay::read(&path).unwrap();
    assert!(!r.torn_tail);
    assert_eq!(r.resumptions, 1);
    assert_eq!(r.rows["a"].project_id.as_deref(), Some("p2"));
}

#[test]
fn damage_before_the_last_line_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(JOURNAL_FILE);
    drop(open_new(dir.path()));
    let mut f = OpenOptions::new().append(true).open(&path).unwrap();
    f.write_all(b"{not json}\n{\"event\":\"resumed\",\"at\":1}\n")
        .unwrap();
    drop(f);
    let e = Replay::read(&path).unwrap_err().to_string();
    assert!(e.contains("line 2"), "{e}");
}

#[test]
fn existing_journals_need_resume_and_the_same_inputs() {
    let dir = tempfile::tempdir().unwrap();
    drop(open_new(dir.path()));
    let e = Journal::open(dir.path(), fp(), vec![], None, false).unwrap_err();
    assert!(matches!(e, JournalError::Exists { .. }));
    assert!(e.to_string().contains("add --resume"), "{e}");
    let other = fp().bytes("data", b"k\n2\n");
    let e = Journal::open(dir.path(), other, vec![], None, true).unwrap_err();
    assert!(
        e.to_string().contains("data changed") && e.to_string().contains("new --out"),
        "{e}"
    );
}

#[test]
fn a_journal_of_the_other_command_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    drop(open_new(dir.path()));
    let e = Journal::open_as(RunKind::Export, dir.path(), fp(), vec![], None, true).unwrap_err();
    assert!(
        matches!(
            e,
            JournalError::OtherKind {
                found: RunKind::Run,
                expected: RunKind::Export,
                ..
            }
        ),
        "{e:?}"
    );
    assert!(
        e.to_string()
            .contains("journal of a `batchgen run`, not of a `batchgen export --api v2`"),
        "{e}"
    );
    let other = tempfile::tempdir().unwrap();
    let Opened::New(j) =
        Journal::open_as(RunKind::Export, other.path(), fp(), vec![], None, false).unwrap()
    else {
        panic!("expected a new journal")
    };
    assert_eq!(j.header().kind, RunKind::Export);
    j.close().unwrap();
    drop(j); // and its run lock
    assert!(matches!(
        Journal::open(other.path(), fp(), vec![], None, true),
        Err(JournalError::OtherKind { .. })
    ));
}

#[test]
fn the_run_secret_round_trips_and_never_prints() {
    let dir = tempfile::tempdir().unwrap();
    let j = open_new(dir.path());
    let secret = j
        .header()
        .secret
        .clone()
        .expect("a new header has a secret");
    let hex_secret = hex::encode(secret.bytes());
    assert!(!format!("{:?}", j.header()).contains(&hex_secret));
    j.close().unwrap();
    let text = std::fs::read_to_string(dir.path().join(JOURNAL_FILE)).unwrap();
    assert!(
        text.contains(&format!("\"secret\":\"{hex_secret}\"")),
        "{text}"
    );
    let r = Replay::read(&dir.path().join(JOURNAL_FILE)).unwrap();
    assert_eq!(r.header.secret, Some(secret));
    // Two runs never share a secret.
    let other = tempfile::tempdir().unwrap();
    assert_ne!(open_new(other.path()).header().secret, r.header.secret);
}

#[test]
fn headers_older_than_kind_and_secret_read_as_run() {
    let old = r#"{"batchgen_journal":1,"run_id":"0123456789abcdef0123456789abcdef","created_at":"2024-06-10T08:30:00Z","fingerprint":{},"command":[],"rows":1}"#;
    let h: Header = serde_json::from_str(old).unwrap();
    assert_eq!((h.kind, h.secret), (RunKind::Run, None));
    assert!(serde_json::from_str::<RunSecret>("\"abc\"").is_err());
}

#[tokio::test]
async fn replay_keeps_the_time_of_the_last_submitting() {
    let dir = tempfile::tempdir().unwrap();
    let j = open_new(dir.path());
    for at in [10, 20] {
        j.record(Event::Submitting {
            name: None,
            hash: None,
            row: 1,
            key: "a".into(),
            at,
        })
        .await
        .unwrap();
    }
    j.close().unwrap();
    let r = Replay::read(&dir.path().join(JOURNAL_FILE)).unwrap();
    assert_eq!(r.rows["a"].submitting_at, Some(20));
}

/// Many concurrent records are all durable and acknowledged (group commit).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn group_commit_acknowledges_every_event() {
    let dir = tempfile::tempdir().unwrap();
    let j = std::sync::Arc::new(open_new(dir.path()));
    let mut tasks = Vec::new();
    for i in 0..200u64 {
        let j = std::sync::Arc::clone(&j);
        tasks.push(tokio::spawn(async move {
            j.record(Event::Submitting {
                name: None,
                hash: None,
                row: i,
                key: format!("k{i}"),
                at: i,
            })
            .await
        }));
    }
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    j.close().unwrap();
    let r = Replay::read(&dir.path().join(JOURNAL_FILE)).unwrap();
    assert_eq!(r.rows.len(), 200);
}
