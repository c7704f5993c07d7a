//! What the binary writes for a person or a log collector: the logging setup (`tracing`), the
//! messages of the commands ([`say_line`], `say!`), colours, and the one progress bar they all print around.
//!
//! - **Where.** Everything here goes to stderr: logs, notes, warnings, progress and the summary.
//!   stdout carries only what a command produces as data (`render`'s JSONL, `status --json`,
//!   `exports list --json`, `schema`), so it can be piped whatever the log format.
//! - **`--log-format json`.** stderr is then JSON lines, one object per line and nothing else:
//!   tracing's events (`timestamp`, `level`, `target`, `message`, then the fields of the spans
//!   around the event and its own fields, flat), the commands' messages (`kind: "message"`), the
//!   progress lines (`kind: "progress"`), the rows listed at the end (`kind: "row"`, with `row`
//!   and `key`) and the summary (`kind: "summary"`). Every line about one row carries `row` and
//!   `key` at the top level: the engine runs each row inside a `row` span that holds them, so
//!   even the API client's lines for that row have them. No progress bar is drawn.
//! - **Colours.** `--color auto` (the default) colours stderr when it is a terminal and
//!   `NO_COLOR` is unset or empty (<https://no-color.org>) and `TERM` is not `dumb`; `always` and
//!   `never` decide alone. JSON lines are never coloured.
//! - **The bar.** While a progress bar is drawn ([`Bar`]), every line written to stderr from
//!   here (logs and messages alike) is printed with the bar suspended (indicatif's `suspend`),
//!   so a warning never leaves a frozen copy of the bar behind.

use std::io::{IsTerminal, Write};
use std::sync::{Mutex, OnceLock};

use indicatif::ProgressBar;
use serde_json::{Map, Value};
use tracing::field::{Field, Visit};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields, FormattedFields};
use tracing_subscriber::prelude::*;
use tracing_subscriber::registry::LookupSpan;

/// How stderr's lines are written (`--log-format`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum LogFormat {
    /// For a person: plain lines, a progress bar on a terminal.
    #[default]
    Text,
    /// For a log collector: one JSON object per line (see the module doc).
    Json,
}

/// When stderr is coloured (`--color`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ColorChoice {
    /// When stderr is a terminal and `NO_COLOR` is not set.
    #[default]
    Auto,
    /// Always (even into a file or a pipe).
    Always,
    /// Never.
    Never,
}

impl LogFormat {
    /// `--log-format`'s value (clap has checked it is `text` or `json`).
    pub fn from_arg(value: &str) -> LogFormat {
        if value == "json" {
            LogFormat::Json
        } else {
            LogFormat::Text
        }
    }
}

impl ColorChoice {
    /// `--color`'s value (clap has checked it is `auto`, `always` or `never`).
    pub fn from_arg(value: &str) -> ColorChoice {
        match value {
            "always" => ColorChoice::Always,
            "never" => ColorChoice::Never,
            _ => ColorChoice::Auto,
        }
    }
}

/// Whether to colour: `choice`, else a terminal without `NO_COLOR` (set and not empty) nor
/// `TERM=dumb`.
pub fn wants_color(
    choice: ColorChoice,
    terminal: bool,
    no_color: Option<&str>,
    term: Option<&str>,
) -> bool {
    match choice {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => terminal && no_color.is_none_or(str::is_empty) && term != Some("dumb"),
    }
}

struct State {
    format: LogFormat,
    color: bool,
}

static STATE: OnceLock<State> = OnceLock::new();
/// The bar being drawn, if any: lines are printed around it.
static BAR: Mutex<Option<ProgressBar>> = Mutex::new(None);

fn state() -> &'static State {
    STATE.get_or_init(|| State {
        format: LogFormat::Text,
        color: false,
    })
}

/// Whether stderr is JSON lines (`--log-format json`).
pub fn json() -> bool {
    state().format == LogFormat::Json
}

/// Whether stderr is coloured.
pub fn color() -> bool {
    state().color
}

