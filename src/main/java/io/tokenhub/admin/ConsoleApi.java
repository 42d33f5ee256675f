package io.tokenhub.admin;

import io.tokenhub.accounting.UsageSync;
import io.tokenhub.auth.ApiKeys;
import io.tokenhub.auth.Authenticator;
import io.tokenhub.core.ApiError.InvalidApiKey;
import io.tokenhub.core.ApiError.InvalidRequest;
import io.tokenhub.core.ApiError.NotFound;
import io.tokenhub.core.ApiError.RateLimited;
import io.tokenhub.core.ApiError.Unavailable;
import io.tokenhub.core.Ids;
import io.tokenhub.limit.SharedCounter;
import io.tokenhub.limit.SlidingLimit;
import io.tokenhub.routing.CatalogHolder;
import io.tokenhub.routing.ModelCard;
import io.vertx.core.Future;
import io.vertx.core.http.HttpHeaders;
import io.vertx.core.Vertx;
import io.vertx.core.WorkerExecutor;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import io.vertx.ext.web.Router;
import io.vertx.ext.web.RoutingContext;
import java.security.GeneralSecurityException;
import java.time.Clock;
import java.time.Duration;
import java.time.OffsetDateTime;
import java.time.ZoneOffset;
import java.util.List;
import java.util.Locale;
import java.util.Optional;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.BiFunction;
import java.util.function.Function;

/**
 * {@code /console/api}: what an account holder does in the web console, always on their own
 * account. Signing in with email and password gives a session token ({@code ths-…}, kept by the
 * browser, stored here only as its SHA-256) that authorizes the other routes: the account with
 * its balance and plans, its keys (created, shown once, revoked), its usage by day and model, its
 * request records, and the model catalog. Operators use the console with the admin key, which
 * calls {@code /admin/v1} directly.
 */
public final class ConsoleApi {

    static final String SESSION_PREFIX = "ths-";
    static final Duration SESSION_TTL = Duration.ofHours(12);
    /** Sign-in attempts per email a minute (sliding), on all nodes together; PBKDF2 makes each cost ~50 ms of CPU. */
    public static final int ATTEMPTS_PER_MINUTE = 10;
    /** Password checks waiting or running on this node at once; beyond it a sign-in is asked to retry. */
    static final int CHECKS_AT_ONCE = 8;
    private static final int MAX_EMAIL = 254;
    private static final int MAX_PASSWORD = 1024;
    private static final List<UsageQueries.GroupBy> DAY_AND_MODEL =
        List.of(UsageQueries.GroupBy.DAY, UsageQueries.GroupBy.MODEL);

    private final AdminStore store;
    private final CatalogHolder catalog;
    private final UsageQueries usage;
    private final UsageSync sync;
    private final AdminApi admin;
    /** Password checks run here, not on the shared worker pool that admin operations need. */
    private final WorkerExecutor hashing;
    /** Compared against when no account matches, so that a miss takes as long as a wrong password. */
    private final String decoy;
    /** Counted on the cluster's shared counter, so that more nodes do not mean more guesses. */
    private final SlidingLimit attempts;
    private final AtomicInteger checking = new AtomicInteger();

    ConsoleApi(Vertx vertx, AdminStore store, CatalogHolder catalog, UsageQueries usage, UsageSync sync,
               AdminApi admin, SharedCounter counter) {
        this.attempts = new SlidingLimit(counter, "console_login", ATTEMPTS_PER_MINUTE, Clock.systemUTC());
        this.store = store;
        this.catalog = catalog;
        this.usage = usage;
        this.sync = sync;
        this.admin = admin;
        this.hashing = Passwords.executor(vertx);
        try {
            this.decoy = Passwords.hash(Ids.random("decoy-", 24));
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException(e);
        }
    }

