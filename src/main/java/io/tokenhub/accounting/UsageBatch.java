package io.tokenhub.accounting;

import java.util.List;

/** Usage events handed from one API event loop to the accounting verticle in one message. */
public record UsageBatch(List<UsageEvent> events) {
}
