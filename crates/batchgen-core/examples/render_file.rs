//! Renders a CSV with a template and reports the time spent, without writing the projects:
//! `cargo run --release -p batchgen-core --example render_file -- DATA TEMPLATE [--no-validate] [--threads N]`.
//! Used to profile the core apart from output I/O.

use batchgen_core::{RenderedRow, RowReader, Template, TemplateSource, render_stream};
use std::time::Instant;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let validate = !args.iter().any(|a| a == "--no-validate");
    if let Some(i) = args.iter().position(|a| a == "--threads") {
        let n: usize = args[i + 1].parse().expect("--threads N");
        rayon::ThreadPoolBuilder::new()
            .num_threads(n)
            .build_global()
            .expect("pool");
    }
    let source = TemplateSource::from_path(&args[1]).expect("template");
    let rows = RowReader::from_path(&args[0]).expect("csv");
    let template = Template::builder(&source, rows.header())
        .validate(validate)
        .build()
        .expect("compile");
    let start = Instant::now();
    let mut bytes = 0usize;
    let stats = render_stream(&template, rows, &mut |r: RenderedRow| {
        bytes += r.outcome.as_ref().map_or(0, Vec::len);
        Ok::<_, std::convert::Infallible>(())
    })
    .expect("render");
    let took = start.elapsed();
    println!(
        "{} rows ({} valid), {:.1} MB of JSON in {:.3} s: {:.2} µs/row, validate={validate}",
        stats.rows,
        stats.rendered,
        bytes as f64 / 1e6,
        took.as_secs_f64(),
        took.as_secs_f64() * 1e6 / stats.rows as f64
    );
}
