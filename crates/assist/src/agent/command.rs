//! The `run` tool's policy: only commands the user allowed, each confirmed unless allowed for the
//! session, run on a scratch copy of the repository with the agent's edits applied, without network
//! (`unshare -n` where it works), under a time limit, with the output cut to a size the model can read.

use std::collections::HashSet;
use std::io::Read;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hearth_base::CancelToken;

use crate::edit::FileChange;

/// What the user said to one command.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Approval {
    /// Run it this once.
    Once,
    /// Run it, and this command again without asking for the rest of the session.
    Always,
    Deny,
}

/// Asks the user before a command runs (a terminal prompt, or the editor's message request).
pub trait Confirm {
    fn confirm(&mut self, command: &str) -> Approval;
}

/// Answers every question the same way (tests; `--yes` on the command line).
pub struct AlwaysAnswer(pub Approval);

impl Confirm for AlwaysAnswer {
    fn confirm(&mut self, _command: &str) -> Approval {
        self.0
    }
}

/// A finished command: its exit status (none when killed) and its output, cut to fit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunOutput {
    pub status: Option<i32>,
    pub output: String,
}

/// Which commands may run, and how.
#[derive(Clone, Debug)]
pub struct CommandPolicy {
    /// Exact command lines the user allowed (the config's `agent.commands`).
    pub allowed: Vec<String>,
    /// Allowed commands the user approved for the whole session.
    pub approved: HashSet<String>,
    pub timeout: Duration,
    /// Bytes of output kept: the first quarter and the last three quarters of this.
    pub max_output: usize,
    /// The largest repository copied for a run.
    pub max_copy_bytes: u64,
}

impl Default for CommandPolicy {
    fn default() -> Self {
        CommandPolicy {
            allowed: Vec::new(),
            approved: HashSet::new(),
            timeout: Duration::from_secs(120),
            max_output: 8 << 10,
            max_copy_bytes: 256 << 20,
        }
    }
}

impl CommandPolicy {
    pub fn new(allowed: Vec<String>) -> Self {
        CommandPolicy { allowed, ..Default::default() }
    }

    /// Runs `command` if it is allowed and the user agrees. Errors are messages for the model.
    pub fn run(
        &mut self,
        root: &Path,
        command: &str,
        changes: &[FileChange],
        confirm: &mut dyn Confirm,
        cancel: &CancelToken,
    ) -> Result<RunOutput, String> {
        if !self.allowed.iter().any(|c| c == command) {
            return Err(format!("`{command}` is not an allowed command; the allowed ones are: {}", self.allowed.join(", ")));
        }
        if !self.approved.contains(command) {
            match confirm.confirm(command) {
                Approval::Deny => return Err(format!("the user declined to run `{command}`")),
                Approval::Always => {
                    self.approved.insert(command.to_string());
                }
                Approval::Once => {}
            }
        }
        let scratch = tempfile::Builder::new().prefix("hearth-run-").tempdir().map_err(|e| format!("cannot make a scratch copy: {e}"))?;
        copy_tree(root, scratch.path(), self.max_copy_bytes)?;
        for change in changes {
            let dest = scratch.path().join(&change.path);
            if let Some(dir) = dest.parent() {
                std::fs::create_dir_all(dir).map_err(|e| format!("cannot write {}: {e}", change.path))?;
            }
            std::fs::write(&dest, &change.new).map_err(|e| format!("cannot write {}: {e}", change.path))?;
        }
        let (mut output, status, note) = self.execute(scratch.path(), command, cancel)?;
        if let Some(note) = note {
            output = format!("[{note}]\n{output}");
        }
        let head = match status {
            Some(code) => format!("exit status {code}\n"),
            None => format!("killed after {} s (the time limit)\n", self.timeout.as_secs()),
        };
        Ok(RunOutput { status, output: head + &output })
    }

