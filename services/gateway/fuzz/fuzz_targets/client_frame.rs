//! Any text given to the client frame parser: it never panics, and a frame
//! it accepts reads back the same from its own rendering.
#![no_main]

use gateway::wire::client::parse;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(frame) = parse(text) {
        let again = frame.to_json();
        assert_eq!(parse(&again).ok().as_ref(), Some(&frame), "{text} -> {again}");
    }
});
