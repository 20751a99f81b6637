//! `fake-enablebanking --key-out PATH [--port-file PATH] [--application-id ID] [--redirect-url URL]`:
//! generates the application's RSA key pair, writes the private key (PEM) to `--key-out` for finconn,
//! verifies every request's JWT with the public half, and serves until killed. Its API base goes to
//! `--port-file` (atomically) and to stdout.

use finconn_fake_enablebanking::{generate_key, FakeEnableBanking, Options};

#[tokio::main(flavor = "current_thread")]
async fn main() -> std::process::ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let arg = |name: &str| args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).cloned();
    let Some(key_out) = arg("--key-out") else {
        eprintln!("fake-enablebanking: --key-out PATH is required");
        return std::process::ExitCode::FAILURE;
    };
    let (private, public) = match generate_key() {
        Ok(k) => k,
        Err(e) => {
            eprintln!("fake-enablebanking: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    if std::fs::write(&key_out, private.as_bytes()).is_err() {
        eprintln!("fake-enablebanking: cannot write {key_out}");
        return std::process::ExitCode::FAILURE;
    }
    let mut options = Options::new(public);
    if let Some(id) = arg("--application-id") {
        options.application_id = id;
    }
    if let Some(r) = arg("--redirect-url") {
        options.redirect_urls = vec![r];
    }
    let fake = match FakeEnableBanking::start(options).await {
        Ok(f) => f,
        Err(e) => {
            eprintln!("fake-enablebanking: cannot listen: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let url = fake.base_url();
    if let Some(path) = arg("--port-file") {
        let tmp = format!("{path}.tmp");
        if std::fs::write(&tmp, format!("{url}\n")).and_then(|()| std::fs::rename(&tmp, &path)).is_err() {
            eprintln!("fake-enablebanking: cannot write {path}");
            return std::process::ExitCode::FAILURE;
        }
    }
    println!("{url}");
    let _ = tokio::signal::ctrl_c().await;
    std::process::ExitCode::SUCCESS
}
