//! `herald demo`: the platform's promises shown, not claimed. Starts herald-broker and the users,
//! directory and mailer services as separate processes, then: creates users over HTTP and sees them
//! in both consumers; SIGKILLs the directory and the broker while users keep being created; replays
//! the topic into the mailer; deletes a user, updates every user many times and lets the broker's
//! cleaner compact the topic (`demo_compaction.rs`); bootstraps a brand-new directory from the
//! compacted topic; and compares every database at the end. Exits non-zero if any check fails. Every
//! wait polls a condition with a deadline. Not here: process management (`platform.rs`).

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use herald::admin::{Admin, OffsetReset};
use serde_json::{json, Value};

use super::platform::{Piece, Platform, POLL_INTERVAL_MS};

/// How long the platform has to catch up after each step.
pub const CATCH_UP_TIMEOUT_MS: u64 = 30_000;
/// The topic of user events.
pub(super) const TOPIC: &str = "user_activity";

/// Flags of `herald demo`.
#[derive(Debug, clap::Args)]
pub struct DemoArgs {
    /// Keep the platform's databases, broker data and logs here [default: a temp dir, removed].
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Users created in each phase of the demo.
    #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    users: u32,
    /// Updates of every user in the compaction step (at least; more rounds run until the cleaner
    /// has compacted the topic).
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..=1_000))]
    updates_per_user: u32,
    /// Measure instead of checking: throughput of `--users` creates, latency at 1,000 users/s,
    /// bootstrap rate of a new directory.
    #[arg(long)]
    bench: bool,
    /// With `--bench`: load this many more `user_created` events straight into the topic before
    /// the bootstrap is measured (e.g. 1000000), and compare with a bare rdkafka consumer.
    #[arg(long, default_value_t = 0, requires = "bench")]
    bootstrap_events: u32,
    /// With `--bench`: instead of the HTTP figures, produce this many `user_updated` events over
    /// `--users` users into a compacted and an uncompacted topic, and time a new directory's
    /// bootstrap from each (e.g. `--users 100000 --compaction-updates 5000000`).
    #[arg(long, requires = "bench", value_parser = clap::value_parser!(u32).range(1..))]
    compaction_updates: Option<u32>,
}

/// One line of the final table.
struct Check {
    name: String,
    passed: bool,
    detail: String,
}

/// Runs the demo; `Err` when the platform could not run or a check failed.
pub async fn run(args: DemoArgs) -> anyhow::Result<()> {
    let temp = tempfile_dir(args.data_dir.as_deref())?;
    let dir = args
        .data_dir
        .clone()
        .unwrap_or_else(|| temp.path().to_path_buf());
    let started = Instant::now();
    let mut platform = Platform::new(&dir, &[])?;
    if let Some(updates) = args.compaction_updates {
        let result = super::demo_compaction_bench::run(&mut platform, args.users, updates).await;
        platform.stop_all().await?;
        return result;
    }
    if args.bench {
        let result = super::demo_bench::run(&mut platform, args.users, args.bootstrap_events).await;
        platform.stop_all().await?;
        return result;
    }
    let mut demo = Demo {
        users: args.users,
        updates_per_user: args.updates_per_user,
        created: 0,
        produced: 0,
        deleted: Vec::new(),
        checks: Vec::new(),
    };
    let result = demo.walk(&mut platform).await;
    let stopped = platform.stop_all().await;
    if let Err(error) = &result {
        demo.record(
            "the walk-through ran to its end",
            false,
            format!("{error:#}"),
        );
    }
    stopped?;
    demo.print_table(started.elapsed());
    let failed = demo.checks.iter().filter(|c| !c.passed).count();
    if failed > 0 {
        bail!(
            "{failed} check(s) failed; logs in {}",
            dir.join("logs").display()
        );
    }
    Ok(())
}

/// A temp dir unless the user named one (kept in a guard so it is removed at the end).
fn tempfile_dir(named: Option<&std::path::Path>) -> anyhow::Result<TempGuard> {
    if named.is_some() {
        return Ok(TempGuard(None));
    }
    let path = std::env::temp_dir().join(format!(
        "herald-demo-{}-{}",
        std::process::id(),
        chrono::Utc::now().timestamp_millis()
    ));
    std::fs::create_dir_all(&path)?;
    Ok(TempGuard(Some(path)))
}

/// Removes its directory on drop.
struct TempGuard(Option<PathBuf>);

impl TempGuard {
    fn path(&self) -> &std::path::Path {
        self.0.as_deref().unwrap_or(std::path::Path::new("."))
    }
}

