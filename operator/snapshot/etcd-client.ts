// A minimal etcd v3 gRPC client over mutual TLS: member status, key counts and the snapshot stream.
import { readFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import protobuf from "protobufjs";

import {
  EtcdCertificateFileError,
  EtcdRequestError,
  EtcdTlsError,
  EtcdUnavailableError,
  SnapshotStreamError,
} from "./errors.ts";
import { GrpcChannel, GrpcDeadlineError, GrpcStatusError } from "./grpc.ts";

/**
 * Why the agent talks gRPC itself and does not run `etcdctl snapshot save`: it streams etcd's
 * Maintenance.Snapshot, so in one pass it writes the file, computes the file's sha256 and checks the sha256
 * trailer etcd appends (etcdctl only checks that a trailer is present), fsyncs the file and its directory
 * (etcdctl does not fsync the directory) and names the temporary file itself. Memory stays flat: messages
 * are pulled one at a time and written before more is read (see grpc.ts for the flow control). TLS failures
 * surface in-process with their error codes, so an error can name the certificate that was refused.
 * etcdutl (of the cluster's etcd version, shipped in the image) is still used to verify, because restoring
 * with it is exactly what a real restore does.
 */
export const ETCD_PROTO_PATH = fileURLToPath(new URL("./etcd-rpc.proto", import.meta.url));

/** Where etcd is and the client credentials to reach it (kubeadm: /etc/kubernetes/pki/etcd). */
export interface EtcdConnectionOptions {
  /** `https://host:port`; one member (a snapshot comes from one member). */
  readonly endpoint: string;
  readonly caCertPath: string;
  readonly certPath: string;
  readonly keyPath: string;
  /** Deadline of unary calls and of establishing the connection. Default 10 s. */
  readonly requestTimeoutMs?: number;
}

/** What Maintenance.Status says about the member. */
export interface EtcdMemberStatus {
  /** Server version, such as 3.6.8. */
  readonly version: string;
  /** Storage (db file) version, such as 3.6.0; empty before 3.6. */
  readonly storageVersion: string;
  readonly revision: number;
  readonly dbSize: number;
  readonly dbSizeInUse: number;
  readonly isLearner: boolean;
  readonly errors: readonly string[];
}

/** One message of the snapshot stream. The last one's blob is etcd's sha256 of the preceding bytes. */
export interface SnapshotChunk {
  readonly blob: Buffer;
  /** Bytes of the database still to come after this message (0 on the last data message and the trailer). */
  readonly remainingBytes: number;
  /** Storage version of the member that made the snapshot (etcd >= 3.6; "" before). */
  readonly version: string;
}

interface ResponseHeader {
  readonly revision: string;
}
interface StatusResponse {
  readonly header?: ResponseHeader;
  readonly version: string;
  readonly dbSize: string;
  readonly dbSizeInUse: string;
  readonly isLearner: boolean;
  readonly errors: string[];
  readonly storageVersion: string;
}
interface RangeResponse {
  readonly header?: ResponseHeader;
  readonly count: string;
}
interface SnapshotResponse {
  readonly remainingBytes: string;
  readonly blob: Buffer;
  readonly version: string;
}
interface PutResponse {
  readonly header?: ResponseHeader;
}

let root: protobuf.Root | undefined;

/** A message type of etcd-rpc.proto (loaded once). */
function messageType(name: string): protobuf.Type {
  root ??= protobuf.loadSync(ETCD_PROTO_PATH);
  return root.lookupType(`etcdserverpb.${name}`);
}

/** Protobuf bytes -> a plain object: 64-bit integers as strings (nothing rounded), defaults filled. */
function decode<T>(type: string, bytes: Buffer): T {
  const messageClass = messageType(type);
  return messageClass.toObject(messageClass.decode(bytes), { longs: String, defaults: true }) as T;
}

function encode(type: string, message: Record<string, unknown>): Uint8Array {
  const messageClass = messageType(type);
  return messageClass.encode(messageClass.fromObject(message)).finish();
}

/** The first key and the range end that select every key (`\0`, `\0`). */
const ALL_KEYS = Buffer.from([0]);

/**
 * A connection to one etcd member. Calls fail fast (no wait for a connection that cannot be made) and map
 * gRPC failures to the named errors of errors.ts, so a wrong certificate reads as one.
 */
export class EtcdClient {
  readonly endpoint: string;
  #channel: GrpcChannel;
  #options: EtcdConnectionOptions;

  private constructor(options: EtcdConnectionOptions, channel: GrpcChannel) {
    this.endpoint = options.endpoint;
    this.#options = options;
    this.#channel = channel;
  }

  /** Reads the credentials (clear errors for a missing or malformed file); connects on the first call. */
  static async connect(options: EtcdConnectionOptions): Promise<EtcdClient> {
    const url = `https://${grpcTarget(options.endpoint)}`;
    // One at a time, so that the error names the first bad flag, always the same one.
    const ca = await readPem("--cacert", options.caCertPath, "CERTIFICATE");
    const cert = await readPem("--cert", options.certPath, "CERTIFICATE");
    const key = await readPem("--key", options.keyPath, "PRIVATE KEY");
    return new EtcdClient(options, new GrpcChannel({ url, ca, cert, key }));
  }

  /** Maintenance.Status of the member. */
  async status(): Promise<EtcdMemberStatus> {
    const response = await this.#unary<StatusResponse>("Maintenance", "Status", "StatusRequest", {});
    return {
      version: response.version,
      storageVersion: response.storageVersion,
      revision: toNumber(response.header?.revision ?? "0"),
      dbSize: toNumber(response.dbSize),
      dbSizeInUse: toNumber(response.dbSizeInUse),
      isLearner: response.isLearner,
      errors: response.errors,
    };
  }

  /**
   * The number of keys at `revision` (0: now), from a count-only range over the whole key space. A compacted
   * revision fails with EtcdRequestError code OUT_OF_RANGE.
   */
  async countKeys(revision = 0): Promise<{ count: number; revision: number }> {
    const response = await this.#unary<RangeResponse>("KV", "Range", "RangeRequest", {
      key: ALL_KEYS,
      rangeEnd: ALL_KEYS,
      revision: String(revision),
      countOnly: true,
    });
    return { count: toNumber(response.count), revision: toNumber(response.header?.revision ?? "0") };
  }

  /** Writes a key (tests and benchmarks load data with it; the agent never writes to etcd). */
  async put(key: string | Buffer, value: Buffer | string): Promise<number> {
    const response = await this.#unary<PutResponse>("KV", "Put", "PutRequest", {
      key: Buffer.from(key),
      value: Buffer.from(value),
    });
    return toNumber(response.header?.revision ?? "0");
  }

  /**
   * Maintenance.Snapshot as an async iterable of messages. The consumer pulls: HTTP/2 flow control stops
   * etcd while a message is being written, so memory does not grow with the snapshot. `signal` cancels.
   */
  async *snapshot(signal?: AbortSignal): AsyncGenerator<SnapshotChunk, void, void> {
    const path = "/etcdserverpb.Maintenance/Snapshot";
    try {
      for await (const bytes of this.#channel.serverStream(path, encode("SnapshotRequest", {}), signal)) {
        const message = decode<SnapshotResponse>("SnapshotResponse", bytes);
        yield {
          blob: message.blob,
          remainingBytes: toNumber(message.remainingBytes),
          version: message.version,
        };
      }
    } catch (error) {
      if (signal?.aborted === true) throw signal.reason;
      throw translateError(this.#options, "Maintenance.Snapshot", error);
    }
  }

  close(): void {
    this.#channel.close();
  }

  [Symbol.dispose](): void {
    this.close();
  }

  async #unary<T>(
    service: "KV" | "Maintenance",
    name: string,
    requestType: string,
    request: Record<string, unknown>,
  ): Promise<T> {
    const responseType = requestType.replace(/Request$/, "Response");
    try {
      const bytes = await this.#channel.unary(
        `/etcdserverpb.${service}/${name}`,
        encode(requestType, request),
        this.#options.requestTimeoutMs ?? 10_000,
      );
      return decode<T>(responseType, bytes);
    } catch (error) {
      throw translateError(this.#options, `${service}.${name}`, error);
    }
  }
}