/// Sets up logging and output once, first thing: logs go to stderr through `tracing`; `-v`
/// for debug, `-vv` for trace, `--quiet` for errors only. `BATCHGEN_LOG` (an env-filter
/// directive) overrides those.
pub fn init(verbose: u8, quiet: bool, format: LogFormat, color: ColorChoice) {
    let stderr = std::io::stderr();
    let color = format == LogFormat::Text
        && wants_color(
            color,
            stderr.is_terminal(),
            std::env::var("NO_COLOR").ok().as_deref(),
            std::env::var("TERM").ok().as_deref(),
        );
    let _ = STATE.set(State { format, color });
    console::set_colors_enabled_stderr(color);
    let default = match (quiet, verbose) {
        (true, _) => "error",
        (false, 0) => "warn",
        (false, 1) => "info,batchgen=debug,batchgen_dispatch=debug,batchgen_aistudios=debug",
        _ => "debug,batchgen=trace,batchgen_dispatch=trace,batchgen_aistudios=trace",
    };
    let filter = || {
        tracing_subscriber::EnvFilter::try_from_env("BATCHGEN_LOG")
            .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default))
    };
    let _ = match format {
        LogFormat::Text => {
            // The row span's fields are already on the engine's row events: a text line
            // would say them twice.
            let no_row_span =
                tracing_subscriber::filter::filter_fn(|m| !(m.is_span() && m.name() == ROW_SPAN));
            let layer = tracing_subscriber::fmt::layer()
                .with_writer(|| BarWriter)
                .with_ansi(color)
                .with_target(false)
                .with_filter(filter())
                .with_filter(no_row_span);
            tracing_subscriber::registry().with(layer).try_init()
        }
        LogFormat::Json => {
            let layer = tracing_subscriber::fmt::layer()
                .with_writer(|| BarWriter)
                .with_ansi(false)
                .fmt_fields(JsonFields)
                .event_format(JsonLines)
                .with_filter(filter());
            tracing_subscriber::registry().with(layer).try_init()
        }
    };
}

/// The name of the span the engine runs each row in (fields `row` and `key`).
const ROW_SPAN: &str = "row";

/// Runs `print` with the bar (if one is drawn) out of the way.
fn around_bar<R>(print: impl FnOnce() -> R) -> R {
    let bar = BAR.lock().ok().and_then(|b| b.clone());
    match bar {
        Some(bar) if !bar.is_finished() => bar.suspend(print),
        _ => print(),
    }
}

/// stderr, written with the bar suspended; one `write` is one formatted event.
struct BarWriter;

impl Write for BarWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        around_bar(|| std::io::stderr().lock().write_all(buf))?;
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}

/// The progress bar being drawn: while it lives, lines from here print around it.
pub struct Bar(ProgressBar);

impl Bar {
    /// Registers `bar` as the one being drawn.
    pub fn register(bar: ProgressBar) -> Bar {
        if let Ok(mut b) = BAR.lock() {
            *b = Some(bar.clone());
        }
        Bar(bar)
    }

    /// The bar.
    pub fn bar(&self) -> &ProgressBar {
        &self.0
    }
}

impl Drop for Bar {
    fn drop(&mut self) {
        if let Ok(mut b) = BAR.lock() {
            *b = None;
        }
        self.0.finish_and_clear();
    }
}

/// How much a message matters; in JSON its `level`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Level {
    /// Something went wrong.
    Error,
    /// Something may be wrong.
    Warn,
    /// News.
    Info,
}

impl Level {
    fn as_str(self) -> &'static str {
        match self {
            Level::Error => "error",
            Level::Warn => "warn",
            Level::Info => "info",
        }
    }
}

/// Prints a command's message on stderr: as it is (around the bar), or as one JSON object
/// (`kind: "message"`) whose level comes from an `error: `/`warning: `/`note: ` prefix (which
/// is then left out of `message`).
pub fn say_line(text: &str) {
    if json() {
        let (level, message) = if let Some(m) = text.strip_prefix("error: ") {
            (Level::Error, m)
        } else if let Some(m) = text.strip_prefix("warning: ") {
            (Level::Warn, m)
        } else if let Some(m) = text.strip_prefix("note: ") {
            (Level::Info, m)
        } else {
            (Level::Info, text.trim_start_matches('\n'))
        };
        emit(level, "message", message, Map::new());
    } else {
        let text = paint_prefix(text);
        around_bar(|| {
            let _ = writeln!(std::io::stderr().lock(), "{text}");
        });
    }
}

/// `say!("…", args)`: [`say_line`] with `format!` arguments.
macro_rules! say {
    ($($t:tt)*) => { $crate::output::say_line(&format!($($t)*)) };
}
pub(crate) use say;

/// Prints one structured line: in JSON, an object with `kind` and `fields` beside the message;
/// as text, `text` (the message for a person).
pub fn say_with(level: Level, kind: &str, text: &str, fields: Map<String, Value>) {
    if json() {
        emit(level, kind, text, fields);
    } else {
        say_line(text);
    }
}

/// A line about one row (`kind: "row"`): `row`, `key` and `status` as fields in JSON.
pub fn say_row(level: Level, status: &str, row: u64, key: &str, error: &str, text: &str) {
    let mut fields = Map::new();
    fields.insert("row".into(), row.into());
    fields.insert("key".into(), key.into());
    fields.insert("status".into(), status.into());
    fields.insert("error".into(), error.into());
    say_with(level, "row", text, fields);
}

fn emit(level: Level, kind: &str, message: &str, fields: Map<String, Value>) {
    let mut obj = Map::new();
    obj.insert("timestamp".into(), now().into());
    obj.insert("level".into(), level.as_str().into());
    obj.insert("kind".into(), kind.into());
    obj.insert("message".into(), message.into());
    obj.extend(fields);
    let line = Value::Object(obj).to_string();
    around_bar(|| {
        let _ = writeln!(std::io::stderr().lock(), "{line}");
    });
}