impl Drop for TempGuard {
    fn drop(&mut self) {
        if let Some(path) = &self.0 {
            let _ = std::fs::remove_dir_all(path);
        }
    }
}

pub(super) struct Demo {
    users: u32,
    /// Minimum update rounds of the compaction step.
    pub(super) updates_per_user: u32,
    /// Users created (201) so far.
    pub(super) created: u32,
    /// Events the users service published so far (creates, updates, deletes and tombstones).
    pub(super) produced: u64,
    /// Users deleted.
    pub(super) deleted: Vec<String>,
    checks: Vec<Check>,
}

fn step(text: &str) {
    println!("\n==> {text}");
}

impl Demo {
    pub(super) fn record(&mut self, name: &str, passed: bool, detail: String) {
        println!(
            "    [{}] {name}: {detail}",
            if passed { "ok" } else { "FAIL" }
        );
        self.checks.push(Check {
            name: name.to_string(),
            passed,
            detail,
        });
    }

    async fn walk(&mut self, p: &mut Platform) -> anyhow::Result<()> {
        step("Starting herald-broker and the users, directory and mailer services (separate processes)");
        for piece in [Piece::Broker, Piece::Users, Piece::Directory, Piece::Mailer] {
            p.start(piece).await?;
            println!("    {:<10} {}", piece.name(), p.address(piece));
        }
        println!("    data and logs in {}", p.dir().display());

        step("Creating users over HTTP; each must reach the directory and the mailer");
        let ok = self.create_users(p).await?;
        let first = self.catch_up(p, &[Piece::Directory, Piece::Mailer]).await;
        self.record(
            "users created over HTTP appear in both consumers' databases",
            ok && first.is_ok(),
            detail(&first, self.created),
        );
        self.show_update(p).await?;

        step("SIGKILL the directory service; users keep being created");
        p.kill(Piece::Directory).await?;
        let down = !p.healthy(Piece::Directory).await;
        let ok = self.create_users(p).await?;
        self.record(
            "users are created (201) while the directory is dead",
            ok && down,
            format!("{} users so far", self.created),
        );
        p.start(Piece::Directory).await?;
        let caught = self.catch_up(p, &[Piece::Directory]).await;
        self.record(
            "the restarted directory catches up",
            caught.is_ok(),
            detail(&caught, self.created),
        );

        step("SIGKILL the broker; users keep being created, the outbox holds their events");
        p.kill(Piece::Broker).await?;
        let ok = self.create_users(p).await?;
        let held = p
            .get_json(Piece::Users, "/health")
            .await
            .and_then(|h| h["outbox_unsent"].as_u64())
            .unwrap_or(0);
        self.record(
            "users are created (201) while the broker is dead",
            ok,
            format!("{held} events waiting in the outbox"),
        );
        p.start(Piece::Broker).await?;
        let caught = self.catch_up(p, &[Piece::Directory, Piece::Mailer]).await;
        self.record(
            "after the broker restarts everything is delivered",
            caught.is_ok(),
            detail(&caught, self.created),
        );

        step("Injecting duplicates: stop the mailer, reset its group to the earliest offset, restart");
        self.replay_mailer(p).await?;

        step("Compacting the history: a user deleted, the topic's configs altered live, every user updated many times");
        self.compact(p).await?;

        step("Bootstrapping a brand-new directory (empty database, new group) from the compacted topic");
        self.bootstrap(p).await?;

        step("Comparing every database");
        self.compare(p).await
    }

    /// Creates `self.users` users; `true` when every answer was 201.
    async fn create_users(&mut self, p: &Platform) -> anyhow::Result<bool> {
        let mut all_created = true;
        for _ in 0..self.users {
            let n = self.created + 1;
            let body =
                json!({"name": format!("User {n}"), "email": format!("user{n}@example.com")});
            let status = p
                .http()
                .post(format!("{}/users", p.url(Piece::Users)))
                .json(&body)
                .send()
                .await
                .map(|r| r.status().as_u16())
                .unwrap_or(0);
            if status == 201 {
                self.created = n;
                self.produced += 1;
            } else {
                all_created = false;
                println!("    POST /users answered {status}");
            }
        }
        println!("    {} users created so far", self.created);
        Ok(all_created)
    }

    /// Waits until each of `pieces` holds `self.created` users (emails for the mailer).
    async fn catch_up(&self, p: &Platform, pieces: &[Piece]) -> anyhow::Result<Duration> {
        let started = Instant::now();
        for &piece in pieces {
            let want = i64::from(self.created);
            await_count(p, piece, |n| n == want).await?;
        }
        Ok(started.elapsed())
    }

