package io.tokenhub.admin;

import static com.microsoft.playwright.assertions.PlaywrightAssertions.assertThat;
import static org.assertj.core.api.Assertions.assertThat;

import com.microsoft.playwright.Browser;
import com.microsoft.playwright.BrowserType;
import com.microsoft.playwright.Page;
import com.microsoft.playwright.Playwright;
import io.tokenhub.testing.FakeUpstreamGateway;
import io.tokenhub.testing.TestGateway;
import io.vertx.core.json.JsonObject;
import java.nio.file.Path;
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
 * sees the request it made, its cost on the chart, and revokes a key. No page error on the way.
 */
class ConsoleBrowserIT {

    /** Where Debian's chromium package puts the browser; .ci/run installs it. */
    private static final Path CHROMIUM = Path.of(System.getenv().getOrDefault("TOKENHUB_TEST_CHROMIUM", "/usr/bin/chromium"));

    @RegisterExtension
    static final FakeUpstreamGateway hub = new FakeUpstreamGateway("gpt-4o-mini", """
        providers:
          - { id: openai, type: openai, base_url: "%s" }
        models:
          - id: gpt-4o-mini
            pricing: { input: 150, output: 600 }
            deployments: [ { provider: openai, model: gpt-4o-mini } ]
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
}
