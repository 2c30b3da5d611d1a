// TetherError is the one error type the client rejects with. Its fields are
// those of the gateway's error body: {"code": "...", "message": "...", "details": ...}.

/** The snake_case gRPC code names the gateway uses in error bodies. */
export type Code =
  | 'canceled'
  | 'unknown'
  | 'invalid_argument'
  | 'deadline_exceeded'
  | 'not_found'
  | 'already_exists'
  | 'permission_denied'
  | 'resource_exhausted'
  | 'failed_precondition'
  | 'aborted'
  | 'out_of_range'
  | 'unimplemented'
  | 'internal'
  | 'unavailable'
  | 'data_loss'
  | 'unauthenticated';

/** An error from Tether: a code, a message and the command's own error value, if any. */
export class TetherError extends Error {
  readonly code: Code | string;
  readonly details: unknown;
  /** The HTTP status of the answer the error came from, if any. */
  status?: number;

  constructor(code: Code | string, message: string, details?: unknown) {
    super(message);
    this.name = 'TetherError';
    this.code = code;
    this.details = details;
  }

  toJSON(): { code: string; message: string; details?: unknown } {
    return this.details === undefined
      ? { code: this.code, message: this.message }
      : { code: this.code, message: this.message, details: this.details };
  }
}

// codeForStatus guesses a code from an HTTP status when a response carries no
// error body of the gateway's shape (a proxy in between, say). It inverts the
// gateway's table where the status is unambiguous.
export function codeForStatus(status: number): Code {
  switch (status) {
    case 400:
      return 'invalid_argument';
    case 401:
      return 'unauthenticated';
    case 403:
      return 'permission_denied';
    case 404:
      return 'not_found';
    case 408:
    case 504:
      return 'deadline_exceeded';
    case 409:
      return 'aborted';
    case 413:
    case 429:
      return 'resource_exhausted';
    case 499:
      return 'canceled';
    case 501:
      return 'unimplemented';
    case 502:
    case 503:
      return 'unavailable';
    default:
      return status >= 500 ? 'internal' : 'unknown';
  }
}

// errorFromBody makes a TetherError from an error body's text. A body that is
// not of the gateway's shape becomes an error whose code comes from the status
// and whose message is the text.
export function errorFromBody(text: string, status: number, statusText = ''): TetherError {
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    body = undefined;
  }
  if (body !== null && typeof body === 'object' && typeof (body as { code?: unknown }).code === 'string') {
    const b = body as { code: string; message?: unknown; details?: unknown };
    const message = typeof b.message === 'string' ? b.message : b.code;
    const err = new TetherError(b.code, message, b.details);
    err.status = status;
    return err;
  }
  const message = text.trim() || statusText || `HTTP ${status}`;
  const err = new TetherError(codeForStatus(status), message);
  err.status = status;
  return err;
}

// toTetherError turns anything thrown while talking to the gateway into a
// TetherError: an abort becomes canceled, a network failure unavailable.
export function toTetherError(err: unknown): TetherError {
  if (err instanceof TetherError) return err;
  const name = (err as { name?: unknown } | null)?.name;
  if (name === 'AbortError') return new TetherError('canceled', 'the request was canceled');
  const message = err instanceof Error ? err.message : String(err);
  return new TetherError('unavailable', `tether: gateway unreachable: ${message}`);
}