    /// PUT renames the first user; the directory shows the new name.
    async fn show_update(&mut self, p: &Platform) -> anyhow::Result<()> {
        let list = p
            .get_json(Piece::Users, "/users?limit=1")
            .await
            .context("listing users")?;
        let id = list["users"][0]["id"]
            .as_str()
            .context("no user to update")?
            .to_string();
        let response = p
            .http()
            .put(format!("{}/users/{id}", p.url(Piece::Users)))
            .json(&json!({"name": "Renamed User"}))
            .send()
            .await?;
        let status = response.status().as_u16();
        if status == 200 {
            self.produced += 1;
        }
        let seen = await_value(CATCH_UP_TIMEOUT_MS, || async {
            p.get_json(Piece::Directory, &format!("/users/{id}"))
                .await
                .is_some_and(|u| u["name"] == "Renamed User")
        })
        .await;
        self.record(
            "PUT /users/{id} (user_updated) reaches the directory",
            status == 200 && seen,
            format!("PUT answered {status}"),
        );
        Ok(())
    }

    async fn replay_mailer(&mut self, p: &mut Platform) -> anyhow::Result<()> {
        p.stop(Piece::Mailer).await?;
        let admin = Admin::new(&p.brokers());
        let deadline = Instant::now() + Duration::from_millis(CATCH_UP_TIMEOUT_MS);
        let reset = loop {
            match admin
                .reset_offsets("mailer", TOPIC, OffsetReset::Earliest)
                .await
            {
                Ok(offsets) => break offsets,
                // The stopped member's leave may still be in flight.
                Err(error) if Instant::now() < deadline => {
                    tracing::debug!(%error, "reset refused, retrying");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(error) => return Err(error).context("resetting the mailer's offsets"),
            }
        };
        println!(
            "    mailer group reset to {:?}",
            reset.iter().map(|o| o.offset).collect::<Vec<_>>()
        );
        p.start(Piece::Mailer).await?;
        let want = u64::from(self.created);
        let replayed = await_value(CATCH_UP_TIMEOUT_MS, || async {
            p.get_json(Piece::Mailer, "/emails")
                .await
                .and_then(|e| e["duplicates_skipped"].as_u64())
                .is_some_and(|d| d >= want)
        })
        .await;
        let emails = p
            .get_json(Piece::Mailer, "/emails")
            .await
            .unwrap_or(Value::Null);
        let passed = replayed && emails["count"] == json!(self.created);
        self.record(
            "a replay into the mailer sends no second welcome email",
            passed,
            format!(
                "{} events redelivered and skipped, {} emails for {} users",
                emails["duplicates_skipped"], emails["count"], self.created
            ),
        );
        Ok(())
    }

    async fn bootstrap(&mut self, p: &mut Platform) -> anyhow::Result<()> {
        let started = Instant::now();
        p.start(Piece::Directory2).await?;
        let live = self.live();
        let bar = crate::progress::bar(live, "directory-2", true);
        let want = i64::try_from(live)?;
        let result = await_count_with(p, Piece::Directory2, |n| {
            bar.set_position(u64::try_from(n).unwrap_or(0));
            n == want
        })
        .await;
        bar.finish_and_clear();
        let elapsed = started.elapsed();
        self.record(
            "a new directory bootstraps itself from the compacted topic",
            result.is_ok(),
            format!("{live} users in {:.2}s", elapsed.as_secs_f64()),
        );
        // Each event the new directory applied left one inbox row.
        let read = rows(
            p,
            Piece::Directory2,
            "SELECT event_id, '', '' FROM herald_inbox",
        )
        .await?
        .len() as u64;
        self.record(
            "it read far fewer records than were produced",
            read > 0 && read.saturating_mul(3) <= self.produced,
            format!(
                "{read} records read, {} produced ({:.0}%)",
                self.produced,
                100.0 * read as f64 / self.produced.max(1) as f64
            ),
        );
        Ok(())
    }

    async fn compare(&mut self, p: &Platform) -> anyhow::Result<()> {
        let users = rows(
            p,
            Piece::Users,
            "SELECT id, name, email FROM users ORDER BY id",
        )
        .await?;
        let first = rows(
            p,
            Piece::Directory,
            "SELECT id, name, email FROM users ORDER BY id",
        )
        .await?;
        let second = rows(
            p,
            Piece::Directory2,
            "SELECT id, name, email FROM users ORDER BY id",
        )
        .await?;
        let emails = rows(
            p,
            Piece::Mailer,
            "SELECT user_id, '', '' FROM welcome_emails ORDER BY user_id",
        )
        .await?;
        let ids = |rows: &[(String, String, String)]| {
            rows.iter().map(|r| r.0.clone()).collect::<Vec<_>>()
        };
        println!("    {:<22} {:>6}", "database", "rows");
        for (name, n) in [
            ("users-service", users.len()),
            ("directory", first.len()),
            ("directory-2", second.len()),
            ("mailer (emails)", emails.len()),
        ] {
            println!("    {name:<22} {n:>6}");
        }
        let live = usize::try_from(self.live()).unwrap_or(usize::MAX);
        self.record(
            "users-service holds every user created and not deleted",
            users.len() == live,
            format!(
                "{} rows, {} created, {} deleted",
                users.len(),
                self.created,
                self.deleted.len()
            ),
        );
        let in_any =
            |rows: &[(String, String, String)]| rows.iter().any(|r| self.deleted.contains(&r.0));
        let deleted_anywhere = in_any(&users) || in_any(&first) || in_any(&second);
        self.record(
            "a deleted user is in no database",
            !deleted_anywhere && !self.deleted.is_empty(),
            format!(
                "{} deleted, checked in users-service, directory, directory-2",
                self.deleted.len()
            ),
        );
        let mut ever = ids(&users);
        ever.extend(self.deleted.iter().cloned());
        ever.sort();
        self.record(
            "directory = users-service, row for row",
            first == users,
            format!("{} rows", first.len()),
        );
        self.record(
            "directory-2 = directory, row for row",
            second == first,
            format!("{} rows", second.len()),
        );
        self.record(
            "exactly one welcome email per user ever created",
            ids(&emails) == ever,
            format!("{} emails, none for the delete", emails.len()),
        );
        Ok(())
    }

    fn print_table(&self, elapsed: Duration) {
        let passed = self.checks.iter().filter(|c| c.passed).count();
        println!("\n{:<58} {:<6} DETAIL", "CHECK", "RESULT");
        for check in &self.checks {
            println!(
                "{:<58} {:<6} {}",
                check.name,
                if check.passed { "pass" } else { "FAIL" },
                check.detail
            );
        }
        println!(
            "\nchecks: {passed} passed, {} failed ({:.1}s)",
            self.checks.len() - passed,
            elapsed.as_secs_f64()
        );
    }
}

impl Demo {
    /// Users created and not deleted.
    pub(super) fn live(&self) -> u64 {
        u64::from(self.created).saturating_sub(self.deleted.len() as u64)
    }
}

fn detail(result: &anyhow::Result<Duration>, created: u32) -> String {
    match result {
        Ok(took) => format!("{created} users, caught up in {} ms", took.as_millis()),
        Err(error) => format!("{error:#}"),
    }
}

/// Polls `condition` until it holds or `timeout_ms` passes.
pub(super) async fn await_value<F, Fut>(timeout_ms: u64, condition: F) -> bool
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + Duration::from_millis(timeout_ms);
    loop {
        if condition().await {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(POLL_INTERVAL_MS)).await;
    }
}

