//! Fuzzes the server's input filter (crates/lsp/src/transport.rs) with arbitrary bytes: it never
//! panics, and everything it passes on is well-framed JSON-RPC that tower-lsp decodes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tower_lsp::jsonrpc::{Request, Response};

#[path = "../../crates/lsp/src/transport.rs"]
#[allow(dead_code)]
mod transport;

fuzz_target!(|data: &[u8]| {
    let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
    let mut out = Vec::new();
    runtime.block_on(transport::sanitize(data, &mut out)).ok();
    // Re-read the output: only frames tower-lsp accepts.
    let mut rest = &out[..];
    while !rest.is_empty() {
        let header_end = rest.windows(4).position(|w| w == b"\r\n\r\n").expect("a header");
        let header = std::str::from_utf8(&rest[..header_end]).unwrap();
        let length: usize = header.strip_prefix("Content-Length: ").expect("only Content-Length").parse().unwrap();
        let body = &rest[header_end + 4..header_end + 4 + length];
        let text = std::str::from_utf8(body).expect("UTF-8 body");
        assert!(
            serde_json::from_str::<Request>(text).is_ok() || serde_json::from_str::<Response>(text).is_ok(),
            "passed on a message tower-lsp cannot decode: {text}"
        );
        rest = &rest[header_end + 4 + length..];
    }
});
