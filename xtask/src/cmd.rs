//! Running commands, echoing each one as it starts.

use std::process::Command;
use std::sync::Mutex;

/// Variables every later command gets (`std::env::set_var` is unsafe in edition 2024,
/// and this workspace forbids unsafe code).
static EXPORTED: Mutex<Vec<(String, String)>> = Mutex::new(Vec::new());

/// Sets `key=value` in the environment of every command run after this.
pub(crate) fn export(key: &str, value: &str) {
    EXPORTED
        .lock()
        .expect("not poisoned")
        .push((key.to_owned(), value.to_owned()));
}

/// Runs a command in the workspace root; an error says which command failed.
pub(crate) fn run(mut command: Command) -> Result<(), String> {
    command.current_dir(crate::root());
    for (key, value) in EXPORTED.lock().expect("not poisoned").iter() {
        command.env(key, value);
    }
    let shown = format!("{command:?}").replace('"', "");
    println!("\n==> {shown}");
    let status = command
        .status()
        .map_err(|e| format!("cannot run {shown}: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("{shown} failed ({status})"))
    }
}

/// Runs `cargo` with `args` followed by `extra`.
pub(crate) fn cargo(args: &[&str], extra: &[String]) -> Result<(), String> {
    let mut command = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    command.args(args).args(extra);
    run(command)
}

/// Whether `program args…` runs and exits successfully, quietly.
pub(crate) fn succeeds(program: &str, args: &[&str]) -> bool {
    Command::new(program)
        .args(args)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}
