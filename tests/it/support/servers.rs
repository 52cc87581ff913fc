//! Real servers the tests start: moto (CloudWatch Logs), aiosmtpd (SMTP with STARTTLS and
//! AUTH), and a local HTTP receiver standing in for Dooray, with scripted failures. Readiness is
//! read from each server's own output, never guessed with sleeps.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Instant;

/// A process killed when dropped.
pub struct Proc(pub Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A free loopback port.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// moto's server on a free port; returns it and its URL.
pub fn moto() -> (Proc, String) {
    let port = free_port();
    let mut c = Command::new("python3")
        .args([
            "-m",
            "moto.server",
            "-H",
            "127.0.0.1",
            "-p",
            &port.to_string(),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3 -m moto.server starts (pip install -r tests/requirements.txt)");
    let err = c.stderr.take().unwrap();
    let mut lines = BufReader::new(err).lines();
    loop {
        let l = lines.next().expect("moto exited before listening").unwrap();
        if l.contains("Running on") {
            break;
        }
    }
    std::thread::spawn(move || for _ in lines {});
    (Proc(c), format!("http://127.0.0.1:{port}"))
}

/// aiosmtpd with STARTTLS + AUTH; messages land in the returned folder.
pub struct Smtp {
    pub proc: Proc,
    pub port: u16,
    pub cert: PathBuf,
    pub dir: tempfile::TempDir,
}

pub fn smtp(user: &str, password: &str) -> Smtp {
    smtp_mode(user, password, "starttls")
}

/// `mode`: "starttls" or "tls" (implicit TLS).
pub fn smtp_mode(user: &str, password: &str, mode: &str) -> Smtp {
    let dir = tempfile::tempdir().unwrap();
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/it/support/smtp_server.py");
    let mut c = Command::new("python3")
        .arg(script)
        .args([dir.path().to_str().unwrap(), user, password, mode])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("python3 starts the SMTP server (pip install -r tests/requirements.txt)");
    let mut line = String::new();
    BufReader::new(c.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let parts: Vec<&str> = line.split_whitespace().collect();
    assert_eq!(
        parts.first(),
        Some(&"READY"),
        "SMTP server did not start: {line}"
    );
    Smtp {
        port: parts[1].parse().unwrap(),
        cert: PathBuf::from(parts[2]),
        proc: Proc(c),
        dir,
    }
}

impl Smtp {
    /// The messages received so far, as raw text, in order.
    /// Every message received, read by Python's strict RFC 5322 parser (`mail_check.py`):
    /// `headers` (decoded), `parts` (text by content type), `attachments`, `defects`.
    pub fn parsed(&self) -> Vec<serde_json::Value> {
        let script =
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/it/support/mail_check.py");
        let mut v: Vec<PathBuf> = std::fs::read_dir(self.dir.path())
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "eml"))
            .collect();
        v.sort();
        v.iter()
            .map(|p| {
                let o = Command::new("python3")
                    .arg(&script)
                    .arg(p)
                    .output()
                    .unwrap();
                assert!(
                    o.status.success(),
                    "the strict parser refused {}: {}",
                    p.display(),
                    String::from_utf8_lossy(&o.stderr)
                );
                serde_json::from_slice(&o.stdout).unwrap()
            })
            .collect()
    }

    pub fn messages(&self) -> Vec<String> {
        let mut v: Vec<PathBuf> = std::fs::read_dir(self.dir.path())
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "eml"))
            .collect();
        v.sort();
        v.iter()
            .map(|p| std::fs::read_to_string(p).unwrap())
            .collect()
    }
}

/// One request the receiver got.
#[derive(Debug, Clone)]
pub struct Received {
    pub at: Instant,
    pub body: String,
    pub status: u16,
    /// The request's headers, names in lower case.
    pub headers: Vec<(String, String)>,
}

