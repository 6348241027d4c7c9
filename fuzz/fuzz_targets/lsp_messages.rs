//! Fuzzes the server's framing (crates/lsp/src/transport.rs) with arbitrary bytes: the input filter
//! never panics, everything it passes on is well-framed JSON-RPC that tower-lsp decodes, every answer
//! it gives is a JSON-RPC error response, and `merge` writes those frames and answers whole.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tower_lsp::jsonrpc::{Request, Response};

#[path = "../../crates/lsp/src/transport.rs"]
#[allow(dead_code)]
mod transport;

/// The bodies of the `Content-Length` frames in `bytes`; panics on anything else.
fn frames(mut rest: &[u8]) -> Vec<&str> {
    let mut bodies = Vec::new();
    while !rest.is_empty() {
        let header_end = rest.windows(4).position(|w| w == b"\r\n\r\n").expect("a header");
        let header = std::str::from_utf8(&rest[..header_end]).unwrap();
        let length: usize = header.strip_prefix("Content-Length: ").expect("only Content-Length").parse().unwrap();
        let body = &rest[header_end + 4..header_end + 4 + length];
        bodies.push(std::str::from_utf8(body).expect("UTF-8 body"));
        rest = &rest[header_end + 4 + length..];
    }
    bodies
}

fuzz_target!(|data: &[u8]| {
    let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
    let mut passed = Vec::new();
    // Room for every answer: each malformed frame takes at least two bytes of input.
    let (replies, mut answers) = tokio::sync::mpsc::channel(data.len() / 2 + 1);
    runtime.block_on(transport::sanitize(data, &mut passed, replies)).ok();
    let passed_bodies = frames(&passed);
    for text in &passed_bodies {
        assert!(
            serde_json::from_str::<Request>(text).is_ok() || serde_json::from_str::<Response>(text).is_ok(),
            "passed on a message tower-lsp cannot decode: {text}"
        );
    }
    let mut replies = Vec::new();
    while let Ok(body) = answers.try_recv() {
        let response: Response = serde_json::from_slice(&body).expect("an answer is a JSON-RPC response");
        assert!(response.is_error(), "an answer is an error");
        replies.push(body);
    }

    // Merge the passed frames (as if tower-lsp wrote them) with the answers: all come out whole.
    let (tx, rx) = tokio::sync::mpsc::channel(replies.len() + 1);
    for body in &replies {
        tx.try_send(body.clone()).unwrap();
    }
    drop(tx);
    let mut merged = Vec::new();
    runtime.block_on(transport::merge(&passed[..], rx, &mut merged)).unwrap();
    assert_eq!(frames(&merged).len(), passed_bodies.len() + replies.len());
});
