//! Changing the selected folder: STORE, EXPUNGE, COPY and MOVE, APPEND.

use super::*;

impl Conn {
    pub(super) fn deleted_uids(&self, within: Option<&SequenceSet>) -> Vec<u32> {
        let Some(view) = &self.selected else {
            return Vec::new();
        };
        let largest = view.largest_uid();
        view.messages
            .iter()
            .filter(|m| m.flags & flags::DELETED != 0)
            .filter(|m| within.is_none_or(|s| s.contains(m.uid, largest)))
            .map(|m| m.uid)
            .collect()
    }

    pub(super) async fn expunge_uids(&mut self, uids: &[u32], tell: bool) -> Result<(), Failure> {
        if uids.is_empty() {
            return Ok(());
        }
        let mailbox = self.mailbox()?;
        let Some(folder) = self.selected.as_ref().map(Selected::id) else {
            return Ok(());
        };
        let removed = self.ctx.store.expunge(mailbox, folder, uids).await?;
        for (_, key) in &removed {
            // The row is gone; the sealed body is unreadable without it.
            if let Err(e) = self.ctx.blobs.delete(key).await {
                tracing::warn!(error = %e, "an expunged message's blob stayed behind");
            }
        }
        let gone: Vec<u32> = removed.iter().map(|(u, _)| *u).collect();
        let qresync = self.qresync;
        let mut out = Vec::new();
        if let Some(view) = self.selected.as_mut() {
            if tell {
                view.remove(&gone, qresync, &mut out);
            } else {
                view.messages
                    .retain(|m| gone.binary_search(&m.uid).is_err());
            }
        }
        self.wire.write(&out).await?;
        Ok(())
    }

    pub(super) fn flag_bits(list: &[Flag]) -> u32 {
        list.iter()
            .map(|f| match f {
                Flag::Seen => flags::SEEN,
                Flag::Answered => flags::ANSWERED,
                Flag::Flagged => flags::FLAGGED,
                Flag::Deleted => flags::DELETED,
                Flag::Draft => flags::DRAFT,
                Flag::Recent => 0,
                // RFC 3501 §7.1 PERMANENTFLAGS: others are not kept.
                Flag::Other(k) => response::keyword_bit(k).unwrap_or(0),
            })
            .fold(0, |a, b| a | b)
    }

    pub(super) async fn store(
        &mut self,
        uid: bool,
        set: &SequenceSet,
        unchanged_since: Option<u64>,
        action: StoreAction,
        silent: bool,
        list: &[Flag],
    ) -> Done {
        let secret = self.checked_secret().await?;
        if self.selected.as_ref().is_some_and(|s| s.read_only) {
            return Err(Failure::No(
                "[READ-ONLY] The folder was opened with EXAMINE".into(),
            ));
        }
        if unchanged_since.is_some() {
            self.condstore = true;
        }
        self.catch_up(uid).await?;
        let bits = Self::flag_bits(list);
        let change = match action {
            StoreAction::Add => FlagChange::Add(bits),
            StoreAction::Remove => FlagChange::Remove(bits),
            StoreAction::Replace => FlagChange::Replace(bits),
        };
        let targets = self.targets(uid, set)?;
        let mailbox = self.mailbox()?;
        let folder = self.selected_id()?;
        let newly_seen: Vec<u32> = targets
            .iter()
            .copied()
            .filter(|u| {
                self.selected
                    .as_ref()
                    .and_then(|v| v.entry(*u))
                    .is_some_and(|e| {
                        e.flags & flags::SEEN == 0 && change.apply(e.flags) & flags::SEEN != 0
                    })
            })
            .collect();
        let stored = self
            .ctx
            .store
            .store_flags(mailbox, folder, &targets, change, unchanged_since)
            .await?;
        // Marking a letter read in a mail program is reading it.
        if !newly_seen.is_empty() {
            let rows = self.rows(&newly_seen).await?;
            for row in &rows {
                if stored.modified.contains(&row.uid) {
                    continue;
                }
                if let Some(raw) = self.text_of(&secret, row).await? {
                    self.read_letter(&secret, row, &raw).await?;
                }
            }
        }
        let now: Vec<IndexEntry> = if newly_seen.is_empty() {
            stored.changed.clone()
        } else {
            // Reading added $MDNSent after the change: what the targets
            // are now (only what changed since the client last heard).
            let since = self.selected.as_ref().map_or(0, |v| v.told_modseq);
            let mut all = self
                .ctx
                .store
                .folder_changes(mailbox, folder, since)
                .await?;
            all.retain(|e| targets.binary_search(&e.uid).is_ok());
            all
        };
        let condstore = self.condstore;
        let mut out = Vec::new();
        if let Some(view) = self.selected.as_mut() {
            for e in &now {
                view.update(e);
            }
            if !silent || condstore {
                for u in &targets {
                    if stored.modified.contains(u) {
                        continue;
                    }
                    let changed = now.iter().find(|e| e.uid == *u);
                    if silent && changed.is_none() {
                        continue;
                    }
                    if let Some(e) = changed.or_else(|| view.entry(*u)) {
                        let e = *e;
                        view.write_flags(&mut out, &e, condstore);
                    }
                }
            }
        }
        self.wire.write(&out).await?;
        if !stored.modified.is_empty() {
            let mut modified = stored.modified.clone();
            if !uid {
                let view = self.selected.as_ref().ok_or(Failure::SessionEnded)?;
                modified = modified
                    .iter()
                    .filter_map(|u| view.seq_of(*u).map(|s| s as u32))
                    .collect();
            }
            modified.sort_unstable();
            return Ok(format!(
                "[MODIFIED {}] Some messages changed meanwhile",
                SequenceSet::compact(&modified)
            ));
        }
        Ok(format!("{}STORE completed", if uid { "UID " } else { "" }))
    }

