// The snapshot agent's named errors: each says what failed, with which input, and what to do about it.
import { ExitCode, OperatorError } from "../errors.ts";

/** Base class of the snapshot agent's errors (`kubelab-operator snapshot ...`). */
export abstract class SnapshotError extends OperatorError {}

/** A certificate or key file given for etcd cannot be read or is not PEM. Nothing was contacted. */
export class EtcdCertificateFileError extends SnapshotError {
  readonly exitCode = ExitCode.badInput;
  readonly path: string;
  readonly flag: string;

  constructor(flag: string, path: string, problem: string, cause?: unknown) {
    super(`${flag} ${path}: ${problem}`, { cause });
    this.flag = flag;
    this.path = path;
  }
}

/**
 * The TLS handshake with etcd failed. `side` says who refused: `server` when etcd's certificate is not
 * trusted by our CA file (wrong --cacert, or an endpoint not in the certificate), `client` when etcd
 * rejected our client certificate (wrong --cert/--key, or signed by another CA).
 */
export class EtcdTlsError extends SnapshotError {
  readonly exitCode = ExitCode.badInput;
  readonly endpoint: string;
  readonly side: "server" | "client";

  constructor(endpoint: string, side: "server" | "client", message: string, cause?: unknown) {
    super(message, { cause });
    this.endpoint = endpoint;
    this.side = side;
  }
}

/** etcd did not answer: nothing listens at the endpoint, or it timed out. */
export class EtcdUnavailableError extends SnapshotError {
  readonly exitCode = ExitCode.failure;
  readonly endpoint: string;

  constructor(endpoint: string, detail: string, cause?: unknown) {
    super(
      `etcd at ${endpoint} is unavailable: ${detail}. Check --endpoint and that etcd runs ` +
        "(on a kubeadm node: crictl ps --name etcd)",
      { cause },
    );
    this.endpoint = endpoint;
  }
}

/** etcd answered a request with an error status (permission denied, compacted revision, ...). */
export class EtcdRequestError extends SnapshotError {
  readonly exitCode = ExitCode.failure;
  readonly endpoint: string;
  readonly method: string;
  /** The gRPC status code name (PERMISSION_DENIED, OUT_OF_RANGE...). */
  readonly code: string;

  constructor(endpoint: string, method: string, code: string, detail: string, cause?: unknown) {
    super(`etcd at ${endpoint}: ${method} failed: ${code}: ${detail}`, { cause });
    this.endpoint = endpoint;
    this.method = method;
    this.code = code;
  }
}

/**
 * The snapshot stream did not deliver a whole, intact database: it ended early, carried more or fewer bytes
 * than announced, or its trailing sha256 did not match the bytes received. Nothing was kept.
 */
export class SnapshotStreamError extends SnapshotError {
  readonly exitCode = ExitCode.failure;
}

/** Reading or writing the backup directory failed (full disk, permissions, read-only mount). */
export class SnapshotStorageError extends SnapshotError {
  readonly exitCode = ExitCode.failure;
  readonly path: string;

  constructor(path: string, action: string, cause: unknown) {
    const code = (cause as NodeJS.ErrnoException | undefined)?.code;
    const hint =
      code === "ENOSPC"
        ? " (no space left: lower spec.etcdBackup.retain or free the disk)"
        : code === "EACCES" || code === "EPERM" || code === "EROFS"
          ? " (not writable: check the backup directory's mount and owner)"
          : "";
    super(`${action} ${path}: ${(cause as Error | undefined)?.message ?? String(cause)}${hint}`, { cause });
    this.path = path;
  }
}

/**
 * A snapshot failed verification: it is not restorable, or it does not hold what the record or the live
 * etcd says it should. It was moved to `quarantinedTo` (or deleted when that is undefined) and not recorded.
 */
export class SnapshotVerificationError extends SnapshotError {
  readonly exitCode = ExitCode.failure;
  readonly snapshot: string;
  readonly problems: readonly string[];
  readonly quarantinedTo: string | undefined;

  constructor(snapshot: string, problems: readonly string[], quarantinedTo: string | undefined) {
    super(
      `snapshot ${snapshot} failed verification: ${problems.join("; ")}` +
        (quarantinedTo === undefined ? "" : `; moved to ${quarantinedTo}`),
    );
    this.snapshot = snapshot;
    this.problems = problems;
    this.quarantinedTo = quarantinedTo;
  }
}

/** etcdutl is missing, or failed in a way that is not a verdict on the snapshot. */
export class EtcdutlError extends SnapshotError {
  readonly exitCode = ExitCode.failure;
}

/** No recorded snapshot of that name in the backup directory. */
export class SnapshotNotFoundError extends SnapshotError {
  readonly exitCode = ExitCode.badInput;
}

/** The run was interrupted (SIGTERM from the Job's deadline, Ctrl-C); nothing complete-looking was left. */
export class SnapshotInterruptedError extends SnapshotError {
  readonly exitCode = ExitCode.failure;
}

/** A restore would overwrite something: the target data directory exists already. Nothing was changed. */
export class RestoreTargetExistsError extends SnapshotError {
  readonly exitCode = ExitCode.badInput;
}
