package io.tokenhub.billing;

import com.hazelcast.cluster.Member;
import com.hazelcast.core.HazelcastInstance;
import io.tokenhub.core.Bus;
import io.tokenhub.core.OncePer;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.core.eventbus.DeliveryOptions;
import io.vertx.core.json.JsonObject;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;
import java.util.function.BiFunction;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * {@link PendingElsewhere} over the cluster: each node answers on an event-bus address of its own
 * (its Hazelcast member's id) what it has pending for an account, and a node rebuilding counters asks
 * every other member. A member that does not answer within {@link #ANSWER_MS} is left out (a warning):
 * the rebuild goes on without its charges, as it did before there was a way to ask.
 */
public final class ClusterPending implements PendingElsewhere {

    static final long ANSWER_MS = 500;
    private static final Logger LOG = LoggerFactory.getLogger(ClusterPending.class);
    private final OncePer warnings = new OncePer(10_000);

    private final Vertx vertx;
    private final HazelcastInstance hazelcast;
    private final DeliveryOptions options = new DeliveryOptions().setSendTimeout(ANSWER_MS);

    public ClusterPending(Vertx vertx, HazelcastInstance hazelcast) {
        this.vertx = vertx;
        this.hazelcast = hazelcast;
    }

    /** Answers the other members' questions with what {@code here} says this node has pending. */
    public Future<Void> answerWith(BiFunction<String, String, Counts> here) {
        return vertx.eventBus().<JsonObject>consumer(address(hazelcast.getCluster().getLocalMember().getUuid()),
            message -> message.reply(here.apply(message.body().getString("account"),
                message.body().getString("key")).toJson())).completion();
    }

    @Override
    public Future<Counts> of(String accountId, String keyId) {
        JsonObject question = new JsonObject().put("account", accountId).put("key", keyId);
        List<Future<Counts>> answers = new ArrayList<>();
        for (Member member : hazelcast.getCluster().getMembers()) {
            if (member.localMember()) {
                continue;
            }
            answers.add(vertx.eventBus().<JsonObject>request(address(member.getUuid()), question, options)
                .map(reply -> Counts.fromJson(reply.body()))
                .recover(failure -> {
                    if (warnings.due(System.currentTimeMillis())) {
                        LOG.warn("member {} did not say what it has pending ({}): counters rebuilt without it",
                            member.getUuid(), failure.toString());
                    }
                    return Future.succeededFuture(Counts.NONE);
                }));
        }
        return Future.join(answers).map(v -> answers.stream().map(Future::result)
            .reduce(Counts.NONE, Counts::plus));
    }

    private static String address(UUID member) {
        return Bus.QUOTA_PENDING + member;
    }
}
