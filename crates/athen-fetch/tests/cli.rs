//! The `athen-fetch` command line on its own (the end-to-end tests with
//! the server are in crates/athen/tests/fetch.rs). Having this test also
//! makes the workspace's test build build the binary those tests run.

use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_athen-fetch");

#[test]
fn without_settings_it_says_how_to_make_them() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.toml");
    for command in ["once", "status"] {
        let out = Command::new(BIN)
            .arg("--config")
            .arg(&config)
            .arg(command)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{command}");
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(text.contains("athen-fetch setup"), "{command}: {text}");
    }
    let help = Command::new(BIN).arg("--help").output().unwrap();
    assert!(help.status.success());
    for sub in ["setup", "once", "run", "status"] {
        assert!(String::from_utf8_lossy(&help.stdout).contains(sub));
    }
}