    pub(super) async fn copy(
        &mut self,
        uid: bool,
        set: &SequenceSet,
        name: &MailboxName,
        moving: bool,
    ) -> Done {
        let secret = self.checked_secret().await?;
        if moving && self.selected.as_ref().is_some_and(|s| s.read_only) {
            return Err(Failure::No(
                "[READ-ONLY] The folder was opened with EXAMINE".into(),
            ));
        }
        let target = self.target_folder(name).await?;
        self.catch_up(uid).await?;
        let targets = self.targets(uid, set)?;
        let mailbox = self.mailbox()?;
        let folder = self.selected_id()?;
        let verb = if moving { "MOVE" } else { "COPY" };
        if targets.is_empty() {
            return Ok(format!(
                "{verb} completed (nothing to {})",
                verb.to_lowercase()
            ));
        }
        let pairs: Vec<(u32, u32)> = if moving {
            self.ctx
                .store
                .move_messages(mailbox, folder, &targets, target.id)
                .await?
        } else {
            let rows = self.rows(&targets).await?;
            let used = self.ctx.store.mailbox_usage(mailbox).await?;
            let adding: u64 = rows.iter().map(|r| r.size).sum();
            if self.over_quota(used + adding) {
                return Err(Failure::No(
                    "[OVERQUOTA] The mailbox is full; remove letters first".into(),
                ));
            }
            let mut pairs = Vec::new();
            for row in &rows {
                let Some(raw) = self.text_of(&secret, row).await? else {
                    continue;
                };
                let copy = athen_mail::submit::store_in(
                    self.ctx.blobs.as_ref(),
                    self.ctx.store.as_ref(),
                    &secret,
                    (&target, row.flags),
                    &raw,
                    row.received_at,
                )
                .await?;
                pairs.push((row.uid, copy.uid));
            }
            pairs
        };
        let from: Vec<u32> = pairs.iter().map(|p| p.0).collect();
        let to: Vec<u32> = pairs.iter().map(|p| p.1).collect();
        let code = format!(
            "[COPYUID {} {} {}]",
            target.uid_validity,
            SequenceSet::compact(&from),
            SequenceSet::compact(&to)
        );
        if moving {
            // RFC 6851 §4.3: COPYUID untagged, then the removals.
            self.out(format!("* OK {code} Moved\r\n")).await?;
            let qresync = self.qresync;
            let mut out = Vec::new();
            if let Some(view) = self.selected.as_mut() {
                view.remove(&from, qresync, &mut out);
            }
            self.wire.write(&out).await?;
            return Ok("MOVE completed".into());
        }
        if pairs.is_empty() {
            return Ok("COPY completed".into());
        }
        Ok(format!("{code} COPY completed"))
    }

    /// The selected folder's id.
    pub(super) fn selected_id(&self) -> Result<athen_core::FolderId, Failure> {
        self.selected
            .as_ref()
            .map(Selected::id)
            .ok_or(Failure::SessionEnded)
    }

    /// The folder COPY, MOVE or APPEND files into: one that is not there
    /// is `[TRYCREATE]` (RFC 9051 §6.3.12), though creating it is refused.
    pub(super) async fn target_folder(&mut self, name: &MailboxName) -> Result<Folder, Failure> {
        self.folder(name).await.map_err(|e| match e {
            Failure::No(m) => Failure::No(m.replace("[NONEXISTENT]", "[TRYCREATE]")),
            e => e,
        })
    }

    pub(super) fn over_quota(&self, bytes: u64) -> bool {
        self.ctx.config.quota_bytes > 0 && bytes > self.ctx.config.quota_bytes
    }

    pub(super) async fn append(
        &mut self,
        name: &MailboxName,
        list: &[Flag],
        date: Option<i64>,
        message: Vec<u8>,
    ) -> Done {
        let message = Zeroizing::new(message);
        let secret = self.checked_secret().await?;
        let target = self.target_folder(name).await?;
        if message.is_empty() {
            return Err(Failure::No(
                "The message is empty; nothing was filed".into(),
            ));
        }
        let mailbox = self.mailbox()?;
        let used = self.ctx.store.mailbox_usage(mailbox).await?;
        if self.over_quota(used + message.len() as u64) {
            return Err(Failure::No(
                "[OVERQUOTA] The mailbox is full; remove letters first".into(),
            ));
        }
        // A mail program that sent through this server files its own copy
        // in Sent; the server filed one already (issue 8: no duplicate).
        if target.name == SpecialFolder::Sent.name()
            && let Some(id) = athen_mail::meta::extract(&message).message_id
        {
            let recent = athen_mail::read::page(
                self.ctx.store.as_ref(),
                mailbox,
                &target,
                &secret,
                None,
                SENT_LOOKBACK,
            )
            .await?;
            if let Some(m) = recent
                .iter()
                .find(|m| m.meta.message_id.as_deref() == Some(id.as_str()))
            {
                return Ok(format!(
                    "[APPENDUID {} {}] Already in Sent: the server filed it when it was sent",
                    target.uid_validity, m.message.uid
                ));
            }
        }
        let when = date.unwrap_or_else(|| self.ctx.clock.now());
        let stored = athen_mail::submit::store_in(
            self.ctx.blobs.as_ref(),
            self.ctx.store.as_ref(),
            &secret,
            (&target, Self::flag_bits(list)),
            &message,
            when,
        )
        .await?;
        self.catch_up(true).await?;
        Ok(format!(
            "[APPENDUID {} {}] APPEND completed",
            target.uid_validity, stored.uid
        ))
    }
}
