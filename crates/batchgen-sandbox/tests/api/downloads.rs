//! Downloads: a real MP4 with the right headers, ranges, 416, HEAD and 404.

use std::time::Duration;

use batchgen_sandbox::sample_video;
use reqwest::{Method, StatusCode};

use crate::common::{Api, PROJECT, fast, start};

/// A finished project's download URL.
async fn ready_video(api: &Api<'_>) -> String {
    let id = api.create(PROJECT).await;
    let v = api.wait_done(&id).await;
    v["data"]["downloadUrl"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn serves_a_real_mp4_with_length_and_ranges_advertised() {
    let sb = start(fast()).await;
    let api = Api::new(&sb);
    let url = ready_video(&api).await;
    let r = api.c.get(&url).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let h = r.headers().clone();
    assert_eq!(h["content-type"], "video/mp4");
    assert_eq!(h["accept-ranges"], "bytes");
    assert_eq!(
        h["content-length"],
        sample_video().len().to_string().as_str()
    );
    let body = r.bytes().await.unwrap();
    assert_eq!(&body[4..8], b"ftyp", "an MP4 starts with its ftyp box");
    assert_eq!(&body[..], sample_video());
    assert!(body.len() < 30 * 1024);
    assert_eq!(sb.stats().downloads, 1);
}

#[tokio::test]
async fn range_requests_get_206_with_the_right_slice() {
    let sb = start(fast()).await;
    let api = Api::new(&sb);
    let url = ready_video(&api).await;
    let all = sample_video();
    let len = all.len();
    let cases = [
        ("bytes=0-99".to_owned(), 0, 99),
        ("bytes=1000-".to_owned(), 1000, len - 1),
        ("bytes=-200".to_owned(), len - 200, len - 1),
        (format!("bytes=100-{}", len + 500), 100, len - 1),
    ];
    for (range, start, end) in cases {
        let r = api
            .c
            .get(&url)
            .header("Range", &range)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::PARTIAL_CONTENT, "{range}");
        assert_eq!(
            r.headers()["content-range"],
            format!("bytes {start}-{end}/{len}").as_str(),
            "{range}"
        );
        assert_eq!(r.headers()["content-type"], "video/mp4");
        assert_eq!(
            r.headers()["content-length"],
            (end - start + 1).to_string().as_str()
        );
        let body = r.bytes().await.unwrap();
        assert_eq!(&body[..], &all[start..=end], "{range}");
    }
    // Resuming: the two halves make the whole file.
    let first = api
        .c
        .get(&url)
        .header("Range", "bytes=0-2999")
        .send()
        .await
        .unwrap();
    let rest = api
        .c
        .get(&url)
        .header("Range", "bytes=3000-")
        .send()
        .await
        .unwrap();
    let mut joined = first.bytes().await.unwrap().to_vec();
    joined.extend_from_slice(&rest.bytes().await.unwrap());
    assert_eq!(joined, all);
}

#[tokio::test]
async fn ranges_past_the_end_are_416() {
    let sb = start(fast()).await;
    let api = Api::new(&sb);
    let url = ready_video(&api).await;
    let len = sample_video().len();
    let r = api
        .c
        .get(&url)
        .header("Range", format!("bytes={len}-"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::RANGE_NOT_SATISFIABLE);
    assert_eq!(
        r.headers()["content-range"],
        format!("bytes */{len}").as_str()
    );
}

#[tokio::test]
async fn head_gives_the_headers_without_the_body() {
    let sb = start(fast()).await;
    let api = Api::new(&sb);
    let url = ready_video(&api).await;
    let r = api.c.request(Method::HEAD, &url).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(
        r.headers()["content-length"],
        sample_video().len().to_string().as_str()
    );
    assert!(r.bytes().await.unwrap().is_empty());
}

#[tokio::test]
async fn unknown_or_unfinished_videos_are_404() {
    let sb = start(fast().render_time(Duration::from_secs(60)..Duration::from_secs(60))).await;
    let api = Api::new(&sb);
    let id = api.create(PROJECT).await;
    for path in [
        format!("/downloads/{id}.mp4"),
        "/downloads/0123456789abcdef01234567.mp4".to_owned(),
        "/downloads/export_001.mp4".to_owned(),
        format!("/downloads/{id}"),
    ] {
        let r = api.c.get(api.url(&path)).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::NOT_FOUND, "{path}");
    }
    assert_eq!(sb.stats().downloads, 0);
}

/// On paused time: 1.1 s is past the render (150-300 ms) and refills the 2/s budget, exactly.
#[tokio::test(start_paused = true)]
async fn downloads_need_no_key_and_spend_no_budget() {
    let sb = start(fast().rate_limit(2)).await;
    let api = Api::new(&sb);
    let id = api.create(PROJECT).await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let r = api
        .v3(Method::GET, &format!("/api/odin/v3/editor/progress/{id}"))
        .send()
        .await
        .unwrap();
    let url = crate::common::json(r).await.1["data"]["downloadUrl"]
        .as_str()
        .unwrap()
        .to_owned();
    for _ in 0..10 {
        assert_eq!(
            api.c.get(&url).send().await.unwrap().status(),
            StatusCode::OK
        );
    }
    let s = sb.stats();
    assert_eq!((s.downloads, s.rate_limited, s.requests), (10, 0, 2));
}
