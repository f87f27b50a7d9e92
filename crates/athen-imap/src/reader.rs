//! The connection: reading one whole command (its lines and literals,
//! RFC 9051 §4.3 and RFC 7888 LITERAL+) within limits, and writing
//! answers. Pipelined commands stay in the buffer for the next read.

use std::io;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use zeroize::Zeroizing;

/// The socket, before or after TLS.
pub(crate) enum Io {
    Plain(TcpStream),
    Tls(Box<tokio_rustls::server::TlsStream<TcpStream>>),
    /// Only while the plain socket is handed to the TLS acceptor.
    Closed,
}

fn closed() -> io::Error {
    io::Error::new(io::ErrorKind::NotConnected, "connection closed")
}

impl Io {
    async fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Io::Plain(s) => s.read(buf).await,
            Io::Tls(s) => s.read(buf).await,
            Io::Closed => Err(closed()),
        }
    }

    async fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        match self {
            Io::Plain(s) => s.write_all(buf).await,
            Io::Tls(s) => {
                s.write_all(buf).await?;
                s.flush().await
            }
            Io::Closed => Err(closed()),
        }
    }

    pub(crate) async fn shutdown(&mut self) {
        let _ = match self {
            Io::Plain(s) => AsyncWriteExt::shutdown(s).await,
            Io::Tls(s) => AsyncWriteExt::shutdown(s).await,
            Io::Closed => Ok(()),
        };
    }
}

/// How much one command may be.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// One line of a command, literals not counted (RFC 9051 §4.3 leaves
    /// it to the server; 8 KiB is the least it recommends accepting).
    pub line: usize,
    /// All of a command's literals together (APPEND: the message).
    pub literals: usize,
}

/// What one read gave.
pub(crate) enum Frame {
    /// A whole command, literals in place, without the final CRLF.
    Command(Zeroizing<Vec<u8>>),
    /// A line longer than the limit (it was read to its end and dropped).
    LineTooLong(Option<String>),
    /// A literal larger than the limit; `closing`: it was a non-waiting
    /// literal (LITERAL+) whose bytes are on their way, so the connection
    /// has to end.
    LiteralTooLarge {
        tag: Option<String>,
        closing: bool,
    },
    Eof,
}

/// The connection with its read buffer. Command bytes may be passwords
/// or letters, so the buffer is zeroized as it goes.
pub(crate) struct Wire {
    pub(crate) io: Io,
    buf: Zeroizing<Vec<u8>>,
    pos: usize,
    out: Vec<u8>,
}

const READ_CHUNK: usize = 16 * 1024;

/// The literal a line ends with (`{n}`, `{n+}`, `~{n}`): its length and
/// whether the client waits for `+` first.
fn trailing_literal(line: &[u8]) -> Option<(u64, bool)> {
    let body = line.strip_suffix(b"}")?;
    let open = body.iter().rposition(|b| *b == b'{')?;
    let inner = &body[open + 1..];
    let (digits, sync) = match inner.strip_suffix(b"+") {
        Some(d) => (d, false),
        None => (inner, true),
    };
    if digits.is_empty() || digits.len() > 19 || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(digits)
        .ok()?
        .parse()
        .ok()
        .map(|n| (n, sync))
}

impl Wire {
    pub(crate) fn new(io: Io) -> Wire {
        Wire {
            io,
            buf: Zeroizing::new(Vec::with_capacity(READ_CHUNK)),
            pos: 0,
            out: Vec::with_capacity(READ_CHUNK),
        }
    }

    /// Whether the client sent more than the command read (RFC 9051
    /// §6.2.1: bytes after STARTTLS are dropped, never run after TLS).
    pub(crate) fn discard_buffered(&mut self) -> bool {
        let had = self.pos < self.buf.len();
        self.buf.clear();
        self.pos = 0;
        had
    }

    /// Reads what the client sent next into the buffer; `Ok(false)` at
    /// the end. Cancel-safe: a read cut short by a `select!` (IDLE waiting
    /// for DONE or for new mail) loses nothing.
    pub(crate) async fn fill(&mut self) -> io::Result<bool> {
        let mut chunk = [0u8; READ_CHUNK];
        let n = self.io.read(&mut chunk).await?;
        if self.pos > 0 && self.pos == self.buf.len() {
            self.buf.clear();
            self.pos = 0;
        } else if self.pos > READ_CHUNK {
            self.buf.drain(..self.pos);
            self.pos = 0;
        }
        self.buf.extend_from_slice(&chunk[..n]);
        zeroize::Zeroize::zeroize(&mut chunk[..n]);
        Ok(n > 0)
    }

