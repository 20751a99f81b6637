//! `fake-simplefin [--port-file PATH] [--now EPOCH]`: serves until killed; writes its root URL to
//! `PATH` (atomically) and to stdout.

use finconn_fake_simplefin::{FakeSimplefin, Options};

#[tokio::main(flavor = "current_thread")]
async fn main() -> std::process::ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let arg = |name: &str| args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).cloned();
    let now = arg("--now").and_then(|v| v.parse().ok());
    let fake = match FakeSimplefin::start(Options { now, ..Options::default() }).await {
        Ok(f) => f,
        Err(e) => {
            eprintln!("fake-simplefin: cannot listen: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let url = fake.base_url();
    if let Some(path) = arg("--port-file") {
        let tmp = format!("{path}.tmp");
        if std::fs::write(&tmp, format!("{url}\n")).and_then(|()| std::fs::rename(&tmp, &path)).is_err() {
            eprintln!("fake-simplefin: cannot write {path}");
            return std::process::ExitCode::FAILURE;
        }
    }
    println!("{url}");
    let _ = tokio::signal::ctrl_c().await;
    std::process::ExitCode::SUCCESS
}
