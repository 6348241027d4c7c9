//! Framing around tower-lsp. tower-lsp stops reading after a message it cannot decode (its framed
//! reader ends on the first error), so malformed input would end the server. [`sanitize`] reads the
//! `Content-Length` frames itself, passes JSON-RPC messages on, and answers every other frame itself
//! with a JSON-RPC error (the message's own id when it has one, else null). [`merge`] writes those
//! answers to the client between tower-lsp's whole frames.
//!
//! The answers do not go through tower-lsp: it keys pending requests by id, so two malformed messages
//! in flight with the same null id used to collide and one got no parse error.

use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::sync::mpsc;
use tower_lsp::jsonrpc::{Error, ErrorCode, Id, Request, Response};

/// Largest message accepted (a 10 MB document in `didOpen` is well inside).
const MAX_BODY: usize = 256 << 20;

/// Error answers waiting for [`merge`]; a few, so a flood of bad input waits for the client to read.
pub const REPLY_QUEUE: usize = 64;

/// Copies well-formed frames from `input` to `output` and sends an error response for each malformed
/// one to `replies`; ends at end of input.
pub async fn sanitize<I, O>(input: I, mut output: O, replies: mpsc::Sender<Vec<u8>>) -> std::io::Result<()>
where
    I: AsyncRead + Unpin,
    O: AsyncWrite + Unpin,
{
    let mut input = BufReader::new(input);
    loop {
        let mut length: Option<Result<usize, String>> = None;
        let mut header_lines = 0;
        loop {
            let mut line = Vec::new();
            if input.read_until(b'\n', &mut line).await? == 0 {
                return Ok(());
            }
            let line = String::from_utf8_lossy(&line);
            let line = line.trim_end();
            if line.is_empty() {
                if header_lines == 0 {
                    continue; // stray blank line between messages
                }
                break;
            }
            header_lines += 1;
            if let Some((name, value)) = line.split_once(':') {
                if name.trim().eq_ignore_ascii_case("content-length") {
                    length = Some(value.trim().parse::<usize>().map_err(|e| format!("bad Content-Length `{}`: {e}", value.trim())));
                }
            }
        }
        let verdict = match length {
            Some(Ok(n)) if n <= MAX_BODY => {
                let mut body = vec![0; n];
                input.read_exact(&mut body).await?;
                check(&body).map(|()| body)
            }
            Some(Ok(n)) => {
                // Too large to hold: skip it.
                tokio::io::copy(&mut (&mut input).take(n as u64), &mut tokio::io::sink()).await?;
                Err(Malformed::invalid(Id::Null, format!("message of {n} bytes is larger than {MAX_BODY}")))
            }
            Some(Err(reason)) => Err(Malformed::parse(reason)),
            None => Err(Malformed::parse("missing Content-Length header".into())),
        };
        match verdict {
            Ok(body) => {
                write_frame(&mut output, &body).await?;
            }
            Err(malformed) => {
                tracing::warn!("malformed message: {}", malformed.error.message);
                // The receiver is gone only when the server is ending; nothing is left to answer then.
                let _ = replies.send(malformed.response()).await;
            }
        }
    }
}

/// Writes tower-lsp's frames from `server` and the answers from `replies` to `output`, each frame
/// whole; ends when `server` ends (answers already queued are written first).
pub async fn merge<S, O>(mut server: S, mut replies: mpsc::Receiver<Vec<u8>>, mut output: O) -> std::io::Result<()>
where
    S: AsyncRead + Unpin,
    O: AsyncWrite + Unpin,
{
    let mut pending: Vec<u8> = Vec::with_capacity(8 << 10);
    let mut replies_open = true;
    loop {
        // Both branches are cancel-safe: `read_buf` reads nothing when the other branch wins.
        tokio::select! {
            read = server.read_buf(&mut pending) => {
                if read? == 0 {
                    break;
                }
                let whole = whole_frames(&pending);
                if whole > 0 {
                    output.write_all(&pending[..whole]).await?;
                    output.flush().await?;
                    pending.drain(..whole);
                }
            }
            reply = replies.recv(), if replies_open => match reply {
                Some(body) => write_frame(&mut output, &body).await?,
                None => replies_open = false,
            },
        }
    }
    output.write_all(&pending).await?;
    while let Ok(body) = replies.try_recv() {
        write_frame(&mut output, &body).await?;
    }
    output.flush().await
}

