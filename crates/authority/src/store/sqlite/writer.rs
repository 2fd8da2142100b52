//! The SQLite write path of the session routes: one OS thread owns a
//! connection and commits every piece of work waiting for it in one
//! transaction (group commit), each piece in a savepoint of its own, and
//! answers each caller only after the commit. Statements run on that thread
//! without a hand-off each, and concurrent sessions share one commit.
//!
//! A piece of work that fails is rolled back to its savepoint alone and its
//! caller hears the error; the others commit. When the commit itself fails,
//! every caller whose work was kept hears the error and nothing of the batch
//! is acknowledged.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use rusqlite::{Connection, OpenFlags, TransactionBehavior};
use tokio::sync::{mpsc, oneshot};

use tessera_api::sql::Synchronous;

use crate::store::{Result, StoreError};

/// Most pieces of work committed together.
const MAX_BATCH: usize = 256;

/// The writer's page cache, SQLite's default size, small on purpose. A
/// commit whose inserts split B-tree pages out of file order (routine with
/// random keys, such as session token digests) ends with SQLite scanning
/// its whole page-cache hash table, so every such commit pays in
/// proportion to the cache (64 MiB of it: a quarter of the writer's time
/// against a million sessions). Pages are read through [`MMAP_BYTES`]
/// instead.
const CACHE_KIB: i64 = 2 * 1024;

/// How much of the database file the writer reads through a memory map
/// (SQLite's build limit, 2 GiB): the operating system's page cache holds
/// what it reads, without a copy into its own. A read error there is a
/// `SIGBUS` instead of an error return; the WAL keeps every acknowledged
/// commit across the restart.
const MMAP_BYTES: i64 = 0x7fff_0000;

/// How often the checkpointer copies the WAL into the database.
const CHECKPOINT_EVERY: std::time::Duration = std::time::Duration::from_millis(100);

/// WAL frames (a page each) past which the log is started again from its
/// beginning: about 32 MiB of WAL.
const RESTART_FRAMES: i64 = 8192;

/// Before a restart, what the writer may be left to copy: about 256 KiB.
const RESIDUE_FRAMES: i64 = 64;

/// Most passes spent bringing the residue down to [`RESIDUE_FRAMES`].
const CONVERGE_PASSES: usize = 16;

/// A checkpoint that waits for no one; its row is (busy, frames in the
/// log, frames copied).
const PASSIVE_CHECKPOINT: &str = "PRAGMA wal_checkpoint(PASSIVE)";

/// Pieces of work that may wait for the thread; more wait to be queued.
const QUEUE: usize = 4096;

/// Work run on the writer's thread, inside the batch's transaction.
trait Work: Send {
    /// Runs in a savepoint of its own; whether to keep what it wrote.
    fn run(&mut self, conn: &Connection) -> bool;
    /// Answers the caller once the batch is over: `committed` is the
    /// commit's outcome (or why the batch never began).
    fn answer(self: Box<Self>, committed: std::result::Result<(), String>);
}

/// What a piece of work decided: keep its writes (`true`) or roll them back
/// (a refusal), and the caller's answer.
pub type Decision<T> = (bool, T);

struct Typed<T, F> {
    work: Option<F>,
    outcome: Option<Result<Decision<T>>>,
    reply: oneshot::Sender<Result<T>>,
}

impl<T, F> Work for Typed<T, F>
where
    T: Send,
    F: FnOnce(&Connection) -> Result<Decision<T>> + Send,
{
    fn run(&mut self, conn: &Connection) -> bool {
        // A caller that has gone (its request timed out) is not written
        // for: no one would hear whether it was.
        if self.reply.is_closed() {
            return false;
        }
        let Some(work) = self.work.take() else {
            return false;
        };
        let outcome = work(conn);
        let keep = matches!(outcome, Ok((true, _)));
        self.outcome = Some(outcome);
        keep
    }

    fn answer(self: Box<Self>, committed: std::result::Result<(), String>) {
        let answer = match (self.outcome, committed) {
            (Some(Err(e)), _) => Err(e),
            // Refused: nothing was kept, whatever became of the batch.
            (Some(Ok((false, value))), _) => Ok(value),
            (Some(Ok((true, value))), Ok(())) => Ok(value),
            (Some(Ok((true, _))), Err(why)) | (None, Err(why)) => Err(unavailable(why)),
            (None, Ok(())) => Err(StoreError::Backend(
                "the work was never run, or panicked".into(),
            )),
        };
        // A caller that went away no longer needs its answer.
        let _ = self.reply.send(answer);
    }
}

