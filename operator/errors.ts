// The operator's named errors: API failures, reconcile outcomes, bad flags, and the process exit codes.

/** Exit codes of `kubelab-operator`, documented in its --help. */
export const ExitCode = {
  ok: 0,
  /** A fatal runtime failure (the API server unreachable at start, a crash). */
  failure: 1,
  /** Bad flags or kubeconfig: nothing was started. */
  badInput: 2,
  /** Leadership was lost: the process exits so that it never acts beside the new leader. */
  leadershipLost: 3,
} as const;
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];

/** Base class of the operator's errors; `exitCode` applies when one reaches the top level. */
export abstract class OperatorError extends Error {
  abstract readonly exitCode: ExitCode;

  constructor(message: string, options: { cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
  }
}

/** A flag, environment variable or kubeconfig is wrong. */
export class ConfigurationError extends OperatorError {
  readonly exitCode = ExitCode.badInput;
}

/**
 * The API server answered with an error status. Carries the HTTP status and the `reason` of the returned
 * metav1.Status (NotFound, Conflict, AlreadyExists, Expired, TooManyRequests...), which callers switch on.
 */
export class ApiError extends OperatorError {
  readonly exitCode = ExitCode.failure;
  readonly statusCode: number;
  readonly reason: string;
  readonly method: string;
  readonly path: string;
  /** Seconds the server asked to wait before retrying (Retry-After or Status details), if any. */
  readonly retryAfterSeconds: number | undefined;

  constructor(
    method: string,
    path: string,
    statusCode: number,
    reason: string,
    message: string,
    retryAfterSeconds?: number,
  ) {
    super(`${method} ${path}: ${statusCode} ${reason}: ${message}`);
    this.method = method;
    this.path = path;
    this.statusCode = statusCode;
    this.reason = reason;
    this.retryAfterSeconds = retryAfterSeconds;
  }
}

/** The API server could not be reached (connection refused, reset, TLS failure, timeout). */
export class ApiConnectionError extends OperatorError {
  readonly exitCode = ExitCode.failure;
  readonly method: string;
  readonly path: string;

  constructor(method: string, path: string, cause: unknown) {
    super(`${method} ${path}: cannot reach the API server: ${describeCause(cause)}`, { cause });
    this.method = method;
    this.path = path;
  }
}

/** True for a 404 from the API server: on delete it means success, on get "gone". */
export function isNotFound(error: unknown): boolean {
  return error instanceof ApiError && error.statusCode === 404;
}

/** True for a 409 Conflict (stale resourceVersion) or AlreadyExists. */
export function isConflict(error: unknown): boolean {
  return error instanceof ApiError && error.statusCode === 409;
}

/** True when a request is worth trying again: the API server was unreachable, overloaded (429) or failed (5xx). */
export function isTransient(error: unknown): boolean {
  if (error instanceof ApiConnectionError) return true;
  return error instanceof ApiError && (error.statusCode === 429 || error.statusCode >= 500);
}

/**
 * A reconcile failed in a way it can describe. The controller applies the contract (see
 * `Reconciler` in runtime/reconcile.ts): temporary errors are retried, terminal ones are not.
 */
export abstract class ReconcileError extends OperatorError {
  readonly exitCode = ExitCode.failure;
  abstract readonly terminal: boolean;
}

/**
 * Worth retrying: the world may change (a conflict, a PodDisruptionBudget that blocks an eviction). Retried
 * after `retryAfterMs` when given, else with the key's exponential backoff.
 */
export class TemporaryError extends ReconcileError {
  readonly terminal = false;
  readonly retryAfterMs: number | undefined;

  constructor(message: string, options: { cause?: unknown; retryAfterMs?: number } = {}) {
    super(message, options);
    this.retryAfterMs = options.retryAfterMs;
  }
}

/**
 * Retrying cannot help until the object itself changes (an invalid spec the API server's schema could not
 * catch). Not retried; the next change of the object queues it again.
 */
export class TerminalError extends ReconcileError {
  readonly terminal = true;
}

/** The message of an error's cause chain, for one-line logs. */
export function describeCause(cause: unknown): string {
  const parts: string[] = [];
  let current: unknown = cause;
  while (current !== undefined && current !== null && parts.length < 4) {
    if (current instanceof Error) {
      const code = (current as NodeJS.ErrnoException).code;
      parts.push(code === undefined ? current.message : `${current.message} (${code})`);
      current = current.cause;
    } else {
      parts.push(typeof current === "string" ? current : JSON.stringify(current));
      break;
    }
  }
  return parts.join(": ");
}