/// The length of the complete `Content-Length` frames at the start of `bytes`.
fn whole_frames(bytes: &[u8]) -> usize {
    let mut end = 0;
    while let Some(header) = bytes[end..].windows(4).position(|w| w == b"\r\n\r\n") {
        let body_start = end + header + 4;
        let length = String::from_utf8_lossy(&bytes[end..end + header])
            .lines()
            .find_map(|line| {
                let (name, value) = line.split_once(':')?;
                name.trim().eq_ignore_ascii_case("content-length").then(|| value.trim().parse::<usize>().ok())?
            })
            .unwrap_or(0);
        if bytes.len() < body_start + length {
            break;
        }
        end = body_start + length;
    }
    end
}

async fn write_frame<O: AsyncWrite + Unpin>(output: &mut O, body: &[u8]) -> std::io::Result<()> {
    output.write_all(format!("Content-Length: {}\r\n\r\n", body.len()).as_bytes()).await?;
    output.write_all(body).await?;
    output.flush().await
}

/// A message that is not JSON-RPC, and the error it is answered with.
#[derive(Debug)]
struct Malformed {
    id: Id,
    error: Error,
}

impl Malformed {
    fn parse(reason: String) -> Malformed {
        Malformed { id: Id::Null, error: Error { code: ErrorCode::ParseError, message: reason.into(), data: None } }
    }

    fn invalid(id: Id, reason: String) -> Malformed {
        Malformed { id, error: Error { code: ErrorCode::InvalidRequest, message: reason.into(), data: None } }
    }

    fn response(self) -> Vec<u8> {
        serde_json::to_vec(&Response::from_error(self.id, self.error)).expect("serializable")
    }
}