fn unavailable(why: String) -> StoreError {
    StoreError::Unavailable(why.into())
}

/// The writer thread's queue.
#[derive(Debug, Clone)]
pub struct Writer {
    queue: mpsc::Sender<Box<dyn Work>>,
}

impl Writer {
    /// Opens `path` (which exists and is migrated) on a thread of its own.
    pub fn open(path: &Path, synchronous: Synchronous) -> Result<Self> {
        Self::open_with(path, synchronous, RESTART_FRAMES)
    }

    /// [`Writer::open`], the WAL started again past `restart_frames`.
    fn open_with(path: &Path, synchronous: Synchronous, restart_frames: i64) -> Result<Self> {
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        // Checkpoints run on a thread of their own, never inside a commit;
        // savepoints journal in memory, never in a temporary file.
        conn.execute_batch(&format!(
            "PRAGMA journal_mode = WAL; PRAGMA synchronous = {}; \
             PRAGMA cache_size = -{CACHE_KIB}; PRAGMA mmap_size = {MMAP_BYTES}; \
             PRAGMA wal_autocheckpoint = 0; PRAGMA temp_store = MEMORY;",
            synchronous.as_sql()
        ))?;
        conn.set_prepared_statement_cache_capacity(32);
        let checkpoints = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        let (queue, jobs) = mpsc::channel(QUEUE);
        // Names of at most 15 bytes: what Linux keeps, and `top -H` shows.
        let spawn = |name: &str, run: Box<dyn FnOnce() + Send>| {
            std::thread::Builder::new()
                .name(name.into())
                .spawn(run)
                .map_err(|e| StoreError::Backend(Box::new(e)))
        };
        let restart = Arc::new(AtomicBool::new(false));
        let due = restart.clone();
        let writer = spawn("sqlite-writer", Box::new(move || serve(conn, jobs, &due)))?;
        spawn(
            "sqlite-checkpts",
            Box::new(move || checkpoint(&checkpoints, &writer, &restart, restart_frames)),
        )?;
        Ok(Self { queue })
    }

    /// Pieces of work waiting for the thread.
    #[cfg(test)]
    pub fn queued(&self) -> usize {
        QUEUE - self.queue.capacity()
    }

    /// Runs `work` in the next batch and answers once it is committed (or
    /// rolled back, for a refusal or an error).
    pub async fn run<T, F>(&self, work: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<Decision<T>> + Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        let job = Box::new(Typed {
            work: Some(work),
            outcome: None,
            reply,
        });
        self.queue
            .send(job)
            .await
            .map_err(|_| unavailable("the SQLite writer has stopped".into()))?;
        answer
            .await
            .map_err(|_| unavailable("the SQLite writer has stopped".into()))?
    }
}

/// Copies the WAL into the database every [`CHECKPOINT_EVERY`] (passive:
/// neither readers nor the writer wait for it), so that commits do not pay
/// for copying it; stops with the writer.
///
/// SQLite starts the WAL again from its beginning only when a write begins
/// with every frame copied, which under steady writes never happens by
/// itself: the log would grow without bound. So once it holds more than
/// `restart_frames` ([`RESTART_FRAMES`]), `restart` asks the writer to
/// copy, between two batches, the little written since this pass began;
/// its next commit then writes from the start of the file again.
fn checkpoint(
    conn: &Connection,
    writer: &std::thread::JoinHandle<()>,
    restart: &AtomicBool,
    restart_frames: i64,
) {
    let pass = || {
        conn.query_row(PASSIVE_CHECKPOINT, [], |row| row.get::<_, i64>(1))
            .inspect_err(|e| tracing::warn!(error = %e, "a WAL checkpoint failed"))
    };
    while !writer.is_finished() {
        std::thread::sleep(CHECKPOINT_EVERY);
        let Ok(mut frames) = pass() else { continue };
        if frames <= restart_frames {
            continue;
        }
        // Passes back to back until one finds little written since the
        // previous: what the writer then copies is that little.
        for _ in 0..CONVERGE_PASSES {
            let Ok(now) = pass() else { break };
            let written = now - frames;
            frames = now;
            if written <= RESIDUE_FRAMES {
                break;
            }
        }
        restart.store(true, Ordering::Relaxed);
    }
}

