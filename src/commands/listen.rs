//! `nats-trace listen [SUBJECT…] [--dest SUBJ]`: print the route of every traced message of
//! real traffic as it completes (see `docs/listen.md`). The work is [`crate::listen`]'s; this
//! runner checks the subjects, connects, and prints: a header line and the tree per message
//! (or one JSON line), failed expectations on stderr, `--raw` lines, the `--save` file, an
//! HTML page per message with `--html-dir`, and the summary at exit. Exit 0, 1 when a message failed an `--expect`, 2 on errors, 130 on
//! Ctrl-C.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::PathBuf;

use crate::ci::expect;
use crate::commands::{otlp, print_warning};
use crate::connect;
use crate::error::{Error, Outcome};
use crate::export::{self, BatchExporter, ExportCounts, OtlpSettings, queue::BatchLimits};
use crate::listen::{Emitted, ListenSettings, Sink, Summary, engine};
use crate::render::{Format, HtmlRenderer, JsonRenderer, Renderer, TraceReport};
use crate::settings::{ConnectionOptions, OutputOptions};
use crate::trace::capture;
use crate::trace::collect::ReceivedTrace;
use crate::trace::redact::Redactor;
use crate::verbose::Verbose;
use std::time::Duration;

/// Listens, prints, and ends with the outcome.
pub(crate) async fn run_listen(
    connection: &ConnectionOptions,
    listen: &ListenSettings,
    output: &OutputOptions,
    otlp: &OtlpSettings,
    log: &Verbose,
    out: &mut dyn Write,
) -> Result<Outcome, Error> {
    check_subjects(&listen.subjects)?;
    open_html_dir(listen, output.format)?;
    let save = open_save(listen)?;
    let mut conn = connect::connect(connection, log).await?;
    let info = conn.client.server_info();
    log.say(format_args!(
        "connected to {} (server {} version {})",
        conn.display_url, info.server_name, info.version
    ));
    let otel = Otel::start(otlp, log);
    let mut printer = Printer::new(listen, output, &otlp.span_headers, otel, out, save);
    let ended = engine::listen(&mut conn, listen, &mut printer, log).await;
    printer.otel.finish();
    let ended = ended?;
    printer.summary(&ended.summary, true)?;
    printer.finish_save()?;
    Ok(if ended.interrupted {
        Outcome::Interrupted
    } else if printer.failed > 0 {
        Outcome::ExpectationFailed
    } else {
        Outcome::Complete
    })
}

/// At least one subject, each a valid subscription subject.
fn check_subjects(subjects: &[String]) -> Result<(), Error> {
    if subjects.is_empty() {
        return Err(Error::Usage(
            "listen needs a subject to listen on: give SUBJECT (e.g. `trace.>`) or --dest SUBJ (the account's msg_trace destination)".into(),
        ));
    }
    for subject in subjects {
        let tokens: Vec<&str> = subject.split('.').collect();
        let bad = subject.chars().any(|c| c.is_whitespace() || c.is_control())
            || tokens.iter().any(|t| t.is_empty())
            || tokens[..tokens.len() - 1].contains(&">");
        if bad {
            return Err(Error::Usage(format!(
                "invalid subject {} to listen on",
                crate::text::go_quote(subject)
            )));
        }
    }
    Ok(())
}

/// `--html-dir DIR`, created when missing; `--format html` needs it.
fn open_html_dir(listen: &ListenSettings, format: Format) -> Result<(), Error> {
    match &listen.html_dir {
        None if format == Format::Html => Err(Error::Usage(
            "listen --format html writes one page per message: give --html-dir DIR".into(),
        )),
        None => Ok(()),
        Some(dir) => std::fs::create_dir_all(dir)
            .map_err(|e| Error::Input(format!("cannot create {}: {e}", dir.display()))),
    }
}

/// `--save FILE`, created (or truncated) before listening starts.
fn open_save(listen: &ListenSettings) -> Result<Option<BufWriter<File>>, Error> {
    listen
        .save
        .as_ref()
        .map(|path| {
            File::create(path)
                .map(BufWriter::new)
                .map_err(|e| Error::Input(format!("cannot write {}: {e}", path.display())))
        })
        .transpose()
}

