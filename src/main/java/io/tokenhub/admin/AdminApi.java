package io.tokenhub.admin;

import io.tokenhub.accounting.UsageSync;
import io.tokenhub.admin.AdminStore.KeyChanges;
import io.tokenhub.admin.AdminStore.NewKey;
import io.tokenhub.core.ApiError.Conflict;
import io.tokenhub.core.ApiError.InvalidRequest;
import io.tokenhub.core.ApiError.NotFound;
import io.tokenhub.core.ApiException;
import io.tokenhub.core.Bus;
import io.tokenhub.billing.Quota;
import io.tokenhub.billing.QuotaChanges;
import io.tokenhub.limit.SharedCounter;
import io.tokenhub.routing.CatalogHolder;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.core.WorkerExecutor;
import io.vertx.core.json.JsonObject;
import io.vertx.ext.web.Router;
import io.vertx.ext.web.RoutingContext;
import io.vertx.pgclient.PgException;
import java.time.OffsetDateTime;
import java.time.ZoneOffset;
import java.util.List;
import java.util.Optional;
import java.util.function.Consumer;
import java.util.function.Function;
import java.util.function.Supplier;

/**
 * {@code /admin/v1}: accounts, keys, usage and logs. Every route requires an admin credential. Changes to a
 * key are published on the event bus so that every node drops its cached copy; this node drops
 * its own before answering, so a revoked key is refused here at once.
 */
public final class AdminApi {

    /** Key fields that a PATCH sending JSON null removes: the key is then without that limit. */
    private static final List<String> CLEARABLE = List.of("allowed_models", "rpm", "tpm", "monthly_cap_usd",
        "monthly_cap_micro_usd", "expires_at");

    private final Vertx vertx;
    private final AdminStore store;
    private final AdminAuth auth;
    private final CatalogHolder catalog;
    private final Consumer<String> invalidateLocally;
    private final Supplier<JsonObject> upstreams;
    private final QuotaChanges quotaChanges;
    private final Supplier<Future<JsonObject>> reload;
    private final UsageQueries usage;
    private final UsageSync sync;
    private final ConsoleApi console;
    private final WorkerExecutor hashing;

    /** @param invalidateLocally drops a key id from this node's auth cache */
    public AdminApi(Vertx vertx, AdminStore store, AdminAuth auth, CatalogHolder catalog,
                    Consumer<String> invalidateLocally, Supplier<JsonObject> upstreams, QuotaChanges quotaChanges,
                    Supplier<Future<JsonObject>> reload, UsageSync sync, SharedCounter counter,
                    UsageQueries usage) {
        this.vertx = vertx;
        this.store = store;
        this.auth = auth;
        this.catalog = catalog;
        this.invalidateLocally = invalidateLocally;
        this.upstreams = upstreams;
        this.quotaChanges = quotaChanges;
        this.reload = reload;
        this.sync = sync;
        this.usage = usage;
        this.console = new ConsoleApi(vertx, store, catalog, usage, sync, this, counter);
        this.hashing = Passwords.executor(vertx);
    }

    /** Usage and log queries over the same database, for the public usage and legacy billing endpoints. */
    public UsageQueries usageQueries() {
        return usage;
    }

    /**
     * Routes under {@code /admin/v1} and {@code /console/api}; every handler completes a Future that
     * the caller renders.
     *
     * @param handler runs an admin operation once the admin credential is checked
     * @param open    runs a console operation, which checks its own session
     */
    public void mount(Router router, Handler handler, Handler open) {
        console.mount(router, open);
        router.post("/admin/v1/accounts").handler(ctx -> handler.run(ctx, 201, this::createAccount));
        router.get("/admin/v1/accounts").handler(ctx -> handler.run(ctx, 200, this::listAccounts));
        router.get("/admin/v1/accounts/:id").handler(ctx -> handler.run(ctx, 200, this::getAccount));
        router.post("/admin/v1/accounts/:id/credits").handler(ctx -> handler.run(ctx, 200, this::credit));
        router.post("/admin/v1/accounts/:id/plans").handler(ctx -> handler.run(ctx, 201, this::grantPlan));
        router.post("/admin/v1/keys").handler(ctx -> handler.run(ctx, 201, this::createKey));
        router.get("/admin/v1/keys").handler(ctx -> handler.run(ctx, 200, this::listKeys));
        router.patch("/admin/v1/keys/:id").handler(ctx -> handler.run(ctx, 200, this::patchKey));
        router.delete("/admin/v1/keys/:id").handler(ctx -> handler.run(ctx, 200, this::revokeKey));
        router.get("/admin/v1/usage").handler(ctx -> handler.run(ctx, 200, this::usage));
        router.get("/admin/v1/logs").handler(ctx -> handler.run(ctx, 200, this::logs));
        router.post("/admin/v1/reload").handler(ctx -> handler.run(ctx, 200, c -> reload.get()));
        router.get("/admin/v1/upstreams").handler(ctx -> handler.run(ctx, 200,
            c -> Future.succeededFuture(upstreams.get())));
    }

