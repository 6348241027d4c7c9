//! Input framing in front of tower-lsp. tower-lsp stops reading after a message it cannot decode
//! (its framed reader ends on the first error), so malformed input would end the server. This filter
//! reads the `Content-Length` frames itself and turns any body that is not a JSON-RPC message into a
//! request for [`MALFORMED_METHOD`] with a null id, which answers with the JSON-RPC parse error.

use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tower_lsp::jsonrpc::{Request, Response};

/// The method a malformed message is replaced by.
pub const MALFORMED_METHOD: &str = "hearth/malformedMessage";

/// Largest message accepted (a 10 MB document in `didOpen` is well inside).
const MAX_BODY: usize = 256 << 20;

/// Copies well-formed frames from `input` to `output` and replaces malformed ones; ends at end of input.
pub async fn sanitize<I, O>(input: I, mut output: O) -> std::io::Result<()>
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
        let body = match length {
            Some(Ok(n)) if n <= MAX_BODY => {
                let mut body = vec![0; n];
                input.read_exact(&mut body).await?;
                match check(&body) {
                    Ok(()) => body,
                    Err(reason) => malformed(&reason),
                }
            }
            Some(Ok(n)) => {
                // Too large to hold: skip it.
                tokio::io::copy(&mut (&mut input).take(n as u64), &mut tokio::io::sink()).await?;
                malformed(&format!("message of {n} bytes is larger than {MAX_BODY}"))
            }
            Some(Err(reason)) => malformed(&reason),
            None => malformed("missing Content-Length header"),
        };
        output.write_all(format!("Content-Length: {}\r\n\r\n", body.len()).as_bytes()).await?;
        output.write_all(&body).await?;
        output.flush().await?;
    }
}

/// Whether `body` decodes as tower-lsp will decode it.
fn check(body: &[u8]) -> Result<(), String> {
    let text = std::str::from_utf8(body).map_err(|e| format!("not UTF-8: {e}"))?;
    let request = serde_json::from_str::<Request>(text);
    if request.is_ok() || serde_json::from_str::<Response>(text).is_ok() {
        return Ok(());
    }
    Err(match serde_json::from_str::<serde_json::Value>(text) {
        Err(e) => format!("invalid JSON: {e}"),
        Ok(_) => format!("not a JSON-RPC message: {}", request.err().map(|e| e.to_string()).unwrap_or_default()),
    })
}

fn malformed(reason: &str) -> Vec<u8> {
    tracing::warn!("malformed message: {reason}");
    serde_json::to_vec(&serde_json::json!({
        "jsonrpc": "2.0",
        "id": null,
        "method": MALFORMED_METHOD,
        "params": { "reason": reason },
    }))
    .expect("serializable")
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn run(input: &[u8]) -> String {
        let mut out = Vec::new();
        sanitize(input, &mut out).await.unwrap();
        String::from_utf8(out).unwrap()
    }

    #[tokio::test]
    async fn passes_good_frames_and_replaces_bad_ones() {
        let good = r#"{"jsonrpc":"2.0","id":1,"method":"shutdown"}"#;
        let input = format!(
            "Content-Length: {}\r\n\r\n{good}Content-Length: 5\r\n\r\n{{bad}}Content-Length: x\r\n\r\nContent-Length: 8\r\n\r\n{{\"a\": 1}}",
            good.len()
        );
        let out = run(input.as_bytes()).await;
        let frames: Vec<&str> = out.split("Content-Length: ").skip(1).collect();
        assert_eq!(frames.len(), 4, "{out}");
        assert!(frames[0].ends_with(good));
        assert!(frames[1].contains("invalid JSON"), "{}", frames[1]);
        assert!(frames[2].contains("bad Content-Length"), "{}", frames[2]);
        assert!(frames[3].contains("not a JSON-RPC message"), "{}", frames[3]);
        assert!(frames[1..].iter().all(|f| f.contains(MALFORMED_METHOD) && f.contains(r#""id":null"#)));
    }
}