/// Prints what `listen` finds.
struct Printer<'a> {
    listen: &'a ListenSettings,
    format: Format,
    renderer: Box<dyn Renderer>,
    out: &'a mut dyn Write,
    save: Option<BufWriter<File>>,
    /// Messages that failed an expectation.
    failed: u64,
    /// `--html-dir`: the page writer and the pages written so far.
    html: Option<HtmlRenderer>,
    pages: u64,
    /// OpenTelemetry: `--otlp-header` names, the export queue, `-v`.
    otel: Otel,
}

/// `listen`'s OpenTelemetry side: the batching exporter when an endpoint is set.
struct Otel {
    span_headers: Vec<String>,
    exporter: Option<BatchExporter>,
    /// The bound on the final flush.
    flush_within: Duration,
    log: Verbose,
}

impl Otel {
    fn start(otlp: &OtlpSettings, log: &Verbose) -> Otel {
        let exporter = otlp.export.as_ref().map(|settings| {
            log.say(format_args!(
                "exporting spans to {}",
                settings.display_endpoint()
            ));
            BatchExporter::start(settings, BatchLimits::default(), print_warning)
        });
        Otel {
            span_headers: otlp.span_headers.clone(),
            exporter,
            flush_within: otlp
                .export
                .as_ref()
                .map_or(Duration::ZERO, |s| s.timeout + Duration::from_secs(1)),
            log: *log,
        }
    }

    /// Queues the spans of one shown message; `-v` names its trace-id.
    fn message(&mut self, report: &TraceReport) {
        self.log.say(format_args!(
            "OpenTelemetry trace-id {} for {}",
            report.otel_trace_id_hex(),
            report.subject
        ));
        let Some(exporter) = &mut self.exporter else {
            return;
        };
        match export::encode::spans_of(report, &self.span_headers) {
            Ok(spans) => exporter.push(spans),
            Err(why) => print_warning(&why),
        }
    }

    /// Sends what is queued, within the bound.
    fn finish(&mut self) {
        if let Some(exporter) = &mut self.exporter {
            exporter.finish(self.flush_within);
        }
    }

    /// The export counts, when exporting.
    fn counts(&self) -> Option<ExportCounts> {
        self.exporter.as_ref().map(BatchExporter::counts)
    }
}

impl<'a> Printer<'a> {
    fn new(
        listen: &'a ListenSettings,
        output: &OutputOptions,
        span_headers: &[String],
        otel: Otel,
        out: &'a mut dyn Write,
        save: Option<BufWriter<File>>,
    ) -> Printer<'a> {
        Printer {
            listen,
            format: output.format,
            renderer: otlp::renderer(output, span_headers),
            out,
            save,
            failed: 0,
            html: listen.html_dir.as_ref().map(|_| {
                HtmlRenderer::new(Redactor::new(listen.show_headers, &listen.redact_headers))
            }),
            pages: 0,
            otel,
        }
    }

    /// `--html-dir`: the message's page, `NNNNNN-SUBJECT.html`; its path.
    fn write_page(&mut self, emitted: &Emitted) -> Result<Option<PathBuf>, Error> {
        let (Some(html), Some(dir)) = (&self.html, &self.listen.html_dir) else {
            return Ok(None);
        };
        self.pages += 1;
        let path = dir.join(page_name(self.pages, &emitted.report.subject));
        std::fs::write(&path, html.page(&emitted.report))
            .map_err(|e| Error::Input(format!("cannot write {}: {e}", path.display())))?;
        Ok(Some(path))
    }

    /// The tree's header line: subject, traceparent, time, and why it is shown now.
    fn header(&mut self, emitted: &Emitted) -> Result<(), Error> {
        let report = &emitted.report;
        let time = report
            .graph
            .origin_time()
            .map(|t| t.raw)
            .unwrap_or_else(|| rfc3339(emitted.first_arrival));
        let subject = if report.subject.is_empty() {
            format!("(no origin; arrived on {})", emitted.arrived_on)
        } else {
            report.subject.clone()
        };
        writeln!(
            self.out,
            "=== {} traceparent {} at {} ({}, {} trace message(s))",
            crate::text::sanitize(&subject),
            report.traceparent.as_deref().unwrap_or("-"),
            crate::text::sanitize(&time),
            emitted.reason.words(),
            emitted.traces
        )?;
        Ok(())
    }

    /// Checks `--expect` on one message: one stderr line per failure naming the message.
    fn check(&mut self, emitted: &Emitted) {
        let report = &emitted.report;
        let failures = expect::evaluate_all(&self.listen.expect, report);
        if failures.is_empty() {
            return;
        }
        self.failed += 1;
        for failure in failures {
            let _ = writeln!(
                std::io::stderr().lock(),
                "nats-trace: expectation failed: {} (traceparent {}): {}",
                crate::text::sanitize(&report.subject),
                report.traceparent.as_deref().unwrap_or("-"),
                crate::text::sanitize(&failure.to_string())
            );
        }
    }

    fn finish_save(&mut self) -> Result<(), Error> {
        if let Some(save) = &mut self.save {
            save.flush()
                .map_err(|e| Error::Input(format!("cannot write the --save file: {e}")))?;
        }
        Ok(())
    }
}

