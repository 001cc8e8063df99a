//! README's run command (`deploy/run.sh`) brings up all four services with
//! `/readyz` 200 on each, in development mode (the try-it page at `/` gets
//! tokens from the gateway), and stops them all on SIGTERM.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::{
    io::{BufRead, BufReader},
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use e2e_tests::{TestEnv, free_port};

#[test]
fn run_command_brings_up_all_four_services_and_stops_them() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf();
    let env = TestEnv::new();
    let ports = [free_port(), free_port(), free_port(), free_port()];
    let mut child = Command::new("bash")
        .arg("deploy/run.sh")
        .current_dir(&root)
        // No secrets given: the run command falls back to its development ones.
        .env_remove("JWT_SECRET")
        .env_remove("ENCRYPTION_KEY")
        .env("SKIP_BUILD", "1")
        .env("DATABASE_URL", env.database_url())
        .env("NATS_SUBJECT_PREFIX", &env.prefix)
        .env("REDIS_KEY_PREFIX", &env.redis_prefix)
        .env("GATEWAY_ADDR", format!("127.0.0.1:{}", ports[0]))
        .env("CHAT_PERSISTENCE_PORT", ports[1].to_string())
        .env("FEED_PORT", ports[2].to_string())
        .env("PRESENCE_PORT", ports[3].to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let warned = std::thread::spawn(move || {
        BufReader::new(stderr).lines().map_while(Result::ok).any(|l| l.contains("DEVELOPMENT"))
    });
    let mut stdout = BufReader::new(child.stdout.take().unwrap()).lines();
    let started = Instant::now();
    let mut ready = false;
    let mut said = String::new();
    for line in stdout.by_ref().map_while(Result::ok) {
        said.push_str(&line);
        said.push('\n');
        if line.contains("all services ready") {
            ready = true;
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(600), "run command too slow");
    }
    assert!(ready, "run command did not come up:\n{said}");
    assert!(said.contains("dev-token"), "it says how to get a token:\n{said}");
    for port in ports {
        let status = reqwest::blocking_get(port);
        assert_eq!(status, 200, "port {port}");
    }
    let page = reqwest::request(ports[0], "GET / HTTP/1.0\r\n\r\n");
    assert!(page.starts_with("HTTP/1.0 200") && page.contains("/app.js"), "the page at /");
    let body = format!(r#"{{"user_id":"{}"}}"#, uuid::Uuid::new_v4());
    let token = reqwest::request(
        ports[0],
        &format!(
            "POST /api/dev/token HTTP/1.0\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        ),
    );
    assert!(
        token.starts_with("HTTP/1.0 200") && token.contains("\"token\""),
        "DEV_MODE on: {token}"
    );
    // Keep reading what it says while it stops.
    let rest = std::thread::spawn(move || stdout.map_while(Result::ok).count());
    let _ = Command::new("kill").arg("-TERM").arg(child.id().to_string()).status();
    let status = child.wait().unwrap();
    assert!(warned.join().unwrap(), "the development secrets are announced loudly");
    let _ = (status, rest.join());
    // Everything it started is gone.
    let pids: Vec<String> = said
        .lines()
        .find_map(|l| l.strip_prefix("service pids: "))
        .expect("run command lists its pids")
        .split_whitespace()
        .map(str::to_owned)
        .collect();
    assert_eq!(pids.len(), 4);
    let deadline = Instant::now() + Duration::from_secs(30);
    for pid in pids {
        while std::path::Path::new(&format!("/proc/{pid}")).exists() {
            assert!(Instant::now() < deadline, "service {pid} still running");
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

mod reqwest {
    /// GET /readyz with a plain socket (no async runtime in this test).
    pub fn blocking_get(port: u16) -> u16 {
        let buf = request(port, "GET /readyz HTTP/1.0\r\nHost: localhost\r\n\r\n");
        buf.split_whitespace().nth(1).and_then(|c| c.parse().ok()).unwrap_or(0)
    }

    /// Sends a raw HTTP/1.0 request; returns the whole answer (empty when closed).
    pub fn request(port: u16, raw: &str) -> String {
        use std::io::{Read, Write};
        let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
            return String::new();
        };
        let _ = s.write_all(raw.as_bytes());
        let mut buf = String::new();
        let _ = s.read_to_string(&mut buf);
        buf
    }
}
