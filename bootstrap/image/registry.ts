// A client of the OCI distribution API: anonymous (or basic) token auth as registries do it, manifests and
// indexes by tag or digest, blobs streamed into a BlobStore and refused unless their digest matches, and push
// (blobs, then manifests, then the tag) for the kit's mirror. Registry mirrors are tried before the upstream.
import { Readable } from "node:stream";
import type { ReadableStream as WebReadableStream } from "node:stream/web";

import { ImageError, RegistryError } from "../errors.ts";
import { blobClosure, readImage, type StoredImage } from "./image.ts";
import {
  isIndexMediaType,
  isManifestMediaType,
  manifestForPlatform,
  MediaType,
  platformKey,
  sha256Digest,
  type Descriptor,
  type ImageIndex,
  type ImageManifest,
  type Platform,
} from "./oci.ts";
import {
  DOCKER_HUB,
  formatReference,
  manifestSelector,
  parseReference,
  type ImageReference,
} from "./reference.ts";
import type { BlobStore } from "./store.ts";

export interface Credentials {
  readonly username: string;
  readonly password: string;
}

export interface RegistryClientOptions {
  /**
   * Base URLs to try for a registry, in order, instead of its own address (`{"registry.k8s.io":
   * ["http://10.89.0.1:5000"]}`): lab.yaml's `images.mirrors`. The upstream is not tried after a mirror
   * unless listed.
   */
  readonly endpoints?: Readonly<Record<string, readonly string[]>>;
  /** Credentials per registry name; none means anonymous (a token without credentials, as public images need). */
  readonly credentials?: Readonly<Record<string, Credentials>>;
  /** Per request; default 60 s (a layer download is one request: its body counts too). */
  readonly timeoutMs?: number;
  readonly signal?: AbortSignal;
  /** Replaces the global fetch (tests). */
  readonly fetch?: typeof fetch;
}

const MANIFEST_ACCEPT = [
  MediaType.index,
  MediaType.manifest,
  MediaType.dockerManifestList,
  MediaType.dockerManifest,
].join(", ");

/** What a pull brought into the store: the top descriptor (what the reference names) and the platform's image. */
export interface PulledImage {
  readonly reference: string;
  /** The manifest or index the reference names; its digest is what pins the image. */
  readonly descriptor: Descriptor;
  readonly image: StoredImage;
}

export class RegistryClient {
  private readonly options: RegistryClientOptions;
  private readonly tokens = new Map<string, string>();

  constructor(options: RegistryClientOptions = {}) {
    this.options = options;
  }

  /**
   * Pulls `reference` for `platform` into `store`: the manifest or index it names, the platform's manifest,
   * its config and layers, each checked against its digest. Blobs already in the store are not fetched
   * again, so a reference pinned by digest whose blobs are cached needs no network at all.
   */
  async pull(reference: string, store: BlobStore, platform: Platform): Promise<PulledImage> {
    const parsed = parseReference(reference);
    const top = await this.fetchManifest(parsed, store);
    let manifestDescriptor = top;
    if (isIndexMediaType(top.mediaType)) {
      const chosen = manifestForPlatform(await store.readJson<ImageIndex>(top), platform);
      if (chosen === undefined) throw new ImageError(`${reference} has no ${platformKey(platform)} image`);
      manifestDescriptor = await this.fetchManifest(
        { ...parsed, tag: undefined, digest: chosen.digest },
        store,
      );
    }
    const manifest = await store.readJson<ImageManifest>(manifestDescriptor);
    for (const blob of [manifest.config, ...manifest.layers]) await this.fetchBlob(parsed, blob, store);
    return { reference, descriptor: top, image: await readImage(store, top, platform) };
  }

  /**
   * Pushes `descriptor` (a manifest or an index) and every blob it reaches from `store` to `reference`:
   * blobs the registry has are skipped (HEAD), manifests go after their blobs and children, the tag last.
   */
  async push(store: BlobStore, descriptor: Descriptor, reference: string): Promise<void> {
    const parsed = parseReference(reference);
    const closure = await blobClosure(store, descriptor);
    const manifests = closure.filter(
      (d) => isIndexMediaType(d.mediaType) || isManifestMediaType(d.mediaType),
    );
    for (const blob of closure.filter((d) => !manifests.includes(d)))
      await this.pushBlob(parsed, store, blob);
    // Children before parents: blobClosure lists a parent first.
    for (const manifest of [...manifests].reverse()) {
      const selector = manifest.digest === descriptor.digest ? manifestSelector(parsed) : manifest.digest;
      const response = await this.request(parsed, "push", `manifests/${selector}`, {
        method: "PUT",
        headers: { "content-type": manifest.mediaType },
        body: await store.readBytes(manifest.digest),
      });
      await expectStatus(response, [201], `push manifest ${manifest.digest} to ${formatReference(parsed)}`);
      await response.body?.cancel();
    }
  }

