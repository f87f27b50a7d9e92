//! The command parser: bytes of one complete command (its literals
//! already read by [`crate::reader`], the final CRLF taken off) into a
//! [`Tagged`] command, or a clear error for a `BAD` answer. It sees
//! network input, so it never panics, never recurses without a bound and
//! never allocates more than its input's size (fuzz target
//! `imap_command`, property tests below). Grammar: RFC 9051 §9, with
//! RFC 3501 §9 for what IMAP4rev1 has that IMAP4rev2 dropped.

use crate::command::*;
use crate::sequence::SequenceSet;
use zeroize::Zeroizing;

/// Why a command could not be read; `tag` when one was found (the `BAD`
/// answer is then tagged).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    pub tag: Option<String>,
    pub message: String,
}

/// Search keys may nest this deep ("(", NOT, OR), and no deeper.
const MAX_DEPTH: usize = 32;

type R<T> = Result<T, String>;

/// Parses one command.
pub fn parse(line: &[u8]) -> Result<Tagged, ParseError> {
    let mut p = Parser { s: line, i: 0 };
    let tag = p
        .tag()
        .map_err(|message| ParseError { tag: None, message })?;
    let fail = |message: String| ParseError {
        tag: Some(tag.clone()),
        message,
    };
    p.sp()
        .map_err(|_| fail("a command name must follow the tag".into()))?;
    let command = p.command().map_err(fail)?;
    if p.i != p.s.len() {
        return Err(fail(format!(
            "unexpected text after the {} command",
            command.name()
        )));
    }
    Ok(Tagged { tag, command })
}

/// The tag of a line, if it has one: what a `BAD` answer to a command
/// that could not be read at all (too long, a literal too large) is
/// tagged with.
pub fn tag_of(line: &[u8]) -> Option<String> {
    Parser { s: line, i: 0 }.tag().ok()
}

struct Parser<'a> {
    s: &'a [u8],
    i: usize,
}

fn is_atom_char(b: u8) -> bool {
    // RFC 9051 §9 ATOM-CHAR: any CHAR except atom-specials.
    b > 0x20 && b < 0x7f && !matches!(b, b'(' | b')' | b'{' | b'%' | b'*' | b'"' | b'\\' | b']')
}

fn is_astring_char(b: u8) -> bool {
    is_atom_char(b) || b == b']'
}

fn is_list_char(b: u8) -> bool {
    is_astring_char(b) || b == b'%' || b == b'*'
}

