//! A cache-aside service in front of PostgreSQL, through ringcache.
//!
//! Reads go through [`CacheAside::get_or_load`]: a hit is served from the
//! cluster, a miss runs one `SELECT` (one per key, however many readers
//! miss together) and stores the row for five minutes. Writes `UPDATE` the
//! row and then delete the key, so the next read loads the new row.
//!
//! ```text
//! ringcache cluster --nodes 3 &        # nodes on 127.0.0.1:11211..11213
//! cargo run -p ringcache-client --example cache_aside -- \
//!     "host=127.0.0.1 user=postgres dbname=postgres" \
//!     127.0.0.1:11211,127.0.0.1:11212,127.0.0.1:11213
//! ```
//!
//! It creates the table `ringcache_example_products` (if missing), fills
//! 100 rows, runs 16 tasks of 200 reads each with a price update every 25
//! reads, and prints the share of reads served from the cache and the
//! queries saved. Every task reads its own update back and checks that it
//! sees it (no stale read after a write).
//!
//! The service ([`Shop`]) and the workload ([`run`]) are plain functions so
//! that `tests/example_postgres.rs` runs exactly this code against a
//! throwaway PostgreSQL and an in-process node.

use std::error::Error;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use ringcache_client::{CacheAside, Client};

/// What errors the example passes around (it is an example: boxed).
pub type BoxError = Box<dyn Error + Send + Sync>;

/// The table the example owns.
pub const TABLE: &str = "ringcache_example_products";

/// How long a cached row lives.
const ROW_TTL: Duration = Duration::from_secs(300);

/// One row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Product {
    /// Primary key.
    pub id: i32,
    /// Display name.
    pub name: String,
    /// Price in cents.
    pub price_cents: i64,
}

/// Cached form of "no such row". Not empty: an empty value is what a lease
/// placeholder looks like (see the `aside` module docs).
const NO_ROW: &[u8] = b"-";

impl Product {
    /// `<price>\t<name>`: the id is in the key.
    fn encode(&self) -> Bytes {
        Bytes::from(format!("{}\t{}", self.price_cents, self.name))
    }

    fn decode(id: i32, bytes: &[u8]) -> Result<Option<Product>, BoxError> {
        if bytes == NO_ROW {
            return Ok(None);
        }
        let text = std::str::from_utf8(bytes)?;
        let (price, name) = text.split_once('\t').ok_or("cached row without a tab")?;
        Ok(Some(Product {
            id,
            name: name.to_owned(),
            price_cents: price.parse()?,
        }))
    }
}

/// A tiny product service: PostgreSQL behind a ringcache cache-aside.
pub struct Shop {
    db: tokio_postgres::Client,
    cache: CacheAside<Client>,
    reads: AtomicU64,
    queries: AtomicU64,
}

/// Reads served and queries sent since the [`Shop`] was made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Report {
    /// Calls to [`Shop::product`].
    pub reads: u64,
    /// `SELECT`s those reads caused.
    pub queries: u64,
}

impl Report {
    /// Share of reads answered without a query.
    pub fn hit_share(&self) -> f64 {
        if self.reads == 0 {
            return 0.0;
        }
        1.0 - self.queries as f64 / self.reads as f64
    }

    /// Queries a cacheless service would have sent on top.
    pub fn saved(&self) -> u64 {
        self.reads.saturating_sub(self.queries)
    }
}

fn key(id: i32) -> String {
    format!("product:{id}")
}