  /** The manifest or index `reference` names, stored; by digest from the store when it is there already. */
  private async fetchManifest(reference: ImageReference, store: BlobStore): Promise<Descriptor> {
    if (reference.digest !== undefined && (await store.has(reference.digest))) {
      const bytes = await store.readBytes(reference.digest);
      return { mediaType: mediaTypeOf(bytes, undefined), digest: reference.digest, size: bytes.length };
    }
    const what = `manifest ${formatReference(reference)}`;
    const response = await this.request(reference, "pull", `manifests/${manifestSelector(reference)}`, {
      headers: { accept: MANIFEST_ACCEPT },
    });
    await expectStatus(response, [200], what);
    const bytes = Buffer.from(await response.arrayBuffer());
    const digest = sha256Digest(bytes);
    if (reference.digest !== undefined && digest !== reference.digest) {
      throw new RegistryError(`${what}: the registry sent content of digest ${digest}`, {
        hint: "the registry or a proxy in between is corrupting or substituting content",
      });
    }
    const announced = response.headers.get("docker-content-digest");
    if (announced !== null && announced !== digest) {
      throw new RegistryError(`${what}: the body's digest ${digest} is not the announced ${announced}`);
    }
    await store.putBytes(bytes);
    return {
      mediaType: mediaTypeOf(bytes, response.headers.get("content-type")),
      digest,
      size: bytes.length,
    };
  }

  private async fetchBlob(reference: ImageReference, blob: Descriptor, store: BlobStore): Promise<void> {
    if (await store.has(blob.digest)) return;
    const response = await this.request(reference, "pull", `blobs/${blob.digest}`, {});
    await expectStatus(response, [200], `blob ${blob.digest} of ${formatReference(reference)}`);
    if (response.body === null) throw new RegistryError(`blob ${blob.digest}: the registry sent no body`);
    await store.putStream(Readable.fromWeb(response.body as WebReadableStream<Uint8Array>), blob);
  }

  private async pushBlob(reference: ImageReference, store: BlobStore, blob: Descriptor): Promise<void> {
    const head = await this.request(reference, "push", `blobs/${blob.digest}`, { method: "HEAD" });
    if (head.status === 200) return;
    const start = await this.request(reference, "push", "blobs/uploads/", { method: "POST" });
    await expectStatus(start, [202], `start the upload of ${blob.digest}`);
    await start.body?.cancel();
    const location = start.headers.get("location");
    if (location === null)
      throw new RegistryError(`start the upload of ${blob.digest}: no Location in the answer`);
    const url = new URL(location, start.url);
    url.searchParams.set("digest", blob.digest);
    const response = await this.request(reference, "push", url, {
      method: "PUT",
      headers: { "content-type": "application/octet-stream", "content-length": String(blob.size) },
      body: await store.readBytes(blob.digest),
    });
    await expectStatus(response, [201], `upload ${blob.digest}`);
    await response.body?.cancel();
  }

  /**
   * One API request to the first endpoint of the registry that answers, authenticating on a 401 challenge
   * (Bearer: a token from the realm for this repository and `access`; Basic: the credentials) and retrying
   * once. `path` is relative to /v2/REPOSITORY/, or a full URL (an upload location).
   */
  private async request(
    reference: ImageReference,
    access: "pull" | "push",
    path: string | URL,
    init: { method?: string; headers?: Record<string, string>; body?: Uint8Array },
  ): Promise<Response> {
    const bases = this.endpointsOf(reference.registry);
    let lastError: unknown;
    for (const [position, base] of bases.entries()) {
      const url = path instanceof URL ? path : new URL(`/v2/${reference.repository}/${path}`, base);
      const scopeKey = `${url.origin} ${reference.repository} ${access}`;
      let response: Response;
      try {
        response = await this.send(url, init, this.tokens.get(scopeKey));
        if (response.status === 401) {
          await response.body?.cancel();
          const authorization = await this.authorize(
            reference,
            access,
            response.headers.get("www-authenticate"),
            url,
          );
          this.tokens.set(scopeKey, authorization);
          response = await this.send(url, init, authorization);
        }
      } catch (error) {
        if (error instanceof RegistryError || path instanceof URL) throw error;
        lastError = error;
        continue;
      }
      // Like containerd with several hosts: a mirror that lacks the content or fails hands over to the next.
      const another = position < bases.length - 1 && !(path instanceof URL);
      if (another && (response.status === 404 || response.status >= 500)) {
        await response.body?.cancel();
        continue;
      }
      return response;
    }
    throw new RegistryError(`${reference.registry} cannot be reached (tried ${bases.join(", ")})`, {
      cause: lastError,
      hint: "set a registry mirror in lab.yaml (images.mirrors) or give the image as an archive on the command line",
    });
  }

