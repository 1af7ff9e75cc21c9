package dev.tokenpipe.openai;

/** Carries an {@link ApiError} out of request parsing or routing to the code that answers. */
public final class ApiException extends RuntimeException {
  private final transient ApiError error;

  public ApiException(ApiError error) {
    super(error.message(), null, false, false);
    this.error = error;
  }

  public ApiError error() {
    return error;
  }
}