/// The writer thread: batches, savepoints, one commit per batch.
fn serve(mut conn: Connection, mut jobs: mpsc::Receiver<Box<dyn Work>>, restart: &AtomicBool) {
    let mut batch: Vec<Box<dyn Work>> = Vec::with_capacity(MAX_BATCH);
    while let Some(first) = jobs.blocking_recv() {
        batch.push(first);
        while batch.len() < MAX_BATCH {
            match jobs.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        let committed = run_batch(&mut conn, &mut batch);
        for job in batch.drain(..) {
            job.answer(committed.clone());
        }
        if restart.swap(false, Ordering::Relaxed) {
            // Busy when the checkpointer has begun its next pass: then the
            // writer tries again after its next batch.
            let done = conn.query_row(PASSIVE_CHECKPOINT, [], |row| row.get::<_, i64>(0));
            if done != Ok(0) {
                restart.store(true, Ordering::Relaxed);
            }
        }
    }
}

fn run_batch(
    conn: &mut Connection,
    batch: &mut [Box<dyn Work>],
) -> std::result::Result<(), String> {
    let mut tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(|e| e.to_string())?;
    for job in batch.iter_mut() {
        let kept = match tx.savepoint() {
            Ok(mut savepoint) => {
                // A panicking piece of work is rolled back and answered with
                // an error; the thread, and every later session, carry on.
                let keep =
                    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| job.run(&savepoint)))
                        .unwrap_or(false);
                if keep {
                    savepoint.commit()
                } else {
                    savepoint.rollback().and_then(|()| savepoint.finish())
                }
            }
            Err(e) => Err(e),
        };
        if let Err(e) = kept {
            // The transaction can no longer be trusted: none of it is kept.
            return Err(e.to_string());
        }
    }
    tx.commit().map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `w.db` in `dir`, in WAL mode, holding `schema`.
    fn database(dir: &tempfile::TempDir, schema: &str) -> std::path::PathBuf {
        let path = dir.path().join("w.db");
        rusqlite::Connection::open(&path)
            .unwrap()
            .execute_batch(&format!("PRAGMA journal_mode = WAL; {schema}"))
            .unwrap();
        path
    }

    /// The keys of table `t`, in order.
    async fn keys_of(writer: &Writer) -> Vec<String> {
        writer
            .run(|conn| {
                let mut s = conn.prepare("SELECT k FROM t ORDER BY k")?;
                let keys = s.query_map([], |r| r.get(0)).and_then(Iterator::collect)?;
                Ok((false, keys))
            })
            .await
            .unwrap()
    }

    /// Work whose caller has gone before the thread reached it (its
    /// request timed out) is not run: no one would hear whether it was.
    #[tokio::test]
    async fn work_whose_caller_has_gone_is_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let path = database(&dir, "CREATE TABLE t (k TEXT PRIMARY KEY);");
        let writer = Writer::open(&path, Synchronous::Normal).unwrap();
        let insert = |key: &'static str| {
            move |conn: &Connection| {
                conn.execute("INSERT INTO t VALUES (?1)", [key])?;
                Ok((true, ()))
            }
        };
        // The thread is busy with this one while the next caller gives up.
        let busy = tokio::spawn({
            let writer = writer.clone();
            async move {
                writer
                    .run(|conn| {
                        std::thread::sleep(std::time::Duration::from_millis(300));
                        conn.execute("INSERT INTO t VALUES ('first')", [])?;
                        Ok((true, ()))
                    })
                    .await
            }
        });
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        let gave_up = tokio::time::timeout(
            std::time::Duration::from_millis(50),
            writer.run(insert("gone")),
        )
        .await;
        assert!(gave_up.is_err(), "the caller gave up first");
        busy.await.unwrap().unwrap();
        writer.run(insert("last")).await.unwrap();
        let keys = keys_of(&writer).await;
        assert_eq!(keys, ["first", "last"]);
    }

    /// A piece of work that panics is answered with an error and rolled
    /// back; the writer keeps serving.
    #[tokio::test]
    async fn a_panicking_piece_of_work_does_not_stop_the_writer() {
        let dir = tempfile::tempdir().unwrap();
        let path = database(&dir, "CREATE TABLE t (k TEXT PRIMARY KEY);");
        let writer = Writer::open(&path, Synchronous::Normal).unwrap();
        let panicked = writer
            .run(|conn| {
                conn.execute("INSERT INTO t VALUES ('lost')", []).unwrap();
                panic!("a bug in a piece of work");
                #[allow(unreachable_code)]
                Ok((true, ()))
            })
            .await;
        assert!(
            matches!(panicked, Err(StoreError::Backend(_))),
            "{panicked:?}"
        );
        let inserted = writer
            .run(|conn| {
                conn.execute("INSERT INTO t VALUES ('kept')", [])?;
                Ok((true, ()))
            })
            .await;
        assert!(inserted.is_ok(), "{inserted:?}");
        let keys = keys_of(&writer).await;
        assert_eq!(keys, ["kept"]);
    }

    /// The writer keeps SQLite's small page cache and reads the file
    /// through a memory map (see [`CACHE_KIB`]): both settings take effect.
    #[tokio::test]
    async fn the_writer_reads_through_a_memory_map_with_a_small_cache() {
        let dir = tempfile::tempdir().unwrap();
        let path = database(&dir, "");
        let writer = Writer::open(&path, Synchronous::Normal).unwrap();
        let (cache, mmap) = writer
            .run(|conn| {
                let pragma = |name: &str| {
                    conn.query_row(&format!("PRAGMA {name}"), [], |r| r.get::<_, i64>(0))
                        .map_err(StoreError::from)
                };
                Ok((false, (pragma("cache_size")?, pragma("mmap_size")?)))
            })
            .await
            .unwrap();
        assert_eq!((cache, mmap), (-CACHE_KIB, MMAP_BYTES));
    }

    /// Under writes that never pause, the WAL is started again from its
    /// beginning once it passes its bound, instead of growing.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_wal_stays_bounded_under_steady_writes() {
        let dir = tempfile::tempdir().unwrap();
        let path = database(&dir, "CREATE TABLE t (k BLOB PRIMARY KEY, v BLOB);");
        let writer = Writer::open_with(&path, Synchronous::Normal, 64).unwrap();
        let wal = dir.path().join("w.db-wal");
        // The WAL header counts the times the log was started again.
        let restarts = || {
            let mut header = [0u8; 16];
            std::io::Read::read_exact(&mut std::fs::File::open(&wal).unwrap(), &mut header)
                .unwrap();
            u32::from_be_bytes(header[12..16].try_into().unwrap())
        };
        let began = std::time::Instant::now();
        let (mut before, mut written) = (None, 0);
        // Random keys: every row dirties pages all over the table. Without
        // restarts the log keeps a frame for every page of every commit and
        // its header never changes; a loaded machine may take a while.
        loop {
            let rows: Vec<_> = (0..16)
                .map(|_| {
                    let writer = writer.clone();
                    tokio::spawn(async move {
                        writer
                            .run(|conn| {
                                conn.execute(
                                    "INSERT INTO t VALUES (randomblob(32), randomblob(200))",
                                    [],
                                )?;
                                Ok((true, ()))
                            })
                            .await
                    })
                })
                .collect();
            for row in rows {
                row.await.unwrap().unwrap();
            }
            written += 16;
            let now = restarts();
            let restarted = now - *before.get_or_insert(now);
            if restarted >= 3 {
                break;
            }
            let frames = std::fs::metadata(&wal).unwrap().len() / (4096 + 24);
            assert!(
                began.elapsed() < std::time::Duration::from_secs(30),
                "{written} rows, a WAL of {frames} frames, {restarted} restarts"
            );
        }
    }
}
