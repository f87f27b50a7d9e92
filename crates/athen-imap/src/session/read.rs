//! Reading the selected folder: catching up with changes, sequence sets
//! to UIDs, FETCH (reading a letter is reading it: the trail and the
//! receipt), SEARCH.

use super::*;

impl Conn {
    pub(super) fn telling(&self, allow_expunge: bool) -> Telling {
        Telling {
            qresync: self.qresync,
            condstore: self.condstore,
            allow_expunge,
        }
    }

    /// Tells the client what changed in the selected folder.
    pub(super) async fn catch_up(&mut self, allow_expunge: bool) -> Result<(), Failure> {
        let how = self.telling(allow_expunge);
        let mailbox = self.mailbox()?;
        let Some(view) = self.selected.as_mut() else {
            return Ok(());
        };
        let mut out = Vec::new();
        view.catch_up(self.ctx.store.as_ref(), mailbox, how, &mut out)
            .await?;
        self.wire.write(&out).await?;
        Ok(())
    }

    /// The UIDs a set names: sequence numbers (or UIDs) of the view. A
    /// sequence number past the last message is an error (RFC 9051 §9,
    /// `seq-number`: the server should answer BAD); UIDs that are not
    /// there are simply not acted on.
    pub(super) fn targets(&self, uid: bool, set: &SequenceSet) -> Result<Vec<u32>, Failure> {
        let Some(view) = &self.selected else {
            return Ok(Vec::new());
        };
        if uid {
            return Ok(set.pick(&view.uids(), view.largest_uid()));
        }
        let n = view.messages.len() as u32;
        let past = set
            .0
            .iter()
            .flat_map(|(a, b)| [a, b])
            .find_map(|x| match x {
                crate::sequence::SeqNumber::Value(v) if *v > n => Some(*v),
                _ => None,
            });
        if let Some(v) = past {
            return Err(Failure::Bad(format!(
                "There is no message {v}: the folder has {n}"
            )));
        }
        let seqs: Vec<u32> = (1..=n).collect();
        Ok(set
            .pick(&seqs, n)
            .into_iter()
            .filter_map(|s| view.messages.get(s as usize - 1).map(|m| m.uid))
            .collect())
    }

    /// The rows and texts of messages, in one range read.
    pub(super) async fn rows(&self, uids: &[u32]) -> Result<Vec<StoredMessage>, Failure> {
        let (Some(first), Some(last)) = (uids.first(), uids.last()) else {
            return Ok(Vec::new());
        };
        let mailbox = self.mailbox()?;
        let Some(folder) = self.selected.as_ref().map(Selected::id) else {
            return Ok(Vec::new());
        };
        let mut rows = self
            .ctx
            .store
            .messages_in_uid_range(mailbox, folder, *first, *last)
            .await?;
        rows.retain(|r| uids.binary_search(&r.uid).is_ok());
        Ok(rows)
    }