    /** How the API edge runs an admin operation: authenticate, run, render the JSON or the error. */
    @FunctionalInterface
    public interface Handler {
        void run(RoutingContext ctx, int successStatus, Function<RoutingContext, Future<JsonObject>> operation);
    }

    public Future<Void> authenticate(RoutingContext ctx) {
        return auth.check(ctx.request().getHeader("Authorization"));
    }

    private Future<JsonObject> createAccount(RoutingContext ctx) {
        JsonObject body = AdminBodies.object(ctx);
        String name = AdminBodies.requiredString(body, "name");
        String email = AdminBodies.requiredString(body, "email");
        // 254 characters at most, as an address can be (and the console's sign-in takes).
        if (email.length() > 254 || !email.matches("[^@\\s]+@[^@\\s]+")) {
            throw new InvalidRequest("email must be an email address.", "email").toException();
        }
        String password = AdminBodies.optionalString(body, "password");
        if (password != null && password.isBlank()) {
            throw new InvalidRequest("password must not be blank (leave it out for an account without one).",
                "password").toException();
        }
        Future<String> hash = password == null ? Future.succeededFuture(null)
            : hashing.executeBlocking(() -> Passwords.hash(password), false);
        // The credit of the catalog in force: a reload changes it for the accounts created after it.
        long signupCredit = catalog.get().billing().signupCreditMicroUsd();
        return hash.compose(h -> store.createAccount(name, email, h, signupCredit))
            .recover(e -> Future.failedFuture(uniqueViolation(e)
                ? new Conflict("An account with this email already exists.", "email").toException() : e));
    }

    private Future<JsonObject> getAccount(RoutingContext ctx) {
        String id = ctx.pathParam("id");
        return sync.sync().compose(v -> store.account(id))
            .map(found -> found.orElseThrow(() -> notFound("account", id)));
    }

    private Future<JsonObject> credit(RoutingContext ctx) {
        String id = ctx.pathParam("id");
        JsonObject body = AdminBodies.object(ctx);
        Long microUsd = AdminBodies.money(body, "amount", true);
        if (microUsd == null || microUsd == 0) {
            throw new InvalidRequest("amount_usd must be a non-zero number of USD (negative to adjust down).",
                body.containsKey("amount_micro_usd") ? "amount_micro_usd" : "amount_usd").toException();
        }
        String reason = Optional.ofNullable(AdminBodies.optionalString(body, "reason")).orElse("admin credit");
        return store.credit(id, microUsd, reason)
            .map(credit -> credit.orElseThrow(() -> notFound("account", id)))
            .compose(credit -> quotaChanges.credited(id, microUsd, credit.writtenAfterUs()))
            // The balance answered includes usage not yet written, as GET /accounts/{id} does.
            .compose(v -> sync.sync().compose(nothing -> store.account(id)).map(Optional::orElseThrow));
    }

    private Future<JsonObject> grantPlan(RoutingContext ctx) {
        String id = ctx.pathParam("id");
        JsonObject body = AdminBodies.object(ctx);
        Object tokens = body.getValue("tokens");
        if (!(tokens instanceof Integer || tokens instanceof Long) || ((Number) tokens).longValue() <= 0) {
            throw new InvalidRequest("tokens must be a positive integer.", "tokens").toException();
        }
        OffsetDateTime from = Optional.ofNullable(AdminBodies.time(body, "valid_from"))
            .orElse(OffsetDateTime.now(ZoneOffset.UTC));
        OffsetDateTime until = AdminBodies.until(body, "valid_until");
        if (until == null || !until.isAfter(from)) {
            throw new InvalidRequest("valid_until is required and must be after valid_from.", "valid_until")
                .toException();
        }
        List<String> models = AdminBodies.models(body, "models", catalog.get());
        return store.account(id).compose(account -> {
            if (account.isEmpty()) {
                return Future.failedFuture(notFound("account", id));
            }
            return store.grantPlan(id, ((Number) tokens).longValue(), from, until, models).compose(plan ->
                quotaChanges.planGranted(id, new Quota.Plan(plan.getString("id"), plan.getLong("tokens_total"),
                    from.toInstant(), until.toInstant(), models == null ? List.of() : models)).map(plan));
        });
    }

