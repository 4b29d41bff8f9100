//! `switchboard`: the one binary. With no subcommand it runs everything on one machine.

use clap::{Parser, Subcommand};
use switchboard_server::config::{Config, Overrides};

/// Switchboard: a multi-tenant contact center.
///
/// Every setting can come from a TOML file (--config), an environment variable or a flag; flags
/// and variables win over the file. `switchboard config` prints the settings in force.
#[derive(Debug, Parser)]
#[command(name = "switchboard", version, about, long_about)]
struct Cli {
    #[command(flatten)]
    overrides: Overrides,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// All in one process (the default): API, console and services, embedded or distributed backends.
    Run,
    /// A platform replica for distributed mode: needs PostgreSQL (--database-url) and RabbitMQ (--amqp-url).
    Platform,
    /// Apply database migrations and exit.
    Migrate,
    /// Print the configuration in force (TOML, secrets masked) and exit.
    Config,
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let config = match Config::load(&cli.overrides) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("switchboard: {e}");
            return std::process::ExitCode::from(2);
        }
    };
    let filter = tracing_subscriber::EnvFilter::try_new(&config.log).unwrap_or_else(|_| "info".into());
    tracing_subscriber::fmt().with_env_filter(filter).with_target(false).init();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("switchboard: cannot start the runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli.command.unwrap_or(Command::Run), config)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e:#}");
            eprintln!("switchboard: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(command: Command, config: Config) -> anyhow::Result<()> {
    match command {
        Command::Run => switchboard_server::serve(config, shutdown_signal()).await,
        Command::Platform => {
            let pg = config.database_url.as_deref().is_some_and(|u| u.starts_with("postgres"));
            if !pg || config.amqp_url.is_none() {
                anyhow::bail!(
                    "a platform replica shares state with its peers: set SWITCHBOARD_DATABASE_URL=postgres://... and SWITCHBOARD_AMQP_URL=amqp://... (use `switchboard` alone for the embedded default)"
                );
            }
            if config.jwt_secret.is_none() {
                anyhow::bail!("replicas must share the token secret: set SWITCHBOARD_JWT_SECRET");
            }
            switchboard_server::serve(config, shutdown_signal()).await
        }
        Command::Migrate => {
            switchboard_server::migrate(&config).await?;
            tracing::info!("migrations applied");
            Ok(())
        }
        Command::Config => {
            #[allow(clippy::print_stdout)]
            {
                print!("{}", config.to_toml());
            }
            Ok(())
        }
    }
}

/// Resolves on SIGINT or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!("shutting down");
}
