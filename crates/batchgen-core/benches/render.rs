//! Criterion benches of the templating core: compiling a template, rendering one row (with the
//! site checks, without validation, and the cost a full validation would add), and a stream of
//! rows through rayon. `cargo bench -p batchgen-core`.

use batchgen_core::validate::validate_project;
use batchgen_core::{Header, RenderedRow, Row, RowReader, Template, TemplateSource, render_stream};
use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use std::hint::black_box;

const TEMPLATE: &str = include_str!("../../../templates/two-scene-promo.json");
const COLUMNS: [&str; 9] = [
    "customer_id",
    "first_name",
    "company",
    "campaign",
    "offer",
    "photo_url",
    "photo_scale",
    "outro_video_url",
    "@videoImage-1hguqu268jj/volume:int",
];

fn row(n: u64) -> Row {
    Row::new(
        n,
        [
            format!("C{n:07}"),
            "Zoë".into(),
            "Globex".into(),
            "Spring promo".into(),
            "Spring tickets are 2-for-1, \"no strings attached\".".into(),
            format!("https://cdn-studio.aistudios.com/images/{n:024x}.jpg"),
            "0.15".into(),
            "https://cdn-studio.aistudios.com/videos/658279796cebbf10f29e2c5b.mp4".into(),
            if n % 3 == 0 {
                "60".into()
            } else {
                String::new()
            },
        ],
    )
}

fn csv(rows: u64) -> String {
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record(COLUMNS).unwrap();
    for n in 1..=rows {
        w.write_record(row(n).fields.iter()).unwrap();
    }
    String::from_utf8(w.into_inner().unwrap()).unwrap()
}

fn benches(c: &mut Criterion) {
    let source = TemplateSource::parse("two-scene-promo.json", TEMPLATE).unwrap();
    let header = Header::new(COLUMNS.iter().map(|s| s.to_string()).collect()).unwrap();

    c.bench_function("compile two-scene template", |b| {
        b.iter(|| {
            Template::builder(black_box(&source), &header)
                .build()
                .unwrap()
        })
    });

    let checked = Template::builder(&source, &header).build().unwrap();
    let unchecked = Template::builder(&source, &header)
        .validate(false)
        .build()
        .unwrap();
    let one = row(42);
    let mut g = c.benchmark_group("render one row");
    g.throughput(Throughput::Elements(1));
    g.bench_function("with site checks", |b| {
        b.iter(|| checked.render_row(black_box(&one)).unwrap())
    });
    g.bench_function("without validation", |b| {
        b.iter(|| unchecked.render_row(black_box(&one)).unwrap())
    });
    let project: serde_json::Value =
        serde_json::from_slice(&unchecked.render_row(&one).unwrap()).unwrap();
    g.bench_function(
        "full validation of the rendered project (for comparison)",
        |b| b.iter(|| assert!(validate_project(black_box(&project)).is_empty())),
    );
    g.finish();

    let data = csv(10_000);
    let mut g = c.benchmark_group("render stream");
    g.throughput(Throughput::Elements(10_000));
    g.sample_size(20);
    g.bench_function("10,000 rows, parallel, in order", |b| {
        b.iter_batched(
            || {
                RowReader::from_reader(std::io::Cursor::new(data.clone().into_bytes()), "bench.csv")
                    .unwrap()
            },
            |rows| {
                let mut bytes = 0;
                render_stream(&checked, rows, &mut |r: RenderedRow| {
                    bytes += r.outcome.unwrap().len();
                    Ok::<_, std::convert::Infallible>(())
                })
                .unwrap();
                bytes
            },
            BatchSize::LargeInput,
        )
    });
    g.finish();
}

criterion_group!(core, benches);
criterion_main!(core);
