//! Calls `POST /v1/tasks/expire` at a fixed interval, as a cron job would
//! in production, so ring deadlines pass even when no device speaks.

use std::fmt;
use std::fs::OpenOptions;
use std::io::Write;
use std::path::PathBuf;
use std::sync::mpsc::{self, RecvTimeoutError, Sender};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use super::error::StackError;
use super::http;

/// A background thread posting the expiry task; dropping it stops the thread.
pub(crate) struct Scheduler {
    stop: Option<Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Scheduler {
    /// Starts posting to `<http_base>/v1/tasks/expire` every `interval`.
    /// Calls that fail or do not answer 200 are noted in `log`.
    pub fn start(
        http_base: String,
        admin_token: String,
        interval: Duration,
        log: PathBuf,
    ) -> Result<Self, StackError> {
        let (stop, stopped) = mpsc::channel::<()>();
        let thread = thread::Builder::new()
            .name("expiry-scheduler".to_owned())
            .spawn(move || {
                let agent = http::agent();
                let started = Instant::now();
                // Waiting on the channel doubles as the interval timer and
                // lets a drop stop the thread at once.
                while let Err(RecvTimeoutError::Timeout) = stopped.recv_timeout(interval) {
                    let outcome = match http::post_expire(&agent, &http_base, &admin_token) {
                        Ok(200) => continue,
                        Ok(status) => format!("answered {status}"),
                        Err(error) => format!("failed: {error}"),
                    };
                    note(&log, started.elapsed(), &outcome);
                }
            })
            .map_err(|source| StackError::io("cannot start the scheduler thread", source))?;
        Ok(Self {
            stop: Some(stop),
            thread: Some(thread),
        })
    }
}

impl Drop for Scheduler {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl fmt::Debug for Scheduler {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Scheduler").finish_non_exhaustive()
    }
}

fn note(log: &PathBuf, elapsed: Duration, outcome: &str) {
    if let Ok(mut file) = OpenOptions::new().create(true).append(true).open(log) {
        let _ = writeln!(
            file,
            "[{:>8.1} s] POST /v1/tasks/expire {outcome}",
            elapsed.as_secs_f64()
        );
    }
}

#[cfg(test)]
mod tests {
    use std::io::{BufRead, BufReader};
    use std::net::TcpListener;

    use super::*;

    #[test]
    fn posts_the_expiry_task_with_the_admin_token() {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let dir = tempfile::tempdir().expect("temp dir");
        let scheduler = Scheduler::start(
            format!("http://127.0.0.1:{port}"),
            "tok".to_owned(),
            Duration::from_millis(10),
            dir.path().join("scheduler.log"),
        )
        .expect("scheduler");
        let (mut stream, _) = listener.accept().expect("accept");
        let mut reader = BufReader::new(stream.try_clone().expect("clone"));
        let mut head = Vec::new();
        loop {
            let mut line = String::new();
            reader.read_line(&mut line).expect("read");
            if line.trim().is_empty() {
                break;
            }
            head.push(line.trim().to_owned());
        }
        stream
            .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
            .expect("respond");
        drop(scheduler);
        assert_eq!(head[0], "POST /v1/tasks/expire HTTP/1.1");
        assert!(head
            .iter()
            .any(|h| h.eq_ignore_ascii_case("authorization: Bearer tok")));
    }
}
