// The kit server on an --internal podman network: install.sh's curl and apt over HTTP, and a real pull from its registry mirror.
import { randomBytes } from "node:crypto";
import { mkdir, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect } from "chai";
import { execa } from "execa";

import { buildKit, type Kit, type KitPaths } from "../../../bootstrap/kit/kit.ts";
import { ensureRootfs } from "../../../bootstrap/kit/rootfs.ts";
import {
  kitServerName,
  startKitServer,
  stopKitServers,
  type KitServer,
} from "../../../bootstrap/kit/serve.ts";
import { APT_CLIENT_ROOTFS, installScriptAptPart } from "./apt-client.ts";
import { writeOciArchive } from "../../unit/kit/oci-fixture.ts";
import {
  importRootfsImage,
  KIT_TEST_LABEL,
  podmanRunArgs,
  removeImage,
  requireKitTools,
  runFileScript,
  runScriptIn,
} from "./podman.ts";

describe("kit: the kit server on an --internal podman network", function () {
  this.timeout(60 * 60_000);

  before(requireKitTools);
  const lab = `kit-test-${randomBytes(3).toString("hex")}`;
  const network = `kubelab-${lab}`;
  const subnetOctet = 100 + Math.floor(Math.random() * 150);
  const ip = `10.251.${subnetOctet}.10`;
  let scratch: string;
  let kit: Kit;
  let paths: KitPaths;
  let server: KitServer;
  let client: string;
  let manifestDigest: string;
  const logPath = () => join(scratch, "serve.log");

  before(async () => {
    scratch = await mkdtemp(join(tmpdir(), "kubelab-kit-serve-"));
    kit = await buildKit({ progress: () => {} });
    // The real kit's apt repository, with images/ and the registry storage in scratch space.
    paths = { ...kit.paths, root: scratch, images: join(scratch, "images") };
    await mkdir(paths.images);
    manifestDigest = await writeOciArchive(
      scratch,
      join(paths.images, "hello.tar"),
      "registry.k8s.io/kubelab-test/hello:1.0",
      "served by the kit\n",
    );
    await execa("podman", [
      "network",
      "create",
      "--internal",
      "--label",
      `kubelab.dev/lab=${lab}`,
      "--subnet",
      `10.251.${subnetOctet}.0/24`,
      network,
    ]);
    client = await importRootfsImage(await ensureRootfs(APT_CLIENT_ROOTFS), "kit-apt-client");
    server = await startKitServer({ lab, network, ip, kit: paths, logPath: logPath() });
  });

  after(async () => {
    await stopKitServers(lab, { logPath: join(tmpdir(), "kubelab-kit-serve-cleanup.log") }).catch(() => 0);
    await execa("podman", ["rmi", "--force", `${ip}:5000/kubelab-test/hello:1.0`], { reject: false });
    await execa("podman", ["network", "rm", "--force", network], { reject: false });
    if (client !== undefined) await removeImage(client);
    if (scratch !== undefined) await rm(scratch, { recursive: true, force: true });
  });

  it("names the repository and the mirrors at the address it was given", () => {
    expect(server.container).to.equal(kitServerName(lab));
    expect(server.repository).to.equal(`http://${ip}/core:/stable:/v1.36/deb/`);
    expect(server.mirrors["registry.k8s.io"]).to.equal(`http://${ip}:5000`);
    expect(server.mirrors["docker.io"]).to.equal(`http://${ip}:5000`);
    expect(server.images).to.deep.equal(["registry.k8s.io/kubelab-test/hello:1.0"]);
  });

  it("serves install.sh's key download and apt over HTTP to a node on the lab network", async () => {
    const apt = await installScriptAptPart(server.repository);
    const result = await runScriptIn(
      client,
      `rm -f /etc/apt/sources.list /etc/apt/sources.list.d/*\n${runFileScript("/tmp/apt.sh", apt)} && kubeadm version -o short`,
      { network },
    );
    expect(result.exitCode, result.all).to.equal(0);
    // apt names a flat repository without its trailing slash, two spaces before the file.
    expect(result.all).to.contain(`Get:1 ${server.repository.replace(/\/$/, "")}  InRelease`);
    expect(result.all).to.match(
      /Get:\d+ http:\/\/[\d.]+\/core:\/stable:\/v1\.36\/deb {2}kubelet 1\.36\.5-1\.1/,
    );
    expect(result.all).to.match(/\nv1\.36\.5$/);
  });

  it("mirrors the kit's images under their upstream repository names: the host pulls one and gets its bytes", async () => {
    // The host reaches addresses on an --internal network (its bridge has the gateway address).
    const response = await fetch(`http://${ip}:5000/v2/kubelab-test/hello/manifests/1.0`, {
      headers: { accept: "application/vnd.oci.image.manifest.v1+json" },
    });
    expect(response.status).to.equal(200);
    expect(response.headers.get("docker-content-digest")).to.equal(manifestDigest);
    const pulled = await execa(
      "podman",
      ["pull", "--tls-verify=false", `${ip}:5000/kubelab-test/hello:1.0`],
      {
        reject: false,
        all: true,
      },
    );
    expect(pulled.exitCode, pulled.all).to.equal(0);
    const file = await execa(
      "podman",
      [
        ...podmanRunArgs(),
        "--network",
        "none",
        "--entrypoint",
        "",
        `${ip}:5000/kubelab-test/hello:1.0`,
        "/bin/sh",
      ],
      { reject: false, all: true },
    );
    // The image holds no shell: running it proves podman unpacked it; its one file is checked by export.
    expect(file.all).to.match(/no such file or directory|executable file not found/);
    const exported = await execa("sh", [
      "-c",
      `id=$(podman create --label ${KIT_TEST_LABEL} ${ip}:5000/kubelab-test/hello:1.0 /x) && podman export "$id" | tar -xOf - etc/kit-test; podman rm "$id" >/dev/null`,
    ]);
    expect(exported.stdout).to.equal("served by the kit");
  });

  it("refuses pushes: the mirror is read-only", async () => {
    const response = await fetch(`http://${ip}:5000/v2/kubelab-test/hello/blobs/uploads/`, {
      method: "POST",
    });
    expect(response.status).to.be.oneOf([401, 403, 405]);
  });

  it("is stopped by the lab's label, and a second stop finds nothing", async () => {
    expect(await stopKitServers(lab, { logPath: logPath() })).to.equal(1);
    expect(await stopKitServers(lab, { logPath: logPath() })).to.equal(0);
    const left = await execa("podman", ["ps", "-a", "--quiet", "--filter", `label=kubelab.dev/lab=${lab}`]);
    expect(left.stdout.trim()).to.equal("");
  });
});