/** Node's codes for a server certificate our CA file does not vouch for (or that names another host). */
const SERVER_CERTIFICATE_CODES = new Set([
  "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
  "UNABLE_TO_GET_ISSUER_CERT",
  "UNABLE_TO_GET_ISSUER_CERT_LOCALLY",
  "SELF_SIGNED_CERT_IN_CHAIN",
  "DEPTH_ZERO_SELF_SIGNED_CERT",
  "CERT_SIGNATURE_FAILURE",
  "CERT_UNTRUSTED",
  "CERT_HAS_EXPIRED",
  "CERT_NOT_YET_VALID",
  "CERT_REVOKED",
  "ERR_TLS_CERT_ALTNAME_INVALID",
]);

/**
 * Which side of a TLS handshake refused, from Node's error code. `server`: our CA does not vouch for etcd's
 * certificate (or its names). `client`: etcd sent an alert about our certificate (unknown CA, bad,
 * expired or missing certificate).
 */
export function classifyTlsFailure(code: string | undefined): "server" | "client" | undefined {
  if (code === undefined) return undefined;
  if (SERVER_CERTIFICATE_CODES.has(code)) return "server";
  if (
    /^ERR_SSL_(SSLV3|TLSV1|TLSV13)_ALERT_(UNKNOWN_CA|BAD_CERTIFICATE|CERTIFICATE_REQUIRED|CERTIFICATE_EXPIRED|CERTIFICATE_UNKNOWN|CERTIFICATE_REVOKED|UNSUPPORTED_CERTIFICATE|DECRYPT_ERROR|HANDSHAKE_FAILURE|ACCESS_DENIED)$/.test(
      code,
    )
  ) {
    return "client";
  }
  return undefined;
}

