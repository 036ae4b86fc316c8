use std::process::ExitCode;

use clap::Parser;
use onair::server::{self, Config};
use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| EnvFilter::new("onair=info,tower_http=warn")),
        )
        .init();
    let config = Config::parse();
    if let Err(problem) = config.validate() {
        eprintln!("onair: {problem}");
        return ExitCode::from(2);
    }
    let result = async {
        let listener = server::bind(&config).await?;
        let addr = listener.local_addr().unwrap_or(config.http.addr);
        tracing::info!(
            "onair is on {}  (broadcast: /talk/<room>, watch: /watch/<room>)",
            server::urls(addr, config.tls.enabled()).join(", ")
        );
        server::serve(listener, config, server::stop_signal()).await
    }
    .await;
    match result {
        Ok(()) => {
            tracing::info!("stopped");
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("onair: {err}");
            ExitCode::FAILURE
        }
    }
}