/// Whether `body` decodes as tower-lsp will decode it; if not, the error to answer it with.
fn check(body: &[u8]) -> Result<(), Malformed> {
    let text = std::str::from_utf8(body).map_err(|e| Malformed::parse(format!("not UTF-8: {e}")))?;
    let request = serde_json::from_str::<Request>(text);
    if request.is_ok() || serde_json::from_str::<Response>(text).is_ok() {
        return Ok(());
    }
    let value = serde_json::from_str::<serde_json::Value>(text).map_err(|e| Malformed::parse(format!("invalid JSON: {e}")))?;
    // A request whose id can be read is answered under that id.
    let id = value.get("id").and_then(|id| serde_json::from_value::<Id>(id.clone()).ok()).unwrap_or(Id::Null);
    let reason = request.err().map(|e| e.to_string()).unwrap_or_default();
    Err(Malformed::invalid(id, format!("not a JSON-RPC message: {reason}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    /// Runs the filter on `input`; returns what tower-lsp would read and the answers sent back.
    async fn run(input: &[u8]) -> (String, Vec<Value>) {
        let (replies, mut answers) = mpsc::channel(1024);
        let mut passed = Vec::new();
        sanitize(input, &mut passed, replies).await.unwrap();
        let mut sent = Vec::new();
        while let Ok(body) = answers.try_recv() {
            sent.push(serde_json::from_slice(&body).unwrap());
        }
        (String::from_utf8(passed).unwrap(), sent)
    }

    fn frame(body: &str) -> String {
        format!("Content-Length: {}\r\n\r\n{body}", body.len())
    }

    #[tokio::test]
    async fn passes_good_frames_and_answers_every_bad_one() {
        let good = r#"{"jsonrpc":"2.0","id":1,"method":"shutdown"}"#;
        let input = [
            frame(good),
            "Content-Length: 5\r\n\r\n{bad}".into(),
            "Content-Length: x\r\n\r\n".into(),
            frame(r#"{"a": 1}"#),
            frame(r#"{"jsonrpc":"1.0","id":7,"method":"shutdown"}"#),
            frame(r#"{"jsonrpc":"2.0","id":"x","method":3}"#),
            frame(good),
        ]
        .concat();
        let mut input = input.into_bytes();
        let bad_utf8 = b"Content-Length: 4\r\n\r\n\xff\xfe{}";
        let at = input.len() - frame(good).len();
        input.splice(at..at, bad_utf8.iter().copied());
        let (passed, answers) = run(&input).await;
        assert_eq!(passed, [frame(good), frame(good)].concat());
        let summary: Vec<(Value, i64)> = answers.iter().map(|a| (a["id"].clone(), a["error"]["code"].as_i64().unwrap())).collect();
        assert_eq!(
            summary,
            [
                (Value::Null, -32700),
                (Value::Null, -32700),
                (Value::Null, -32600),
                (7.into(), -32600),
                ("x".into(), -32600),
                (Value::Null, -32700),
            ]
        );
        assert!(answers[0]["error"]["message"].as_str().unwrap().contains("invalid JSON"), "{}", answers[0]);
        assert!(answers[1]["error"]["message"].as_str().unwrap().contains("bad Content-Length"), "{}", answers[1]);
        assert!(answers[5]["error"]["message"].as_str().unwrap().contains("not UTF-8"), "{}", answers[5]);
        assert!(answers.iter().all(|a| a["jsonrpc"] == "2.0" && a.get("result").is_none()));
    }

    /// Many malformed messages at once each get their own answer (they used to share tower-lsp's
    /// pending slot for the null id, and some went unanswered).
    #[tokio::test]
    async fn a_burst_of_malformed_messages_gets_one_answer_each() {
        let input = "Content-Length: 7\r\n\r\n{\"a\":1}".repeat(500);
        let (passed, answers) = run(input.as_bytes()).await;
        assert!(passed.is_empty());
        assert_eq!(answers.len(), 500);
    }

    #[tokio::test]
    async fn merge_keeps_frames_whole_and_adds_the_answers() {
        let (mut server, server_end) = tokio::io::duplex(64);
        let (replies, answers) = mpsc::channel(4);
        let mut out = Vec::new();
        let big = format!(r#"{{"jsonrpc":"2.0","id":1,"result":"{}"}}"#, "x".repeat(10_000));
        let writer = async {
            let framed = frame(&big);
            // Dribble the frame out in small pieces while answers arrive.
            for chunk in framed.as_bytes().chunks(97) {
                server.write_all(chunk).await.unwrap();
                let _ = replies.try_send(br#"{"jsonrpc":"2.0","id":null,"error":{"code":-32700,"message":"m"}}"#.to_vec());
                tokio::task::yield_now().await;
            }
            drop(server);
            drop(replies);
        };
        let (_, merged) = tokio::join!(writer, merge(server_end, answers, &mut out));
        merged.unwrap();
        let out = String::from_utf8(out).unwrap();
        // Every frame parses: the big one was never split by an answer.
        let mut rest = out.as_str();
        let (mut bodies, mut answers) = (0, 0);
        while let Some(after) = rest.strip_prefix("Content-Length: ") {
            let (n, after) = after.split_once("\r\n\r\n").unwrap();
            let n: usize = n.parse().unwrap();
            let body: Value = serde_json::from_str(&after[..n]).unwrap();
            if body["id"] == 1 {
                bodies += 1;
            } else {
                answers += 1;
            }
            rest = &after[n..];
        }
        assert!(rest.is_empty(), "left over: {rest:?}");
        assert_eq!(bodies, 1);
        assert!(answers > 0);
    }
}
