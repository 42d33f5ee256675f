package io.tokenhub.routing;

/**
 * What the dispatcher got and from where.
 *
 * @param fallback true when a candidate after the first served it
 */
public record Served<T>(T result, Attempt attempt, boolean fallback) {
}