impl<'a> Parser<'a> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }

    fn eat(&mut self, b: u8) -> bool {
        if self.peek() == Some(b) {
            self.i += 1;
            true
        } else {
            false
        }
    }

    fn expect(&mut self, b: u8, what: &str) -> R<()> {
        if self.eat(b) {
            Ok(())
        } else {
            Err(format!("expected {what}"))
        }
    }

    fn sp(&mut self) -> R<()> {
        self.expect(b' ', "a space")
    }

    /// Whether a space and something else follow (an optional argument).
    fn more(&self) -> bool {
        self.peek() == Some(b' ')
    }

    fn take_while(&mut self, f: impl Fn(u8) -> bool) -> &'a [u8] {
        let start = self.i;
        while self.peek().is_some_and(&f) {
            self.i += 1;
        }
        &self.s[start..self.i]
    }

    fn tag(&mut self) -> R<String> {
        // tag = 1*<any ASTRING-CHAR except "+">
        let t = self.take_while(|b| is_astring_char(b) && b != b'+');
        if t.is_empty() {
            return Err("a command starts with a tag (such as A1), then a space".into());
        }
        Ok(String::from_utf8_lossy(t).into_owned())
    }

    fn atom(&mut self) -> R<&'a str> {
        let a = self.take_while(is_atom_char);
        if a.is_empty() {
            return Err("expected a word".into());
        }
        // ATOM-CHARs are ASCII.
        std::str::from_utf8(a).map_err(|_| "expected a word".into())
    }

    fn keyword(&mut self) -> R<String> {
        Ok(self.atom()?.to_ascii_uppercase())
    }

    /// `word` (case-insensitive) if it comes next.
    fn eat_keyword(&mut self, word: &str) -> bool {
        let end = self.i + word.len();
        let matches = self
            .s
            .get(self.i..end)
            .is_some_and(|w| w.eq_ignore_ascii_case(word.as_bytes()))
            && self.s.get(end).is_none_or(|b| !is_atom_char(*b));
        if matches {
            self.i = end;
        }
        matches
    }

    fn number64(&mut self) -> R<u64> {
        let d = self.take_while(|b| b.is_ascii_digit());
        if d.is_empty() || d.len() > 20 {
            return Err("expected a number".into());
        }
        std::str::from_utf8(d)
            .ok()
            .and_then(|d| d.parse().ok())
            .ok_or_else(|| "the number is too large".into())
    }

    fn number(&mut self) -> R<u32> {
        u32::try_from(self.number64()?).map_err(|_| "the number is too large".into())
    }

    fn nz_number(&mut self) -> R<u32> {
        match self.number()? {
            0 => Err("expected a number above 0".into()),
            n => Ok(n),
        }
    }

    /// quoted = DQUOTE *QUOTED-CHAR DQUOTE (UTF-8 allowed, RFC 9051 §9).
    fn quoted(&mut self) -> R<Vec<u8>> {
        self.expect(b'"', "a quoted string")?;
        let mut out = Vec::new();
        loop {
            match self.peek() {
                None | Some(b'\r' | b'\n' | 0) => {
                    return Err("a quoted string must end with \" on the same line".into());
                }
                Some(b'"') => {
                    self.i += 1;
                    return Ok(out);
                }
                Some(b'\\') => {
                    self.i += 1;
                    match self.peek() {
                        Some(c @ (b'"' | b'\\')) => {
                            out.push(c);
                            self.i += 1;
                        }
                        _ => {
                            return Err(
                                "in a quoted string, \\ may only come before \" or \\".into()
                            );
                        }
                    }
                }
                Some(c) => {
                    out.push(c);
                    self.i += 1;
                }
            }
        }
    }

    /// literal = "{" number64 ["+"] "}" CRLF *CHAR8, and literal8 ("~{")
    /// where binary is allowed.
    fn literal(&mut self, binary_ok: bool) -> R<Vec<u8>> {
        let binary = self.eat(b'~');
        if binary && !binary_ok {
            return Err("a binary literal (~{) is only allowed in APPEND".into());
        }
        self.expect(b'{', "a literal")?;
        let n = self.number64()?;
        self.eat(b'+');
        self.expect(b'}', "} to end the literal's length")?;
        if !(self.eat(b'\r') && self.eat(b'\n')) {
            return Err("a literal's length must end its line".into());
        }
        let n = usize::try_from(n).map_err(|_| "the literal is too large".to_string())?;
        let end = self
            .i
            .checked_add(n)
            .filter(|e| *e <= self.s.len())
            .ok_or_else(|| "the literal is shorter than its length says".to_string())?;
        let data = self.s[self.i..end].to_vec();
        if !binary && data.contains(&0) {
            return Err("a literal may not contain NUL (use ~{…} in APPEND)".into());
        }
        self.i = end;
        Ok(data)
    }

    fn string(&mut self) -> R<Vec<u8>> {
        match self.peek() {
            Some(b'"') => self.quoted(),
            Some(b'{') => self.literal(false),
            _ => Err("expected a string".into()),
        }
    }

    fn astring(&mut self) -> R<Vec<u8>> {
        match self.peek() {
            Some(b'"' | b'{') => self.string(),
            _ => {
                let a = self.take_while(is_astring_char);
                if a.is_empty() {
                    Err("expected a word or a string".into())
                } else {
                    Ok(a.to_vec())
                }
            }
        }
    }

    fn astring_text(&mut self) -> R<String> {
        String::from_utf8(self.astring()?).map_err(|_| "the text is not UTF-8".into())
    }

    fn nstring(&mut self) -> R<Option<String>> {
        if self.eat_keyword("NIL") {
            return Ok(None);
        }
        let s = self.string()?;
        Ok(Some(String::from_utf8_lossy(&s).into_owned()))
    }

    fn mailbox(&mut self) -> R<MailboxName> {
        Ok(MailboxName(self.astring()?))
    }

    fn list_mailbox(&mut self) -> R<MailboxName> {
        match self.peek() {
            Some(b'"' | b'{') => Ok(MailboxName(self.string()?)),
            _ => {
                let a = self.take_while(is_list_char);
                if a.is_empty() {
                    Err("expected a folder name or pattern".into())
                } else {
                    Ok(MailboxName(a.to_vec()))
                }
            }
        }
    }

    fn sequence_set(&mut self) -> R<SequenceSet> {
        let s = self.take_while(|b| b.is_ascii_digit() || matches!(b, b':' | b',' | b'*'));
        if s.is_empty() && self.peek() == Some(b'$') {
            return Err("$ (SEARCHRES) is not supported here".into());
        }
        std::str::from_utf8(s)
            .ok()
            .and_then(SequenceSet::parse)
            .ok_or_else(|| "expected message numbers such as 1:5,7 or 1:*".into())
    }

    fn flag(&mut self) -> R<Flag> {
        if self.eat(b'\\') {
            if self.eat(b'*') {
                return Err("\\* is not a flag a message can have".into());
            }
            let name = self.atom()?;
            return Ok(match name.to_ascii_uppercase().as_str() {
                "SEEN" => Flag::Seen,
                "ANSWERED" => Flag::Answered,
                "FLAGGED" => Flag::Flagged,
                "DELETED" => Flag::Deleted,
                "DRAFT" => Flag::Draft,
                "RECENT" => Flag::Recent,
                _ => Flag::Other(format!("\\{name}")),
            });
        }
        Ok(Flag::Other(self.atom()?.to_string()))
    }

    fn flag_list(&mut self) -> R<Vec<Flag>> {
        self.expect(b'(', "( to start the flags")?;
        let mut flags = Vec::new();
        if self.eat(b')') {
            return Ok(flags);
        }
        loop {
            flags.push(self.flag()?);
            if self.eat(b')') {
                return Ok(flags);
            }
            self.sp()?;
        }
    }

    /// "(" item *(SP item) ")", with `item` read by `f`.
    fn paren_list<T>(&mut self, mut f: impl FnMut(&mut Self) -> R<T>) -> R<Vec<T>> {
        self.expect(b'(', "(")?;
        let mut out = Vec::new();
        if self.eat(b')') {
            return Ok(out);
        }
        loop {
            out.push(f(self)?);
            if self.eat(b')') {
                return Ok(out);
            }
            self.sp()?;
        }
    }

    fn command(&mut self) -> R<Command> {
        let name = self.keyword()?;
        let c = match name.as_str() {
            "CAPABILITY" => Command::Capability,
            "NOOP" => Command::Noop,
            "LOGOUT" => Command::Logout,
            "STARTTLS" => Command::StartTls,
            "NAMESPACE" => Command::Namespace,
            "IDLE" => Command::Idle,
            "CHECK" => Command::Check,
            "CLOSE" => Command::Close,
            "UNSELECT" => Command::Unselect,
            "EXPUNGE" => Command::Expunge(None),
            "ID" => {
                self.sp()?;
                if self.eat_keyword("NIL") {
                    Command::Id(None)
                } else {
                    let mut fields = Vec::new();
                    self.expect(b'(', "( or NIL")?;
                    if !self.eat(b')') {
                        loop {
                            let k = String::from_utf8_lossy(&self.string()?).into_owned();
                            self.sp()?;
                            let v = self.nstring()?;
                            if fields.len() >= 30 {
                                return Err("ID has at most 30 fields (RFC 2971 §3.3)".into());
                            }
                            fields.push((k, v));
                            if self.eat(b')') {
                                break;
                            }
                            self.sp()?;
                        }
                    }
                    Command::Id(Some(fields))
                }
            }
            "AUTHENTICATE" => {
                self.sp()?;
                let mechanism = self.keyword()?;
                let initial = if self.more() {
                    self.sp()?;
                    let r = self.take_while(|b| {
                        b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'=')
                    });
                    if r.is_empty() {
                        return Err("expected a base64 initial response".into());
                    }
                    Some(Zeroizing::new(r.to_vec()))
                } else {
                    None
                };
                Command::Authenticate { mechanism, initial }
            }
            "LOGIN" => {
                self.sp()?;
                let user = self.astring_text()?;
                self.sp()?;
                let password = Zeroizing::new(
                    String::from_utf8(self.astring()?)
                        .map_err(|_| "the password is not UTF-8".to_string())?,
                );
                Command::Login { user, password }
            }
            "ENABLE" => {
                let mut caps = Vec::new();
                while self.more() {
                    self.sp()?;
                    caps.push(self.keyword()?);
                }
                if caps.is_empty() {
                    return Err("ENABLE needs at least one capability".into());
                }
                Command::Enable(caps)
            }
            "SELECT" | "EXAMINE" => {
                self.sp()?;
                let mailbox = self.mailbox()?;
                let params = if self.more() {
                    self.sp()?;
                    self.select_params()?
                } else {
                    SelectParams::default()
                };
                Command::Select {
                    mailbox,
                    read_only: name == "EXAMINE",
                    params,
                }
            }
            "CREATE" | "DELETE" | "SUBSCRIBE" | "UNSUBSCRIBE" => {
                self.sp()?;
                let m = self.mailbox()?;
                match name.as_str() {
                    "CREATE" => Command::Create(m),
                    "DELETE" => Command::Delete(m),
                    "SUBSCRIBE" => Command::Subscribe(m),
                    _ => Command::Unsubscribe(m),
                }
            }
            "RENAME" => {
                self.sp()?;
                let from = self.mailbox()?;
                self.sp()?;
                Command::Rename(from, self.mailbox()?)
            }
            "LIST" => Command::List(self.list()?),
            "LSUB" => {
                self.sp()?;
                let reference = self.mailbox()?;
                self.sp()?;
                let pattern = self.list_mailbox()?;
                Command::Lsub { reference, pattern }
            }
            "STATUS" => {
                self.sp()?;
                let mailbox = self.mailbox()?;
                self.sp()?;
                let items = self.status_items()?;
                Command::Status { mailbox, items }
            }
            "APPEND" => self.append()?,
            "GETQUOTA" => {
                self.sp()?;
                Command::GetQuota(self.astring_text()?)
            }
            "GETQUOTAROOT" => {
                self.sp()?;
                Command::GetQuotaRoot(self.mailbox()?)
            }
            "SETQUOTA" => {
                self.sp()?;
                let root = self.astring_text()?;
                self.sp()?;
                self.paren_list(|p| {
                    let _ = p.atom()?;
                    p.sp()?;
                    p.number64()
                })?;
                Command::SetQuota(root)
            }
            "UID" => {
                self.sp()?;
                let sub = self.keyword()?;
                self.selected(&sub, true)?
            }
            "SEARCH" | "FETCH" | "STORE" | "COPY" | "MOVE" => self.selected(&name, false)?,
            _ => return Err(format!("{name} is not a command this server knows")),
        };
        Ok(c)
    }

    fn select_params(&mut self) -> R<SelectParams> {
        let mut params = SelectParams::default();
        self.expect(b'(', "( to start the parameters")?;
        loop {
            match self.keyword()?.as_str() {
                "CONDSTORE" => params.condstore = true,
                "QRESYNC" => {
                    self.sp()?;
                    self.expect(b'(', "( after QRESYNC")?;
                    let uid_validity = self.nz_number()?;
                    self.sp()?;
                    let modseq = self.number64()?;
                    let mut known_uids = None;
                    if self.more() {
                        self.sp()?;
                        if self.peek() != Some(b'(') {
                            known_uids = Some(self.sequence_set()?);
                            if self.more() {
                                self.sp()?;
                            }
                        }
                        if self.peek() == Some(b'(') {
                            // seq-match-data: the client's hint; the
                            // answer is right without it.
                            self.paren_list(|p| p.sequence_set())?;
                        }
                    }
                    self.expect(b')', ") to end QRESYNC")?;
                    params.qresync = Some(Qresync {
                        uid_validity,
                        modseq,
                        known_uids,
                    });
                }
                other => {
                    return Err(format!(
                        "{other} is not a SELECT parameter this server knows"
                    ));
                }
            }
            if self.eat(b')') {
                return Ok(params);
            }
            self.sp()?;
        }
    }

    fn list(&mut self) -> R<ListCommand> {
        self.sp()?;
        let mut selection = Vec::new();
        if self.peek() == Some(b'(') {
            selection = self.paren_list(|p| p.keyword())?;
            self.sp()?;
        }
        let reference = self.mailbox()?;
        self.sp()?;
        let patterns = if self.peek() == Some(b'(') {
            self.paren_list(|p| p.list_mailbox())?
        } else {
            vec![self.list_mailbox()?]
        };
        let mut cmd = ListCommand {
            selection,
            reference,
            patterns,
            return_special_use: false,
            return_status: None,
        };
        if self.more() {
            self.sp()?;
            if !self.eat_keyword("RETURN") {
                return Err("expected RETURN (…)".into());
            }
            self.sp()?;
            self.expect(b'(', "( after RETURN")?;
            if !self.eat(b')') {
                loop {
                    match self.keyword()?.as_str() {
                        "SPECIAL-USE" => cmd.return_special_use = true,
                        "SUBSCRIBED" | "CHILDREN" => {}
                        "STATUS" => {
                            self.sp()?;
                            cmd.return_status = Some(self.status_items()?);
                        }
                        other => {
                            return Err(format!(
                                "{other} is not a LIST return option this server knows"
                            ));
                        }
                    }
                    if self.eat(b')') {
                        break;
                    }
                    self.sp()?;
                }
            }
        }
        Ok(cmd)
    }

    fn status_items(&mut self) -> R<Vec<StatusItem>> {
        let items = self.paren_list(|p| {
            Ok(match p.keyword()?.as_str() {
                "MESSAGES" => StatusItem::Messages,
                "RECENT" => StatusItem::Recent,
                "UIDNEXT" => StatusItem::UidNext,
                "UIDVALIDITY" => StatusItem::UidValidity,
                "UNSEEN" => StatusItem::Unseen,
                "DELETED" => StatusItem::Deleted,
                "SIZE" => StatusItem::Size,
                "HIGHESTMODSEQ" => StatusItem::HighestModseq,
                other => return Err(format!("{other} is not a STATUS item")),
            })
        })?;
        if items.is_empty() {
            return Err("STATUS needs at least one item".into());
        }
        Ok(items)
    }

    fn append(&mut self) -> R<Command> {
        self.sp()?;
        let mailbox = self.mailbox()?;
        self.sp()?;
        let mut flags = Vec::new();
        if self.peek() == Some(b'(') {
            flags = self.flag_list()?;
            self.sp()?;
        }
        let mut date = None;
        if self.peek() == Some(b'"') {
            date = Some(self.date_time()?);
            self.sp()?;
        }
        let message = self.literal(true)?;
        Ok(Command::Append {
            mailbox,
            flags,
            date,
            message,
        })
    }

    /// date-time = DQUOTE date-day-fixed "-" date-month "-" date-year SP
    /// time SP zone DQUOTE, as Unix time.
    fn date_time(&mut self) -> R<i64> {
        let raw = self.quoted()?;
        let text = std::str::from_utf8(&raw).map_err(|_| "the date is not text".to_string())?;
        parse_date_time(text).ok_or_else(|| {
            format!("{text:?} is not a date and time such as \"24-Nov-2026 10:00:00 +1100\"")
        })
    }

    /// date = date-text / DQUOTE date-text DQUOTE, as days since 1970.
    fn date(&mut self) -> R<i64> {
        let text = if self.peek() == Some(b'"') {
            String::from_utf8_lossy(&self.quoted()?).into_owned()
        } else {
            self.atom()?.to_string()
        };
        parse_date(&text).ok_or_else(|| format!("{text:?} is not a date such as 24-Nov-2026"))
    }

    fn selected(&mut self, name: &str, uid: bool) -> R<Command> {
        match name {
            "FETCH" => {
                self.sp()?;
                let set = self.sequence_set()?;
                self.sp()?;
                let items = self.fetch_items()?;
                let mut changed_since = None;
                if self.more() {
                    self.sp()?;
                    let mut since = None;
                    let mut vanished = false;
                    self.paren_list(|p| {
                        match p.keyword()?.as_str() {
                            "CHANGEDSINCE" => {
                                p.sp()?;
                                since = Some(p.number64()?);
                            }
                            "VANISHED" => vanished = true,
                            other => {
                                return Err(format!(
                                    "{other} is not a FETCH modifier this server knows"
                                ));
                            }
                        }
                        Ok(())
                    })?;
                    let Some(since) = since else {
                        return Err("VANISHED needs CHANGEDSINCE (RFC 7162 §3.2.6)".into());
                    };
                    if vanished && !uid {
                        return Err(
                            "VANISHED is only allowed in UID FETCH (RFC 7162 §3.2.6)".into()
                        );
                    }
                    changed_since = Some((since, vanished));
                }
                Ok(Command::Fetch {
                    uid,
                    set,
                    items,
                    changed_since,
                })
            }
            "STORE" => {
                self.sp()?;
                let set = self.sequence_set()?;
                self.sp()?;
                let mut unchanged_since = None;
                if self.peek() == Some(b'(') {
                    self.expect(b'(', "(")?;
                    if !self.eat_keyword("UNCHANGEDSINCE") {
                        return Err("expected UNCHANGEDSINCE".into());
                    }
                    self.sp()?;
                    unchanged_since = Some(self.number64()?);
                    self.expect(b')', ")")?;
                    self.sp()?;
                }
                let action = if self.eat(b'+') {
                    StoreAction::Add
                } else if self.eat(b'-') {
                    StoreAction::Remove
                } else {
                    StoreAction::Replace
                };
                let what = self.keyword()?;
                let silent = match what.as_str() {
                    "FLAGS" => false,
                    "FLAGS.SILENT" => true,
                    _ => return Err("expected FLAGS, +FLAGS or -FLAGS (with .SILENT)".into()),
                };
                self.sp()?;
                let flags = if self.peek() == Some(b'(') {
                    self.flag_list()?
                } else {
                    let mut f = vec![self.flag()?];
                    while self.more() {
                        self.sp()?;
                        f.push(self.flag()?);
                    }
                    f
                };
                Ok(Command::Store {
                    uid,
                    set,
                    unchanged_since,
                    action,
                    silent,
                    flags,
                })
            }
            "COPY" | "MOVE" => {
                self.sp()?;
                let set = self.sequence_set()?;
                self.sp()?;
                let mailbox = self.mailbox()?;
                Ok(if name == "COPY" {
                    Command::Copy { uid, set, mailbox }
                } else {
                    Command::Move { uid, set, mailbox }
                })
            }
            "SEARCH" => Ok(Command::Search {
                uid,
                search: self.search()?,
            }),
            "EXPUNGE" if uid => {
                self.sp()?;
                Ok(Command::Expunge(Some(self.sequence_set()?)))
            }
            other => Err(format!(
                "UID {other} is not a command (UID goes with FETCH, STORE, SEARCH, COPY, MOVE or EXPUNGE)"
            )),
        }
    }

    fn fetch_items(&mut self) -> R<FetchItems> {
        let macro_items = |items: &[FetchItem]| FetchItems {
            items: items.to_vec(),
        };
        use FetchItem::*;
        if self.peek() != Some(b'(') {
            if self.eat_keyword("ALL") {
                return Ok(macro_items(&[Flags, InternalDate, Rfc822Size, Envelope]));
            }
            if self.eat_keyword("FAST") {
                return Ok(macro_items(&[Flags, InternalDate, Rfc822Size]));
            }
            if self.eat_keyword("FULL") {
                return Ok(macro_items(&[
                    Flags,
                    InternalDate,
                    Rfc822Size,
                    Envelope,
                    Body,
                ]));
            }
            return Ok(FetchItems {
                items: vec![self.fetch_item()?],
            });
        }
        let items = self.paren_list(|p| p.fetch_item())?;
        if items.is_empty() {
            return Err("FETCH needs at least one item".into());
        }
        Ok(FetchItems { items })
    }

    fn fetch_item(&mut self) -> R<FetchItem> {
        let start = self.i;
        let word = self.take_while(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-'));
        let word = String::from_utf8_lossy(word).to_ascii_uppercase();
        Ok(match word.as_str() {
            "UID" => FetchItem::Uid,
            "FLAGS" => FetchItem::Flags,
            "INTERNALDATE" => FetchItem::InternalDate,
            "RFC822.SIZE" => FetchItem::Rfc822Size,
            "ENVELOPE" => FetchItem::Envelope,
            "BODYSTRUCTURE" => FetchItem::BodyStructure,
            "MODSEQ" => FetchItem::Modseq,
            "RFC822" => FetchItem::Rfc822(Rfc822Part::Whole),
            "RFC822.HEADER" => FetchItem::Rfc822(Rfc822Part::Header),
            "RFC822.TEXT" => FetchItem::Rfc822(Rfc822Part::Text),
            "BODY" if self.peek() != Some(b'[') => FetchItem::Body,
            "BODY" | "BODY.PEEK" | "BINARY" | "BINARY.PEEK" => {
                let binary = word.starts_with("BINARY");
                let section = if binary {
                    Section {
                        part: self.binary_section()?,
                        text: None,
                    }
                } else {
                    self.section()?
                };
                let partial = if self.eat(b'<') {
                    let offset = self.number()?;
                    self.expect(b'.', ". in <offset.length>")?;
                    let length = self.nz_number()?;
                    self.expect(b'>', "> to end <offset.length>")?;
                    Some((offset, length))
                } else {
                    None
                };
                FetchItem::Section {
                    section,
                    partial,
                    peek: word.ends_with(".PEEK"),
                    binary,
                }
            }
            "BINARY.SIZE" => FetchItem::BinarySize(self.binary_section()?),
            _ => {
                self.i = start;
                return Err(format!(
                    "{} is not a FETCH item",
                    if word.is_empty() { "that" } else { &word }
                ));
            }
        })
    }

    fn part_numbers(&mut self) -> R<Vec<u32>> {
        let mut part = Vec::new();
        while self.peek().is_some_and(|b| b.is_ascii_digit()) {
            part.push(self.nz_number()?);
            if part.len() > 100 {
                return Err("the part number is nested too deep".into());
            }
            if !self.eat(b'.') {
                break;
            }
        }
        Ok(part)
    }

    fn binary_section(&mut self) -> R<Vec<u32>> {
        self.expect(b'[', "[")?;
        let part = self.part_numbers()?;
        self.expect(b']', "] to end the section")?;
        Ok(part)
    }

    fn section(&mut self) -> R<Section> {
        self.expect(b'[', "[")?;
        let part = self.part_numbers()?;
        let text = if self.peek() == Some(b']') {
            // A trailing "." after part numbers is not allowed ("1.]").
            if !part.is_empty() && self.s.get(self.i - 1) == Some(&b'.') {
                return Err("a section cannot end with a dot".into());
            }
            None
        } else {
            let word = self.keyword()?;
            Some(match word.as_str() {
                "HEADER" => SectionText::Header,
                "TEXT" => SectionText::Text,
                "MIME" if !part.is_empty() => SectionText::Mime,
                "HEADER.FIELDS" | "HEADER.FIELDS.NOT" => {
                    self.sp()?;
                    let fields = self.paren_list(|p| p.astring_text())?;
                    if fields.is_empty() {
                        return Err("HEADER.FIELDS needs at least one field name".into());
                    }
                    SectionText::HeaderFields {
                        not: word.ends_with(".NOT"),
                        fields,
                    }
                }
                _ => {
                    return Err(format!(
                        "{word} is not a section (HEADER, HEADER.FIELDS, TEXT, MIME)"
                    ));
                }
            })
        };
        self.expect(b']', "] to end the section")?;
        Ok(Section { part, text })
    }

    fn search(&mut self) -> R<SearchCommand> {
        self.sp()?;
        let mut ret = None;
        if self.eat_keyword("RETURN") {
            self.sp()?;
            let opts = self.paren_list(|p| {
                Ok(match p.keyword()?.as_str() {
                    "MIN" => SearchReturn::Min,
                    "MAX" => SearchReturn::Max,
                    "ALL" => SearchReturn::All,
                    "COUNT" => SearchReturn::Count,
                    "SAVE" => SearchReturn::Save,
                    other => return Err(format!("{other} is not a SEARCH return option")),
                })
            })?;
            if opts.contains(&SearchReturn::Save) {
                return Err("SAVE (SEARCHRES) is not supported".into());
            }
            ret = Some(opts);
            self.sp()?;
        }
        let mut charset = None;
        if self.eat_keyword("CHARSET") {
            self.sp()?;
            charset = Some(self.astring_text()?.to_ascii_uppercase());
            self.sp()?;
        }
        let mut keys = vec![self.search_key(0)?];
        while self.more() {
            self.sp()?;
            keys.push(self.search_key(0)?);
        }
        let key = if keys.len() == 1 {
            keys.remove(0)
        } else {
            SearchKey::And(keys)
        };
        Ok(SearchCommand { ret, charset, key })
    }

    fn search_text(&mut self) -> R<String> {
        self.sp()?;
        Ok(String::from_utf8_lossy(&self.astring()?).into_owned())
    }

    fn search_key(&mut self, depth: usize) -> R<SearchKey> {
        use athen_core::mailbox::flags;
        if depth > MAX_DEPTH {
            return Err("the search is nested too deep".into());
        }
        if self.peek() == Some(b'(') {
            self.i += 1;
            let mut keys = vec![self.search_key(depth + 1)?];
            while !self.eat(b')') {
                self.sp()?;
                keys.push(self.search_key(depth + 1)?);
            }
            return Ok(if keys.len() == 1 {
                keys.remove(0)
            } else {
                SearchKey::And(keys)
            });
        }
        if self
            .peek()
            .is_some_and(|b| b.is_ascii_digit() || b == b'*' || b == b'$')
        {
            return Ok(SearchKey::Sequence(self.sequence_set()?));
        }
        let word = self.keyword()?;
        let header = |p: &mut Self, name: &str| -> R<SearchKey> {
            Ok(SearchKey::Header(name.into(), p.search_text()?))
        };
        Ok(match word.as_str() {
            "ALL" => SearchKey::All,
            "ANSWERED" => SearchKey::Flags(flags::ANSWERED, true),
            "UNANSWERED" => SearchKey::Flags(flags::ANSWERED, false),
            "DELETED" => SearchKey::Flags(flags::DELETED, true),
            "UNDELETED" => SearchKey::Flags(flags::DELETED, false),
            "DRAFT" => SearchKey::Flags(flags::DRAFT, true),
            "UNDRAFT" => SearchKey::Flags(flags::DRAFT, false),
            "FLAGGED" => SearchKey::Flags(flags::FLAGGED, true),
            "UNFLAGGED" => SearchKey::Flags(flags::FLAGGED, false),
            "SEEN" => SearchKey::Flags(flags::SEEN, true),
            "UNSEEN" => SearchKey::Flags(flags::SEEN, false),
            "RECENT" => SearchKey::Recent(true),
            "OLD" => SearchKey::Recent(false),
            "NEW" => SearchKey::New,
            "KEYWORD" | "UNKEYWORD" => {
                self.sp()?;
                SearchKey::Keyword(self.atom()?.to_string(), word == "KEYWORD")
            }
            "BCC" => header(self, "Bcc")?,
            "CC" => header(self, "Cc")?,
            "FROM" => header(self, "From")?,
            "TO" => header(self, "To")?,
            "SUBJECT" => header(self, "Subject")?,
            "HEADER" => {
                self.sp()?;
                let name = self.astring_text()?;
                SearchKey::Header(name, self.search_text()?)
            }
            "BODY" => SearchKey::Body(self.search_text()?),
            "TEXT" => SearchKey::Text(self.search_text()?),
            "LARGER" | "SMALLER" => {
                self.sp()?;
                let n = self.number64()?;
                if word == "LARGER" {
                    SearchKey::Larger(n)
                } else {
                    SearchKey::Smaller(n)
                }
            }
            "BEFORE" | "ON" | "SINCE" | "SENTBEFORE" | "SENTON" | "SENTSINCE" => {
                self.sp()?;
                let d = self.date()?;
                match word.as_str() {
                    "BEFORE" => SearchKey::Before(d),
                    "ON" => SearchKey::On(d),
                    "SINCE" => SearchKey::Since(d),
                    "SENTBEFORE" => SearchKey::SentBefore(d),
                    "SENTON" => SearchKey::SentOn(d),
                    _ => SearchKey::SentSince(d),
                }
            }
            "UID" => {
                self.sp()?;
                SearchKey::Uid(self.sequence_set()?)
            }
            "NOT" => {
                self.sp()?;
                SearchKey::Not(Box::new(self.search_key(depth + 1)?))
            }
            "OR" => {
                self.sp()?;
                let a = self.search_key(depth + 1)?;
                self.sp()?;
                let b = self.search_key(depth + 1)?;
                SearchKey::Or(Box::new(a), Box::new(b))
            }
            "MODSEQ" => {
                self.sp()?;
                if self.peek() == Some(b'"') {
                    // entry-name entry-type-req: per-flag mod-sequences
                    // are not kept separately; the message's is used.
                    self.quoted()?;
                    self.sp()?;
                    self.atom()?;
                    self.sp()?;
                }
                SearchKey::Modseq(self.number64()?)
            }
            other => return Err(format!("{other} is not a search key this server knows")),
        })
    }
}

