// The Dockerfile builds for real (podman build, with the offline kit's bases as build arguments), and the image
// bootstrap assembles without an engine from the same bases equals it: config fields and file list. Both run
// `kubelab-operator --help` and `snapshot --help` as uid 65532 with a read-only root filesystem.
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect } from "chai";
import { execa } from "execa";

import { listImageFiles } from "../../../bootstrap/image/extract.ts";
import { readImage } from "../../../bootstrap/image/image.ts";
import { readImageArchive } from "../../../bootstrap/image/layout.ts";
import type { ContainerConfig, Platform } from "../../../bootstrap/image/oci.ts";
import { buildOperatorImage, type OperatorImage } from "../../../bootstrap/image/operator-image.ts";
import { BlobStore } from "../../../bootstrap/image/store.ts";
import { buildKitImages, operatorBaseImages } from "../../../bootstrap/kit/images.ts";
import { kitPaths } from "../../../bootstrap/kit/kit.ts";
import { KIT_VERSIONS } from "../../../bootstrap/kit/versions.ts";
import { REPO } from "../../unit/helpers.ts";
import { requireSystemTool } from "../../../scripts/system-tools.ts";

const platform: Platform = { os: "linux", architecture: "amd64" };
const ETCD = `registry.k8s.io/etcd:${KIT_VERSIONS.etcdImageTag}`;
const PODMAN_BUILT = "localhost/kubelab-operator-test:podman-build";
const ASSEMBLED = "localhost/kubelab-operator-test:assembled";
/** Run flags: runc (crun refuses this host's cgroup v1 layout) and explicit ulimits (no CAP_SYS_RESOURCE here). */
const RUN = ["--runtime", "runc", "--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024"];

async function podman(args: readonly string[], timeoutMs = 120_000): Promise<string> {
  const result = await execa("podman", [...args], { timeout: timeoutMs, reject: false, stdin: "ignore" });
  if (result.exitCode !== 0)
    throw new Error(`podman ${args.join(" ")} exited ${result.exitCode}: ${result.stderr}`);
  return result.stdout;
}