/// Now, RFC 3339 UTC with microseconds.
fn now() -> String {
    let now = time::OffsetDateTime::now_utc();
    now.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// Colours `error:`, `warning:` and `note:` at the start of `text` when stderr is coloured.
fn paint_prefix(text: &str) -> String {
    if !color() {
        return text.to_owned();
    }
    for (prefix, style) in [
        ("error:", console::Style::new().red().bold()),
        ("warning:", console::Style::new().yellow().bold()),
        ("note:", console::Style::new().cyan()),
    ] {
        if let Some(rest) = text.strip_prefix(prefix) {
            return format!("{}{rest}", style.for_stderr().apply_to(prefix));
        }
    }
    text.to_owned()
}

/// A word painted in `style` when stderr is coloured (for the summary's counts).
pub fn paint(word: impl std::fmt::Display, style: fn(console::Style) -> console::Style) -> String {
    if color() {
        style(console::Style::new())
            .for_stderr()
            .apply_to(word)
            .to_string()
    } else {
        word.to_string()
    }
}

/// Tracing fields as a JSON object.
struct JsonVisitor<'a>(&'a mut Map<String, Value>);

impl Visit for JsonVisitor<'_> {
    fn record_str(&mut self, f: &Field, v: &str) {
        self.0.insert(f.name().into(), v.into());
    }
    fn record_u64(&mut self, f: &Field, v: u64) {
        self.0.insert(f.name().into(), v.into());
    }
    fn record_i64(&mut self, f: &Field, v: i64) {
        self.0.insert(f.name().into(), v.into());
    }
    fn record_f64(&mut self, f: &Field, v: f64) {
        self.0.insert(f.name().into(), v.into());
    }
    fn record_bool(&mut self, f: &Field, v: bool) {
        self.0.insert(f.name().into(), v.into());
    }
    fn record_debug(&mut self, f: &Field, v: &dyn std::fmt::Debug) {
        self.0.insert(f.name().into(), format!("{v:?}").into());
    }
}

/// A span's fields, kept as a JSON object (so [`JsonLines`] can lay them flat).
struct JsonFields;

impl<'w> FormatFields<'w> for JsonFields {
    fn format_fields<R: tracing_subscriber::field::RecordFields>(
        &self,
        mut writer: Writer<'w>,
        fields: R,
    ) -> std::fmt::Result {
        let mut map = Map::new();
        fields.record(&mut JsonVisitor(&mut map));
        write!(writer, "{}", Value::Object(map))
    }

    fn add_fields(
        &self,
        current: &'w mut FormattedFields<Self>,
        fields: &tracing::span::Record<'_>,
    ) -> std::fmt::Result {
        let mut map = match serde_json::from_str::<Value>(&current.fields) {
            Ok(Value::Object(m)) => m,
            _ => Map::new(),
        };
        fields.record(&mut JsonVisitor(&mut map));
        current.fields = Value::Object(map).to_string();
        Ok(())
    }
}

/// One JSON object per event: `timestamp`, `level`, `target`, then the fields of the spans
/// around it (outermost first) and the event's own, all at the top level.
struct JsonLines;

impl<S, N> FormatEvent<S, N> for JsonLines
where
    S: tracing::Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &tracing::Event<'_>,
    ) -> std::fmt::Result {
        let meta = event.metadata();
        let mut obj = Map::new();
        obj.insert("timestamp".into(), now().into());
        obj.insert(
            "level".into(),
            meta.level().as_str().to_ascii_lowercase().into(),
        );
        obj.insert("target".into(), meta.target().into());
        if let Some(scope) = ctx.event_scope() {
            for span in scope.from_root() {
                let ext = span.extensions();
                if let Some(fields) = ext.get::<FormattedFields<N>>() {
                    if let Ok(Value::Object(m)) = serde_json::from_str::<Value>(&fields.fields) {
                        obj.extend(m);
                    }
                }
            }
        }
        event.record(&mut JsonVisitor(&mut obj));
        writeln!(writer, "{}", Value::Object(obj))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colour_follows_the_flag_then_the_terminal_and_no_color() {
        use ColorChoice::*;
        assert!(wants_color(Always, false, Some("1"), None));
        assert!(!wants_color(Never, true, None, None));
        assert!(wants_color(Auto, true, None, Some("xterm-256color")));
        assert!(!wants_color(Auto, false, None, None), "not a terminal");
        assert!(!wants_color(Auto, true, Some("1"), None), "NO_COLOR");
        assert!(
            wants_color(Auto, true, Some(""), None),
            "an empty NO_COLOR does not count"
        );
        assert!(!wants_color(Auto, true, None, Some("dumb")));
    }
}