    /// One line without its CRLF (a bare LF is taken as well), appended
    /// to `into`; `Ok(false)` if the line was longer than `max` (it is
    /// read to its end and dropped, but for its first bytes, which give
    /// the tag), `Err(UnexpectedEof)` at the end. Nothing is consumed
    /// until the line is whole, so this is cancel-safe too.
    async fn line_into(&mut self, into: &mut Vec<u8>, max: usize) -> io::Result<bool> {
        let mut scanned = 0usize;
        let mut too_long = false;
        loop {
            let avail = &self.buf[self.pos..];
            if let Some(nl) = avail[scanned..].iter().position(|b| *b == b'\n') {
                let mut line = &avail[..scanned + nl];
                if let Some(l) = line.strip_suffix(b"\r") {
                    line = l;
                }
                let fits = !too_long && line.len() <= max;
                if fits {
                    into.extend_from_slice(line);
                } else if !too_long {
                    into.extend_from_slice(&line[..line.len().min(64)]);
                }
                self.pos += scanned + nl + 1;
                return Ok(fits);
            }
            scanned = avail.len();
            if scanned > max + 1 {
                // Too long: keep its start for the tag, drop the rest as
                // it comes so memory stays bounded.
                if !too_long {
                    into.extend_from_slice(&avail[..64.min(avail.len())]);
                }
                too_long = true;
                self.pos = self.buf.len();
                scanned = 0;
            }
            if !self.fill().await? {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
        }
    }

    /// A plain line (IDLE's DONE, a SASL response), at most `max` bytes.
    pub(crate) async fn read_line(&mut self, max: usize) -> io::Result<Option<Zeroizing<Vec<u8>>>> {
        let mut line = Zeroizing::new(Vec::new());
        match self.line_into(&mut line, max).await {
            Ok(true) => Ok(Some(line)),
            Ok(false) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// How many bytes the client sent that are not read yet.
    pub(crate) fn buffered(&self) -> usize {
        self.buf.len() - self.pos
    }

    /// Whether a whole line is buffered already (a client that sent DONE
    /// right behind IDLE).
    pub(crate) fn has_buffered_line(&self) -> bool {
        self.buf[self.pos..].contains(&b'\n')
    }

    async fn read_exact_into(&mut self, into: &mut Vec<u8>, mut n: usize) -> io::Result<()> {
        while n > 0 {
            if self.pos == self.buf.len() && !self.fill().await? {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
            let take = n.min(self.buf.len() - self.pos);
            into.extend_from_slice(&self.buf[self.pos..self.pos + take]);
            self.pos += take;
            n -= take;
        }
        Ok(())
    }

    /// Reads one whole command. A waiting literal is asked for with a `+`
    /// continuation (RFC 9051 §7.5) only once its size is known to be
    /// within the limit.
    pub(crate) async fn read_command(&mut self, limits: Limits) -> io::Result<Frame> {
        let mut cmd = Zeroizing::new(Vec::new());
        let mut literals = 0usize;
        loop {
            let line_start = cmd.len();
            match self.line_into(&mut cmd, limits.line).await {
                Ok(true) => {}
                Ok(false) => return Ok(Frame::LineTooLong(crate::syntax::tag_of(&cmd))),
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof && cmd.is_empty() => {
                    return Ok(Frame::Eof);
                }
                Err(e) => return Err(e),
            }
            let Some((n, sync)) = trailing_literal(&cmd[line_start..]) else {
                return Ok(Frame::Command(cmd));
            };
            let n = usize::try_from(n).unwrap_or(usize::MAX);
            if literals.saturating_add(n) > limits.literals {
                return Ok(Frame::LiteralTooLarge {
                    tag: crate::syntax::tag_of(&cmd),
                    closing: !sync,
                });
            }
            literals += n;
            cmd.extend_from_slice(b"\r\n");
            if sync {
                self.send(b"+ Ready for the literal\r\n").await?;
            }
            cmd.reserve(n);
            self.read_exact_into(&mut cmd, n).await?;
        }
    }

    /// Queues answer bytes; they go out at the next [`Wire::flush`] (or
    /// once enough is queued).
    pub(crate) async fn write(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.out.extend_from_slice(bytes);
        if self.out.len() >= 64 * 1024 {
            self.flush().await?;
        }
        Ok(())
    }

    pub(crate) async fn flush(&mut self) -> io::Result<()> {
        if self.out.is_empty() {
            return Ok(());
        }
        let out = std::mem::take(&mut self.out);
        let r = self.io.write_all(&out).await;
        self.out = out;
        self.out.clear();
        r
    }

    /// Writes and flushes at once.
    pub(crate) async fn send(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.write(bytes).await?;
        self.flush().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literal_markers() {
        assert_eq!(trailing_literal(b"a LOGIN jane {5}"), Some((5, true)));
        assert_eq!(trailing_literal(b"a APPEND x {1200+}"), Some((1200, false)));
        assert_eq!(trailing_literal(b"a APPEND x ~{3}"), Some((3, true)));
        assert_eq!(trailing_literal(b"a LOGIN jane {}"), None);
        assert_eq!(trailing_literal(b"a LOGIN jane {x}"), None);
        assert_eq!(trailing_literal(b"a NOOP"), None);
        assert_eq!(trailing_literal(b"}"), None);
    }
}
