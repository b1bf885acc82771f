//! A server binary run as a child process for a test: started with extra environment, its
//! address read from the line it prints once listening, killed when dropped.

use std::io::{BufRead as _, BufReader};
use std::process::{Child, Command, Stdio};

/// A running child server.
pub struct ChildServer {
    child: Child,
    /// `http://127.0.0.1:PORT`, as the server printed it.
    pub base: String,
}

impl ChildServer {
    /// Runs `binary` with `env` (plus `PORT=0`) and waits for its `listening on http://…` line
    /// on stdout (the server prints it after binding, so no polling is needed).
    ///
    /// # Panics
    /// When the binary cannot start or exits before printing the line (a test failure).
    pub fn start(binary: &str, env: &[(&str, &str)]) -> Self {
        let mut child = Command::new(binary)
            .envs(env.iter().copied())
            .env("PORT", "0")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {binary}: {e}"));
        let stdout = child.stdout.take().expect("piped stdout");
        let mut lines = BufReader::new(stdout).lines();
        let base = loop {
            match lines.next() {
                Some(Ok(line)) => {
                    if let Some(rest) = line.strip_prefix("listening on ") {
                        break rest.trim().to_owned();
                    }
                }
                _ => {
                    let status = child.wait().ok();
                    panic!("{binary} exited before listening ({status:?})");
                }
            }
        };
        // Keep draining stdout so the child never blocks on a full pipe.
        std::thread::spawn(move || lines.for_each(drop));
        Self { child, base }
    }

    /// Absolute URL of `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }
}

impl Drop for ChildServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