/// The users (or emails) `piece` holds, over its HTTP API.
async fn count(p: &Platform, piece: Piece) -> Option<i64> {
    let path = if piece == Piece::Mailer {
        "/emails"
    } else {
        "/users"
    };
    p.get_json(piece, path)
        .await
        .and_then(|v| v["count"].as_i64())
}

async fn await_count(p: &Platform, piece: Piece, done: impl Fn(i64) -> bool) -> anyhow::Result<()> {
    await_count_with(p, piece, done).await
}

async fn await_count_with(
    p: &Platform,
    piece: Piece,
    done: impl Fn(i64) -> bool,
) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_millis(CATCH_UP_TIMEOUT_MS);
    let mut last = None;
    loop {
        if let Some(n) = count(p, piece).await {
            if done(n) {
                return Ok(());
            }
            last = Some(n);
        }
        if Instant::now() > deadline {
            bail!("{} stuck at {last:?}", piece.name());
        }
        tokio::time::sleep(Duration::from_millis(POLL_INTERVAL_MS)).await;
    }
}

/// Rows of `sql` (three text columns) read straight from `piece`'s SQLite file.
pub(super) async fn rows(
    p: &Platform,
    piece: Piece,
    sql: &str,
) -> anyhow::Result<Vec<(String, String, String)>> {
    let url = format!("sqlite://{}?mode=ro", p.database_path(piece).display());
    let pool = sqlx::SqlitePool::connect(&url)
        .await
        .with_context(|| format!("opening {url}"))?;
    let rows = sqlx::query_as(sql)
        .fetch_all(&pool)
        .await
        .with_context(|| format!("reading {}", piece.name()));
    pool.close().await;
    rows
}