describe("operator image: podman build of the Dockerfile equals bootstrap's assembly", function () {
  this.timeout(20 * 60_000);
  const bases = operatorBaseImages();
  const buildArgs = {
    NODE_BUILD_IMAGE: bases.build,
    RUNTIME_IMAGE: bases.runtime,
    ETCD_IMAGE: ETCD,
    VERSION: "0.1.0",
    REVISION: "test",
  };
  let work: string;
  let archives: Record<string, string>;
  let assembled: OperatorImage;
  const loaded: string[] = [];

  before(async () => {
    await requireSystemTool("podman");
    await requireSystemTool("debootstrap");
    work = await mkdtemp(join(tmpdir(), "kubelab-operator-image-"));
    const images = await buildKitImages({
      outDir: kitPaths().images,
      only: [bases.runtime, bases.build, ETCD],
    });
    archives = Object.fromEntries(images.map((image) => [image.reference, image.archive]));
    for (const reference of [bases.runtime, bases.build, ETCD]) {
      await podman(["load", "-q", "-i", archives[reference] ?? ""]);
      loaded.push(reference);
    }
  });

  after(async () => {
    for (const reference of [PODMAN_BUILT, ASSEMBLED, ...loaded]) {
      await execa("podman", ["rmi", "--force", reference], { reject: false });
    }
    if (work !== undefined) await rm(work, { recursive: true, force: true });
  });

  it("bootstrap assembles the image from the kit's archives without an engine, cold then cached", async () => {
    const options = {
      checkout: REPO,
      platform,
      cacheDir: join(work, "cache"),
      reference: "kubelab-operator:0.1.0",
      buildArgs,
      sources: { archives: [archives[bases.runtime] ?? "", archives[ETCD] ?? ""] },
      archivePath: join(work, "operator.tar"),
      logFile: join(work, "assembly.log"),
      signal: new AbortController().signal,
    };
    const cold = Date.now();
    assembled = await buildOperatorImage(options);
    const coldSeconds = (Date.now() - cold) / 1000;
    const warm = Date.now();
    const again = await buildOperatorImage({ ...options, archivePath: join(work, "operator-again.tar") });
    const warmSeconds = (Date.now() - warm) / 1000;
    expect(again.descriptor.digest).to.equal(assembled.descriptor.digest);
    console.log(
      `      assembly: cold ${coldSeconds.toFixed(1)} s, cached ${warmSeconds.toFixed(1)} s, layers ${(assembled.layerBytes / 2 ** 20).toFixed(1)} MiB`,
    );
  });

  it("podman build of the Dockerfile with the kit's bases as build arguments succeeds", async () => {
    const args = [
      "build",
      // No intermediate images kept: the dependencies stage would stay behind as an untagged image.
      "--layers=false",
      "--runtime",
      "runc",
      "--network",
      "host",
      "-t",
      PODMAN_BUILT,
      "-f",
      join(REPO, "Dockerfile"),
    ];
    for (const [name, value] of Object.entries(buildArgs)) args.push("--build-arg", `${name}=${value}`);
    // This machine reaches the npm registry through a TLS proxy whose CA the host trusts: npm in the build
    // stage gets the same bundle (mounted for RUN only; nothing of it lands in the image).
    const extraCa = process.env.NODE_EXTRA_CA_CERTS;
    if (extraCa !== undefined && extraCa !== "") {
      await writeFile(join(work, "npmrc"), "cafile=/run/kubelab-ca.crt\n");
      args.push("-v", `${extraCa}:/run/kubelab-ca.crt:ro`, "-v", `${join(work, "npmrc")}:/root/.npmrc:ro`);
    }
    await podman([...args, REPO], 15 * 60_000);
  });

  it("has the same config fields as the built image (buildah's own version label aside)", async () => {
    const [inspected] = JSON.parse(await podman(["image", "inspect", PODMAN_BUILT])) as {
      Config: ContainerConfig;
      Architecture: string;
    }[];
    const store = new BlobStore(join(work, "cache"));
    const ours = (await readImage(store, assembled.descriptor, platform)).config;
    const built = inspected?.Config ?? {};
    const labels = Object.fromEntries(
      Object.entries(built.Labels ?? {}).filter(([key]) => !key.startsWith("io.buildah.")),
    );
    expect(ours.config?.Labels).to.deep.equal(labels);
    for (const field of ["User", "WorkingDir", "Env", "Entrypoint", "Cmd", "ExposedPorts"] as const) {
      expect(ours.config?.[field], field).to.deep.equal(built[field]);
    }
    expect(ours.architecture).to.equal(inspected?.Architecture);
  });

  it("has the same files, with the same types and modes, as the built image", async () => {
    await podman(["save", "--format", "oci-archive", "-o", join(work, "built.tar"), PODMAN_BUILT]);
    const builtStore = new BlobStore(join(work, "built-store"));
    const [named] = await readImageArchive(join(work, "built.tar"), builtStore);
    const built = await listImageFiles(
      builtStore,
      await readImage(builtStore, named?.descriptor ?? assembled.descriptor, platform),
    );
    const store = new BlobStore(join(work, "cache"));
    const ours = await listImageFiles(store, await readImage(store, assembled.descriptor, platform));
    const shape = (files: typeof ours) =>
      new Set(
        [...files].map(
          ([path, file]) => `${path} ${file.type} ${file.mode.toString(8)} ${file.uid}:${file.gid}`,
        ),
      );
    const [builtShape, ourShape] = [shape(built), shape(ours)];
    const onlyBuilt = [...builtShape].filter((line) => !ourShape.has(line)).sort();
    const onlyOurs = [...ourShape].filter((line) => !builtShape.has(line)).sort();
    expect({ onlyBuilt, onlyOurs }).to.deep.equal({ onlyBuilt: [], onlyOurs: [] });
  });

  for (const [name, image] of [
    ["the assembled image", ASSEMBLED],
    ["the podman-built image", PODMAN_BUILT],
  ] as const) {
    it(`${name} runs kubelab-operator --help and snapshot --help as 65532 on a read-only root`, async () => {
      if (image === ASSEMBLED) {
        await podman(["load", "-q", "-i", assembled.archivePath]);
        await podman(["tag", "docker.io/library/kubelab-operator:0.1.0", ASSEMBLED]);
        await execa("podman", ["rmi", "docker.io/library/kubelab-operator:0.1.0"], { reject: false });
      }
      for (const args of [["--help"], ["snapshot", "--help"]]) {
        const output = await podman([
          "run",
          "--rm",
          ...RUN,
          "--read-only",
          "--user",
          "65532:65532",
          image,
          ...args,
        ]);
        expect(output).to.match(args[0] === "snapshot" ? /snapshot/i : /kubelab-operator/);
      }
      expect(
        (
          await podman([
            "run",
            "--rm",
            ...RUN,
            "--read-only",
            "--entrypoint",
            "/nodejs/bin/node",
            image,
            "-p",
            "process.getuid()",
          ])
        ).trim(),
      ).to.equal("65532");
    });
  }
});
