//! The cache-aside example (`examples/cache_aside.rs`), run against a real
//! PostgreSQL and an in-process ringcache node.
//!
//! PostgreSQL is Debian's package (`postgresql`, installed by `.ci/setup`):
//! a throwaway cluster is made with `initdb` in a temporary directory and
//! `postgres` serves it on a free loopback port and a socket in that
//! directory, as the `postgres` user when the tests run as root (PostgreSQL
//! refuses to run as root). It is stopped and removed on drop.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod live;

#[path = "../examples/cache_aside.rs"]
#[allow(dead_code, unreachable_pub)]
mod example;

use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::MetadataExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use example::{connect_db, run, Shop};
use live::{builder, InProcNode};
use ringcache_client::CacheAside;

const PG_DEADLINE: Duration = Duration::from_secs(60);

/// A PostgreSQL cluster in a temporary directory, stopped on drop.
struct Postgres {
    dir: PathBuf,
    port: u16,
    server: Option<Child>,
}

/// The newest `/usr/lib/postgresql/<version>/bin` with an `initdb`.
fn pg_bin() -> PathBuf {
    let root = Path::new("/usr/lib/postgresql");
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir(root)
        .expect("PostgreSQL is installed (Debian package postgresql; see .ci/setup)")
        .filter_map(|e| {
            let e = e.ok()?;
            let version = e.file_name().to_str()?.parse::<u32>().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").exists().then_some((version, bin))
        })
        .collect();
    versions.sort();
    versions
        .pop()
        .expect("a PostgreSQL server under /usr/lib/postgresql")
        .1
}

/// uid and gid to run PostgreSQL as: ours, or `postgres`'s when we are root.
fn pg_user() -> (u32, u32) {
    let me = std::fs::metadata("/proc/self").unwrap();
    if me.uid() != 0 {
        return (me.uid(), me.gid());
    }
    let id = |flag: &str| -> u32 {
        let out = Command::new("id")
            .args([flag, "postgres"])
            .output()
            .unwrap();
        assert!(out.status.success(), "no postgres user: {out:?}");
        String::from_utf8(out.stdout)
            .unwrap()
            .trim()
            .parse()
            .unwrap()
    };
    (id("-u"), id("-g"))
}

impl Postgres {
    async fn start() -> Postgres {
        let bin = pg_bin();
        let (uid, gid) = pg_user();
        let dir = std::env::temp_dir().join(format!(
            "ringcache-pg-{}-{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        std::os::unix::fs::chown(&dir, Some(uid), Some(gid)).unwrap();
        let data = dir.join("data");
        let initdb = Command::new(bin.join("initdb"))
            .arg("-D")
            .arg(&data)
            .args([
                "-A",
                "trust",
                "-U",
                "postgres",
                "--no-sync",
                "-E",
                "UTF8",
                "--locale=C",
            ])
            .current_dir(&dir)
            .uid(uid)
            .gid(gid)
            .output()
            .unwrap();
        assert!(initdb.status.success(), "initdb failed: {initdb:?}");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut log = File::create(dir.join("postgres.log")).unwrap();
        let mut server = Command::new(bin.join("postgres"))
            .arg("-D")
            .arg(&data)
            .arg("-k")
            .arg(&dir)
            .args([
                "-p",
                &port.to_string(),
                "-c",
                "listen_addresses=127.0.0.1",
                "-F",
            ])
            .current_dir(&dir)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(Stdio::piped())
            .uid(uid)
            .gid(gid)
            .spawn()
            .unwrap();
        // PostgreSQL logs to stderr, and says when it is ready: copy its
        // log to the file and signal that line. The sender goes when the
        // pipe closes, so an exit before it ends the wait too.
        let stderr = server.stderr.take().unwrap();
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                let _ = writeln!(log, "{line}");
                if line.contains("database system is ready to accept connections") {
                    let _ = ready_tx.send(());
                }
            }
        });
        let pg = Postgres {
            dir,
            port,
            server: Some(server),
        };
        let ready = tokio::task::spawn_blocking(move || ready_rx.recv_timeout(PG_DEADLINE))
            .await
            .unwrap();
        assert!(
            ready.is_ok(),
            "postgres did not come up ({ready:?}): {}",
            std::fs::read_to_string(pg.dir.join("postgres.log")).unwrap_or_default()
        );
        pg
    }

    fn conninfo(&self) -> String {
        format!(
            "host=127.0.0.1 port={} user=postgres dbname=postgres",
            self.port
        )
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        if let Some(mut server) = self.server.take() {
            // SIGINT is PostgreSQL's fast shutdown: backends end too. Fall
            // back to SIGKILL if it has not stopped within the deadline.
            let pid = server.id().to_string();
            let _ = Command::new("kill").args(["-INT", &pid]).status();
            let (exited_tx, exited_rx) = std::sync::mpsc::channel();
            std::thread::spawn(move || {
                let _ = server.wait();
                let _ = exited_tx.send(());
            });
            if exited_rx.recv_timeout(Duration::from_secs(10)).is_err() {
                let _ = Command::new("kill").args(["-KILL", &pid]).status();
                let _ = exited_rx.recv();
            }
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cache_aside_in_front_of_postgres() {
    let pg = Postgres::start().await;
    let node = InProcNode::start().await;
    let client = builder(&[node.name()]).build().await.unwrap();
    let db = connect_db(&pg.conninfo()).await.unwrap();
    let shop = Arc::new(Shop::new(db, CacheAside::new(client)).await.unwrap());
    shop.seed(100).await.unwrap();

    // The example's workload: 8 tasks × 200 reads, an update every 25 reads
    // read back at once (the workload fails on a stale read).
    let report = run(shop.clone(), 100, 8, 200).await.unwrap();
    println!(
        "{report:?}: {:.1}% from the cache, {} queries saved",
        report.hit_share() * 100.0,
        report.saved()
    );
    assert_eq!(report.reads, 8 * 200);
    // At most one query per row and one per update: 100 + 64 of 1600.
    assert!(report.queries <= 100 + 64, "{report:?}");
    assert!(report.hit_share() >= 0.85, "{report:?}");
    assert_eq!(report.saved(), report.reads - report.queries);

    // A cached row costs no query; an update is visible on the next read.
    let before = shop.report().queries;
    let p = shop.product(7).await.unwrap().unwrap();
    let p = shop
        .product(7)
        .await
        .unwrap()
        .unwrap()
        .price_cents
        .max(p.price_cents);
    assert!(shop.report().queries <= before + 1);
    assert!(shop.set_price(7, p + 1).await.unwrap());
    assert_eq!(shop.product(7).await.unwrap().unwrap().price_cents, p + 1);
    let queries = shop.report().queries;
    assert_eq!(shop.product(7).await.unwrap().unwrap().price_cents, p + 1);
    assert_eq!(shop.report().queries, queries, "served from the cache");

    // A missing row is cached as missing, too.
    assert_eq!(shop.product(100_000).await.unwrap(), None);
    let queries = shop.report().queries;
    assert_eq!(shop.product(100_000).await.unwrap(), None);
    assert_eq!(shop.report().queries, queries);
    assert!(!shop.set_price(100_000, 1).await.unwrap());
}
