package io.tokenhub.admin;

import static com.microsoft.playwright.assertions.PlaywrightAssertions.assertThat;
import static org.assertj.core.api.Assertions.assertThat;

import com.microsoft.playwright.Browser;
import com.microsoft.playwright.BrowserType;
import com.microsoft.playwright.Locator;
import com.microsoft.playwright.Page;
import com.microsoft.playwright.Playwright;
import com.microsoft.playwright.options.AriaRole;
import com.microsoft.playwright.options.BoundingBox;
import io.tokenhub.testing.FakeUpstreamGateway;
import io.tokenhub.testing.TestGateway;
import io.vertx.core.json.JsonObject;
import java.nio.file.Path;
import java.time.LocalDate;
import java.time.ZoneOffset;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.regex.Pattern;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * The console in a real browser (Debian's Chromium, driven by Playwright): an operator signs in
 * with the admin key and gives a key to an account; its holder signs in with email and password,
 * sees the request it made, its cost on the chart, and revokes a key, with no page error on the
 * way; and what a holder sees agrees with what the gateway charges and records (the tests after the
 * first came from an audit: each failed before its fix).
 */
class ConsoleBrowserIT {

    /** Where Debian's chromium package puts the browser; .ci/run installs it. */
    private static final Path CHROMIUM = Path.of(System.getenv().getOrDefault("TOKENHUB_TEST_CHROMIUM", "/usr/bin/chromium"));
    private static final String PASSWORD = "holder-password";
    private static final String CHAT = "{\"model\":\"gpt-4o-mini\",\"max_tokens\":10,\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}";

    @RegisterExtension
    static final FakeUpstreamGateway hub = new FakeUpstreamGateway("gpt-4o-mini", """
        providers:
          - { id: mock, type: mock }
          - { id: openai, type: openai, base_url: "%s" }
        models:
          - id: gpt-4o-mini
            pricing: { input: 150, output: 600 }
            deployments: [ { provider: openai, model: gpt-4o-mini } ]
          - id: cache-chat
            pricing: { input: 3, cached_input: 0.3, cache_write: 3.75, output: 15 }
            deployments: [ { provider: openai, model: cache-chat } ]
          - id: tokened-rerank
            type: rerank
            pricing: { per_search: 0.002, input: 1000 }
            deployments: [ { provider: mock, model: mock-rerank-v1 } ]
        """, "billing: { signup_credit_usd: 5 }");

    static Playwright playwright;
    static Browser browser;

    @BeforeAll
    static void startBrowser() {
        playwright = Playwright.create(new Playwright.CreateOptions()
            .setEnv(Map.of("PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD", "1")));
        browser = playwright.chromium().launch(new BrowserType.LaunchOptions().setExecutablePath(CHROMIUM)
            .setArgs(List.of("--no-sandbox")).setHeadless(true));
    }

    @AfterAll
    static void stopBrowser() {
        if (browser != null) {
            browser.close();
        }
        if (playwright != null) {
            playwright.close();
        }
    }

    /** An account with a password; its id. */
    private static JsonObject holder(String email) {
        return hub.gateway().adminOk("POST", "/admin/v1/accounts",
            new JsonObject().put("name", "Audit holder").put("email", email).put("password", PASSWORD));
    }

    private static String key(JsonObject account, String name) {
        return hub.gateway().adminOk("POST", "/admin/v1/keys",
            new JsonObject().put("account_id", account.getString("id")).put("name", name)).getString("key");
    }

    private static Page signedIn(String email) {
        Page page = browser.newPage();
        page.onDialog(dialog -> dialog.accept());
        page.navigate(hub.gateway().url("/console"));
        page.fill("#email", email);
        page.fill("#password", PASSWORD);
        page.click("#account-form button");
        assertThat(page.locator("#balance")).containsText("$");
        return page;
    }

    private static String email(String what) {
        return what + "-" + System.nanoTime() + "@example.com";
    }

    @Test
    void anOperatorGivesAKeyAndItsHolderSeesTheRequestItsCostAndRevokesAKey() {
        TestGateway gateway = hub.gateway();
        // Given an account with a password, a key of it used once
        String email = "browser-" + System.nanoTime() + "@example.com";
        JsonObject account = gateway.adminOk("POST", "/admin/v1/accounts",
            new JsonObject().put("name", "Browser <i>Holder</i>").put("email", email).put("password", "holder-password"));
        String key = gateway.adminOk("POST", "/admin/v1/keys",
            new JsonObject().put("account_id", account.getString("id")).put("name", "cli")).getString("key");
        String requestId = gateway.post("/v1/chat/completions", key,
                "{\"model\":\"gpt-4o-mini\",\"max_tokens\":10,\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}")
            .headers().firstValue("X-Request-Id").orElseThrow();
        List<String> pageErrors = new ArrayList<>();
        Page page = browser.newPage();
        page.onPageError(pageErrors::add);
        page.onConsoleMessage(message -> {
            if (message.type().equals("error")) {
                pageErrors.add(message.text());
            }
        });
        page.onDialog(dialog -> dialog.accept());

        // When the operator signs in with the admin key, opens the account and creates a key for it
        page.navigate(gateway.url("/console"));
        page.click("#as-admin");
        page.fill("#admin-key", TestGateway.MASTER_KEY);
        page.click("#admin-form button");
        page.getByText("Browser <i>Holder</i>").first().click();
        page.fill("input[name=name]", "from-the-console");
        page.click("text=Create key");

        // Then the new key is shown once, the account's name as text (not markup)
        assertThat(page.locator("#new-key")).containsText("th-");
        assertThat(page.locator("#view")).containsText("Browser <i>Holder</i>");
        // and the operator's request log says whose request each one was: the account and the key
        page.click("nav button[data-page=Logs]");
        Locator logged = page.locator("tr", new Page.LocatorOptions().setHasText(requestId));
        assertThat(logged).containsText(account.getString("id"));
        assertThat(logged).containsText(gateway.adminOk("GET", "/admin/v1/keys?account_id=" + account.getString("id"),
            null).getJsonArray("data").getJsonObject(0).getString("id"));

        // When the holder signs in and looks at the overview, usage, logs and keys
        page.click("#signout");
        page.fill("#email", email);
        page.fill("#password", "holder-password");
        page.click("#account-form button");
        assertThat(page.locator("#balance")).containsText("$");
        page.click("nav button[data-page=Usage]");
        assertThat(page.locator("#view")).containsText("Cost by day");
        assertThat(page.locator("svg.chart rect title", new Page.LocatorOptions().setHasText("gpt-4o-mini")))
            .hasText(Pattern.compile("gpt-4o-mini: \\$0\\.\\d*[1-9]"));
        page.click("nav button[data-page=Logs]");
        assertThat(page.locator("#view table")).containsText(requestId);
        page.click("nav button[data-page=Keys]");
        assertThat(page.locator("#view")).containsText("from-the-console");
        page.locator("tr", new Page.LocatorOptions().setHasText("from-the-console")).locator("text=Revoke").click();

        // Then that key is revoked, for the gateway too, and the page raised no error
        assertThat(page.locator("tr", new Page.LocatorOptions().setHasText("from-the-console")))
            .containsText("revoked");
        assertThat(gateway.adminOk("GET", "/admin/v1/keys?account_id=" + account.getString("id"), null)
            .getJsonArray("data").stream().map(JsonObject.class::cast)
            .filter(k -> k.getString("name").equals("from-the-console")).findFirst().orElseThrow()
            .getString("status")).isEqualTo("revoked");
        assertThat(pageErrors).isEmpty();
    }

    // ------------------------------------------------------------------ catalog

    @Test
    void theCatalogShowsEveryPriceAModelIsChargedBy() {
        String email = email("catalog");
        holder(email);
        Page page = signedIn(email);

        page.click("nav button[data-page=Models]");
        Locator rerank = page.locator("tr", new Page.LocatorOptions().setHasText("tokened-rerank"));
        Locator cacheChat = page.locator("tr", new Page.LocatorOptions().setHasText("cache-chat"));
        assertThat(rerank).containsText("per search");

        // /v1/models and /console/api/models carry these prices, and the gateway charges them
        JsonObject card = new JsonObject(hub.gateway().get("/console/api/models",
            TestGateway.MASTER_KEY).body()).getJsonArray("data").stream().map(JsonObject.class::cast)
            .filter(m -> m.getString("id").equals("tokened-rerank")).findFirst().orElseThrow();
        assertThat(card.getJsonObject("pricing").getDouble("input")).isEqualTo(1000.0);

        assertThat(cacheChat).containsText("cached");
        org.assertj.core.api.SoftAssertions soft = new org.assertj.core.api.SoftAssertions();
        // A rerank model's per-token price (charged on top of the search) is on its row
        soft.assertThat(rerank.innerText()).as("rerank row").contains("1000");
        // A chat model's cache-write price (charged for prompt tokens written to the cache) is on its row
        soft.assertThat(cacheChat.innerText()).as("cache-chat row").contains("3.75");
        soft.assertAll();
    }

    // ------------------------------------------------------------------ usage charts

    @Test
    void theCostByDayChartCoversTheWholeRangeAskedForUpToToday() {
        String email = email("range");
        JsonObject account = holder(email);
        String key = key(account, "cli");
        assertThat(hub.gateway().post("/v1/chat/completions", key, CHAT).statusCode()).isEqualTo(200);
        String today = LocalDate.now(ZoneOffset.UTC).toString();
        Page page = signedIn(email);

        // When the holder looks at the last 200 days
        page.click("nav button[data-page=Usage]");
        assertThat(page.locator("#view")).containsText("Cost by day");
        String from = LocalDate.now(ZoneOffset.UTC).minusDays(200).toString();
        page.locator("#view input[type=date]").first().fill(from);
        page.click("text=Show");

        // Then (once the chart is redrawn from that day) the table holds today's request, and so does the chart by day
        Locator dayChart = page.locator("svg.chart").first();
        assertThat(dayChart.locator("rect title").first()).hasText(Pattern.compile("^" + from + ": "));
        assertThat(page.locator("#view table")).containsText(today);
        assertThat(dayChart.locator("title", new Locator.LocatorOptions().setHasText(today + ": $")))
            .hasCount(1);
    }

    @Test
    void theChartsHaveAnAccessibleName() {
        String email = email("a11y");
        JsonObject account = holder(email);
        assertThat(hub.gateway().post("/v1/chat/completions", key(account, "cli"), CHAT).statusCode()).isEqualTo(200);
        Page page = signedIn(email);

        page.click("nav button[data-page=Usage]");
        assertThat(page.locator("svg.chart")).hasCount(2);

        // role=img with no name is an image without alt text to a screen reader
        assertThat(page.getByRole(AriaRole.IMG, new Page.GetByRoleOptions()
            .setName(Pattern.compile("cost by day", Pattern.CASE_INSENSITIVE)))).hasCount(1);
        assertThat(page.getByRole(AriaRole.IMG, new Page.GetByRoleOptions()
            .setName(Pattern.compile("cost by model", Pattern.CASE_INSENSITIVE)))).hasCount(1);
    }

    // ------------------------------------------------------------------ keys

    @Test
    void aLongKeyNameDoesNotPushTheRevokeButtonOffThePage() {
        String email = email("longname");
        JsonObject account = holder(email);
        String name = "k".repeat(200);
        key(account, name);
        Page page = signedIn(email);
        page.setViewportSize(1280, 800);

        page.click("nav button[data-page=Keys]");
        Locator revoke = page.locator("tr", new Page.LocatorOptions().setHasText(name)).locator("text=Revoke");
        assertThat(revoke).isVisible();
        BoundingBox box = revoke.boundingBox();
        Object scrollWidth = page.evaluate("document.documentElement.scrollWidth");
        assertThat(box.x + box.width).as("right edge of the Revoke button (page is %s px wide)", scrollWidth)
            .isLessThanOrEqualTo(1280);
    }

    @Test
    void aDoubleClickOnCreateKeyMakesOneKeyOrShowsEveryKeyItMade() {
        String email = email("dbl");
        JsonObject account = holder(email);
        Page page = signedIn(email);

        page.click("nav button[data-page=Keys]");
        page.fill("input[name=name]", "twice");
        page.dblclick("text=Create key");
        assertThat(page.locator("#new-key")).containsText("th-");
        // The list drawn again after the creation (a second creation would draw it once more)
        assertThat(page.locator("tr", new Page.LocatorOptions().setHasText("twice")).first()).isVisible();

        List<JsonObject> made = new ArrayList<>();
        hub.gateway().adminOk("GET", "/admin/v1/keys?account_id=" + account.getString("id"), null)
            .getJsonArray("data").forEach(k -> made.add((JsonObject) k));
        int shown = page.locator("#new-key").count();
        assertThat(made).as("keys created by one double click; %s shown", shown).hasSize(shown);
    }

    @Test
    void anExpiredKeyIsNotShownAsAnActiveKey() {
        String email = email("expired");
        JsonObject account = holder(email);
        String yesterday = LocalDate.now(ZoneOffset.UTC).minusDays(1).toString();
        String key = hub.gateway().adminOk("POST", "/admin/v1/keys", new JsonObject()
            .put("account_id", account.getString("id")).put("name", "old-laptop")
            .put("expires_at", yesterday + "T00:00:00Z")).getString("key");
        // The gateway refuses it
        assertThat(hub.gateway().post("/v1/chat/completions", key, CHAT).statusCode()).isEqualTo(401);

        Page page = signedIn(email);
        page.click("nav button[data-page=Keys]");
        Locator row = page.locator("tr", new Page.LocatorOptions().setHasText("old-laptop"));
        assertThat(row).isVisible();
        assertThat(row).containsText(Pattern.compile("expired|" + yesterday, Pattern.CASE_INSENSITIVE));
    }

    @Test
    void theKeyIdTheLogsFilterAsksForIsShownSomewhere() {
        String email = email("keyid");
        JsonObject account = holder(email);
        JsonObject created = hub.gateway().adminOk("POST", "/admin/v1/keys",
            new JsonObject().put("account_id", account.getString("id")).put("name", "ci"));
        assertThat(hub.gateway().post("/v1/chat/completions", created.getString("key"), CHAT).statusCode())
            .isEqualTo(200);
        Page page = signedIn(email);

        page.click("nav button[data-page=Logs]");
        assertThat(page.locator("#view")).containsText("Key id");
        String logsPage = page.locator("#view").innerText();
        page.click("nav button[data-page=Keys]");
        assertThat(page.locator("#view")).containsText("ci");
        String keysPage = page.locator("#view").innerText();
        assertThat(keysPage + logsPage).as("the key's id, to type into the Logs page's 'Key id' filter")
            .contains(created.getString("id"));
    }

    // ------------------------------------------------------------------ logs paging

    @Test
    void aDoubleClickOnMoreDoesNotRepeatRecords() {
        String email = email("paging");
        JsonObject account = holder(email);
        String key = key(account, "cli");
        List<String> ids = new ArrayList<>();
        for (int i = 0; i < 51; i++) {
            ids.add(hub.gateway().post("/v1/chat/completions", key, CHAT).headers().firstValue("X-Request-Id").orElseThrow());
        }
        Page page = signedIn(email);

        page.click("nav button[data-page=Logs]");
        assertThat(page.locator("#view tbody tr")).hasCount(50);
        page.locator("text=More").dblclick();
        assertThat(page.locator("#view tbody tr").nth(50)).isVisible();
        assertThat(page.locator("text=More")).isHidden();

        List<String> shown = page.locator("#view tbody tr td:nth-child(2)").allInnerTexts();
        assertThat(shown).as("request ids listed").doesNotHaveDuplicates().hasSize(51);
        assertThat(shown).containsExactlyInAnyOrderElementsOf(ids);
    }
}
