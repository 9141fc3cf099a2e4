// The operator image without an engine: bootstrap's assembly cold (empty cache: npm ci, every layer gzipped)
// and cached (a re-run of up), beside podman building the same Dockerfile from the same bases (the peer) and
// copying the finished archive once (the floor of writing it).
import { copyFile, mkdtemp, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { execa } from "execa";

import { buildOperatorImage, type OperatorImageOptions } from "../../bootstrap/image/operator-image.ts";
import { buildKitImages, operatorBaseImages } from "../../bootstrap/kit/images.ts";
import { kitPaths } from "../../bootstrap/kit/kit.ts";
import { KIT_VERSIONS } from "../../bootstrap/kit/versions.ts";
import { fixed, median, registerBench, verdict, type BenchContext } from "../framework.ts";

const REPO = fileURLToPath(new URL("../../", import.meta.url));
/** A re-run of `up` must not make the user wait on the image: a few seconds at most. */
const TARGET_CACHED_MS = 10_000;

registerBench({
  name: "image/operator",
  description: `operator image assembly cold and cached (target cached < ${TARGET_CACHED_MS} ms), beside podman build`,
  async run(context: BenchContext) {
    const trials = Number(context.option("trials", "3"));
    const bases = operatorBaseImages();
    const etcd = `registry.k8s.io/etcd:${KIT_VERSIONS.etcdImageTag}`;
    context.log("image/operator: the kit's bases (built once, then cached)");
    const images = await buildKitImages({
      outDir: kitPaths().images,
      only: [bases.runtime, bases.build, etcd],
      signal: context.signal,
    });
    const archive = (reference: string) =>
      images.find((image) => image.reference === reference)?.archive ?? "";
    const work = await mkdtemp(join(tmpdir(), "kubelab-bench-image-"));
    try {
      const buildArgs = { NODE_BUILD_IMAGE: bases.build, RUNTIME_IMAGE: bases.runtime, ETCD_IMAGE: etcd };
      const options: OperatorImageOptions = {
        checkout: REPO,
        platform: { os: "linux", architecture: "amd64" },
        cacheDir: join(work, "cache"),
        reference: "kubelab-operator:0.1.0",
        buildArgs,
        sources: { archives: [archive(bases.runtime), archive(etcd)] },
        archivePath: join(work, "operator.tar"),
        logFile: join(work, "assembly.log"),
        signal: context.signal,
      };
      let started = performance.now();
      const cold = await buildOperatorImage(options);
      const coldMs = performance.now() - started;
      const cached: number[] = [];
      for (let trial = 0; trial < trials; trial++) {
        started = performance.now();
        const again = await buildOperatorImage({ ...options, archivePath: join(work, `again-${trial}.tar`) });
        cached.push(performance.now() - started);
        if (again.descriptor.digest !== cold.descriptor.digest)
          throw new Error("a cached build gave another digest");
      }
      started = performance.now();
      await copyFile(cold.archivePath, join(work, "copy.tar"));
      const copyMs = performance.now() - started;
      const archiveBytes = (await stat(cold.archivePath)).size;

      const podman = await podmanBuild(work, buildArgs, [
        archive(bases.runtime),
        archive(bases.build),
        archive(etcd),
      ]);
      const rows: (string | number)[][] = [
        ["assembly, cold (empty cache: npm ci, every layer gzipped)", fixed(coldMs), 1],
        ["assembly, cached (the same checkout again)", fixed(median(cached)), trials],
        [`floor: copy the finished archive (${fixed(archiveBytes / 2 ** 20)} MiB)`, fixed(copyMs), 1],
        [
          podman === undefined
            ? "peer: podman build (podman not installed)"
            : "peer: podman build, no layer cache",
          podman === undefined ? "-" : fixed(podman),
          podman === undefined ? 0 : 1,
        ],
      ];
      return [
        {
          title: "operator image: bootstrap's assembly vs podman build",
          columns: ["what", "median ms", "runs"],
          rows,
          notes: [
            `target cached < ${TARGET_CACHED_MS} ms: ${verdict(median(cached) < TARGET_CACHED_MS)}`,
            `image ${cold.descriptor.digest}, ${fixed(cold.layerBytes / 2 ** 20)} MiB of layers (base included)`,
            "cold includes npm's downloads of the production dependencies; cached re-tars bin/, operator/ and package.json and writes the archive",
          ],
        },
      ];
    } finally {
      await rm(work, { recursive: true, force: true });
    }
  },
});

/** podman build of the Dockerfile from the kit's bases, in ms; undefined without podman. Cleans what it made. */
async function podmanBuild(
  work: string,
  buildArgs: Record<string, string>,
  archives: string[],
): Promise<number | undefined> {
  if ((await execa("podman", ["--version"], { reject: false })).exitCode !== 0) return undefined;
  const tag = `localhost/kubelab-bench:${process.pid}`;
  const loaded: string[] = [];
  try {
    for (const archive of archives) {
      const { stdout } = await execa("podman", ["load", "-q", "-i", archive]);
      loaded.push(stdout.replace(/^Loaded image:\s*/, "").trim());
    }
    const args = ["build", "--layers=false", "--runtime", "runc", "--network", "host", "-q", "-t", tag];
    for (const [name, value] of Object.entries(buildArgs)) args.push("--build-arg", `${name}=${value}`);
    const extraCa = process.env.NODE_EXTRA_CA_CERTS;
    if (extraCa !== undefined && extraCa !== "") {
      // This machine reaches the npm registry through a TLS proxy whose CA the host trusts (see the test).
      await writeFile(join(work, "npmrc"), "cafile=/run/kubelab-ca.crt\n");
      args.push("-v", `${extraCa}:/run/kubelab-ca.crt:ro`, "-v", `${join(work, "npmrc")}:/root/.npmrc:ro`);
    }
    const started = performance.now();
    await execa("podman", [...args, REPO], { timeout: 15 * 60_000 });
    return performance.now() - started;
  } finally {
    for (const image of [tag, ...loaded]) await execa("podman", ["rmi", "--force", image], { reject: false });
  }
}
