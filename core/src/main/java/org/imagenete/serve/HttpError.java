package org.imagenete.serve;

/** A request refused with an HTTP status and a one-line reason, sent to the client as {@code {"error": reason}}. */
final class HttpError extends RuntimeException {
    private static final long serialVersionUID = 1L;
    final int status;

    HttpError(int status, String reason) {
        super(reason, null, false, false);
        this.status = status;
    }
}
