//! The daemon's end of the control socket: one request and one answer per connection, each a
//! JSON line, answered on the daemon's state.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};

use super::request::{answer, Answer, Request, SOCKET};
use crate::state::State;

/// The longest request line, and how long a client may take to send it.
const MAX_REQUEST: usize = 64 * 1024;
const READ_TIMEOUT: Duration = Duration::from_secs(10);
/// The longest a connection stays open (an answer the client does not read included).
const CONNECTION_LIFETIME: Duration = Duration::from_secs(60);
/// Connections answered at once; one more is closed at once (each holds a descriptor).
const MAX_CONNECTIONS: usize = 16;

/// The bound socket.
pub(crate) struct Control {
    listener: UnixListener,
    path: PathBuf,
    state: Arc<State>,
}

impl Control {
    /// Binds `state_dir/control.sock` (a socket left by a killed daemon is replaced), mode 0600.
    pub(crate) fn bind(state_dir: &Path, state: Arc<State>) -> std::io::Result<Control> {
        use std::os::unix::fs::PermissionsExt;
        let path = state_dir.join(SOCKET);
        let _ = std::fs::remove_file(&path);
        let listener = UnixListener::bind(&path).map_err(|e| {
            std::io::Error::new(e.kind(), format!("control socket {}: {e}", path.display()))
        })?;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))?;
        Ok(Control {
            listener,
            path,
            state,
        })
    }

    /// Answers requests until the task is dropped.
    pub(crate) async fn serve(self) {
        let open = Arc::new(tokio::sync::Semaphore::new(MAX_CONNECTIONS));
        loop {
            match self.listener.accept().await {
                Ok((sock, _)) => {
                    let Ok(permit) = open.clone().try_acquire_owned() else {
                        tracing::warn!("control socket: {MAX_CONNECTIONS} connections are open: one more is closed");
                        drop(sock);
                        continue;
                    };
                    let state = self.state.clone();
                    tokio::spawn(async move {
                        let _permit = permit;
                        match tokio::time::timeout(CONNECTION_LIFETIME, one(sock, &state)).await {
                            Ok(Err(e)) => tracing::warn!("control socket: {e}"),
                            Err(_) => tracing::warn!("control socket: a connection was closed after {CONNECTION_LIFETIME:?} without its answer read"),
                            Ok(Ok(())) => {}
                        }
                    });
                }
                Err(e) => {
                    tracing::warn!("control socket {}: {e}", self.path.display());
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
    }
}

impl Drop for Control {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// One connection: a request line in, an answer line out.
async fn one(sock: UnixStream, state: &Arc<State>) -> std::io::Result<()> {
    let (r, mut w) = sock.into_split();
    let mut line = String::new();
    let mut r = BufReader::new(r.take(MAX_REQUEST as u64));
    tokio::time::timeout(READ_TIMEOUT, r.read_line(&mut line))
        .await
        .map_err(|_| std::io::Error::other("no request within 10 s"))??;
    let ans = match serde_json::from_str::<Request>(&line) {
        Ok(req) => {
            let st = state.clone();
            tokio::task::spawn_blocking(move || answer(&st, req))
                .await
                .unwrap_or_else(|e| Answer::Error {
                    error: e.to_string(),
                })
        }
        Err(e) => Answer::Error {
            error: format!("not a request: {e}"),
        },
    };
    let mut out = serde_json::to_vec(&ans).expect("an answer serializes");
    out.push(b'\n');
    w.write_all(&out).await
}