    /** Routes under {@code /console/api}; each handler completes a Future that the caller renders. */
    void mount(Router router, AdminApi.Handler handler) {
        router.post("/console/api/login").handler(ctx -> handler.run(ctx, 200, this::login));
        router.post("/console/api/logout").handler(ctx -> handler.run(ctx, 200, this::logout));
        router.get("/console/api/account").handler(ctx -> handler.run(ctx, 200, signedIn(this::account)));
        router.get("/console/api/keys").handler(ctx -> handler.run(ctx, 200, signedIn(this::keys)));
        router.post("/console/api/keys").handler(ctx -> handler.run(ctx, 201, signedIn(this::createKey)));
        router.delete("/console/api/keys/:id").handler(ctx -> handler.run(ctx, 200, signedIn(this::revokeKey)));
        router.get("/console/api/usage").handler(ctx -> handler.run(ctx, 200, signedIn(this::usage)));
        router.get("/console/api/logs").handler(ctx -> handler.run(ctx, 200, signedIn(this::logs)));
        router.get("/console/api/models").handler(ctx -> handler.run(ctx, 200, this::models));
    }

    /** {@code {email, password}} → {@code {token, expires_at, account}}; one answer for every wrong pair. */
    private Future<JsonObject> login(RoutingContext ctx) {
        // A page elsewhere can make a browser post a form or text here without asking (no preflight),
        // and use up an account's attempts: a JSON body it cannot send so.
        String type = ctx.request().getHeader(HttpHeaders.CONTENT_TYPE);
        if (type == null || !type.toLowerCase(Locale.ROOT).startsWith("application/json")) {
            return Future.failedFuture(new InvalidRequest("Sign in with a JSON body (Content-Type: application/json).",
                null).toException());
        }
        JsonObject body = AdminBodies.object(ctx);
        String email = AdminBodies.requiredString(body, "email");
        String password = AdminBodies.requiredString(body, "password");
        if (email.length() > MAX_EMAIL || password.length() > MAX_PASSWORD) {
            return Future.failedFuture(new InvalidRequest("Incorrect email or password.",
                email.length() > MAX_EMAIL ? "email" : "password").toException());
        }
        // A sign-in refused for being one too many at once does not use up one of the email's attempts.
        if (checking.incrementAndGet() > CHECKS_AT_ONCE) {
            checking.decrementAndGet();
            return Future.failedFuture(new RateLimited("Too many sign-ins at once; retry in a second.",
                "console_login", 1).toException());
        }
        // One form of the email for the limit and the look-up alike: an account is found only by the
        // form its attempts are counted under (PostgreSQL's lower() and Java's differ on some letters).
        String canonical = email.toLowerCase(Locale.ROOT);
        return attempts.tryTake(canonical)
            .recover(uncounted -> Future.failedFuture(new Unavailable("Sign-in attempts cannot be counted just now; "
                + "retry shortly.").toException()))
            .compose(admitted -> admitted ? checkPassword(canonical, password)
                : Future.failedFuture(new RateLimited("Too many sign-in attempts for this email; retry in a minute.",
                    "console_login", 60).toException()))
            .andThen(ar -> checking.decrementAndGet())
            .compose(accountId -> {
                if (accountId == null) {
                    return Future.failedFuture(new InvalidApiKey("Incorrect email or password.").toException());
                }
                String token = Ids.random(SESSION_PREFIX, 40);
                OffsetDateTime expires = OffsetDateTime.now(ZoneOffset.UTC).plus(SESSION_TTL);
                return store.createSession(ApiKeys.sha256(token), accountId, expires)
                    .compose(v -> store.account(accountId))
                    .map(account -> new JsonObject().put("token", token).put("expires_at", AdminStore.time(expires))
                        .put("account", account.orElseThrow()));
            });
    }

    /** The account id when the password is that account's, else null; as slow for an unknown email. */
    private Future<String> checkPassword(String email, String password) {
        return store.login(email).compose(found -> hashing.executeBlocking(() -> {
            boolean usable = found.isPresent() && "active".equals(found.get().status())
                && found.get().passwordHash() != null;
            boolean matches = Passwords.verify(password, usable ? found.get().passwordHash() : decoy);
            return usable && matches ? found.get().accountId() : null;
        }, false));
    }

    private Future<JsonObject> logout(RoutingContext ctx) {
        String token = Authenticator.bearer(ctx.request().getHeader("Authorization"));
        return (token == null ? Future.<Void>succeededFuture() : store.deleteSession(ApiKeys.sha256(token)))
            .map(v -> new JsonObject().put("signed_out", true));
    }

    private Future<JsonObject> account(RoutingContext ctx, String accountId) {
        return sync.sync().compose(v -> store.account(accountId)).map(Optional::orElseThrow);
    }