impl Shop {
    /// Creates the table if needed.
    ///
    /// # Errors
    ///
    /// PostgreSQL's.
    pub async fn new(
        db: tokio_postgres::Client,
        cache: CacheAside<Client>,
    ) -> Result<Shop, BoxError> {
        db.batch_execute(&format!(
            "CREATE TABLE IF NOT EXISTS {TABLE} (
                 id integer PRIMARY KEY,
                 name text NOT NULL,
                 price_cents bigint NOT NULL
             )"
        ))
        .await?;
        Ok(Shop {
            db,
            cache,
            reads: AtomicU64::new(0),
            queries: AtomicU64::new(0),
        })
    }

    /// Writes rows `1..=n` (name `product N`, price `N * 100`) and drops
    /// their keys, so a second run starts from the same state.
    ///
    /// # Errors
    ///
    /// PostgreSQL's and the cache's.
    pub async fn seed(&self, n: i32) -> Result<(), BoxError> {
        self.db
            .execute(
                &format!(
                    "INSERT INTO {TABLE} (id, name, price_cents)
                     SELECT i, 'product ' || i, i * 100 FROM generate_series(1, $1::integer) AS i
                     ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name, price_cents = EXCLUDED.price_cents"
                ),
                &[&n],
            )
            .await?;
        for id in 1..=n {
            self.cache.delete(key(id)).await?;
        }
        Ok(())
    }

    /// The product `id`, through the cache.
    ///
    /// # Errors
    ///
    /// PostgreSQL's (when the row had to be loaded), or a malformed
    /// cached value.
    pub async fn product(&self, id: i32) -> Result<Option<Product>, BoxError> {
        self.reads.fetch_add(1, Ordering::Relaxed);
        let bytes = self
            .cache
            .get_or_load(key(id), ROW_TTL, || async {
                self.queries.fetch_add(1, Ordering::Relaxed);
                let row = self
                    .db
                    .query_opt(
                        &format!("SELECT name, price_cents FROM {TABLE} WHERE id = $1"),
                        &[&id],
                    )
                    .await?;
                Ok::<_, tokio_postgres::Error>(match row {
                    Some(row) => Product {
                        id,
                        name: row.try_get(0)?,
                        price_cents: row.try_get(1)?,
                    }
                    .encode(),
                    None => Bytes::from_static(NO_ROW),
                })
            })
            .await?;
        Product::decode(id, &bytes)
    }

    /// Sets a price: `UPDATE`, then delete the key (after the write
    /// commits, so no reader can cache the old row after the delete).
    /// Whether the row exists.
    ///
    /// # Errors
    ///
    /// PostgreSQL's and the cache's.
    pub async fn set_price(&self, id: i32, price_cents: i64) -> Result<bool, BoxError> {
        let updated = self
            .db
            .execute(
                &format!("UPDATE {TABLE} SET price_cents = $2 WHERE id = $1"),
                &[&id, &price_cents],
            )
            .await?;
        self.cache.delete(key(id)).await?;
        Ok(updated == 1)
    }

    /// Reads and queries so far.
    pub fn report(&self) -> Report {
        Report {
            reads: self.reads.load(Ordering::Relaxed),
            queries: self.queries.load(Ordering::Relaxed),
        }
    }
}

/// The workload: `tasks` readers, each doing `reads` reads over `rows`
/// products (a skewed mix: most reads hit the first tenth), with a price
/// update every 25 reads (of a row only this task updates, counted from
/// the last) that the same task reads back at once.
///
/// # Errors
///
/// The first error of any task, or a stale read after a write.
pub async fn run(
    shop: Arc<Shop>,
    rows: i32,
    tasks: usize,
    reads: usize,
) -> Result<Report, BoxError> {
    let mut set = tokio::task::JoinSet::new();
    for task in 0..tasks {
        let shop = shop.clone();
        set.spawn(async move {
            for i in 0..reads {
                // Deterministic skew: 3 reads in 4 go to the hottest tenth.
                let spread = (task * 7919 + i * 104_729) as i32;
                let id = if i % 4 == 3 {
                    1 + spread.rem_euclid(rows)
                } else {
                    1 + spread.rem_euclid((rows / 10).max(1))
                };
                if i % 25 == 24 {
                    // Each task updates its own row, so the read-back can
                    // tell a stale read from another task's update.
                    let id = rows - (task as i32).rem_euclid(rows);
                    let price = (task * 1_000_000 + i) as i64;
                    shop.set_price(id, price).await?;
                    let seen = shop.product(id).await?.ok_or("row vanished")?;
                    if seen.price_cents != price {
                        return Err(format!(
                            "stale read of product {id} after an update: {} instead of {price}",
                            seen.price_cents
                        )
                        .into());
                    }
                } else {
                    shop.product(id).await?.ok_or("row vanished")?;
                }
            }
            Ok::<(), BoxError>(())
        });
    }
    while let Some(done) = set.join_next().await {
        done??;
    }
    Ok(shop.report())
}

/// Connects to PostgreSQL; the connection's driver runs in a task.
///
/// # Errors
///
/// PostgreSQL's.
pub async fn connect_db(conninfo: &str) -> Result<tokio_postgres::Client, BoxError> {
    let (db, connection) = tokio_postgres::connect(conninfo, tokio_postgres::NoTls).await?;
    tokio::spawn(async move {
        if let Err(e) = connection.await {
            eprintln!("postgres connection ended: {e}");
        }
    });
    Ok(db)
}

#[allow(dead_code)] // the test includes this file for its functions only
#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let mut args = std::env::args().skip(1);
    let (Some(conninfo), Some(nodes)) = (args.next(), args.next()) else {
        eprintln!("usage: cache_aside <postgres conninfo> <host:port,host:port,...>");
        std::process::exit(2);
    };
    let client = Client::builder().nodes(nodes.split(',')).build().await?;
    let shop = Arc::new(Shop::new(connect_db(&conninfo).await?, CacheAside::new(client)).await?);
    let rows = 100;
    shop.seed(rows).await?;
    let report = run(shop, rows, 16, 200).await?;
    println!(
        "{} reads, {} queries: {:.1}% served from the cache, {} queries saved",
        report.reads,
        report.queries,
        report.hit_share() * 100.0,
        report.saved()
    );
    Ok(())
}
