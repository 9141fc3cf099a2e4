// A minimal etcd v3 gRPC client over mutual TLS: member status, key counts and the snapshot stream.
import { readFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";

import {
  EtcdCertificateFileError,
  EtcdRequestError,
  EtcdTlsError,
  EtcdUnavailableError,
  SnapshotStreamError,
} from "./errors.ts";

/**
 * Why a gRPC client and not `etcdctl snapshot save`: the agent streams etcd's Maintenance.Snapshot itself,
 * so in one pass it writes the file, computes the file's sha256 and checks the sha256 trailer etcd appends
 * (etcdctl only checks that a trailer is present), fsyncs the file and its directory (etcdctl does not
 * fsync the directory) and names the temporary file itself. Memory stays flat: messages are pulled one at
 * a time and written before the next one is read. TLS failures surface in-process, so an error can name
 * the certificate that was refused. etcdutl (of the cluster's etcd version, shipped in the image) is still
 * used to verify, because restoring with it is exactly what a real restore does.
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
  readonly header: ResponseHeader | null;
  readonly version: string;
  readonly dbSize: string;
  readonly dbSizeInUse: string;
  readonly isLearner: boolean;
  readonly errors: string[];
  readonly storageVersion: string;
}
interface RangeResponse {
  readonly header: ResponseHeader | null;
  readonly count: string;
}
interface SnapshotResponse {
  readonly remainingBytes: string;
  readonly blob: Buffer;
  readonly version: string;
}
interface PutResponse {
  readonly header: ResponseHeader | null;
}

type MethodDefinition = protoLoader.MethodDefinition<object, object>;

let definitions: protoLoader.PackageDefinition | undefined;

function method(service: "KV" | "Maintenance", name: string): MethodDefinition {
  definitions ??= protoLoader.loadSync(ETCD_PROTO_PATH, { longs: String, defaults: true });
  const methods = definitions[`etcdserverpb.${service}`] as Record<string, MethodDefinition> | undefined;
  const found = methods?.[name];
  if (found === undefined) throw new Error(`etcd-rpc.proto lacks ${service}.${name}`);
  return found;
}

/** The first key and the range end that select every key (`\0`, `\0`). */
const ALL_KEYS = Buffer.from([0]);

/**
 * A connection to one etcd member. Calls fail fast (no wait for a connection that cannot be made) and map
 * gRPC failures to the named errors of errors.ts, so a wrong certificate reads as one.
 */
export class EtcdClient {
  readonly endpoint: string;
  #client: grpc.Client;
  #options: EtcdConnectionOptions;

  private constructor(options: EtcdConnectionOptions, client: grpc.Client) {
    this.endpoint = options.endpoint;
    this.#options = options;
    this.#client = client;
  }

  /** Reads the credentials (clear errors for a missing or malformed file) and opens the channel lazily. */
  static async connect(options: EtcdConnectionOptions): Promise<EtcdClient> {
    const target = grpcTarget(options.endpoint);
    // One at a time, so that the error names the first bad flag, always the same one.
    const ca = await readPem("--cacert", options.caCertPath, "CERTIFICATE");
    const cert = await readPem("--cert", options.certPath, "CERTIFICATE");
    const key = await readPem("--key", options.keyPath, "PRIVATE KEY");
    const credentials = grpc.credentials.createSsl(ca, key, cert);
    const client = new grpc.Client(target, credentials, {
      // A 32 KiB snapshot chunk per message; the default 4 MiB limit is plenty, stated for the reader.
      "grpc.max_receive_message_length": 4 * 1024 * 1024,
      "grpc.enable_retries": 0,
    });
    return new EtcdClient(options, client);
  }

  /** Maintenance.Status of the member. */
  async status(): Promise<EtcdMemberStatus> {
    const response = await this.#unary<StatusResponse>("Maintenance", "Status", {});
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
    const response = await this.#unary<RangeResponse>("KV", "Range", {
      key: ALL_KEYS,
      rangeEnd: ALL_KEYS,
      revision: String(revision),
      countOnly: true,
    });
    return { count: toNumber(response.count), revision: toNumber(response.header?.revision ?? "0") };
  }

  /** Writes a key (tests and benchmarks load data with it; the agent never writes to etcd). */
  async put(key: string | Buffer, value: Buffer | string): Promise<number> {
    const response = await this.#unary<PutResponse>("KV", "Put", {
      key: Buffer.from(key),
      value: Buffer.from(value),
    });
    return toNumber(response.header?.revision ?? "0");
  }

  /**
   * Maintenance.Snapshot as an async iterable of messages. The consumer pulls: gRPC flow control stops etcd
   * while a message is being written, so memory does not grow with the snapshot. `signal` cancels the call.
   */
  async *snapshot(signal?: AbortSignal): AsyncGenerator<SnapshotChunk, void, void> {
    const definition = method("Maintenance", "Snapshot");
    const call = this.#client.makeServerStreamRequest(
      definition.path,
      definition.requestSerialize,
      definition.responseDeserialize as (bytes: Buffer) => SnapshotResponse,
      {},
      new grpc.Metadata(),
      {},
    );
    const onAbort = (): void => call.cancel();
    signal?.addEventListener("abort", onAbort, { once: true });
    try {
      for await (const message of call as AsyncIterable<SnapshotResponse>) {
        yield {
          blob: message.blob,
          remainingBytes: toNumber(message.remainingBytes),
          version: message.version,
        };
      }
    } catch (error) {
      if (signal?.aborted === true) throw signal.reason;
      throw this.#translate("Maintenance.Snapshot", error);
    } finally {
      signal?.removeEventListener("abort", onAbort);
      call.cancel();
    }
  }

  close(): void {
    this.#client.close();
  }

  [Symbol.dispose](): void {
    this.close();
  }

  async #unary<T>(service: "KV" | "Maintenance", name: string, request: object): Promise<T> {
    const definition = method(service, name);
    const deadline = Date.now() + (this.#options.requestTimeoutMs ?? 10_000);
    return new Promise<T>((resolve, reject) => {
      this.#client.makeUnaryRequest(
        definition.path,
        definition.requestSerialize,
        definition.responseDeserialize as (bytes: Buffer) => T,
        request,
        new grpc.Metadata(),
        { deadline },
        (error, response) => {
          if (error !== null) reject(this.#translate(`${service}.${name}`, error));
          else if (response === undefined) reject(new Error(`${service}.${name}: empty response`));
          else resolve(response);
        },
      );
    });
  }

  /** Maps a gRPC failure to a named error that says which input to fix. */
  #translate(methodName: string, error: unknown): Error {
    return translateGrpcError(this.#options, methodName, error);
  }
}