    /** One's own keys, oldest first, a page at a time as the admin list ({@code limit}, {@code cursor}). */
    private Future<JsonObject> keys(RoutingContext ctx, String accountId) {
        String limit = ctx.queryParams().get("limit");
        int max = limit == null ? AdminBodies.MAX_LIMIT : AdminBodies.limit(limit);
        String cursor = ctx.queryParams().get("cursor");
        // A cursor is a key of one's own account: another's is as unknown as a missing one.
        return AdminBodies.known(cursor, id -> store.key(id)
                .map(found -> found.filter(k -> accountId.equals(k.getString("account_id")))))
            .compose(v -> store.listKeys(accountId, cursor, max));
    }

    /** {@code {name, allowed_models?, expires_at?, monthly_cap_usd?, rpm?, tpm?}}: a key of one's own account. */
    private Future<JsonObject> createKey(RoutingContext ctx, String accountId) {
        return store.createKey(AdminBodies.newKey(AdminBodies.object(ctx), accountId, catalog.get()));
    }

    /** Revokes a key of one's own account; another account's key is as unknown as a missing one. */
    private Future<JsonObject> revokeKey(RoutingContext ctx, String accountId) {
        String id = ctx.pathParam("id");
        return store.key(id).compose(found -> found.filter(k -> accountId.equals(k.getString("account_id"))).isPresent()
            ? admin.revoke(id)
            : Future.failedFuture(new NotFound("No key with id '" + id + "'.").toException()));
    }

    /** Totals by day and model ({@code from}, {@code to}, {@code model}, {@code key_id}), this month by default. */
    private Future<JsonObject> usage(RoutingContext ctx, String accountId) {
        UsageQueries.Filter filter = filter(ctx, accountId);
        return sync.sync().compose(v -> usage.usage(filter, DAY_AND_MODEL))
            .map(rows -> new JsonObject().put("data", rows).put("from", AdminStore.time(filter.from()))
                .put("to", AdminStore.time(filter.to())));
    }

    /** Request records newest first, with the filters of {@code /admin/v1/logs} but always this account. */
    private Future<JsonObject> logs(RoutingContext ctx, String accountId) {
        UsageQueries.Filter filter = filter(ctx, accountId);
        int limit = UsageQueries.limit(ctx.queryParams().get("limit"));
        return sync.sync().compose(v -> usage.logs(filter, limit, ctx.queryParams().get("cursor")));
    }

    /** The whole catalog with prices and limits, for a signed-in account holder or the admin key. */
    private Future<JsonObject> models(RoutingContext ctx) {
        String token = Authenticator.bearer(ctx.request().getHeader("Authorization"));
        Future<?> allowed = token != null && token.startsWith(SESSION_PREFIX) ? session(ctx) : admin.authenticate(ctx);
        return allowed.map(v -> {
            JsonArray data = new JsonArray();
            catalog.get().models().forEach(m -> data.add(ModelCard.of(m)));
            return new JsonObject().put("data", data);
        });
    }

    private UsageQueries.Filter filter(RoutingContext ctx, String accountId) {
        return UsageQueries.Filter.parse(name -> name.equals("account_id") ? null : ctx.queryParams().get(name),
            usage.clock()).withAccount(accountId).withCatalogIds(catalog.get());
    }

    /** Runs {@code operation} for the account whose session token the request carries, else a 401. */
    private Function<RoutingContext, Future<JsonObject>> signedIn(
        BiFunction<RoutingContext, String, Future<JsonObject>> operation) {
        return ctx -> session(ctx).compose(accountId -> operation.apply(ctx, accountId));
    }

    /** The account of the session token the request carries, else a 401. */
    private Future<String> session(RoutingContext ctx) {
        String token = Authenticator.bearer(ctx.request().getHeader("Authorization"));
        if (token == null || !token.startsWith(SESSION_PREFIX)) {
            return Future.failedFuture(new InvalidApiKey("Sign in to the console first.").toException());
        }
        return store.sessionAccount(ApiKeys.sha256(token)).compose(account -> account.isPresent()
            ? Future.succeededFuture(account.get())
            : Future.failedFuture(new InvalidApiKey("The console session has ended; sign in again.").toException()));
    }
}
