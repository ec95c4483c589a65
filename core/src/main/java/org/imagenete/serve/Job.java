package org.imagenete.serve;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;

/**
 * One request's work and its results: its opaque id (the only way to reach them), its folder, the files it made
 * (served by name from {@link #files}, never by a path from the client), the progress events it has sent (kept,
 * so that a late listener hears them all) and its outcome.
 */
final class Job {
    enum State { QUEUED, RUNNING, DONE, FAILED, CANCELLED }

    /** A result file: where it is, how to serve it, and the name a download gets. */
    record Stored(Path path, String contentType, String downloadName, long bytes) {}

    final String id;
    final Path dir;
    final long created;
    final Map<String, Stored> files = new ConcurrentHashMap<>();
    private final List<String> events = new ArrayList<>();
    private final CountDownLatch finished = new CountDownLatch(1);
    private volatile boolean cancelRequested;
    private State state = State.QUEUED;
    private long finishedAt;
    private int status;
    private ObjectNode body;

    Job(String id, Path dir, long created) {
        this.id = id;
        this.dir = dir;
        this.created = created;
    }

    /** Writes a result file (by a writer given its path) under a name that this server chose. */
    interface Writer {
        void write(Path file) throws IOException;
    }

    void store(String name, String contentType, String downloadName, Writer w) throws IOException {
        Path p = dir.resolve(name);
        w.write(p);
        files.put(name, new Stored(p, contentType, downloadName, Files.size(p)));
    }

    long bytes() { return files.values().stream().mapToLong(Stored::bytes).sum(); }

    /** Adds a server-sent event ({@code event: type}, one JSON line of data) and wakes the listeners. */
    synchronized void event(String type, JsonNode data) {
        events.add("event: " + type + "\ndata: " + data + "\n\n");
        notifyAll();
    }

    /** The events from index {@code from} on, waiting up to {@code waitMillis} for one when there are none yet. */
    synchronized List<String> eventsFrom(int from, long waitMillis) throws InterruptedException {
        if (from >= events.size() && !isFinished()) wait(waitMillis);
        return from >= events.size() ? List.of() : List.copyOf(events.subList(from, events.size()));
    }

    synchronized boolean start() {
        if (state != State.QUEUED) return false;
        state = State.RUNNING;
        return true;
    }

    /** The outcome: an HTTP status and the JSON body that a synchronous request gets. */
    synchronized void finish(State s, int httpStatus, ObjectNode result) {
        if (isFinished()) return;
        state = s;
        status = httpStatus;
        body = result;
        finishedAt = System.nanoTime();
        events.add("event: " + switch (s) {
            case DONE -> "done";
            case CANCELLED -> "cancelled";
            default -> "error";
        } + "\ndata: " + result + "\n\n");
        notifyAll();
        finished.countDown();
    }

    /** Asks the running edit to stop at its next diffusion step; a queued one is dropped. */
    synchronized void cancel() {
        cancelRequested = true;
        if (state == State.QUEUED) finish(State.CANCELLED, 409, Http.error("cancelled"));
    }

    boolean cancelRequested() { return cancelRequested; }

    synchronized boolean isFinished() { return state != State.QUEUED && state != State.RUNNING; }

    synchronized State state() { return state; }

    synchronized int status() { return status; }

    synchronized ObjectNode body() { return body; }

    synchronized long finishedAt() { return finishedAt; }

    void await() throws InterruptedException { finished.await(); }
}