    pub(super) async fn text_of(
        &self,
        secret: &MailboxSecret,
        row: &StoredMessage,
    ) -> Result<Option<Zeroizing<Vec<u8>>>, Failure> {
        match athen_mail::read::raw_message(self.ctx.blobs.as_ref(), secret, row).await {
            Ok(raw) => Ok(Some(raw)),
            Err(athen_mail::MailError::Store(athen_core::StoreError::NotFound(_))) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// Records that the person read a letter (trail, read receipt by
    /// policy, `\Seen`), as the web app does.
    pub(super) async fn read_letter(
        &mut self,
        secret: &MailboxSecret,
        row: &StoredMessage,
        raw: &[u8],
    ) -> Result<(), Failure> {
        let Some(u) = self.user.as_ref() else {
            return Err(Failure::SessionEnded);
        };
        let mailbox = u.account.mailbox_id;
        let settings = self.ctx.store.settings(mailbox).await?;
        let reader = athen_mail::mdn::Reader {
            mailbox,
            secret,
            address: &u.account.address,
            login: &u.login,
            policy: settings.receipt_policy,
            hostname: &self.ctx.config.hostname,
        };
        self.ctx
            .live
            .letter_read(
                self.ctx.queue.as_deref(),
                &reader,
                row,
                raw,
                self.ctx.clock.now(),
            )
            .await?;
        Ok(())
    }

    pub(super) async fn fetch(
        &mut self,
        uid: bool,
        set: &SequenceSet,
        mut items: FetchItems,
        changed_since: Option<(u64, bool)>,
    ) -> Done {
        let secret = self.checked_secret().await?;
        // UID commands may hear of removals; FETCH may not (RFC 9051 §7.5.1).
        self.catch_up(uid).await?;
        if uid && !items.items.contains(&FetchItem::Uid) {
            items.items.insert(0, FetchItem::Uid);
        }
        if (self.condstore || changed_since.is_some()) && !items.items.contains(&FetchItem::Modseq)
        {
            items.items.push(FetchItem::Modseq);
        }
        let reading =
            fetch::reads(&items.items) && self.selected.as_ref().is_some_and(|s| !s.read_only);
        if reading && !items.items.contains(&FetchItem::Flags) {
            items.items.push(FetchItem::Flags);
        }
        let mut targets = self.targets(uid, set)?;
        if let Some((since, vanished)) = changed_since {
            if vanished {
                let mailbox = self.mailbox()?;
                let folder = self.selected_id()?;
                let largest = self.selected.as_ref().map_or(0, Selected::largest_uid);
                let mut gone = self
                    .ctx
                    .store
                    .expunged_since(mailbox, folder, since)
                    .await?;
                gone.retain(|u| set.contains(*u, largest));
                if !gone.is_empty() {
                    self.out(format!(
                        "* VANISHED (EARLIER) {}\r\n",
                        SequenceSet::compact(&gone)
                    ))
                    .await?;
                }
            }
            let view = self.selected.as_ref().ok_or(Failure::SessionEnded)?;
            targets.retain(|u| view.entry(*u).is_some_and(|e| e.modseq > since));
        }
        let needs_row = fetch::needs_body(&items.items)
            || items
                .items
                .iter()
                .any(|i| matches!(i, FetchItem::InternalDate | FetchItem::Rfc822Size))
            || reading;
        let rows = if needs_row {
            self.rows(&targets).await?
        } else {
            Vec::new()
        };
        let needs_text = fetch::needs_body(&items.items) || reading;
        let mut missing = false;
        for uid_n in targets {
            let row = rows.iter().find(|r| r.uid == uid_n);
            if needs_row && row.is_none() {
                missing = true;
                continue;
            }
            let raw = match (needs_text, row) {
                (true, Some(r)) => match self.text_of(&secret, r).await? {
                    Some(raw) => Some(raw),
                    None => {
                        missing = true;
                        continue;
                    }
                },
                _ => None,
            };
            let Some(mut entry) = self.selected.as_ref().and_then(|v| v.entry(uid_n)).copied()
            else {
                continue;
            };
            if reading
                && let (Some(row), Some(raw)) = (row, raw.as_ref())
                && entry.flags & flags::SEEN == 0
            {
                self.read_letter(&secret, row, raw).await?;
                if let Some(now) = self
                    .ctx
                    .store
                    .folder_changes(self.mailbox()?, row.folder_id, entry.modseq)
                    .await?
                    .into_iter()
                    .find(|e| e.uid == uid_n)
                {
                    entry = now;
                    if let Some(v) = self.selected.as_mut() {
                        v.update(&entry);
                    }
                }
            }
            let seq = self
                .selected
                .as_ref()
                .and_then(|v| v.seq_of(uid_n))
                .unwrap_or(0);
            let mut out = format!("* {seq} FETCH (").into_bytes();
            fetch::write_items(
                &mut out,
                &items.items,
                &entry,
                row,
                raw.as_deref().map(|r| r.as_slice()),
                self.utf8,
            );
            out.extend_from_slice(b")\r\n");
            self.wire.write(&out).await?;
        }
        if missing {
            return Err(Failure::No(
                "[EXPUNGEISSUED] Some of those messages were removed meanwhile".into(),
            ));
        }
        Ok(format!("{}FETCH completed", if uid { "UID " } else { "" }))
    }

    pub(super) async fn search(&mut self, tag: &str, uid: bool, search: SearchCommand) -> Done {
        let secret = self.checked_secret().await?;
        if let Some(c) = &search.charset
            && c != "UTF-8"
            && c != "US-ASCII"
        {
            return Err(Failure::No(
                "[BADCHARSET (US-ASCII UTF-8)] Use UTF-8 or US-ASCII".into(),
            ));
        }
        self.catch_up(uid).await?;
        let depth = fetch::depth(&search.key);
        let view_uids = self
            .selected
            .as_ref()
            .map(Selected::uids)
            .unwrap_or_default();
        let rows = if depth >= Depth::Row {
            self.rows(&view_uids).await?
        } else {
            Vec::new()
        };
        let largest_seq = view_uids.len() as u32;
        let largest_uid = view_uids.last().copied().unwrap_or(0);
        let mut found: Vec<(u32, u32, u64)> = Vec::new();
        let entries: Vec<IndexEntry> = self
            .selected
            .as_ref()
            .map(|v| v.messages.clone())
            .unwrap_or_default();
        for (i, entry) in entries.iter().enumerate() {
            let row = rows.iter().find(|r| r.uid == entry.uid);
            let raw = match (depth, row) {
                (Depth::Text, Some(r)) => self.text_of(&secret, r).await?,
                _ => None,
            };
            let c = Candidate {
                seq: i as u32 + 1,
                largest_seq,
                largest_uid,
                entry,
                row,
                raw: raw.as_deref().map(|r| r.as_slice()),
            };
            if fetch::matches(&search.key, &c) {
                found.push((i as u32 + 1, entry.uid, entry.modseq));
            }
        }
        let numbers: Vec<u32> = found
            .iter()
            .map(|(s, u, _)| if uid { *u } else { *s })
            .collect();
        let highest = found.iter().map(|f| f.2).max();
        let with_modseq = fetch::uses_modseq(&search.key);
        let ret = search.ret.or_else(|| self.rev2.then(Vec::new));
        let line = match ret {
            None => {
                let mut l = String::from("* SEARCH");
                for n in &numbers {
                    l.push_str(&format!(" {n}"));
                }
                if with_modseq && let Some(h) = highest {
                    l.push_str(&format!(" (MODSEQ {h})"));
                }
                l
            }
            Some(opts) => {
                // RFC 4731 §3.1: no options means ALL.
                let opts = if opts.is_empty() {
                    vec![SearchReturn::All]
                } else {
                    opts
                };
                let mut l = format!("* ESEARCH (TAG \"{tag}\")");
                if uid {
                    l.push_str(" UID");
                }
                for o in opts {
                    match o {
                        SearchReturn::Min if !numbers.is_empty() => {
                            l.push_str(&format!(" MIN {}", numbers.iter().min().unwrap_or(&0)))
                        }
                        SearchReturn::Max if !numbers.is_empty() => {
                            l.push_str(&format!(" MAX {}", numbers.iter().max().unwrap_or(&0)))
                        }
                        SearchReturn::All if !numbers.is_empty() => {
                            let mut sorted = numbers.clone();
                            sorted.sort_unstable();
                            l.push_str(&format!(" ALL {}", SequenceSet::compact(&sorted)));
                        }
                        SearchReturn::Count => l.push_str(&format!(" COUNT {}", numbers.len())),
                        _ => {}
                    }
                }
                if with_modseq && let Some(h) = highest {
                    l.push_str(&format!(" MODSEQ {h}"));
                }
                l
            }
        };
        self.out(format!("{line}\r\n")).await?;
        Ok(format!("{}SEARCH completed", if uid { "UID " } else { "" }))
    }
}
