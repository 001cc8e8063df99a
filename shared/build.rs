//! Compiles `proto/` with protox (pure Rust), so no `protoc` binary is needed anywhere.
fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=../proto");
    let files = [
        "common/v1/common.proto",
        "chat/v1/chat.proto",
        "feed/v1/feed.proto",
        "presence/v1/presence.proto",
        "gateway/v1/gateway.proto",
    ];
    let fds = protox::compile(files.map(|f| format!("../proto/{f}")), ["../proto"])?;
    prost_build::Config::new().bytes(["."]).compile_fds(fds)?;
    Ok(())
}