impl Received {
    /// A header's value.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// A local HTTP receiver that answers from a script (then 200), recording every request.
pub struct Receiver {
    pub url: String,
    pub port: u16,
    pub got: Arc<(Mutex<Vec<Received>>, Condvar)>,
    server: Arc<tiny_http::Server>,
}

impl Receiver {
    /// Listens on `port` (0: any) and answers with `script` (status, Retry-After) in turn.
    pub fn start(port: u16, script: Vec<(u16, Option<&'static str>)>) -> Receiver {
        Self::start_slow(port, script, std::time::Duration::ZERO)
    }

    /// A receiver that takes `delay` to answer each request (a slow webhook).
    pub fn start_slow(
        port: u16,
        script: Vec<(u16, Option<&'static str>)>,
        delay: std::time::Duration,
    ) -> Receiver {
        let server =
            Arc::new(tiny_http::Server::http(("127.0.0.1", port)).expect("receiver binds"));
        let port = server.server_addr().to_ip().unwrap().port();
        let got: Arc<(Mutex<Vec<Received>>, Condvar)> = Arc::default();
        let (s, g) = (server.clone(), got.clone());
        std::thread::spawn(move || {
            let mut script = script.into_iter();
            while let Ok(mut req) = s.recv() {
                let mut body = String::new();
                let _ = req.as_reader().read_to_string(&mut body);
                let headers = req
                    .headers()
                    .iter()
                    .map(|h| {
                        (
                            h.field.as_str().as_str().to_lowercase(),
                            h.value.as_str().to_string(),
                        )
                    })
                    .collect();
                let (status, after) = script.next().unwrap_or((200, None));
                // The webhook's own slowness (not a synchronization of the test).
                std::thread::sleep(delay);
                g.0.lock().unwrap().push(Received {
                    at: Instant::now(),
                    body,
                    status,
                    headers,
                });
                g.1.notify_all();
                let mut resp =
                    tiny_http::Response::from_string(if status == 200 { "ok" } else { "nope" })
                        .with_status_code(status);
                if let Some(a) = after {
                    resp.add_header(
                        format!("Retry-After: {a}")
                            .parse::<tiny_http::Header>()
                            .unwrap(),
                    );
                }
                let _ = req.respond(resp);
            }
        });
        Receiver {
            url: format!("http://127.0.0.1:{port}/services/123/456/SECRET-TOKEN-9f8e7d"),
            port,
            got,
            server,
        }
    }

    pub fn received(&self) -> Vec<Received> {
        self.got.0.lock().unwrap().clone()
    }

    /// The eventID shown in each Dooray message received, in arrival order.
    pub fn event_ids(&self) -> Vec<String> {
        self.received()
            .iter()
            .map(|g| {
                let v: serde_json::Value = serde_json::from_str(&g.body).unwrap();
                let text = v["attachments"][0]["text"].as_str().unwrap_or("");
                let after = text.split("eventID: ").nth(1).unwrap_or("");
                let id = after.lines().next().unwrap_or("");
                // Values are in inline code: `id`, or `` id `` when it holds a backtick.
                id.trim_matches('`').trim().to_string()
            })
            .collect()
    }

    /// Waits until `n` requests arrived with status 200 (blocking on the receiver's own events).
    pub fn wait_ok(&self, n: usize, deadline: std::time::Duration) -> bool {
        let (m, cv) = &*self.got;
        let (_g, timeout) = cv
            .wait_timeout_while(m.lock().unwrap(), deadline, |v| {
                v.iter().filter(|r| r.status == 200).count() < n
            })
            .unwrap();
        !timeout.timed_out()
    }

    /// Waits until what arrived satisfies `done` (blocking on the receiver's own events).
    pub fn wait_for(
        &self,
        done: impl Fn(&Receiver) -> bool,
        deadline: std::time::Duration,
    ) -> bool {
        let end = Instant::now() + deadline;
        let (m, cv) = &*self.got;
        let mut g = m.lock().unwrap();
        loop {
            drop(g);
            if done(self) {
                return true;
            }
            g = m.lock().unwrap();
            let left = end.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            g = cv.wait_timeout(g, left).unwrap().0;
        }
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.server.unblock();
    }
}
