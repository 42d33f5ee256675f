package io.tokenhub.accounting;

import io.tokenhub.config.TokenHubConfig.Accounting;
import io.tokenhub.core.Bus;
import io.tokenhub.core.LocalCodec;
import io.tokenhub.core.OncePer;
import io.vertx.core.DeploymentOptions;
import io.vertx.core.Future;
import io.vertx.core.ThreadingModel;
import io.vertx.core.VerticleBase;
import io.vertx.core.eventbus.MessageConsumer;
import io.vertx.sqlclient.DatabaseException;
import java.nio.file.Path;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Owns the usage pipeline from the event bus to PostgreSQL: batches by count and by time, one
 * insert in flight at a time; when PostgreSQL fails, the batch goes to the disk {@link Spool} and
 * is replayed once writes succeed again. A write that gets no answer within {@link #WRITE_TIMEOUT_MS}
 * counts as failed (a PostgreSQL behind a network that dropped it never answers, and the client
 * has no timeout of its own); while PostgreSQL is unreachable (no answer, no connection) and the
 * spool holds records, new batches go straight to the spool and the replay finds out when it is
 * back, so an unanswering PostgreSQL costs one timeout per replay attempt, not one per batch. (A
 * batch PostgreSQL answers with an error is not a sign of an outage: the next batch still tries.)
 * Stopping waits for the write in flight, then flushes everything (to PostgreSQL, else to the
 * spool). Every record received is in the {@link Journal} on disk until it is durable, for a node
 * killed outright; the next start hands the journal an earlier run left to the spool.
 * <p>
 * Deployed on a worker context ({@link #deployment()}): the journal's appends are blocking file
 * writes, made as each batch arrives with no hop to another thread. The context runs its tasks one
 * after the other, so the verticle's state needs no locks, as on an event loop.
 */
public final class AccountingVerticle extends VerticleBase {

    private static final Logger LOG = LoggerFactory.getLogger(AccountingVerticle.class);
    private static final long REPLAY_MS = 1_000;
    /** Longest a write may take before its batch is spooled; a late write is harmless, writes being idempotent. */
    static final long WRITE_TIMEOUT_MS = 10_000;
    /** Records held in memory when even the spool is full; beyond this they are dropped, loudly. */
    private static final int MAX_PENDING = 200_000;

    /** The name of the verticle's own worker pool; its thread's name starts with it (thread dumps). */
    private static final String WORKER_POOL = "tokenhub-accounting";

    private final Accounting config;
    private final UsageWriter writer;
    private final Path spoolDir;
    private final UsageStatus status;
    private final Consumer<List<UsageEvent>> onWritten;
    private final Consumer<List<UsageEvent>> onFound;
    private final ArrayDeque<UsageEvent> pending = new ArrayDeque<>();
    private Spool spool;
    /** At most one warning per 10 s about usage going to the spool. */
    private final OncePer spoolWarnings = new OncePer(10_000);
    private Journal journal;
    private MessageConsumer<UsageBatch> consumer;
    private MessageConsumer<Void> syncConsumer;
    /** Events received since start, and events taken into a write (in the order received). */
    private long received;
    private long taken;
    /** The records of the write under way, which the backlog counts until it ends. */
    private int inWrite;
    private boolean writing;
    private boolean replaying;
    private boolean stopping;
    /** The last write got no answer from PostgreSQL at all (as opposed to an error answer). */
    private boolean unreachable;
    /**
     * The request ids of the records an earlier run left on disk, found at start, and of those the
     * ones counted as pending (PostgreSQL lacked them, first sight of each): a written record of an
     * earlier run is reported durable only if it was counted, and once.
     */
    private final Set<String> foundIds = new HashSet<>();
    private final Set<String> counted = new HashSet<>();
    /** The flush write in flight (or the last one): stopping waits for it before draining. */
    private Future<Boolean> inFlight = Future.succeededFuture(true);

    /**
     * @param onWritten called with each batch once it is durable in PostgreSQL (billing settles here)
     */
    public AccountingVerticle(Accounting config, UsageWriter writer, Path spoolDir, UsageStatus status,
                              Consumer<List<UsageEvent>> onWritten) {
        this(config, writer, spoolDir, status, onWritten, found -> { });
    }

    /**
     * @param onFound called at start, before the verticle has started, with the records an earlier run
     *                left on disk (its journal, its spool) that PostgreSQL lacks, each once; {@code onWritten}
     *                is told of each again once written, and of no other record of that run (billing
     *                holds them as pending until then)
     */
    public AccountingVerticle(Accounting config, UsageWriter writer, Path spoolDir, UsageStatus status,
                              Consumer<List<UsageEvent>> onWritten, Consumer<List<UsageEvent>> onFound) {
        this.config = config;
        this.writer = writer;
        this.spoolDir = spoolDir;
        this.status = status;
        this.onWritten = onWritten;
        this.onFound = onFound;
    }

    /**
     * How the verticle is deployed: on a worker context of its own one-thread pool. On Vert.x's
     * shared pool (20 threads) each batch woke whichever thread had waited longest, so its work went
     * round all twenty, each cold; and other blocking work taking the whole pool (catalog reloads,
     * a library's blocking calls) could hold the journal up. The context runs one task at a time
     * either way, so one thread is all it can use.
     */
    public static DeploymentOptions deployment() {
        return new DeploymentOptions().setThreadingModel(ThreadingModel.WORKER)
            .setWorkerPoolName(WORKER_POOL).setWorkerPoolSize(1);
    }

    @Override
    public Future<?> start() {
        try {
            vertx.eventBus().registerDefaultCodec(UsageBatch.class, new LocalCodec<>(UsageBatch.class));
        } catch (IllegalStateException alreadyRegistered) {
            // Another deployment in this Vert.x instance registered it first.
        }
        spool = new Spool(vertx.fileSystem(), spoolDir, config.spoolMaxBytes(), status::spoolRejected);
        // Handed over at every start, also one without a journal of its own: an earlier run's may be there.
        Journal found = new Journal(vertx.fileSystem(), spoolDir.resolveSibling("journal"), System::currentTimeMillis,
            config.spoolMaxBytes());
        journal = config.journal() ? found : null;
        return found.handOver(spoolDir).compose(recovered -> {
            if (recovered > 0) {
                LOG.warn("{} usage records found in the journal of a run that did not stop cleanly; writing them "
                    + "(those PostgreSQL holds already are skipped)", recovered);
            }
            return spool.open(this::found);
        }).compose(v -> {
            if (!spool.isEmpty()) {
                LOG.info("{} usage records found in the spool from an earlier run; replaying", spool.records());
            }
            consumer = vertx.eventBus().localConsumer(Bus.USAGE, message -> accept(message.body().events()));
            syncConsumer = vertx.eventBus().localConsumer(Bus.USAGE_SYNC,
                message -> writtenUpTo(received).onComplete(ar -> message.reply(null)));
            vertx.setPeriodic(config.flushMs(), id -> flush());
            vertx.setPeriodic(REPLAY_MS, id -> replay());
            publishBacklog();
            return consumer.completion();
        });
    }

    /**
     * Records an earlier run left (one file's): those PostgreSQL lacks, each once, are pending until
     * written. One that PostgreSQL holds already (a journal segment outlives the batches written
     * during its second) is not: its money left the balance when it was written. When PostgreSQL
     * does not answer, all are pending (the counters cannot be loaded from it meanwhile either).
     */
    private Future<Void> found(List<UsageEvent> events) {
        List<UsageEvent> fresh = events.stream().filter(e -> foundIds.add(e.requestId())).toList();
        if (fresh.isEmpty()) {
            return Future.succeededFuture();
        }
        return writer.existing(fresh.stream().map(UsageEvent::requestId).toList())
            .timeout(WRITE_TIMEOUT_MS, TimeUnit.MILLISECONDS)
            .otherwise(failure -> {
                LOG.warn("could not ask PostgreSQL which of {} usage records from an earlier run it holds ({}); "
                    + "all count as pending until written", fresh.size(), failure.getMessage());
                return Set.of();
            })
            .map(held -> {
                List<UsageEvent> pendingNow = fresh.stream().filter(e -> !held.contains(e.requestId())).toList();
                pendingNow.forEach(e -> counted.add(e.requestId()));
                onFound.accept(pendingNow);
                return null;
            });
    }

    /** Tells billing the batch is durable: this run's records, and an earlier run's that were counted as pending. */
    private void written(List<UsageEvent> batch) {
        onWritten.accept(foundIds.isEmpty() ? batch
            : batch.stream().filter(e -> !foundIds.contains(e.requestId()) || counted.remove(e.requestId())).toList());
    }

    private void accept(List<UsageEvent> events) {
        received += events.size();
        if (journal != null) {
            journal.append(events, received);
        }
        pending.addAll(events);
        while (pending.size() > MAX_PENDING) {
            UsageEvent dropped = pending.pollFirst();
            status.dropped();
            LOG.error("usage backlog over {} records with the spool full: dropped record {}", MAX_PENDING,
                dropped.requestId());
        }
        publishBacklog();
        if (pending.size() >= config.batchSize()) {
            flush();
        }
    }

    private void flush() {
        if (writing || stopping || pending.isEmpty()) {
            return;
        }
        writing = true;
        List<UsageEvent> batch = take(config.batchSize());
        inFlight = writeOrSpool(batch);
        inFlight.onComplete(ar -> {
            writing = false;
            publishBacklog();
            if (pending.size() >= config.batchSize()) {
                flush();
            }
        });
    }

    /**
     * Completes once the events received up to {@code target} have been written (to PostgreSQL, or to
     * the spool when it is down), writing without waiting for the next flush.
     */
    private Future<Void> writtenUpTo(long target) {
        return inFlight.transform(ar -> {
            if (writing) {
                return writtenUpTo(target); // a write started when that one ended: it may hold the events
            }
            if (taken >= target || stopping) {
                return Future.succeededFuture();
            }
            flush();
            return writing ? writtenUpTo(target) : Future.succeededFuture();
        });
    }

    /**
     * Completes with true once the batch is durable (in PostgreSQL or the spool), false if it is back
     * in memory. One at a time, in the order received: when one is durable, so is every record taken
     * before it, and the journal lets go of them.
     */
    private Future<Boolean> writeOrSpool(List<UsageEvent> batch) {
        long upTo = taken;
        // Taken from the memory, in neither it nor the spool until the write ends: still the backlog.
        inWrite = batch.size();
        publishBacklog();
        return writeOrSpoolOnce(batch).andThen(ar -> inWrite = 0).onSuccess(durable -> {
            if (durable && journal != null) {
                journal.durable(upTo);
            }
        });
    }

    private Future<Boolean> writeOrSpoolOnce(List<UsageEvent> batch) {
        if (unreachable && !spool.isEmpty()) {
            // The replay of the spool finds out when PostgreSQL is back; until then, no write to wait for.
            return spoolOrKeep(batch);
        }
        return writeSettingAside(batch)
            .map(written -> {
                status.databaseUp();
                written(batch);
                return true;
            })
            .recover(dbFailure -> {
                status.databaseDown(dbFailure);
                if (spoolWarnings.due(System.currentTimeMillis())) {
                    // Said when it starts and now and then, not only once the replay is done.
                    LOG.warn("PostgreSQL did not take {} usage records ({}): they go to the disk spool, {} records "
                        + "there before them, and are written once it is back", batch.size(), dbFailure.toString(),
                        spool.records());
                }
                return spoolOrKeep(batch);
            });
    }

    private Future<Boolean> spoolOrKeep(List<UsageEvent> batch) {
        return spool.append(batch).map(true).recover(spoolFailure -> {
            LOG.error("usage spool unavailable ({}); keeping {} records in memory",
                spoolFailure.getMessage(), batch.size());
            for (int i = batch.size() - 1; i >= 0; i--) {
                pending.addFirst(batch.get(i));
            }
            taken -= batch.size();
            return Future.succeededFuture(false);
        });
    }

    private Future<Integer> write(List<UsageEvent> batch) {
        return writer.write(batch).timeout(WRITE_TIMEOUT_MS, TimeUnit.MILLISECONDS)
            .andThen(ar -> unreachable = ar.failed() && !(ar.cause() instanceof DatabaseException));
    }

    /**
     * Writes the batch; when PostgreSQL refuses what it holds (a data or constraint error, which
     * would fail it again every time), writes its halves apart until the records it refuses stand
     * alone, and sets those aside in the spool. Any other failure fails the whole batch, as before.
     */
    private Future<Integer> writeSettingAside(List<UsageEvent> batch) {
        return write(batch).recover(failure -> {
            if (!refusesData(failure)) {
                return Future.failedFuture(failure);
            }
            if (batch.size() == 1) {
                return spool.refuse(batch, "SQLSTATE " + ((DatabaseException) failure).getSqlState()).map(0);
            }
            List<UsageEvent> first = batch.subList(0, batch.size() / 2);
            List<UsageEvent> second = batch.subList(batch.size() / 2, batch.size());
            return writeSettingAside(first).compose(a -> writeSettingAside(second).map(b -> a + b));
        });
    }

    /** SQLSTATE class 22 (data exception) or 23 (integrity constraint): the records, not the database. */
    private static boolean refusesData(Throwable failure) {
        String state = failure instanceof DatabaseException db ? db.getSqlState() : null;
        return state != null && (state.startsWith("22") || state.startsWith("23"));
    }

    /** Writes the oldest spooled file, then the next, until the spool is empty or a write fails. */
    private void replay() {
        if (replaying || spool.isEmpty()) {
            return;
        }
        replaying = true;
        replayNext().onComplete(ar -> {
            replaying = false;
            publishBacklog();
        });
    }

    private Future<Void> replayNext() {
        return spool.oldest().compose(entry -> {
            if (entry == null) {
                return Future.succeededFuture();
            }
            return writeSettingAside(entry.getValue())
                .compose(written -> {
                    status.databaseUp();
                    written(entry.getValue());
                    LOG.info("replayed {} spooled usage records ({} new)", entry.getValue().size(), written);
                    return spool.remove(entry.getKey());
                })
                .compose(v -> {
                    publishBacklog();
                    return replayNext();
                });
        }).recover(failure -> {
            status.databaseDown(failure);
            return Future.succeededFuture();
        });
    }

    private List<UsageEvent> take(int max) {
        List<UsageEvent> batch = new ArrayList<>(Math.min(max, pending.size()));
        while (batch.size() < max && !pending.isEmpty()) {
            batch.add(pending.pollFirst());
        }
        taken += batch.size();
        return batch;
    }

    private void publishBacklog() {
        status.backlog(pending.size() + inWrite + spool.records());
    }

    @Override
    public Future<?> stop() {
        stopping = true;
        if (syncConsumer != null) {
            syncConsumer.unregister();
        }
        Future<Void> closing = consumer == null ? Future.succeededFuture() : consumer.unregister();
        // A batch taken by a flush is in neither the memory nor the spool until its write ends.
        return closing.compose(v -> inFlight.transform(ar -> drain()))
            .andThen(drained -> {
                if (journal != null) {
                    journal.close(taken);
                }
                if (!spool.isEmpty()) {
                    LOG.warn("stopping with {} usage records in the disk spool ({}), not yet in PostgreSQL: the next "
                        + "start on this data_dir writes them; keep the directory", spool.records(), spoolDir);
                }
            });
    }

    private Future<Void> drain() {
        publishBacklog();
        if (pending.isEmpty()) {
            return Future.succeededFuture();
        }
        return writeOrSpool(take(config.batchSize())).compose(durable -> {
            if (!durable) {
                LOG.error("shutting down with {} usage records neither in PostgreSQL nor in the spool", pending.size());
                return Future.succeededFuture();
            }
            return drain();
        });
    }
}
