// Image references as the container runtimes read them: [registry[:port]/]repository[:tag][@sha256:digest],
// with Docker Hub's defaults (docker.io, library/, latest) made explicit.
import { ImageError } from "../errors.ts";

export interface ImageReference {
  /** The registry's name as users write it ("registry.k8s.io", "docker.io", "127.0.0.1:5000"). */
  readonly registry: string;
  /** "library/node", "etcd", "distroless/nodejs24-debian13". */
  readonly repository: string;
  readonly tag: string | undefined;
  readonly digest: string | undefined;
}

export const DOCKER_HUB = "docker.io";

/**
 * Parses `text` the way containerd normalizes names: no registry means docker.io, a single docker.io
 * path segment means library/, no tag and no digest means latest. Throws ImageError on a bad reference.
 */
export function parseReference(text: string): ImageReference {
  const match =
    /^(?:(?<first>[^/]+)\/)?(?<rest>[^@]+?)(?::(?<tag>[\w][\w.-]{0,127}))?(?:@(?<digest>sha256:[0-9a-f]{64}))?$/.exec(
      text,
    );
  if (match?.groups === undefined) throw new ImageError(`"${text}" is not an image reference`);
  const { first, rest, tag, digest } = match.groups;
  let registry = DOCKER_HUB;
  let repository = rest ?? "";
  if (first !== undefined) {
    if (first.includes(".") || first.includes(":") || first === "localhost") registry = first;
    else repository = `${first}/${repository}`;
  }
  if (registry === DOCKER_HUB && !repository.includes("/")) repository = `library/${repository}`;
  if (
    !/^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$/.test(repository)
  ) {
    throw new ImageError(
      `"${text}": "${repository}" is not a repository name (lowercase, digits, . _ - and /)`,
    );
  }
  return { registry, repository, tag: tag ?? (digest === undefined ? "latest" : undefined), digest };
}

/** The full reference: registry/repository[:tag][@digest]. */
export function formatReference(reference: ImageReference): string {
  const tag = reference.tag === undefined ? "" : `:${reference.tag}`;
  const digest = reference.digest === undefined ? "" : `@${reference.digest}`;
  return `${reference.registry}/${reference.repository}${tag}${digest}`;
}

/** The digest when pinned, else the tag: what a manifest request asks for. */
export function manifestSelector(reference: ImageReference): string {
  return reference.digest ?? reference.tag ?? "latest";
}
