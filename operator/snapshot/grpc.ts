// A minimal gRPC client over node:http2 with mutual TLS: unary calls and server streams, nothing more.
import { connect, constants as http2, type ClientHttp2Session, type IncomingHttpHeaders } from "node:http2";

/**
 * Why not @grpc/grpc-js: with it a 150 MiB snapshot took 3-4x as long as `etcdctl snapshot save`, the client
 * idle 70% of the time: its read path keeps etcd's HTTP/2 flow-control window at 64 KiB and waits on each
 * window update. Here the window is set once, per stream and for the connection, and Node's http2 stream
 * applies backpressure itself: when the consumer stops reading, no window update is sent and etcd pauses,
 * so memory is bounded by the window, never by the snapshot size. 1 MiB keeps a loopback stream busy on a
 * loaded two-core machine; 4 MiB was no faster and held about 40 MiB more in buffers.
 * The protocol subset is small and stable: a POST per call, 5-byte length-prefixed messages, `grpc-status`
 * in the trailers (or in the headers of a trailers-only response).
 */
export const WINDOW_BYTES = 1024 * 1024;

/** Largest message accepted; etcd's snapshot chunks are 32 KiB, other replies are small. */
const MAX_MESSAGE_BYTES = 16 * 1024 * 1024;

/** gRPC status codes by number (grpc/doc/statuscodes.md). */
export const GRPC_STATUS_NAMES = [
  "OK",
  "CANCELLED",
  "UNKNOWN",
  "INVALID_ARGUMENT",
  "DEADLINE_EXCEEDED",
  "NOT_FOUND",
  "ALREADY_EXISTS",
  "PERMISSION_DENIED",
  "RESOURCE_EXHAUSTED",
  "FAILED_PRECONDITION",
  "ABORTED",
  "OUT_OF_RANGE",
  "UNIMPLEMENTED",
  "INTERNAL",
  "UNAVAILABLE",
  "DATA_LOSS",
  "UNAUTHENTICATED",
] as const;

/** The server answered with a non-OK grpc-status (or a non-gRPC HTTP response). */
export class GrpcStatusError extends Error {
  readonly code: number;
  readonly codeName: string;
  readonly details: string;

  constructor(code: number, details: string) {
    const codeName = GRPC_STATUS_NAMES[code] ?? `CODE_${code}`;
    super(`${codeName}: ${details}`);
    this.name = "GrpcStatusError";
    this.code = code;
    this.codeName = codeName;
    this.details = details;
  }
}

/** The call was not answered in time. */
export class GrpcDeadlineError extends Error {
  constructor(path: string, timeoutMs: number) {
    super(`${path} got no answer within ${timeoutMs} ms`);
    this.name = "GrpcDeadlineError";
  }
}

export interface GrpcChannelOptions {
  /** `https://host:port`. */
  readonly url: string;
  readonly ca: Buffer;
  readonly cert: Buffer;
  readonly key: Buffer;
  /** HTTP/2 flow-control window per stream and for the connection. Default WINDOW_BYTES. */
  readonly windowBytes?: number;
}

/**
 * One HTTP/2 connection, opened on first use and reopened after it failed. Errors of the connection (TLS,
 * refused, reset) reach the caller as they are, with their Node error `code`, so the caller can say which
 * certificate or address to fix.
 */
export class GrpcChannel {
  #options: GrpcChannelOptions;
  #session: ClientHttp2Session | undefined;
  /** Calls in flight: the session keeps the process alive only while there are some. */
  #active = 0;

  constructor(options: GrpcChannelOptions) {
    this.#options = options;
  }

