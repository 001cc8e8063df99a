//! Deployment artefacts (deploy/, k8s/, docker-compose.yml) checked offline:
//! `deploy/validate.sh` validates the Kubernetes manifests against the API
//! schemas, the compose file with docker-compose, and runs
//! `deploy/check_env.py`, which must set every variable each service reads.
//! The checker is also shown to fail when a variable is missing, so a green
//! run means something.
use std::{
    fs,
    path::{Path, PathBuf},
    process::{Command, Output},
    sync::Mutex,
    time::{SystemTime, UNIX_EPOCH},
};

/// The scripts may install their tools (pip, apt) on a fresh machine; one at a time.
static SERIAL: Mutex<()> = Mutex::new(());

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap_or_else(|| panic!("e2e crate has no parent directory"))
        .to_path_buf()
}

fn run(command: &mut Command) -> (Output, String) {
    let output = command.output().unwrap_or_else(|e| panic!("failed to run {command:?}: {e}"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output, text)
}

fn check_env(compose: &Path, k8s: &Path) -> (Output, String) {
    let root = workspace_root();
    run(Command::new("python3")
        .arg(root.join("deploy/check_env.py"))
        .arg("--compose")
        .arg(compose)
        .arg("--k8s")
        .arg(k8s)
        .current_dir(&root))
}

/// A fresh directory under the system temp dir, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(label: &str) -> Self {
        let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos());
        let dir = std::env::temp_dir().join(format!("{label}-{}-{nanos}", std::process::id()));
        fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("failed to create {dir:?}: {e}"));
        Self(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap_or_else(|e| panic!("failed to create {to:?}: {e}"));
    let entries = fs::read_dir(from).unwrap_or_else(|e| panic!("failed to list {from:?}: {e}"));
    for entry in entries {
        let entry = entry.unwrap_or_else(|e| panic!("failed to list {from:?}: {e}"));
        let target = to.join(entry.file_name());
        if entry.path().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            fs::copy(entry.path(), &target)
                .unwrap_or_else(|e| panic!("failed to copy {:?}: {e}", entry.path()));
        }
    }
}

fn read(path: &Path) -> String {
    fs::read_to_string(path).unwrap_or_else(|e| panic!("failed to read {path:?}: {e}"))
}

fn write(path: &Path, text: &str) {
    fs::write(path, text).unwrap_or_else(|e| panic!("failed to write {path:?}: {e}"));
}

#[test]
fn deployment_manifests_validate_offline() {
    let _serial = SERIAL.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    let root = workspace_root();
    let (output, text) = run(Command::new("bash").arg("deploy/validate.sh").current_dir(&root));
    println!("{text}");
    assert!(output.status.success(), "deploy/validate.sh failed ({}):\n{text}", output.status);
}

#[test]
fn check_env_fails_when_a_variable_is_missing() {
    let _serial = SERIAL.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    let root = workspace_root();
    let compose = root.join("docker-compose.yml");
    let k8s = root.join("k8s");

    // The real files pass, so the failure below is caused by the removal alone.
    let (output, text) = check_env(&compose, &k8s);
    assert!(output.status.success(), "check_env.py fails on the real files:\n{text}");

    let original = read(&compose);
    let kept: Vec<&str> = original
        .lines()
        .filter(|line| !line.trim_start().starts_with("CHAT_BATCH_WAIT_MS:"))
        .collect();
    assert_eq!(
        original.lines().count() - kept.len(),
        1,
        "expected exactly one CHAT_BATCH_WAIT_MS line in docker-compose.yml"
    );
    let tmp = TempDir::new("check-env-compose");
    let broken = tmp.0.join("docker-compose.yml");
    write(&broken, &(kept.join("\n") + "\n"));

    let (output, text) = check_env(&broken, &k8s);
    println!("{text}");
    assert!(!output.status.success(), "check_env.py passed without CHAT_BATCH_WAIT_MS:\n{text}");
    assert!(
        text.lines().any(|l| l.contains("CHAT_BATCH_WAIT_MS") && l.contains("chat-persistence")),
        "the failure does not name the service and the variable:\n{text}"
    );
}

#[test]
fn check_env_fails_when_a_deployment_lacks_a_variable() {
    let _serial = SERIAL.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    let root = workspace_root();
    let tmp = TempDir::new("check-env-k8s");
    let k8s = tmp.0.join("k8s");
    copy_dir(&root.join("k8s"), &k8s);

    // Drop the `- name: FEED_TIMELINE_CAP` env entry (and its indented body).
    let deployment = k8s.join("base/feed/deployment.yaml");
    let original = read(&deployment);
    let mut kept = Vec::new();
    let mut skipping: Option<usize> = None;
    let mut removed = 0;
    for line in original.lines() {
        let indent = line.len() - line.trim_start().len();
        if let Some(entry_indent) = skipping {
            if indent > entry_indent {
                continue;
            }
            skipping = None;
        }
        if line.trim_start() == "- name: FEED_TIMELINE_CAP" {
            skipping = Some(indent);
            removed += 1;
            continue;
        }
        kept.push(line);
    }
    assert_eq!(removed, 1, "expected one FEED_TIMELINE_CAP env entry in {deployment:?}");
    write(&deployment, &(kept.join("\n") + "\n"));

    let (output, text) = check_env(&root.join("docker-compose.yml"), &k8s);
    println!("{text}");
    assert!(!output.status.success(), "check_env.py passed without FEED_TIMELINE_CAP:\n{text}");
    assert!(
        text.lines().any(|l| l.contains("FEED_TIMELINE_CAP") && l.contains("'feed'")),
        "the failure does not name the service and the variable:\n{text}"
    );
}