const MONTHS: [&str; 12] = [
    "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC",
];

fn date_of(day: &str, month: &str, year: &str) -> Option<time::Date> {
    let day: u8 = day.trim_start().parse().ok()?;
    let month = MONTHS
        .iter()
        .position(|m| m.eq_ignore_ascii_case(month))
        .and_then(|i| time::Month::try_from(i as u8 + 1).ok())?;
    if year.len() != 4 {
        return None;
    }
    let year: i32 = year.parse().ok()?;
    time::Date::from_calendar_date(year, month, day).ok()
}

/// `24-Nov-2026` as days since 1970-01-01.
pub fn parse_date(s: &str) -> Option<i64> {
    let mut parts = s.split('-');
    let (Some(d), Some(m), Some(y), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return None;
    };
    if d.is_empty() || d.len() > 2 || !d.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(date_of(d, m, y)?.to_julian_day() as i64 - 2_440_588)
}

/// `24-Nov-2026 10:00:00 +1100` (the day may be space-padded) as Unix
/// time.
pub fn parse_date_time(s: &str) -> Option<i64> {
    let (date, rest) = s.split_at_checked(11)?;
    let mut parts = date.split('-');
    let (Some(d), Some(m), Some(y), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return None;
    };
    if d.len() != 2 {
        return None;
    }
    let date = date_of(d, m, y)?;
    let rest = rest.strip_prefix(' ')?;
    let (clock, zone) = rest.split_once(' ')?;
    let mut hms = clock.split(':').map(|x| {
        if x.len() == 2 && x.bytes().all(|b| b.is_ascii_digit()) {
            x.parse::<u8>().ok()
        } else {
            None
        }
    });
    let (Some(Some(h)), Some(Some(mi)), Some(Some(sec)), None) =
        (hms.next(), hms.next(), hms.next(), hms.next())
    else {
        return None;
    };
    let t = time::Time::from_hms(h, mi, sec).ok()?;
    let (sign, digits) = match zone.as_bytes().first()? {
        b'+' => (1, &zone[1..]),
        b'-' => (-1, &zone[1..]),
        _ => return None,
    };
    if digits.len() != 4 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let zh: i64 = digits[..2].parse().ok()?;
    let zm: i64 = digits[2..].parse().ok()?;
    if zm >= 60 {
        return None;
    }
    let local = time::PrimitiveDateTime::new(date, t)
        .assume_utc()
        .unix_timestamp();
    Some(local - sign * (zh * 3600 + zm * 60))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn ok(line: &str) -> Command {
        match parse(line.as_bytes()) {
            Ok(t) => t.command,
            Err(e) => panic!("{line:?}: {}", e.message),
        }
    }

    fn bad(line: &str) -> ParseError {
        parse(line.as_bytes()).expect_err(line)
    }

    #[test]
    fn simple_commands() {
        assert_eq!(ok("a CAPABILITY"), Command::Capability);
        assert_eq!(ok("a noop"), Command::Noop);
        assert_eq!(
            ok("a LOGIN \"jane\" {5}\r\ns\"e t"),
            Command::Login {
                user: "jane".into(),
                password: Zeroizing::new("s\"e t".into())
            }
        );
        assert_eq!(
            ok("a LOGIN jane \"a\\\\b\\\"c\""),
            Command::Login {
                user: "jane".into(),
                password: Zeroizing::new("a\\b\"c".into())
            }
        );
        assert!(matches!(
            ok("a UID FETCH 1:* (FLAGS)"),
            Command::Fetch { uid: true, .. }
        ));
        assert!(matches!(
            ok("a AUTHENTICATE PLAIN AGphbmUAc2VjcmV0"),
            Command::Authenticate {
                initial: Some(_),
                ..
            }
        ));
        assert!(
            matches!(ok("a ID (\"name\" \"Thunderbird\" \"version\" NIL)"), Command::Id(Some(f)) if f.len() == 2)
        );
    }

    #[test]
    fn fetch_items() {
        let Command::Fetch {
            items,
            changed_since,
            ..
        } = ok(
            "t UID FETCH 1:5 (UID FLAGS BODY.PEEK[HEADER.FIELDS (From To \"Subject\")] BODY[1.2.MIME]<0.100> BINARY.PEEK[1] BINARY.SIZE[2] MODSEQ) (CHANGEDSINCE 12 VANISHED)",
        )
        else {
            panic!()
        };
        assert_eq!(changed_since, Some((12, true)));
        assert_eq!(items.items.len(), 7);
        assert_eq!(
            items.items[2],
            FetchItem::Section {
                section: Section {
                    part: vec![],
                    text: Some(SectionText::HeaderFields {
                        not: false,
                        fields: vec!["From".into(), "To".into(), "Subject".into()]
                    })
                },
                partial: None,
                peek: true,
                binary: false
            }
        );
        assert!(
            matches!(&items.items[3], FetchItem::Section { section, partial: Some((0, 100)), peek: false, .. } if section.part == [1, 2] && section.text == Some(SectionText::Mime))
        );
        let Command::Fetch { items, .. } = ok("a FETCH 1 ALL") else {
            panic!()
        };
        assert_eq!(items.items.len(), 4);
        let Command::Fetch { items, .. } = ok("a FETCH 1 body[]") else {
            panic!()
        };
        assert!(
            matches!(&items.items[0], FetchItem::Section { section, peek: false, .. } if section == &Section::default())
        );
    }

    #[test]
    fn store_search_append() {
        assert!(matches!(
            ok("a STORE 1:3 (UNCHANGEDSINCE 7) +FLAGS.SILENT (\\Seen $MDNSent)"),
            Command::Store { unchanged_since: Some(7), action: StoreAction::Add, silent: true, ref flags, .. } if flags.len() == 2
        ));
        assert!(
            matches!(ok("a STORE 1 -FLAGS \\Deleted \\Flagged"), Command::Store { action: StoreAction::Remove, ref flags, .. } if flags.len() == 2)
        );
        let Command::Search { search, .. } = ok(
            "a UID SEARCH RETURN (MIN COUNT) CHARSET UTF-8 OR FROM jane (SINCE 1-Nov-2026 NOT SEEN) UID 3:* LARGER 10",
        ) else {
            panic!()
        };
        assert_eq!(
            search.ret,
            Some(vec![SearchReturn::Min, SearchReturn::Count])
        );
        assert!(matches!(search.key, SearchKey::And(ref k) if k.len() == 3));
        let Command::Append {
            flags,
            date,
            message,
            ..
        } = ok("a APPEND Sent (\\Seen) \"24-Nov-2026 10:00:00 +1100\" {7+}\r\nSubject")
        else {
            panic!()
        };
        assert_eq!(flags, [Flag::Seen]);
        assert_eq!(date, Some(1_795_474_800));
        assert_eq!(message, b"Subject");
        assert!(matches!(
            ok("a APPEND Inbox ~{3}\r\na\0b"),
            Command::Append { .. }
        ));
        assert!(
            matches!(ok("a LIST (SPECIAL-USE) \"\" (\"*\" INBOX) RETURN (STATUS (MESSAGES UNSEEN))"), Command::List(l) if l.patterns.len() == 2 && l.return_status.is_some())
        );
        assert!(matches!(
            ok("a SELECT INBOX (QRESYNC (67890007 20050715194045000 41,43:211,214:541))"),
            Command::Select {
                params: SelectParams {
                    qresync: Some(_),
                    ..
                },
                ..
            }
        ));
    }

    #[test]
    fn errors_are_clear_and_tagged() {
        assert_eq!(bad("").tag, None);
        assert_eq!(bad("+ NOOP").tag, None);
        let e = bad("a7 FROB");
        assert_eq!(e.tag.as_deref(), Some("a7"));
        assert!(e.message.contains("FROB"), "{}", e.message);
        for line in [
            "a FETCH 0 FLAGS",
            "a FETCH 1 (FLAGS",
            "a FETCH 1 BODY[1.]",
            "a FETCH 1 BODY[MIME]",
            "a FETCH 1 (FLAGS) (VANISHED)",
            "a FETCH 1 FLAGS (CHANGEDSINCE 1 VANISHED)",
            "a LOGIN \"unterminated",
            "a LOGIN jane {10}\r\nshort",
            "a LOGIN jane {3}\r\na\0b",
            "a SEARCH",
            "a SEARCH FROB",
            "a SEARCH SINCE 31-Feb-2026",
            "a STORE 1 FLAGZ (\\Seen)",
            "a NOOP extra",
            "a UID FROB 1",
            "a APPEND Inbox \"1-Nov-2026 10:00:00 +1100\" {1}\r\nx",
            "a ENABLE",
        ] {
            let e = bad(line);
            assert_eq!(e.tag.as_deref(), Some("a"), "{line:?}");
            assert!(!e.message.is_empty());
        }
        let deep = format!("a SEARCH {}ALL{}", "(".repeat(40), ")".repeat(40));
        assert!(bad(&deep).message.contains("too deep"));
        let nots = format!("a SEARCH {}ALL", "NOT ".repeat(40));
        assert!(bad(&nots).message.contains("too deep"));
    }

    #[test]
    fn dates() {
        assert_eq!(parse_date("1-Jan-1970"), Some(0));
        assert_eq!(parse_date("02-jan-1970"), Some(1));
        assert_eq!(parse_date_time(" 1-Jan-1970 00:00:00 +0000"), Some(0));
        assert_eq!(parse_date_time("01-Jan-1970 10:00:00 +1000"), Some(0));
        assert_eq!(parse_date_time("01-Jan-1970 00:00:00 -0130"), Some(5400));
        for bad in ["1-Jan-70", "1-Foo-1970", "111-Jan-1970"] {
            assert_eq!(parse_date(bad), None, "{bad}");
        }
        assert_eq!(parse_date_time("01-Jan-1970 24:00:00 +0000"), None);
        assert_eq!(parse_date_time("01-Jan-1970 00:00:00 +0060"), None);
    }

    proptest! {
        #[test]
        fn never_panics(line in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = parse(&line);
        }

        #[test]
        fn never_panics_on_near_commands(
            cmd in "(FETCH|UID FETCH|STORE|SEARCH|UID SEARCH|APPEND|LIST|SELECT|STATUS|LOGIN|ID|COPY|MOVE) ",
            rest in "[ -~]{0,80}",
        ) {
            let _ = parse(format!("a {cmd}{rest}").as_bytes());
        }
    }
}