  /** One request message, one response message. */
  async unary(path: string, request: Uint8Array, timeoutMs: number): Promise<Buffer> {
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(new GrpcDeadlineError(path, timeoutMs)), timeoutMs);
    try {
      let response: Buffer | undefined;
      for await (const message of this.serverStream(path, request, controller.signal)) {
        if (response !== undefined) throw new GrpcStatusError(13, `${path} sent more than one message`);
        response = message;
      }
      if (response === undefined) throw new GrpcStatusError(13, `${path} sent no message`);
      return response;
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * One request message, a stream of response messages (each a Buffer holding the protobuf bytes). Pull
   * based: the next message is read when the consumer asks for it. `signal` cancels the call (RST_STREAM);
   * the generator then throws the signal's reason.
   */
  async *serverStream(path: string, request: Uint8Array, signal?: AbortSignal): AsyncGenerator<Buffer> {
    signal?.throwIfAborted();
    this.#active++;
    try {
      yield* this.#call(path, request, signal);
    } finally {
      this.#active--;
      if (this.#active === 0) this.#session?.unref();
    }
  }

  async *#call(path: string, request: Uint8Array, signal?: AbortSignal): AsyncGenerator<Buffer> {
    const session = await this.#connect(signal);
    session.ref();
    const stream = session.request({
      [http2.HTTP2_HEADER_METHOD]: "POST",
      [http2.HTTP2_HEADER_PATH]: path,
      [http2.HTTP2_HEADER_CONTENT_TYPE]: "application/grpc",
      [http2.HTTP2_HEADER_TE]: "trailers",
    });
    const frame = Buffer.alloc(5 + request.length);
    frame.writeUInt32BE(request.length, 1);
    frame.set(request, 5);
    stream.end(frame);

    let headers: IncomingHttpHeaders | undefined;
    let trailers: IncomingHttpHeaders | undefined;
    stream.once("response", (received: IncomingHttpHeaders) => {
      headers = received;
    });
    stream.once("trailers", (received: IncomingHttpHeaders) => {
      trailers = received;
    });
    let sessionError: Error | undefined;
    const onSessionError = (error: Error): void => {
      sessionError = error;
      stream.destroy(error);
    };
    session.once("error", onSessionError);
    const onAbort = (): void => {
      stream.close(http2.NGHTTP2_CANCEL);
    };
    signal?.addEventListener("abort", onAbort, { once: true });

    const decoder = new MessageDecoder();
    try {
      for await (const chunk of stream as AsyncIterable<Buffer>) {
        for (const message of decoder.push(chunk)) yield message;
      }
      signal?.throwIfAborted();
      decoder.end();
      checkStatus(path, headers, trailers ?? headers);
    } catch (error) {
      signal?.throwIfAborted();
      throw sessionError ?? error;
    } finally {
      signal?.removeEventListener("abort", onAbort);
      session.off("error", onSessionError);
      if (!stream.closed) stream.close(http2.NGHTTP2_CANCEL);
    }
  }

  close(): void {
    this.#session?.close();
    this.#session = undefined;
  }

  async #connect(signal: AbortSignal | undefined): Promise<ClientHttp2Session> {
    const existing = this.#session;
    if (existing !== undefined && !existing.closed && !existing.destroyed) return existing;
    const session = connect(this.#options.url, {
      ca: this.#options.ca,
      cert: this.#options.cert,
      key: this.#options.key,
      settings: { initialWindowSize: this.#options.windowBytes ?? WINDOW_BYTES, enablePush: false },
    });
    // An unhandled 'error' would crash the process; calls see the error through their stream.
    session.on("error", () => {});
    session.on("close", () => {
      if (this.#session === session) this.#session = undefined;
    });
    this.#session = session;
    await new Promise<void>((resolve, reject) => {
      const onConnect = (): void => {
        cleanup();
        session.setLocalWindowSize(Math.max(this.#options.windowBytes ?? WINDOW_BYTES, 65_535));
        resolve();
      };
      const onError = (error: Error): void => {
        cleanup();
        session.destroy();
        reject(error);
      };
      const onAbort = (): void => onError(signal?.reason as Error);
      const cleanup = (): void => {
        session.off("connect", onConnect);
        session.off("error", onError);
        signal?.removeEventListener("abort", onAbort);
      };
      session.once("connect", onConnect);
      session.once("error", onError);
      signal?.addEventListener("abort", onAbort, { once: true });
    });
    return session;
  }
}

/** Throws GrpcStatusError unless the response was HTTP 200 and grpc-status 0. */
function checkStatus(
  path: string,
  headers: IncomingHttpHeaders | undefined,
  trailers: IncomingHttpHeaders | undefined,
): void {
  const httpStatus = Number(headers?.[http2.HTTP2_HEADER_STATUS]);
  const status = trailers?.["grpc-status"] ?? headers?.["grpc-status"];
  if (status === undefined) {
    throw new GrpcStatusError(
      httpStatus === 200 ? 13 : 14,
      `${path}: no grpc-status in the response (HTTP ${httpStatus})`,
    );
  }
  const code = Number(status);
  if (code !== 0) {
    const message = trailers?.["grpc-message"] ?? headers?.["grpc-message"];
    throw new GrpcStatusError(code, decodeGrpcMessage(typeof message === "string" ? message : ""));
  }
}

/** grpc-message is percent-encoded (gRPC over HTTP/2, "Responses"). */
export function decodeGrpcMessage(value: string): string {
  try {
    return decodeURIComponent(value);
  } catch {
    return value;
  }
}

/**
 * Splits an HTTP/2 body into gRPC messages: 1 byte compressed flag, 4 bytes big-endian length, payload.
 * Holds at most one incomplete message; a whole message is returned as a view, without a copy, when it lies
 * in one chunk.
 */
export class MessageDecoder {
  #pending: Buffer[] = [];
  #pendingBytes = 0;

  *push(chunk: Buffer): Generator<Buffer> {
    this.#pending.push(chunk);
    this.#pendingBytes += chunk.length;
    for (;;) {
      if (this.#pendingBytes < 5) return;
      const head = this.#peek(5);
      if (head[0] !== 0) throw new GrpcStatusError(12, "compressed gRPC messages are not supported");
      const length = head.readUInt32BE(1);
      if (length > MAX_MESSAGE_BYTES) {
        throw new GrpcStatusError(8, `a ${length}-byte message exceeds the ${MAX_MESSAGE_BYTES}-byte limit`);
      }
      if (this.#pendingBytes < 5 + length) return;
      this.#take(5);
      yield this.#take(length);
    }
  }

  /** Throws when the body ended inside a message. */
  end(): void {
    if (this.#pendingBytes !== 0) {
      throw new GrpcStatusError(13, `the response ended inside a message (${this.#pendingBytes} bytes left)`);
    }
  }

  #peek(bytes: number): Buffer {
    const first = this.#pending[0]!;
    if (first.length >= bytes) return first.subarray(0, bytes);
    return Buffer.concat(this.#pending).subarray(0, bytes);
  }

  #take(bytes: number): Buffer {
    const first = this.#pending[0];
    if (first === undefined || bytes === 0) return Buffer.alloc(0);
    if (first.length >= bytes) {
      const taken = first.subarray(0, bytes);
      if (first.length === bytes) this.#pending.shift();
      else this.#pending[0] = first.subarray(bytes);
      this.#pendingBytes -= bytes;
      return taken;
    }
    const joined = Buffer.concat(this.#pending);
    const taken = joined.subarray(0, bytes);
    const rest = joined.subarray(bytes);
    this.#pending = rest.length > 0 ? [rest] : [];
    this.#pendingBytes -= bytes;
    return taken;
  }
}