/**
 * Maps a failure of a call to EtcdTlsError (naming the certificate), EtcdCertificateFileError (a key that
 * does not match its certificate), EtcdUnavailableError or EtcdRequestError; anything else passes through.
 */
export function translateError(
  options: Pick<EtcdConnectionOptions, "endpoint" | "caCertPath" | "certPath" | "keyPath">,
  methodName: string,
  error: unknown,
): Error {
  const { endpoint } = options;
  if (error instanceof GrpcStatusError) {
    if (error.code === 14) return new EtcdUnavailableError(endpoint, error.details, error);
    if (error.code === 4) return new EtcdUnavailableError(endpoint, `${methodName} timed out`, error);
    return new EtcdRequestError(endpoint, methodName, error.codeName, error.details, error);
  }
  if (error instanceof GrpcDeadlineError) {
    return new EtcdUnavailableError(endpoint, `${methodName} timed out`, error);
  }
  if (!(error instanceof Error)) return new Error(String(error));
  const code = (error as NodeJS.ErrnoException).code;
  const reason = error.message
    .replace(/^[^:]*:error:[0-9A-F]+:SSL routines:[^:]*:([^:]+):.*$/s, "$1")
    .replace(/; if the root CA is installed locally.*$/s, "");
  switch (classifyTlsFailure(code)) {
    case "server":
      return new EtcdTlsError(
        endpoint,
        "server",
        `cannot verify etcd's certificate at ${endpoint} with --cacert ${options.caCertPath} ` +
          `(${reason}). Use the etcd CA (kubeadm: /etc/kubernetes/pki/etcd/ca.crt) and an endpoint named ` +
          "in etcd's server certificate (kubeadm: https://127.0.0.1:2379)",
        error,
      );
    case "client":
      return new EtcdTlsError(
        endpoint,
        "client",
        `etcd at ${endpoint} rejected the client certificate --cert ${options.certPath} (${reason}). ` +
          "Use a client certificate signed by etcd's CA with its key " +
          "(kubeadm: /etc/kubernetes/pki/etcd/healthcheck-client.crt and .key)",
        error,
      );
    case undefined:
      break;
  }
  if (code === "ERR_OSSL_X509_KEY_VALUES_MISMATCH" || /key values mismatch/i.test(error.message)) {
    return new EtcdCertificateFileError(
      "--key",
      options.keyPath,
      `is not the key of --cert ${options.certPath}`,
    );
  }
  if (code !== undefined && /^(E[A-Z0-9]+|ERR_(HTTP2|SSL|TLS)_\w+)$/.test(code)) {
    return new EtcdUnavailableError(endpoint, `${error.message} (${code})`, error);
  }
  return error;
}

/** `https://127.0.0.1:2379` -> `127.0.0.1:2379`. Plain http is refused: etcd's client port is mTLS. */
export function grpcTarget(endpoint: string): string {
  let url: URL;
  try {
    url = new URL(endpoint);
  } catch {
    throw new EtcdCertificateFileError("--endpoint", endpoint, "not a URL (expected https://host:port)");
  }
  if (url.protocol !== "https:") {
    throw new EtcdCertificateFileError(
      "--endpoint",
      endpoint,
      "must be https:// (etcd's client port uses mutual TLS; kubeadm: https://127.0.0.1:2379)",
    );
  }
  return `${url.hostname}:${url.port === "" ? "2379" : url.port}`;
}

async function readPem(flag: string, path: string, kind: "CERTIFICATE" | "PRIVATE KEY"): Promise<Buffer> {
  let content: Buffer;
  try {
    content = await readFile(path);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const problem =
      code === "ENOENT"
        ? "no such file"
        : code === "EACCES"
          ? "permission denied (the agent must run as root on the control-plane node, or be given read access)"
          : (error as Error).message;
    throw new EtcdCertificateFileError(flag, path, problem, error);
  }
  const marker = new RegExp(`-----BEGIN [A-Z ]*${kind}-----`);
  if (!marker.test(content.toString("latin1"))) {
    throw new EtcdCertificateFileError(flag, path, `not a PEM ${kind.toLowerCase()}`);
  }
  return content;
}

/** int64/uint64 from proto-loader (strings, so that nothing is silently rounded) to a safe number. */
function toNumber(value: string): number {
  const parsed = Number(value);
  if (!Number.isSafeInteger(parsed)) {
    throw new SnapshotStreamError(`etcd sent a number beyond 2^53: ${value}`);
  }
  return parsed;
}