  private async send(
    url: URL,
    init: { method?: string; headers?: Record<string, string>; body?: Uint8Array },
    authorization?: string,
  ): Promise<Response> {
    const timeout = AbortSignal.timeout(this.options.timeoutMs ?? 60_000);
    const signal =
      this.options.signal === undefined ? timeout : AbortSignal.any([timeout, this.options.signal]);
    const headers = { ...(init.headers ?? {}), ...(authorization === undefined ? {} : { authorization }) };
    const doFetch = this.options.fetch ?? fetch;
    return doFetch(url, {
      method: init.method ?? "GET",
      headers,
      body: init.body,
      signal,
      redirect: "follow",
    });
  }

  /** The Authorization header for a 401's challenge. */
  private async authorize(
    reference: ImageReference,
    access: "pull" | "push",
    challenge: string | null,
    url: URL,
  ): Promise<string> {
    const credentials = this.options.credentials?.[reference.registry];
    const parsed = parseChallenge(challenge ?? "");
    if (parsed?.scheme === "basic") {
      if (credentials === undefined) {
        throw new RegistryError(`${reference.registry} asks for a username and password`, {
          status: 401,
          hint: "give the registry's credentials, or use an image archive",
        });
      }
      return basic(credentials);
    }
    if (parsed?.scheme !== "bearer" || parsed.params.realm === undefined) {
      throw new RegistryError(
        `${url.host} refused the request (401) without a usable challenge: "${challenge ?? ""}"`,
        {
          status: 401,
        },
      );
    }
    const realm = new URL(parsed.params.realm);
    if (credentials !== undefined && realm.protocol !== "https:" && realm.hostname !== url.hostname) {
      // Never send a password in clear to a host other than the registry itself.
      throw new RegistryError(
        `${reference.registry}'s token service ${realm.origin} is neither HTTPS nor on the registry's host`,
      );
    }
    if (parsed.params.service !== undefined) realm.searchParams.set("service", parsed.params.service);
    const scope = `repository:${reference.repository}:${access === "push" ? "pull,push" : "pull"}`;
    realm.searchParams.set("scope", scope);
    const response = await this.send(realm, {
      headers: credentials === undefined ? {} : { authorization: basic(credentials) },
    });
    await expectStatus(
      response,
      [200],
      `get a ${access} token for ${reference.repository} from ${realm.origin}`,
    );
    const body = (await response.json()) as { token?: string; access_token?: string };
    const token = body.token ?? body.access_token;
    if (token === undefined || token === "")
      throw new RegistryError(`${realm.origin} answered without a token`);
    return `Bearer ${token}`;
  }

  private endpointsOf(registry: string): readonly string[] {
    const configured = this.options.endpoints?.[registry];
    if (configured !== undefined && configured.length > 0) return configured;
    return [registry === DOCKER_HUB ? "https://registry-1.docker.io" : `https://${registry}`];
  }
}

function basic(credentials: Credentials): string {
  return `Basic ${Buffer.from(`${credentials.username}:${credentials.password}`).toString("base64")}`;
}

/** `Bearer realm="https://auth",service="registry",scope="..."` -> scheme and parameters. */
export function parseChallenge(
  header: string,
): { scheme: string; params: Record<string, string> } | undefined {
  const match = /^\s*(\w+)\s*(.*)$/.exec(header);
  if (match === null) return undefined;
  const params: Record<string, string> = {};
  for (const param of (match[2] ?? "").matchAll(/(\w+)=(?:"([^"]*)"|([^,\s]*))/g)) {
    params[(param[1] ?? "").toLowerCase()] = param[2] ?? param[3] ?? "";
  }
  return { scheme: (match[1] ?? "").toLowerCase(), params };
}

async function expectStatus(response: Response, expected: readonly number[], what: string): Promise<void> {
  if (expected.includes(response.status)) return;
  const text = (await response.text().catch(() => "")).slice(0, 300).trim();
  const hint =
    response.status === 404
      ? "check the image name and tag, or that the mirror holds the image"
      : response.status === 401 || response.status === 403
        ? "the registry refused access: check the credentials or the repository's visibility"
        : undefined;
  throw new RegistryError(`${what}: HTTP ${response.status}${text === "" ? "" : `: ${text}`}`, {
    status: response.status,
    ...(hint === undefined ? {} : { hint }),
  });
}

/** The media type of a manifest's bytes: its own mediaType field, else the response's content type. */
function mediaTypeOf(bytes: Buffer, contentType: string | null | undefined): string {
  const parsed = JSON.parse(bytes.toString("utf8")) as { mediaType?: string; manifests?: unknown };
  if (parsed.mediaType !== undefined) return parsed.mediaType;
  if (contentType !== null && contentType !== undefined)
    return contentType.split(";")[0]?.trim() ?? MediaType.manifest;
  return parsed.manifests === undefined ? MediaType.manifest : MediaType.index;
}
