//! What the downloader tells the person watching: a progress bar on a
//! terminal, plain time-stamped lines otherwise (a service's log, Task
//! Scheduler, cron). File names and download ids only: never a patient.

use std::io::{IsTerminal, Write};

pub struct Progress {
    bar: bool,
    quiet: bool,
    total: usize,
    done: usize,
}

/// The time now in UTC, RFC 3339, to the second.
pub fn timestamp() -> String {
    let now = time::OffsetDateTime::now_utc()
        .replace_nanosecond(0)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    now.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

impl Progress {
    /// A bar when standard error is a terminal; `quiet` keeps only
    /// problems.
    pub fn new(quiet: bool) -> Progress {
        Progress {
            bar: std::io::stderr().is_terminal() && !quiet,
            quiet,
            total: 0,
            done: 0,
        }
    }

    /// A line of the log (above the bar, if one is drawn).
    pub fn log(&mut self, line: &str) {
        if self.quiet && !line.starts_with("could not") {
            return;
        }
        let mut err = std::io::stderr().lock();
        if self.bar && self.total > 0 {
            let _ = write!(err, "\r\x1b[2K");
        }
        let _ = writeln!(err, "{} athen-fetch: {line}", timestamp());
        if self.bar && self.total > 0 {
            self.draw(&mut err, "");
        }
    }

    pub fn start(&mut self, total: usize) {
        self.total = total;
        self.done = 0;
        if total > 0 && !self.bar {
            self.log(&format!("{total} file(s) to fetch"));
        }
    }

    pub fn advance(&mut self, name: &str) {
        self.done += 1;
        if self.bar {
            let mut err = std::io::stderr().lock();
            self.draw(&mut err, name);
        }
    }

    fn draw(&self, out: &mut impl Write, name: &str) {
        const WIDTH: usize = 30;
        let filled = (self.done * WIDTH).checked_div(self.total).unwrap_or(0);
        let _ = write!(
            out,
            "\r\x1b[2K[{}{}] {}/{} {name}",
            "#".repeat(filled),
            " ".repeat(WIDTH - filled),
            self.done,
            self.total
        );
        let _ = out.flush();
    }

    pub fn finish(&mut self) {
        if self.bar && self.total > 0 {
            let _ = writeln!(std::io::stderr());
        }
        self.total = 0;
    }
}