    fn execute(&self, dir: &Path, command: &str, cancel: &CancelToken) -> Result<(String, Option<i32>, Option<String>), String> {
        let (mut cmd, note) = match network_isolation() {
            Some(prefix) => {
                let mut c = Command::new(prefix[0]);
                c.args(&prefix[1..]).arg("sh");
                (c, None)
            }
            None => (
                Command::new("sh"),
                Some("no network isolation on this machine (unshare -n failed): the command ran with the network".to_string()),
            ),
        };
        cmd.arg("-c")
            .arg(format!("exec 2>&1; {command}"))
            .current_dir(dir)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        cmd.process_group(0);
        let mut child = cmd.spawn().map_err(|e| format!("cannot start `{command}`: {e}"))?;
        let pid = child.id() as i32;
        let captured = Arc::new(Mutex::new(Capture::new(self.max_output)));
        let mut stdout = child.stdout.take().expect("piped");
        let sink = captured.clone();
        let reader = std::thread::spawn(move || {
            let mut buf = [0u8; 8192];
            while let Ok(n) = stdout.read(&mut buf) {
                if n == 0 {
                    break;
                }
                sink.lock().unwrap_or_else(|e| e.into_inner()).push(&buf[..n]);
            }
        });
        let deadline = Instant::now() + self.timeout;
        let status = loop {
            if let Some(status) = child.try_wait().map_err(|e| e.to_string())? {
                break status.code();
            }
            if cancel.is_cancelled() || Instant::now() >= deadline {
                // SAFETY: kill(2) on the child's own process group.
                unsafe { libc::kill(-pid, libc::SIGKILL) };
                let _ = child.wait();
                if cancel.is_cancelled() {
                    return Err("cancelled".into());
                }
                break None;
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let _ = reader.join();
        let text = captured.lock().unwrap_or_else(|e| e.into_inner()).text();
        Ok((text, status, note))
    }
}

/// The first and last bytes of a stream, and how many were cut between them.
struct Capture {
    head: Vec<u8>,
    tail: std::collections::VecDeque<u8>,
    cut: usize,
    head_max: usize,
    tail_max: usize,
}

impl Capture {
    fn new(max: usize) -> Self {
        Capture { head: Vec::new(), tail: Default::default(), cut: 0, head_max: max / 4, tail_max: max - max / 4 }
    }

    fn push(&mut self, mut bytes: &[u8]) {
        let room = self.head_max - self.head.len();
        let take = room.min(bytes.len());
        self.head.extend_from_slice(&bytes[..take]);
        bytes = &bytes[take..];
        self.tail.extend(bytes);
        while self.tail.len() > self.tail_max {
            self.tail.pop_front();
            self.cut += 1;
        }
    }

    fn text(&self) -> String {
        let head = String::from_utf8_lossy(&self.head);
        let tail: Vec<u8> = self.tail.iter().copied().collect();
        let tail = String::from_utf8_lossy(&tail);
        if self.cut == 0 {
            format!("{head}{tail}")
        } else {
            format!("{head}\n[... {} bytes of output cut ...]\n{tail}", self.cut)
        }
    }
}

/// The command prefix that runs a program without network, if one works here.
fn network_isolation() -> Option<&'static [&'static str]> {
    static FOUND: std::sync::OnceLock<Option<&'static [&'static str]>> = std::sync::OnceLock::new();
    *FOUND.get_or_init(|| {
        const CANDIDATES: [&[&str]; 2] = [&["unshare", "-n"], &["unshare", "-rn"]];
        CANDIDATES.into_iter().find(|prefix| {
            Command::new(prefix[0])
                .args(&prefix[1..])
                .arg("true")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
        })
    })
}

/// Copies the files git would see (ignore files honoured, `.git/` left out) from `from` to `to`.
fn copy_tree(from: &Path, to: &Path, max_bytes: u64) -> Result<(), String> {
    let mut total = 0u64;
    for entry in ignore::WalkBuilder::new(from).hidden(false).filter_entry(|e| e.file_name() != ".git").build() {
        let entry = entry.map_err(|e| e.to_string())?;
        let Ok(rel) = entry.path().strip_prefix(from) else { continue };
        let dest = to.join(rel);
        let Some(kind) = entry.file_type() else { continue };
        if kind.is_dir() {
            std::fs::create_dir_all(&dest).map_err(|e| e.to_string())?;
        } else if kind.is_file() {
            total += entry.metadata().map(|m| m.len()).unwrap_or(0);
            if total > max_bytes {
                return Err(format!("the repository is over {} MB: too large to copy for a run", max_bytes >> 20));
            }
            std::fs::copy(entry.path(), &dest).map_err(|e| format!("copying {}: {e}", rel.display()))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capture_keeps_head_and_tail() {
        let mut c = Capture::new(16);
        c.push(b"0123456789abcdefghijklmnopqrstuvwxyz");
        assert_eq!(c.text(), "0123\n[... 20 bytes of output cut ...]\nopqrstuvwxyz");
    }

    #[test]
    fn runs_allowed_commands_on_a_copy_with_the_edits() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a.txt"), "old\n").unwrap();
        let change = FileChange { path: "a.txt".into(), abs_path: dir.path().join("a.txt"), old: "old\n".into(), new: "new\n".into() };
        let mut policy = CommandPolicy::new(vec!["cat a.txt".into(), "sleep 5".into()]);
        let cancel = CancelToken::new();
        let err = policy.run(dir.path(), "rm a.txt", &[], &mut AlwaysAnswer(Approval::Once), &cancel).unwrap_err();
        assert!(err.contains("not an allowed command"), "{err}");
        let err = policy.run(dir.path(), "cat a.txt", &[], &mut AlwaysAnswer(Approval::Deny), &cancel).unwrap_err();
        assert!(err.contains("declined"), "{err}");
        let out = policy.run(dir.path(), "cat a.txt", std::slice::from_ref(&change), &mut AlwaysAnswer(Approval::Always), &cancel).unwrap();
        assert_eq!(out.status, Some(0));
        assert!(out.output.ends_with("new\n"), "{}", out.output);
        assert_eq!(std::fs::read_to_string(dir.path().join("a.txt")).unwrap(), "old\n", "the tree is untouched");
        // Approved for the session: a denying confirmer is not asked again.
        assert!(policy.run(dir.path(), "cat a.txt", &[], &mut AlwaysAnswer(Approval::Deny), &cancel).is_ok());
        policy.timeout = Duration::from_millis(300);
        let out = policy.run(dir.path(), "sleep 5", &[], &mut AlwaysAnswer(Approval::Once), &cancel).unwrap();
        assert_eq!(out.status, None);
        assert!(out.output.contains("time limit"), "{}", out.output);
    }
}
