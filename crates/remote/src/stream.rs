//! One streamed HTTP request on a thread of its own, read line by line, so that the caller can
//! give it up at once. On cancel the caller returns; the thread drops the connection at the
//! server's next bytes, which tells the server to stop generating.

use std::io::{BufRead, BufReader, Read};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::time::Duration;

use hearth_base::CancelToken;

/// Why a request gave no (more) lines.
#[derive(Debug)]
pub(crate) enum Failure {
    /// No connection, or the server went silent past the timeout.
    Unreachable(String),
    /// The server answered with an HTTP error.
    Status {
        code: u16,
        body: String,
    },
    /// The connection broke in the middle of the answer.
    Broken(String),
    Cancelled,
}

enum Event {
    Line(String),
    Failed(Failure),
}

/// The lines of a streamed answer, as they arrive.
pub(crate) struct Lines {
    rx: Receiver<Event>,
}

/// How often a waiting caller looks at its cancel token.
const CANCEL_POLL: Duration = Duration::from_millis(10);
/// The most of an error body kept for the message.
const ERROR_BODY_BYTES: u64 = 2048;

/// Starts `request` with `body` on its own thread.
pub(crate) fn send(request: ureq::Request, body: serde_json::Value) -> Lines {
    let (tx, rx) = mpsc::channel();
    let spawned = std::thread::Builder::new().name("hearth-remote".into()).spawn(move || {
        let response = match request.send_json(body) {
            Ok(r) => r,
            Err(e) => {
                let _ = tx.send(Event::Failed(failure(e)));
                return;
            }
        };
        for line in BufReader::new(response.into_reader()).lines() {
            let event = match line {
                Ok(line) => Event::Line(line),
                Err(e) => Event::Failed(Failure::Broken(e.to_string())),
            };
            let failed = matches!(event, Event::Failed(_));
            // A caller that gave up has dropped the receiver: returning drops the connection.
            if tx.send(event).is_err() || failed {
                return;
            }
        }
    });
    if let Err(e) = spawned {
        let (tx, rx) = mpsc::channel();
        let _ = tx.send(Event::Failed(Failure::Unreachable(format!("cannot start a request thread: {e}"))));
        return Lines { rx };
    }
    Lines { rx }
}

/// A plain request's failure, in the same terms.
pub(crate) fn failure(e: ureq::Error) -> Failure {
    match e {
        ureq::Error::Status(code, response) => {
            let mut body = String::new();
            let _ = response.into_reader().take(ERROR_BODY_BYTES).read_to_string(&mut body);
            Failure::Status { code, body: body.trim().to_string() }
        }
        ureq::Error::Transport(t) => Failure::Unreachable(t.to_string()),
    }
}

impl Lines {
    /// The next line, or `None` at the end of the answer.
    pub(crate) fn next(&self, cancel: &CancelToken) -> Result<Option<String>, Failure> {
        loop {
            if cancel.is_cancelled() {
                return Err(Failure::Cancelled);
            }
            match self.rx.recv_timeout(CANCEL_POLL) {
                Ok(Event::Line(line)) => return Ok(Some(line)),
                Ok(Event::Failed(f)) => return Err(f),
                Err(RecvTimeoutError::Timeout) => continue,
                Err(RecvTimeoutError::Disconnected) => return Ok(None),
            }
        }
    }
}