    private Future<JsonObject> createKey(RoutingContext ctx) {
        JsonObject body = AdminBodies.object(ctx);
        String accountId = AdminBodies.requiredString(body, "account_id");
        NewKey key = AdminBodies.newKey(body, accountId, catalog.get());
        return store.account(accountId)
            .compose(account -> account.isPresent() ? store.createKey(key)
                : Future.failedFuture(new InvalidRequest("No account with id '" + accountId + "'.", "account_id")
                    .toException()));
    }

    private Future<JsonObject> listKeys(RoutingContext ctx) {
        int limit = AdminBodies.limit(ctx.queryParams().get("limit"));
        String cursor = ctx.queryParams().get("cursor");
        return AdminBodies.known(cursor, store::key)
            .compose(v -> store.listKeys(ctx.queryParams().get("account_id"), cursor, limit));
    }

    /** {@code GET /admin/v1/accounts}: oldest first, each with balance and active plans, {@code {data, next_cursor}}. */
    private Future<JsonObject> listAccounts(RoutingContext ctx) {
        int limit = AdminBodies.limit(ctx.queryParams().get("limit"));
        String cursor = ctx.queryParams().get("cursor");
        return AdminBodies.known(cursor, store::account).compose(v -> sync.sync()).compose(v -> store.listAccounts(cursor, limit));
    }

    /** {@code GET /admin/v1/usage}: aggregates, {@code {data, next_cursor: null}} (one page, bounded by the groups). */
    private Future<JsonObject> usage(RoutingContext ctx) {
        UsageQueries.Filter filter = usageFilter(ctx);
        List<UsageQueries.GroupBy> groupBy = UsageQueries.GroupBy.parse(ctx.queryParams().get("group_by"));
        return sync.sync().compose(v -> usage.usage(filter, groupBy))
            .map(rows -> new JsonObject().put("data", rows).put("next_cursor", null)
                .put("from", AdminStore.time(filter.from())).put("to", AdminStore.time(filter.to())));
    }

    /** {@code GET /admin/v1/logs}: usage records newest first, {@code {data, next_cursor}}. */
    private Future<JsonObject> logs(RoutingContext ctx) {
        UsageQueries.Filter filter = usageFilter(ctx);
        int limit = UsageQueries.limit(ctx.queryParams().get("limit"));
        return sync.sync().compose(v -> usage.logs(filter, limit, ctx.queryParams().get("cursor")));
    }

    private UsageQueries.Filter usageFilter(RoutingContext ctx) {
        return UsageQueries.Filter.parse(ctx.queryParams()::get, usage.clock()).withCatalogIds(catalog.get());
    }

    private Future<JsonObject> patchKey(RoutingContext ctx) {
        String id = ctx.pathParam("id");
        JsonObject body = AdminBodies.object(ctx);
        String status = AdminBodies.optionalString(body, "status");
        if (status != null && !status.equals("active") && !status.equals("disabled") && !status.equals("revoked")) {
            throw new InvalidRequest("status must be active, disabled or revoked.", "status").toException();
        }
        KeyChanges changes = new KeyChanges(AdminBodies.optionalString(body, "name"), status,
            AdminBodies.models(body, "allowed_models", catalog.get()), AdminBodies.positiveInt(body, "rpm"),
            AdminBodies.positiveInt(body, "tpm"), AdminBodies.money(body, "monthly_cap", false),
            AdminBodies.until(body, "expires_at"), AdminBodies.nulled(body, CLEARABLE));
        return store.key(id).compose(found -> {
            JsonObject current = found.orElseThrow(() -> notFound("key", id));
            if ("revoked".equals(current.getString("status")) && status != null && !status.equals("revoked")) {
                throw new Conflict("A revoked key cannot be used again; create a new key.", "status").toException();
            }
            return store.updateKey(id, changes).map(updated -> updated.orElseThrow(() -> notFound("key", id)));
        }).onSuccess(updated -> invalidate(id));
    }

    private Future<JsonObject> revokeKey(RoutingContext ctx) {
        return revoke(ctx.pathParam("id"));
    }

    /** Revokes a key and has every node drop it; 404 when there is no such key. */
    Future<JsonObject> revoke(String id) {
        KeyChanges revoke = new KeyChanges(null, "revoked", null, null, null, null, null, List.of());
        return store.updateKey(id, revoke)
            .map(updated -> updated.orElseThrow(() -> notFound("key", id)))
            .onSuccess(updated -> invalidate(id));
    }

    private void invalidate(String keyId) {
        invalidateLocally.accept(keyId);
        vertx.eventBus().publish(Bus.KEYS_INVALIDATE, keyId);
    }

    private static ApiException notFound(String what, String id) {
        return new NotFound("No " + what + " with id '" + id + "'.").toException();
    }

    private static boolean uniqueViolation(Throwable e) {
        return e instanceof PgException pg && "23505".equals(pg.getSqlState());
    }
}
