// Where a lab's nodes get their packages and images: pkgs.k8s.io and the upstream registries, the user's
// mirrors (packages.repository, images.mirrors), or the offline kit served on a podman lab's network.
import { readFileSync } from "node:fs";
import { join, resolve } from "node:path";

import { UsageError } from "../errors.ts";
import { kitPaths } from "../kit/kit.ts";
import { repositoryPath } from "../kit/repo.ts";
import { KIT_MIRRORED_REGISTRIES, KIT_REGISTRY_PORT } from "../kit/serve.ts";
import type { InstallSources } from "../provision/packages.ts";
import { kitServerAddress, kubernetesMinor, type Lab } from "./config.ts";

/** How install.sh trusts the repository: the key embedded from a file, or fetched from URL + Release.key. */
export type RepositoryKey =
  | { readonly from: "repository" }
  | { readonly from: "file"; readonly path: string }
  | { readonly from: "kit" };

export interface PackageRepository {
  /** The flat repository's URL, ending in `/`: `deb [signed-by=KEYRING] URL /`. */
  readonly url: string;
  readonly key: RepositoryKey;
}

/** Whether the lab takes its packages and images from the offline kit served on its network. */
export function usesKit(lab: Lab): boolean {
  return lab.provider === "podman" && lab.podman.kit;
}

/** pkgs.k8s.io's repository of one Kubernetes minor (each minor has its own repository and key). */
export function kubernetesAptRepository(minor: string): string {
  return `https://pkgs.k8s.io/${repositoryPath(minor)}`;
}

/**
 * The apt repository install.sh uses: the kit's (its key embedded by bootstrap, which holds the kit), the
 * lab's packages.repository (its key from packages.key, relative to `labDir`, else fetched from it), or
 * pkgs.k8s.io for the lab's minor (key fetched over HTTPS, as the Kubernetes documentation does).
 */
export function packageRepository(lab: Lab, labDir: string): PackageRepository {
  const minor = kubernetesMinor(lab.kubernetes.version);
  if (usesKit(lab)) {
    return {
      url: `http://${kitServerAddress(lab.network.hostOnlyCidr)}/${repositoryPath(minor)}`,
      key: { from: "kit" },
    };
  }
  if (lab.packages.repository !== undefined) {
    return {
      url: lab.packages.repository,
      key:
        lab.packages.key === undefined
          ? { from: "repository" }
          : { from: "file", path: resolve(labDir, lab.packages.key) },
    };
  }
  return { url: kubernetesAptRepository(minor), key: { from: "repository" } };
}

/** The registry mirrors every node's containerd uses (hosts.toml per upstream registry); none by default. */
export function imageMirrors(lab: Lab): Readonly<Record<string, string>> {
  if (!usesKit(lab)) return lab.images.mirrors;
  const mirror = `http://${kitServerAddress(lab.network.hostOnlyCidr)}:${KIT_REGISTRY_PORT}`;
  return Object.fromEntries(KIT_MIRRORED_REGISTRIES.map((registry) => [registry, mirror]));
}

/**
 * The sources install.sh embeds: the repository, its key's text when bootstrap holds it (the kit's
 * Release.key, or packages.key), and the mirrors. Reads that key file; UsageError (exit 2) when it is missing,
 * naming the command that makes it (the kit) or the setting to fix.
 */
export function installSources(
  lab: Lab,
  labDir: string,
  env: NodeJS.ProcessEnv = process.env,
): InstallSources {
  const repository = packageRepository(lab, labDir);
  const mirrors = imageMirrors(lab);
  if (repository.key.from === "repository") return { repository: repository.url, mirrors };
  const path =
    repository.key.from === "kit" ? join(kitPaths(env).repository, "Release.key") : repository.key.path;
  let key: string;
  try {
    key = readFileSync(path, "utf8");
  } catch (error) {
    throw repository.key.from === "kit"
      ? new UsageError(
          `the offline kit is not built (no ${path}): a podman lab takes its packages and images from it`,
          {
            cause: error,
            hint: "build it once with npm run kit (it needs the Go module proxy and Debian's mirror), or set podman.kit: false with packages.repository and images.mirrors",
          },
        )
      : new UsageError(`packages.key: cannot read ${path}: ${(error as Error).message}`, { cause: error });
  }
  if (!key.includes("-----BEGIN PGP PUBLIC KEY BLOCK-----")) {
    throw new UsageError(`${path} is not an armored OpenPGP public key (gpg --armor --export)`);
  }
  return { repository: repository.url, key, mirrors };
}
