//! Where the library's `tracing` events go (native/src/log.rs lists them): stderr, as text or
//! one JSON object per line, filtered by `RUST_LOG`. `serve` logs this crate's events at `info`
//! unless `RUST_LOG` says otherwise ([`SERVE_DEFAULT`]); the other commands log nothing unless it does (their stderr carries progress
//! and errors for a person, their stdout the command's result).

use tracing_subscriber::EnvFilter;

/// `serve`'s filter without `RUST_LOG`: this crate's events (native/src/log.rs) from `info`,
/// the libraries' (rmcp, hyper, …) from `warn` (rmcp says `info` for every MCP session).
#[cfg(feature = "server")]
pub(crate) const SERVE_DEFAULT: &str = "warn,mcp_oauth=info";

/// `--log-format`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line: `timestamp`, `level`, `target`, `fields` (with `message`).
    Json,
}

/// Installs the subscriber: `RUST_LOG` when set (an invalid filter is an error naming it), else
/// `default`.
pub(crate) fn init(format: LogFormat, default: &str) -> Result<(), String> {
    let filter = match std::env::var("RUST_LOG") {
        Ok(text) if !text.trim().is_empty() => EnvFilter::try_new(&text)
            .map_err(|e| format!("RUST_LOG={text:?} is not a valid filter: {e}"))?,
        _ => EnvFilter::new(default),
    };
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    let installed = match format {
        LogFormat::Text => builder.with_ansi(false).try_init(),
        LogFormat::Json => builder.json().with_current_span(false).with_span_list(false).try_init(),
    };
    installed.map_err(|e| format!("cannot install the logger: {e}"))
}
