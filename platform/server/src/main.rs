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
    /// A stand-alone edge media node (SIP, media, IVR, recording) linked to a platform: needs
    /// --platform-url, --edge-token (the platform's) and --sip-addr; no database, no bus.
    Edge,
    /// Apply database migrations and exit.
    Migrate,
    /// Print the configuration in force (TOML, secrets masked) and exit.
    Config,
    /// Tenant plugins: push a component to a running Switchboard.
    Plugin {
        #[command(subcommand)]
        command: PluginCommand,
    },
}

#[derive(Debug, Subcommand)]
enum PluginCommand {
    /// Upload a component (built for wasm32-wasip2) as a new version of a plugin; it is checked
    /// and compiled by the server, and activated only with --activate.
    Push {
        /// The component (`.wasm`).
        file: std::path::PathBuf,
        /// The plugin's name (a-z 0-9 _ -).
        #[arg(long)]
        name: String,
        /// The Switchboard to push to.
        #[arg(long, env = "SWITCHBOARD_URL", default_value = "http://localhost:8080")]
        url: String,
        /// An admin API key of the tenant (sbk_...).
        #[arg(long, env = "SWITCHBOARD_API_KEY", hide_env_values = true)]
        api_key: String,
        /// What changed, shown in the version list.
        #[arg(long)]
        note: Option<String>,
        /// Run the new version at once.
        #[arg(long)]
        activate: bool,
    },
    /// Internal: the bounded compile worker (a component on stdin, the artifact on stdout).
    #[command(hide = true)]
    CompileWorker,
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    if let Some(Command::Plugin { command: PluginCommand::CompileWorker }) = &cli.command {
        // Before anything else: no runtime, no logging, limits set first thing.
        let limits = switchboard_plugin_host::Limits::default();
        let code = switchboard_plugin_host::worker_main(limits.compile_memory_bytes, limits.compile_time);
        return std::process::ExitCode::from(u8::try_from(code).unwrap_or(1));
    }
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
        Command::Edge => switchboard_server::voice::run_edge(config, shutdown_signal()).await,
        Command::Migrate => {
            switchboard_server::migrate(&config).await?;
            tracing::info!("migrations applied");
            Ok(())
        }
        Command::Plugin { command: PluginCommand::Push { file, name, url, api_key, note, activate } } => {
            push_plugin(&file, &name, &url, &api_key, note.as_deref(), activate).await
        }
        Command::Plugin { command: PluginCommand::CompileWorker } => Ok(()),
        Command::Config => {
            #[allow(clippy::print_stdout)]
            {
                print!("{}", config.to_toml());
            }
            Ok(())
        }
    }
}

/// `switchboard plugin push`: uploads a version, optionally activates it, prints the result.
async fn push_plugin(
    file: &std::path::Path,
    name: &str,
    url: &str,
    api_key: &str,
    note: Option<&str>,
    activate: bool,
) -> anyhow::Result<()> {
    use anyhow::Context;
    let wasm = std::fs::read(file).with_context(|| format!("reading {}", file.display()))?;
    let client = reqwest::Client::builder().timeout(std::time::Duration::from_secs(300)).build()?;
    let base = url.trim_end_matches('/');
    let send = |url: String, query: Vec<(&'static str, String)>| {
        let mut request =
            client.post(url).bearer_auth(api_key).header("content-type", "application/wasm").body(wasm.clone());
        let mut query = query;
        if let Some(note) = note {
            query.push(("note", note.to_owned()));
        }
        request = request.query(&query);
        request.send()
    };
    // A new version of an existing plugin, else a new plugin.
    let mut answer = send(format!("{base}/api/v1/plugins/{name}/versions"), Vec::new())
        .await
        .with_context(|| format!("reaching {base}"))?;
    if answer.status() == reqwest::StatusCode::NOT_FOUND {
        answer = send(format!("{base}/api/v1/plugins"), vec![("name", name.to_owned())]).await?;
    }
    let status = answer.status();
    let body: serde_json::Value = answer.json().await.unwrap_or_default();
    if !status.is_success() {
        anyhow::bail!("upload refused ({status}): {}", body["error"]["message"].as_str().unwrap_or("no reason given"));
    }
    let version = body["versions"].as_array().and_then(|v| v.last()).cloned().unwrap_or_default();
    let number = version["number"].as_u64().context("the server named no version")?;
    #[allow(clippy::print_stdout)]
    {
        println!("{name} version {number} uploaded: hooks {}, needs {}", version["hooks"], version["needs"]);
    }
    if activate {
        let answer = client
            .post(format!("{base}/api/v1/plugins/{name}/activate"))
            .bearer_auth(api_key)
            .json(&serde_json::json!({"version": number}))
            .send()
            .await?;
        let status = answer.status();
        let body: serde_json::Value = answer.json().await.unwrap_or_default();
        if !status.is_success() {
            anyhow::bail!(
                "activation refused ({status}): {}",
                body["error"]["message"].as_str().unwrap_or("no reason given")
            );
        }
        #[allow(clippy::print_stdout)]
        {
            println!("{name} version {number} is active; missing grants: {}", body["missing_grants"]);
        }
    }
    Ok(())
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
