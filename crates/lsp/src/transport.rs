//! Framing around tower-lsp. tower-lsp stops reading after a message it cannot decode (its framed
//! reader ends on the first error), so malformed input would end the server. [`sanitize`] reads the
//! `Content-Length` frames itself, passes JSON-RPC messages on, and answers every other frame itself
//! with a JSON-RPC error (the message's own id when it has one, else null). A header with no usable
//! length (`-5`, `abc`, none, 2^64-1) says nothing about where its body ends, so the reader
//! resynchronises on the next `Content-Length:` instead of trusting it. [`merge`] writes the answers
//! to the client between tower-lsp's whole frames.
//!
//! The answers do not go through tower-lsp: it keys pending requests by id, so two malformed messages
//! in flight with the same null id used to collide and one got no parse error.

use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::sync::mpsc;
use tower_lsp::jsonrpc::{Error, ErrorCode, Id, Request, Response};

/// Largest message accepted (a 10 MB document in `didOpen` is well inside).
const MAX_BODY: usize = 256 << 20;

/// Longest header line kept whole.
const MAX_HEADER_LINE: usize = 8 << 10;

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
    // Bytes after a bad frame are likely the rest of it, and need no answer of their own.
    let mut after_bad_frame = false;
    loop {
        let Some(header) = read_header(&mut input, &replies, after_bad_frame).await? else { return Ok(()) };
        let verdict = match header {
            Ok(n) => {
                let mut body = vec![0; n];
                input.read_exact(&mut body).await?;
                check(&body).map(|()| body)
            }
            Err(malformed) => Err(malformed),
        };
        after_bad_frame = verdict.is_err();
        match verdict {
            Ok(body) => {
                write_frame(&mut output, &body).await?;
            }
            Err(malformed) => answer(&replies, malformed).await,
        }
    }
}

/// Reads one frame's header and returns its body length, or the error to answer a header that
/// names no usable length with. A bad header is not trusted to say where its body ends: the reader
/// resynchronises on the next `Content-Length:`, even mid-line (after the bytes of a body it skipped).
/// Bytes before the header are answered too, unless they follow a bad frame (they are likely its rest).
/// `None` at end of input.
async fn read_header<I: AsyncRead + Unpin>(
    input: &mut BufReader<I>,
    replies: &mpsc::Sender<Vec<u8>>,
    mut after_bad_frame: bool,
) -> std::io::Result<Option<Result<usize, Malformed>>> {
    let mut length: Option<Result<usize, Malformed>> = None;
    let mut header_lines = 0;
    loop {
        let Some((raw, dropped)) = read_line(input).await? else { return Ok(None) };
        let line = String::from_utf8_lossy(&raw);
        let line = line.trim_end_matches(['\r', '\n']);
        if line.is_empty() {
            match length {
                None if header_lines == 0 => continue, // a stray blank line between messages
                None => {
                    answer(replies, Malformed::parse("missing Content-Length header".into())).await;
                    header_lines = 0;
                    after_bad_frame = true;
                    continue;
                }
                Some(found) => return Ok(Some(found)),
            }
        }
        header_lines += 1;
        let Some(at) = find_ignore_case(line.as_bytes(), b"content-length:") else { continue };
        match length.take() {
            Some(Err(earlier)) => answer(replies, earlier).await,
            None if (at > 0 || dropped) && !after_bad_frame => {
                answer(replies, Malformed::parse("bytes that are no message, before a Content-Length header".into())).await
            }
            _ => {}
        }
        let value = line[at + "content-length:".len()..].trim();
        length = Some(match value.parse::<usize>() {
            Ok(n) if n <= MAX_BODY => Ok(n),
            Ok(n) => Err(Malformed::invalid(Id::Null, format!("message of {n} bytes is larger than {MAX_BODY}"))),
            Err(e) => Err(Malformed::parse(format!("bad Content-Length `{value}`: {e}"))),
        });
    }
}

/// One header line; of a longer one (the body of a frame being skipped), only the part from the
/// last `Content-Length:` in it, or else its last bytes, so junk without newlines costs no memory.
/// Also says whether bytes were dropped.
async fn read_line<I: AsyncRead + Unpin>(input: &mut BufReader<I>) -> std::io::Result<Option<(Vec<u8>, bool)>> {
    const KEEP: usize = "content-length:".len();
    let mut raw = Vec::new();
    let mut dropped = false;
    loop {
        let read = (&mut *input).take(MAX_HEADER_LINE as u64).read_until(b'\n', &mut raw).await?;
        if read == 0 {
            // End of input; a partial line at the end is no header.
            return Ok(None);
        }
        if raw.ends_with(b"\n") {
            return Ok(Some((raw, dropped)));
        }
        if raw.len() > MAX_HEADER_LINE {
            let from = match find_ignore_case(&raw, b"content-length:") {
                Some(at) if at > 0 => at,
                _ => raw.len() - KEEP,
            };
            raw.drain(..from);
            dropped = true;
        }
    }
}

/// The byte offset of `needle` in `haystack`, ignoring ASCII case.
fn find_ignore_case(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w.eq_ignore_ascii_case(needle))
}

async fn answer(replies: &mpsc::Sender<Vec<u8>>, malformed: Malformed) {
    tracing::warn!("malformed message: {}", malformed.error.message);
    // The receiver is gone only when the server is ending; nothing is left to answer then.
    let _ = replies.send(malformed.response()).await;
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

    /// After each bad frame, with or without the body it claimed, the next good frame gets through
    /// and the bad one gets exactly one answer.
    #[tokio::test]
    async fn resynchronises_after_every_bad_header() {
        let good = frame(r#"{"jsonrpc":"2.0","id":1,"method":"shutdown"}"#);
        let body = r#"{"jsonrpc":"2.0","id":2,"method":"shutdown"}"#;
        let bad = [
            format!("Content-Length: -5\r\n\r\n{body}"),
            "Content-Length: -5\r\n\r\n".to_string(),
            "abc\r\n\r\n".to_string(),
            format!("abc\r\n\r\n{body}"),
            format!("Content-Type: application/json\r\n\r\n{body}"),
            format!("Content-Length: {}\r\n\r\n{body}", u64::MAX),
            format!("Content-Length: 18446744073709551616\r\n\r\n{body}"),
            format!("Content-Length: 3\r\n\r\n{body}"),
            "x".repeat(100_000),
            format!("Content-Length: 1\r\n\r\n{}", "y".repeat(100_000)),
        ];
        for (i, bad) in bad.iter().enumerate() {
            let input = [good.as_str(), bad, good.as_str()].concat();
            let (passed, answers) = run(input.as_bytes()).await;
            assert_eq!(passed, [good.as_str(), good.as_str()].concat(), "case {i}: {bad:.80}");
            assert_eq!(answers.len(), 1, "case {i}: {bad:.80}: {answers:?}");
        }
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
