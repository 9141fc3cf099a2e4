// Loading an image into a podman node container for real: the archive streamed over `podman exec -i` to ctr's
// import, against a containerd of our own (private root, state and socket) that the container reaches through
// its socket; the image lands in the k8s.io namespace under its name and digest, unpacked.
import { mkdtemp, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect } from "chai";
import { execa } from "execa";

import { ManagedProcess } from "../../../bootstrap/controlplane/process.ts";
import { loadIntoPodmanNode } from "../../../bootstrap/image/load.ts";
import { buildKitImages, operatorBaseImages } from "../../../bootstrap/kit/images.ts";
import { kitPaths } from "../../../bootstrap/kit/kit.ts";
import { KIT_VERSIONS } from "../../../bootstrap/kit/versions.ts";
import { requireSystemTool } from "../../../scripts/system-tools.ts";

const RUN = ["--runtime", "runc", "--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024"];

describe("image/load into a podman node container, for real", function () {
  this.timeout(15 * 60_000);
  const container = `kubelab-image-load-${process.pid}`;
  const base = operatorBaseImages().runtime;
  const etcd = `registry.k8s.io/etcd:${KIT_VERSIONS.etcdImageTag}`;
  let work: string;
  let containerd: ManagedProcess | undefined;
  let socket: string;
  let archives: Map<string, { archive: string; digest: string }>;

  const ctr = async (...args: string[]) =>
    (await execa("ctr", ["--address", socket, "--namespace", "k8s.io", ...args], { timeout: 60_000 })).stdout;

  before(async () => {
    await requireSystemTool("podman");
    await requireSystemTool("containerd");
    await requireSystemTool("ctr");
    await requireSystemTool("debootstrap");
    work = await mkdtemp(join(tmpdir(), "kubelab-image-load-"));
    socket = join(work, "containerd.sock");
    const images = await buildKitImages({ outDir: kitPaths().images, only: [base, etcd] });
    archives = new Map(images.map((image) => [image.reference, image]));
    await writeFile(
      join(work, "config.toml"),
      [
        "version = 2",
        `root = "${join(work, "root")}"`,
        `state = "${join(work, "state")}"`,
        'disabled_plugins = ["io.containerd.grpc.v1.cri"]',
        "[grpc]",
        `  address = "${socket}"`,
        "",
      ].join("\n"),
    );
    containerd = await ManagedProcess.start({
      name: "containerd",
      command: "containerd",
      args: ["--config", join(work, "config.toml")],
      logPath: join(work, "containerd.log"),
    });
    for (let tries = 0; (await stat(socket).catch(() => undefined)) === undefined; tries += 1) {
      if (tries > 100 || !containerd.running)
        throw new Error(`containerd did not start:\n${containerd.logTail()}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    await execa("podman", ["load", "-q", "-i", archives.get(base)?.archive ?? ""]);
    // A stand-in node: a Debian container with ctr and the socket where a node's containerd listens.
    await execa("podman", [
      "run",
      "-d",
      "--name",
      container,
      ...RUN,
      "--user",
      "0",
      "--label",
      "kubelab.test=image-load",
      "-v",
      "/usr/bin/ctr:/usr/bin/ctr:ro",
      "-v",
      `${socket}:/run/containerd/containerd.sock`,
      "--entrypoint",
      "/bin/sleep",
      base,
      "600",
    ]);
  });

  after(async () => {
    await execa("podman", ["rm", "--force", "--time", "0", container], { reject: false });
    await execa("podman", ["rmi", "--force", base], { reject: false });
    await containerd?.stop();
    if (work !== undefined) await rm(work, { recursive: true, force: true });
  });

  it("streams the etcd image's archive into the node's containerd: name, digest, unpacked, runnable", async () => {
    const image = archives.get(etcd);
    const started = Date.now();
    await loadIntoPodmanNode(image?.archive ?? "", container, {
      logFile: join(work, "load.log"),
      signal: new AbortController().signal,
    });
    const seconds = (Date.now() - started) / 1000;
    const size = (await stat(image?.archive ?? "")).size;
    console.log(`      podman load: ${(size / 2 ** 20).toFixed(1)} MiB in ${seconds.toFixed(1)} s`);
    const listed = await ctr("images", "list");
    expect(listed)
      .to.include(etcd)
      .and.include(image?.digest ?? "missing");
    expect(await ctr("images", "check")).to.match(
      new RegExp(`${etcd.replace(/[.]/g, "\\.")}.*complete.*true`),
    );
    const output = await ctr("run", "--rm", etcd, `etcdutl-${process.pid}`, "etcdutl", "version");
    expect(output).to.include(`etcdutl version: ${KIT_VERSIONS.etcd.replace(/^v/, "")}`);
  });

  it("a container that does not exist is a CommandError naming it", async () => {
    const error = await loadIntoPodmanNode(archives.get(etcd)?.archive ?? "", `${container}-missing`, {
      logFile: join(work, "load.log"),
      signal: new AbortController().signal,
    }).catch((e: unknown) => e);
    expect(String(error)).to.include(`${container}-missing`);
  });
});
