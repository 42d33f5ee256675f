package io.tokenhub.billing;

import static org.assertj.core.api.Assertions.assertThat;

import io.vertx.core.Promise;
import org.junit.jupiter.api.Test;

/** What a node's share lets its requests hold, and what each renewal carries: with a clock the test sets. */
class NodeShareTest {

    private static final long NO_CAP = -1;

    private long now = 1_000_000;
    private final NodeShare share = new NodeShare("share:n:1", "acct", "key", NO_CAP, now);

    @Test
    void requestsHoldAtMostTheShareBesideWhatTheOthersHoldAndSpent() {
        renewedTo(1_000);

        assertThat(share.take(600, NO_CAP, now)).isTrue();
        assertThat(share.take(500, NO_CAP, now)).as("600 held, 1 000 in all").isFalse();
        share.charge(600, charge(450), now);
        assertThat(share.take(551, NO_CAP, now)).as("450 spent since the renewal").isFalse();
        assertThat(share.take(550, NO_CAP, now)).isTrue();
        assertThat(share.take(0, 5_000, now)).as("under another cap").isFalse();
    }

    @Test
    void nothingIsTakenWhileARenewalIsOnItsWayAndItKeepsWhatTheRequestsInFlightHold() {
        renewedTo(1_000);
        share.take(300, NO_CAP, now);
        share.take(200, NO_CAP, now);
        share.charge(200, charge(150), now);
        now += NodeShare.CHARGE_MS;

        NodeShare.Renewal r = share.renewal(now);

        assertThat(r.chargeMicroUsd()).isEqualTo(150);
        assertThat(r.heldMicroUsd()).isEqualTo(300);
        assertThat(r.grow()).isTrue();
        assertThat(r.last()).isFalse();
        assertThat(share.take(1, NO_CAP, now)).isFalse();
        assertThat(share.renewal(now)).as("one at a time").isNull();
        share.renewed(r, 2_000);
        assertThat(share.take(1_700, NO_CAP, now)).isTrue();
    }

    @Test
    void aShareIsUsedOnlyWhileItsLastAnsweredRenewalIsFresh() {
        renewedTo(1_000);
        now += NodeShare.FRESH_MS - 1;
        assertThat(share.take(10, NO_CAP, now)).isTrue();
        now += 1;
        assertThat(share.take(10, NO_CAP, now)).isFalse();
    }

    @Test
    void aChargeWaitsForTheNextRenewalAtMostItsDelayAndAnIdleShareIsGivenBackOnlyWithNothingInFlight() {
        renewedTo(1_000);
        share.take(100, NO_CAP, now);
        share.take(100, NO_CAP, now);
        share.charge(100, charge(80), now);
        now += NodeShare.CHARGE_MS - 1;
        assertThat(share.renewal(now)).as("not due yet").isNull();
        now += 1;
        NodeShare.Renewal charged = share.renewal(now);
        assertThat(charged.chargeMicroUsd()).isEqualTo(80);
        share.renewed(charged, 1_000);

        now += NodeShare.IDLE_MS;
        NodeShare.Renewal kept = share.renewal(now);
        assertThat(kept.last()).as("one request still in flight").isFalse();
        assertThat(kept.grow()).as("idle: kept at what is held").isFalse();
        share.renewed(kept, 100);
        share.charge(100, charge(90), now);

        NodeShare.Renewal last = share.renewal(now);
        assertThat(last.last()).isTrue();
        assertThat(last.chargeMicroUsd()).as("the last one carries the charges waiting").isEqualTo(90);
        share.renewed(last, 0);
        assertThat(share.take(0, NO_CAP, now)).as("given back").isFalse();
    }

    @Test
    void aWoundDownShareTakesNothingMoreAndIsGivenBackOnceItsRequestsSettle() {
        renewedTo(1_000);
        share.take(100, NO_CAP, now);
        share.windDown();

        assertThat(share.take(1, NO_CAP, now)).isFalse();
        NodeShare.Renewal r = share.renewal(now);
        assertThat(r.grow()).isFalse();
        assertThat(r.last()).isFalse();
        share.renewed(r, 100);
        share.charge(100, null, now);
        assertThat(share.renewal(now).last()).isTrue();
    }

    @Test
    void aBrokenShareHandsBackTheChargesThatCameAfterItsRenewalAndTakesNoMore() {
        renewedTo(1_000);
        share.take(100, NO_CAP, now);
        share.take(100, NO_CAP, now);
        share.charge(100, charge(70), now);
        NodeShare.Renewal r = share.renewal(now + NodeShare.CHARGE_MS);
        share.charge(100, charge(60), now);

        assertThat(share.broke()).extracting(NodeShare.Charge::microUsd).containsExactly(60L);
        assertThat(r.charges()).extracting(NodeShare.Charge::microUsd).containsExactly(70L);
        assertThat(share.take(1, NO_CAP, now)).isFalse();
        assertThat(share.renewal(now + NodeShare.KEEP_MS)).isNull();
    }

    private void renewedTo(long size) {
        NodeShare.Renewal first = share.renewal(now);
        assertThat(first.grow()).isTrue();
        share.renewed(first, size);
    }

    private static NodeShare.Charge charge(long microUsd) {
        return new NodeShare.Charge(microUsd, Promise.promise());
    }
}
