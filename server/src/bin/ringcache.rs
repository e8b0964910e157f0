//! `ringcache`: the command-line entry point.
//!
//! `ringcache node [flags]` runs a cache node with memcached's flags (see
//! `ringcache node --help`). SIGTERM and SIGINT shut it down gracefully
//! (exit 0); so does the `shutdown` command when enabled with `-A`.

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use ringcache_server::{serve_with, Node, NodeArgs, NodeConfig};
use tracing_subscriber::EnvFilter;

/// ringcache: a memcached-compatible cache cluster.
#[derive(Debug, Parser)]
#[command(name = "ringcache", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run a cache node (memcached's flags).
    Node(NodeArgs),
    /// Run a proxy: one memcached endpoint in front of the cluster.
    Proxy(ringcache_server::proxy::ProxyArgs),
    /// Run a local cluster: N nodes and a proxy on loopback.
    Cluster(ringcache_server::cluster::ClusterArgs),
}

fn main() -> ExitCode {
    one_malloc_arena();
    // `--config FILE` is merged under the command line before clap sees it.
    let mut argv: Vec<String> = std::env::args().collect();
    if argv.get(1).map(String::as_str) == Some("node") {
        let rest = argv.split_off(2);
        match NodeArgs::with_config_file(rest) {
            Ok(merged) => argv.extend(merged),
            Err(error) => {
                eprintln!("{error}");
                return ExitCode::from(64);
            }
        }
    }
    let cli = Cli::parse_from(argv);
    match cli.command {
        Command::Node(args) => match args.resolve() {
            Ok(config) => run_node(config),
            Err(error) => {
                // memcached exits with EX_USAGE (64) for bad flags.
                eprintln!("{error}");
                ExitCode::from(64)
            }
        },
        Command::Proxy(args) => {
            init_logging(args.verbose);
            ringcache_server::proxy::run(args, signals())
        }
        Command::Cluster(args) => {
            init_logging(args.verbose);
            ringcache_server::cluster::run(args, signals())
        }
    }
}

/// Re-executes the process with `MALLOC_ARENA_MAX=1` unless the variable is
/// already set (an operator's own choice wins).
///
/// `-m` must bound the process's memory, and with glibc's default arenas
/// it does not: each tokio worker allocates items from an arena of its
/// own while moka frees them from whichever thread evicts, so every arena
/// keeps its own holes, and RSS above the empty process reached 1.08–1.35
/// of `-m` where one arena holds it at 1.04–1.10 (`server/tests/limits_memory.rs`,
/// docs/hardening.md). glibc reads the variable only at start-up, and
/// `mallopt` would take `unsafe`, which this workspace forbids; so the
/// binary sets it and executes itself again, once, before doing anything
/// else (same pid, same arguments). If that fails it carries on with
/// glibc's defaults.
fn one_malloc_arena() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        use std::os::unix::process::CommandExt;

        const VAR: &str = "MALLOC_ARENA_MAX";
        if std::env::var_os(VAR).is_some() {
            return;
        }
        let Ok(exe) = std::env::current_exe() else {
            return;
        };
        let mut args = std::env::args_os();
        let mut command = std::process::Command::new(exe);
        if let Some(arg0) = args.next() {
            command.arg0(arg0);
        }
        // exec returns only on failure.
        let error = command.args(args).env(VAR, "1").exec();
        eprintln!(
            "ringcache: running with glibc's default malloc arenas ({VAR}=1 failed: {error})"
        );
    }
}

fn init_logging(verbose: u8) {
    let default = match verbose {
        0 => "info",
        1 => "debug",
        _ => "trace",
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}

fn run_node(config: NodeConfig) -> ExitCode {
    init_logging(config.verbose);
    let runtime = match ringcache_server::runtime::build(config.threads, "ringcache-worker") {
        Ok(rt) => rt,
        Err(error) => {
            eprintln!("cannot start the runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(node_main(config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!("{error}");
            ExitCode::FAILURE
        }
    }
}

async fn node_main(config: NodeConfig) -> Result<(), Box<dyn std::error::Error>> {
    // The endpoint serves /metrics, and copies the node's own counters
    // (items, bytes, evictions, uptime...) into gauges at each scrape.
    let endpoint = match config.metrics {
        Some(addr) => Some(ringcache_server::status::Endpoint::start(addr).await?),
        None => None,
    };
    let addr = (config.listen.as_str(), config.port);
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| format!("failed to listen on {}:{}: {e}", config.listen, config.port))?;
    tracing::info!(
        version = env!("CARGO_PKG_VERSION"),
        protocol = ringcache_server::MEMCACHED_VERSION,
        addr = %listener.local_addr()?,
        memory_mb = config.memory_mb,
        max_conns = config.max_conns,
        threads = config.threads,
        eviction = ?config.eviction,
        tls = config.tls.is_some(),
        auth = config.auth.is_some(),
        "ringcache node listening"
    );
    let node = Node::new(config);
    if let Some(endpoint) = &endpoint {
        let mirror = ringcache_server::metrics::NodeMirror::new(&node);
        endpoint.on_scrape(move || {
            let mirror = mirror.clone();
            async move { mirror.refresh().await }
        });
    }
    let serve_config = node.serve_config();
    let client_shutdown = node.shutdown_requested();
    let shutdown = async move {
        tokio::select! {
            () = signals() => {}
            () = client_shutdown => {}
        }
        tracing::info!("shutting down");
    };
    serve_with(listener, node, serve_config, shutdown).await;
    tracing::info!("stopped");
    Ok(())
}

/// Completes on SIGTERM or SIGINT.
async fn signals() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = tokio::signal::ctrl_c() => {}
                }
            }
            Err(error) => {
                tracing::warn!(%error, "cannot watch SIGTERM; only SIGINT stops the node");
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