impl Sink for Printer<'_> {
    fn message(&mut self, emitted: &Emitted) -> Result<(), Error> {
        match self.format {
            Format::Json => JsonRenderer::render_line(&emitted.report, self.out)?,
            Format::Tree => {
                self.header(emitted)?;
                self.renderer.render(&emitted.report, self.out)?;
                writeln!(self.out)?;
            }
            Format::Dot | Format::Mermaid | Format::Otlp => {
                self.renderer.render(&emitted.report, self.out)?
            }
            Format::Html => self.header(emitted)?,
        }
        if let Some(path) = self.write_page(emitted)?
            && self.format == Format::Html
        {
            writeln!(
                self.out,
                "page {}",
                crate::text::sanitize(&path.display().to_string())
            )?;
        }
        self.otel.message(&emitted.report);
        self.check(emitted);
        Ok(())
    }

    fn trace(&mut self, received: &ReceivedTrace) -> Result<(), Error> {
        if self.listen.raw {
            writeln!(
                self.out,
                "{}{}",
                capture::RAW_PREFIX,
                crate::text::sanitize(&received.json)
            )?;
        }
        if let Some(save) = &mut self.save {
            capture::write_saved(save, std::slice::from_ref(received))
                .map_err(|e| Error::Input(format!("cannot write the --save file: {e}")))?;
        }
        Ok(())
    }

    fn warning(&mut self, text: &str) {
        print_warning(text);
    }

    fn flush(&mut self) -> Result<(), Error> {
        self.out.flush()?;
        Ok(())
    }

    fn summary(&mut self, summary: &Summary, last: bool) -> Result<(), Error> {
        if self.format == Format::Json {
            let line = SummaryLine {
                summary: summary.to_json(last),
                otlp: self.otel.counts(),
            };
            serde_json::to_writer(&mut *self.out, &line).map_err(std::io::Error::other)?;
            writeln!(self.out)?;
        } else if self.format == Format::Otlp {
            // stdout carries only OTLP requests, one per line: the summary goes to stderr.
            summary.write_text(&mut std::io::stderr().lock(), last)?;
            write_export_counts(&mut std::io::stderr().lock(), self.otel.counts())?;
        } else {
            summary.write_text(self.out, last)?;
            write_export_counts(self.out, self.otel.counts())?;
        }
        self.out.flush()?;
        Ok(())
    }
}

/// The last JSON line: `{"summary": …}`, with `"otlp": {sent, dropped, failed}` when
/// exporting.
#[derive(serde::Serialize)]
struct SummaryLine {
    summary: crate::listen::summary::SummaryJson,
    #[serde(skip_serializing_if = "Option::is_none")]
    otlp: Option<ExportCounts>,
}

/// The summary's OTLP line, when exporting: spans sent, dropped (queue full), failed.
fn write_export_counts(out: &mut dyn Write, counts: Option<ExportCounts>) -> std::io::Result<()> {
    match counts {
        Some(c) => writeln!(
            out,
            "otlp export: {} span(s) sent, {} dropped (queue full), {} failed",
            c.sent, c.dropped, c.failed
        ),
        None => Ok(()),
    }
}

/// A page's file name: its number, then the subject with anything but letters, digits, `.`,
/// `-` and `_` replaced by `_` (at most 80 characters).
fn page_name(number: u64, subject: &str) -> String {
    let slug: String = subject
        .chars()
        .take(80)
        .map(|c| {
            if c.is_ascii_alphanumeric() || "._-".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    let slug = if slug.is_empty() {
        "message".to_string()
    } else {
        slug
    };
    format!("{number:06}-{slug}.html")
}

/// RFC 3339 in UTC with milliseconds.
fn rfc3339(at: std::time::SystemTime) -> String {
    chrono::DateTime::<chrono::Utc>::from(at).to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}
