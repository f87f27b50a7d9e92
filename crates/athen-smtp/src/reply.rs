//! SMTP replies, with RFC 3463 enhanced status codes and plain words, so
//! that every refusal tells the sending administrator what to do.

/// One reply, possibly multi-line (RFC 5321 §4.2.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub code: u16,
    pub lines: Vec<String>,
}

impl Reply {
    pub fn new(code: u16, text: impl Into<String>) -> Self {
        Self {
            code,
            lines: vec![text.into()],
        }
    }

    pub fn multi(code: u16, lines: Vec<String>) -> Self {
        Self { code, lines }
    }

    /// Wire form: `code-text` for all but the last line, `code text` last.
    pub fn write_to(&self, out: &mut Vec<u8>) {
        let n = self.lines.len();
        for (i, line) in self.lines.iter().enumerate() {
            let sep = if i + 1 == n { ' ' } else { '-' };
            // Reply text is ours; CR and LF can never appear in it.
            let clean: String = line.chars().filter(|c| *c != '\r' && *c != '\n').collect();
            out.extend_from_slice(format!("{}{}{}\r\n", self.code, sep, clean).as_bytes());
        }
        if n == 0 {
            out.extend_from_slice(format!("{}\r\n", self.code).as_bytes());
        }
    }

    pub fn is_positive(&self) -> bool {
        self.code < 400
    }
}

pub fn ok(text: &str) -> Reply {
    Reply::new(250, format!("2.0.0 {text}"))
}
pub fn must_starttls() -> Reply {
    // RFC 3207 §4: 530 before STARTTLS when the server requires TLS.
    Reply::new(
        530,
        "5.7.0 Must issue a STARTTLS command first: this server accepts mail only over TLS",
    )
}
pub fn bad_sequence(text: &str) -> Reply {
    Reply::new(503, format!("5.5.1 {text}"))
}
pub fn syntax(text: &str) -> Reply {
    Reply::new(501, format!("5.5.4 {text}"))
}
pub fn unknown_command() -> Reply {
    Reply::new(500, "5.5.2 Command not recognised")
}
pub fn line_too_long() -> Reply {
    // RFC 5321 §4.5.3.1.4: command lines are at most 512 octets.
    Reply::new(500, "5.5.6 Line too long")
}
pub fn not_implemented(what: &str) -> Reply {
    Reply::new(502, format!("5.5.1 {what} is not offered here"))
}
pub fn no_such_user() -> Reply {
    Reply::new(
        550,
        "5.1.1 No such recipient here: check the address in the ATHEN directory",
    )
}
pub fn mailbox_disabled(status: &str) -> Reply {
    Reply::new(
        550,
        format!("5.2.1 This recipient's account is {status} and does not receive mail"),
    )
}
pub fn relay_denied() -> Reply {
    Reply::new(
        550,
        "5.7.1 Relaying denied: this server accepts mail only for its own users",
    )
}
pub fn too_many_recipients(max: usize) -> Reply {
    // RFC 5321 §4.5.3.1.10: 452 so the client retries the rest later.
    Reply::new(
        452,
        format!("4.5.3 Too many recipients: at most {max} per message; send the rest separately"),
    )
}
pub fn too_big(max: usize) -> Reply {
    Reply::new(
        552,
        format!("5.3.4 Message too big: the limit is {max} bytes"),
    )
}
pub fn temporary_failure() -> Reply {
    Reply::new(
        451,
        "4.3.0 The message could not be stored safely; nothing was accepted, please try again later",
    )
}
pub fn too_many_errors() -> Reply {
    Reply::new(421, "4.7.0 Too many errors, closing the connection")
}
pub fn timeout(host: &str) -> Reply {
    Reply::new(
        421,
        format!("4.4.2 {host} Timeout waiting for the client, closing the connection"),
    )
}
pub fn too_many_connections() -> Reply {
    Reply::new(
        421,
        "4.7.0 Too many connections from your address; try again later",
    )
}
