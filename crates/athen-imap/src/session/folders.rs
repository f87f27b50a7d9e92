//! The folders: names in modified UTF-7, LIST, STATUS, QUOTA, SELECT and
//! EXAMINE.

use super::*;

impl Conn {
    /// The folder a name names: INBOX in any case; the others as the web
    /// app names them (case does not matter either).
    pub(super) async fn folder(&mut self, name: &MailboxName) -> Result<Folder, Failure> {
        let wanted = self.decode_name(name)?;
        let mailbox = self.mailbox()?;
        self.ctx
            .store
            .folders(mailbox)
            .await?
            .into_iter()
            .find(|f| f.name.eq_ignore_ascii_case(&wanted))
            .ok_or_else(|| Failure::No(format!("[NONEXISTENT] There is no folder {wanted:?}")))
    }

    pub(super) fn decode_name(&self, name: &MailboxName) -> Result<String, Failure> {
        let text = std::str::from_utf8(&name.0)
            .map_err(|_| Failure::Bad("The folder name is not UTF-8".into()))?;
        if self.utf8 {
            return Ok(text.to_string());
        }
        crate::utf7::decode(text).ok_or_else(|| {
            Failure::Bad("The folder name is not valid modified UTF-7 (RFC 3501 §5.1.3)".into())
        })
    }

    pub(super) fn display_name(&self, name: &MailboxName) -> String {
        let mut out = Vec::new();
        response::string(&mut out, &name.0, self.utf8);
        String::from_utf8_lossy(&out).into_owned()
    }

    /// The name a folder is listed under.
    pub(super) fn listed_name(&self, f: &Folder) -> String {
        let name = if f.name == SpecialFolder::Inbox.name() {
            "INBOX".to_string()
        } else if self.utf8 {
            f.name.clone()
        } else {
            crate::utf7::encode(&f.name)
        };
        let mut out = Vec::new();
        response::string(&mut out, name.as_bytes(), self.utf8);
        String::from_utf8_lossy(&out).into_owned()
    }

