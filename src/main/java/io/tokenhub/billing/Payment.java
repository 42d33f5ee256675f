package io.tokenhub.billing;

import java.util.Map;

/** How a settled request was paid: tokens drawn from plans, and money from the wallet. */
public record Payment(Map<String, Long> planDraws, long walletMicroUsd) {

    public static final Payment NONE = new Payment(Map.of(), 0);
}