/**
 * Maps a gRPC error to EtcdTlsError (naming the certificate), EtcdUnavailableError or EtcdRequestError.
 * Exported for unit tests: the TLS messages are OpenSSL's and Node's, matched by their stable parts.
 */
export function translateGrpcError(
  options: Pick<EtcdConnectionOptions, "endpoint" | "caCertPath" | "certPath" | "keyPath">,
  methodName: string,
  error: unknown,
): Error {
  const serviceError = error as Partial<grpc.ServiceError>;
  if (typeof serviceError.code !== "number") return error as Error;
  const details = (serviceError.details ?? serviceError.message ?? "").trim();
  const codeName = grpc.status[serviceError.code] ?? String(serviceError.code);
  const { endpoint } = options;
  if (serviceError.code === grpc.status.UNAVAILABLE) {
    const tls = classifyTlsFailure(details);
    if (tls === "server") {
      return new EtcdTlsError(
        endpoint,
        "server",
        `cannot verify etcd's certificate at ${endpoint} with --cacert ${options.caCertPath} ` +
          `(${lastError(details)}). Use the etcd CA (kubeadm: /etc/kubernetes/pki/etcd/ca.crt) and an ` +
          "endpoint named in etcd's server certificate (kubeadm: https://127.0.0.1:2379)",
        error,
      );
    }
    if (tls === "client") {
      return new EtcdTlsError(
        endpoint,
        "client",
        `etcd at ${endpoint} rejected the client certificate --cert ${options.certPath} ` +
          `(${lastError(details)}). Use a client certificate signed by etcd's CA with its key ` +
          "(kubeadm: /etc/kubernetes/pki/etcd/healthcheck-client.crt and .key)",
        error,
      );
    }
    return new EtcdUnavailableError(endpoint, lastError(details), error);
  }
  if (serviceError.code === grpc.status.DEADLINE_EXCEEDED) {
    return new EtcdUnavailableError(endpoint, `${methodName} timed out`, error);
  }
  return new EtcdRequestError(endpoint, methodName, codeName, details, error);
}

/**
 * Which side of a TLS handshake refused. `server`: our CA does not vouch for etcd's certificate (or its
 * names). `client`: etcd sent an alert about our certificate (unknown CA, bad or expired certificate).
 */
export function classifyTlsFailure(details: string): "server" | "client" | undefined {
  if (
    /unable to verify the first certificate|self[- ]signed certificate|unable to get (local )?issuer certificate|certificate has expired|Hostname\/IP does not match|ERR_TLS_CERT_ALTNAME_INVALID|certificate is not yet valid|CERT_/i.test(
      details,
    ) &&
    !/alert/i.test(details)
  ) {
    return "server";
  }
  if (
    /alert (unknown ca|bad certificate|certificate required|certificate expired|certificate unknown|unsupported certificate|decrypt error|handshake failure)/i.test(
      details,
    )
  ) {
    return "client";
  }
  return undefined;
}

/** The useful part of grpc-js's "No connection established. Last error: X. Resolution note: ..." text. */
function lastError(details: string): string {
  const match = /Last error: (?:Error: )?(.*?)(?:\. Resolution note:.*)?$/s.exec(details);
  const text = (match?.[1] ?? details).replace(/\s+/g, " ").trim();
  const openssl = /:SSL routines:[^:]*:([^:]+):/.exec(text);
  if (openssl?.[1] !== undefined) return openssl[1];
  return text.replace(/; if the root CA is installed locally.*$/, "");
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