    pub(super) fn special_use(f: &Folder) -> Option<&'static str> {
        // RFC 6154 §2.
        match f.name.as_str() {
            "Sent" => Some("\\Sent"),
            "Drafts" => Some("\\Drafts"),
            "Archive" => Some("\\Archive"),
            "Trash" => Some("\\Trash"),
            _ => None,
        }
    }

    pub(super) async fn list(&mut self, l: ListCommand) -> Done {
        self.secret()?;
        let lsub = l.selection.iter().any(|s| s == "\u{0}LSUB");
        let verb = if lsub { "LSUB" } else { "LIST" };
        let special_only = l.selection.iter().any(|s| s == "SPECIAL-USE");
        let mailbox = self.mailbox()?;
        let folders = self.ctx.store.folders(mailbox).await?;
        let reference = self.decode_name(&l.reference)?;
        let mut lines = Vec::new();
        for pattern in &l.patterns {
            let pattern = self.decode_name(pattern)?;
            if pattern.is_empty() {
                // RFC 9051 §6.3.9: the hierarchy delimiter and root.
                lines.push(format!("* {verb} (\\Noselect) \"/\" \"\"\r\n"));
                continue;
            }
            let full = format!("{reference}{pattern}");
            for f in &folders {
                let name = if f.name == "Inbox" {
                    "INBOX"
                } else {
                    f.name.as_str()
                };
                if !wildcard(&full, name) {
                    continue;
                }
                let special = Self::special_use(f);
                if special_only && special.is_none() {
                    continue;
                }
                let mut attrs = vec!["\\HasNoChildren"];
                if !lsub && l.selection.iter().any(|s| s == "SUBSCRIBED") {
                    attrs.push("\\Subscribed");
                }
                if let Some(s) = special
                    && (l.return_special_use || special_only || !lsub)
                {
                    attrs.push(s);
                }
                let line = format!(
                    "* {verb} ({}) \"/\" {}\r\n",
                    attrs.join(" "),
                    self.listed_name(f)
                );
                if !lines.contains(&line) {
                    lines.push(line);
                    if let Some(items) = &l.return_status {
                        lines.push(self.status_line(f, items).await?);
                    }
                }
            }
        }
        for line in lines {
            self.out(line).await?;
        }
        Ok(format!("{verb} completed"))
    }

    pub(super) async fn status_line(
        &mut self,
        f: &Folder,
        items: &[StatusItem],
    ) -> Result<String, Failure> {
        self.secret()?;
        let mailbox = self.mailbox()?;
        let index = self.ctx.store.folder_index(mailbox, f.id).await?;
        let mut parts = Vec::new();
        for item in items {
            parts.push(match item {
                StatusItem::Messages => format!("MESSAGES {}", index.len()),
                StatusItem::Recent => "RECENT 0".to_string(),
                StatusItem::UidNext => format!("UIDNEXT {}", f.uid_next),
                StatusItem::UidValidity => format!("UIDVALIDITY {}", f.uid_validity),
                StatusItem::Unseen => format!(
                    "UNSEEN {}",
                    index.iter().filter(|e| e.flags & flags::SEEN == 0).count()
                ),
                StatusItem::Deleted => format!(
                    "DELETED {}",
                    index
                        .iter()
                        .filter(|e| e.flags & flags::DELETED != 0)
                        .count()
                ),
                StatusItem::HighestModseq => format!("HIGHESTMODSEQ {}", f.highest_modseq),
                StatusItem::Size => {
                    let rows = self
                        .ctx
                        .store
                        .messages_in_uid_range(mailbox, f.id, 1, u32::MAX)
                        .await?;
                    format!("SIZE {}", rows.iter().map(|r| r.size).sum::<u64>())
                }
            });
        }
        Ok(format!(
            "* STATUS {} ({})\r\n",
            self.listed_name(f),
            parts.join(" ")
        ))
    }

    pub(super) async fn quota_line(&mut self) -> Result<String, Failure> {
        self.secret()?;
        let used = self.ctx.store.mailbox_usage(self.mailbox()?).await?;
        // RFC 9208 §5.1: STORAGE is in units of 1024 octets.
        Ok(format!(
            "* QUOTA \"\" (STORAGE {} {})\r\n",
            used.div_ceil(1024),
            self.ctx.config.quota_bytes / 1024
        ))
    }

    pub(super) async fn select(
        &mut self,
        name: &MailboxName,
        read_only: bool,
        params: SelectParams,
    ) -> Done {
        let had = self.selected.take().is_some();
        if had && (self.qresync || self.rev2) {
            // RFC 7162 §3.2.11, RFC 9051 §7.1: the old folder is closed.
            self.out("* OK [CLOSED] Previous folder closed\r\n".into())
                .await?;
        }
        if params.condstore {
            self.condstore = true;
        }
        if params.qresync.is_some() && !self.qresync {
            return Err(Failure::Bad(
                "ENABLE QRESYNC first (RFC 7162 §3.2.3)".into(),
            ));
        }
        self.checked_secret().await?;
        let folder = self.folder(name).await?;
        let mailbox = self.mailbox()?;
        if folder.name == SpecialFolder::Inbox.name() {
            // Right after log-in, wait a little for the newest letters to
            // be unspooled, as the web app does.
            if let Some(u) = self.user.as_mut() {
                let _ = tokio::time::timeout(
                    Duration::from_secs(5),
                    u.state.wait_for(|s| s.first_page_ready),
                )
                .await;
            }
        }
        let view =
            Selected::open(self.ctx.store.as_ref(), &self.ctx.index, folder, read_only).await?;
        let mut out = String::new();
        out.push_str(&format!("* FLAGS ({FLAG_NAMES})\r\n"));
        if read_only {
            out.push_str("* OK [PERMANENTFLAGS ()] Read-only\r\n");
        } else {
            out.push_str(&format!(
                "* OK [PERMANENTFLAGS ({FLAG_NAMES})] Flags kept\r\n"
            ));
        }
        out.push_str(&format!("* {} EXISTS\r\n", view.messages.len()));
        if !self.rev2 {
            out.push_str("* 0 RECENT\r\n");
            if let Some(i) = view
                .messages
                .iter()
                .position(|m| m.flags & flags::SEEN == 0)
            {
                out.push_str(&format!("* OK [UNSEEN {}] First unseen\r\n", i + 1));
            }
        }
        out.push_str(&format!(
            "* OK [UIDVALIDITY {}] UIDs valid\r\n",
            view.folder.uid_validity
        ));
        out.push_str(&format!(
            "* OK [UIDNEXT {}] Predicted next UID\r\n",
            view.folder.uid_next
        ));
        out.push_str(&format!(
            "* OK [HIGHESTMODSEQ {}] Highest\r\n",
            view.folder.highest_modseq
        ));
        self.out(out).await?;
        if let Some(q) = params.qresync
            && q.uid_validity == view.folder.uid_validity
        {
            // RFC 7162 §3.2.5.1: what went and what changed since then.
            let mut gone = self
                .ctx
                .store
                .expunged_since(mailbox, view.id(), q.modseq)
                .await?;
            if let Some(known) = &q.known_uids {
                gone.retain(|u| known.contains(*u, u32::MAX));
            }
            if !gone.is_empty() {
                self.out(format!(
                    "* VANISHED (EARLIER) {}\r\n",
                    SequenceSet::compact(&gone)
                ))
                .await?;
            }
            let mut buf = Vec::new();
            for e in view.messages.iter().filter(|e| e.modseq > q.modseq) {
                view.write_flags(&mut buf, e, true);
            }
            self.wire.write(&buf).await?;
        }
        self.selected = Some(view);
        Ok(if read_only {
            "[READ-ONLY] EXAMINE completed".into()
        } else {
            "[READ-WRITE] SELECT completed".into()
        })
    }
}
