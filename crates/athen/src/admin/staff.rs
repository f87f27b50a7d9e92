//! `athen admin staff …`: an organisation's staff entries in the directory.

use super::*;

#[allow(clippy::large_enum_variant)]
#[derive(Subcommand)]
pub(super) enum StaffCommand {
    /// List a staff member under an organisation (for the directory).
    Add {
        /// The organisation's address.
        address: String,
        #[command(flatten)]
        entry: EntryArgs,
    },
    List {
        address: String,
    },
    Remove {
        address: String,
        entry_id: i64,
    },
}

impl Admin {
    pub(super) async fn staff(&self, cmd: StaffCommand) -> Outcome {
        let s = &self.data.store;
        match cmd {
            StaffCommand::Add { address, entry } => {
                let a = self.account_by_address(&address).await?;
                if a.kind != AccountKind::Organisation {
                    return Err(CommandError::new(
                        exit::CONFLICT,
                        "staff can only be listed under an organisation account",
                    ));
                }
                let details = entry
                    .input()
                    .validate(EntryRole::Staff)
                    .map_err(|problems| CommandError {
                        code: exit::INVALID,
                        message: "the input was not accepted".into(),
                        problems,
                    })?;
                let id = s.add_entry(a.id, EntryRole::Staff, details).await?;
                let e = s
                    .entry(id)
                    .await?
                    .ok_or_else(|| CommandError::new(exit::FAILURE, "entry vanished"))?;
                let text = format!(
                    "added staff entry {} ({}) to {}",
                    id,
                    e.details.display_name(),
                    a.address
                );
                Ok((entry_json(&e), text))
            }
            StaffCommand::List { address } => {
                let a = self.account_by_address(&address).await?;
                let staff: Vec<DirectoryEntry> = s
                    .entries_of_account(a.id)
                    .await?
                    .into_iter()
                    .filter(|e| e.role == EntryRole::Staff)
                    .collect();
                let text = staff
                    .iter()
                    .map(|e| {
                        format!(
                            "{:>6}  {}  {}  {}",
                            e.id,
                            e.details.display_name(),
                            e.details.position.as_deref().unwrap_or(""),
                            e.details.provider_numbers.join(" ")
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("\n");
                Ok((
                    json!({"staff": staff.iter().map(entry_json).collect::<Vec<_>>()}),
                    text,
                ))
            }
            StaffCommand::Remove { address, entry_id } => {
                let a = self.account_by_address(&address).await?;
                let e = s
                    .entry(EntryId(entry_id))
                    .await?
                    .filter(|e| e.account_id == a.id)
                    .ok_or_else(|| {
                        CommandError::not_found(format!(
                            "{} has no staff entry {entry_id}",
                            a.address
                        ))
                    })?;
                s.remove_entry(e.id).await?;
                Ok((
                    json!({"removed": entry_id}),
                    format!("removed staff entry {entry_id}"),
                ))
            }
        }
    }
}
