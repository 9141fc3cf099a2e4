// The host's cgroup layout as read from its files: what a hybrid v1 host lacks, and nothing to do on v2.
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { expect } from "chai";

import { StateError } from "../../../../bootstrap/errors.ts";
import {
  cgroupLayout,
  parseMountinfo,
  releaseHostCgroups,
  type HostPaths,
} from "../../../../bootstrap/providers/podman/host-cgroups.ts";
import { pathExists } from "../../../../bootstrap/files.ts";
import { tempDir } from "../../helpers.ts";
import { HYBRID_HOST_CGROUPS, HYBRID_HOST_MOUNTINFO, V2_HOST_MOUNTINFO } from "./fixtures.ts";

describe("providers/podman/host-cgroups", () => {
  it("on a hybrid v1 host lists the enabled controllers no hierarchy is mounted for, joined as systemd joins them", () => {
    expect(cgroupLayout(HYBRID_HOST_MOUNTINFO, HYBRID_HOST_CGROUPS)).to.deep.equal({
      version: 1,
      missing: [
        { controllers: ["hugetlb"], mountPoint: "/sys/fs/cgroup/hugetlb" },
        { controllers: ["net_cls", "net_prio"], mountPoint: "/sys/fs/cgroup/net_cls,net_prio" },
        { controllers: ["perf_event"], mountPoint: "/sys/fs/cgroup/perf_event" },
      ],
    });
  });

  it("takes a controller as mounted from the host's mounts, not from /proc/cgroups' hierarchy number", () => {
    // A hierarchy outlives its mount while it holds cgroups: /proc/cgroups still numbers it (here 10).
    const numbered = HYBRID_HOST_CGROUPS.replace("perf_event\t0", "perf_event\t10");
    const layout = cgroupLayout(HYBRID_HOST_MOUNTINFO, numbered);
    expect(layout.version === 1 && layout.missing.map((hierarchy) => hierarchy.mountPoint)).to.include(
      "/sys/fs/cgroup/perf_event",
    );
    const mounted = `${HYBRID_HOST_MOUNTINFO}42 31 0:39 / /sys/fs/cgroup/perf_event rw,relatime - cgroup cgroup rw,perf_event\n`;
    const after = cgroupLayout(mounted, numbered);
    expect(after.version === 1 && after.missing.map((hierarchy) => hierarchy.mountPoint)).not.to.include(
      "/sys/fs/cgroup/perf_event",
    );
  });

  it("skips disabled controllers and needs nothing on a cgroup v2 host", () => {
    const disabled = HYBRID_HOST_CGROUPS.replace("hugetlb\t0\t3\t1", "hugetlb\t0\t3\t0");
    const layout = cgroupLayout(HYBRID_HOST_MOUNTINFO, disabled);
    expect(
      layout.version === 1 && layout.missing.map((hierarchy) => hierarchy.controllers.join(",")),
    ).to.deep.equal(["net_cls,net_prio", "perf_event"]);
    expect(cgroupLayout(V2_HOST_MOUNTINFO, HYBRID_HOST_CGROUPS)).to.deep.equal({ version: 2 });
  });

  it("refuses to guess when nothing is mounted at /sys/fs/cgroup", () => {
    expect(() => cgroupLayout("22 1 254:0 / / rw - ext4 /dev/vda rw\n", HYBRID_HOST_CGROUPS)).to.throw(
      StateError,
    );
  });

  it("reads mountinfo's escaped paths and the fields after the optional ones", () => {
    const [entry] = parseMountinfo(
      "50 31 0:40 /a\\040b /mnt/x\\040y rw shared:3 master:1 - cgroup cgroup rw,pids\n",
    );
    expect(entry).to.deep.equal({
      root: "/a b",
      mountPoint: "/mnt/x y",
      type: "cgroup",
      superOptions: ["rw", "pids"],
    });
  });

  it("release keeps everything while a node container remains, and never unmounts what kubelab did not mount", async () => {
    const dir = await tempDir();
    const paths: HostPaths = {
      mountinfo: join(dir, "mountinfo"),
      procCgroups: join(dir, "cgroups"),
      cgroupRoot: join(dir, "cgroup"),
      stateDir: join(dir, "state"),
    };
    const recorded = join(paths.cgroupRoot, "perf_event");
    await mkdir(recorded, { recursive: true });
    await mkdir(paths.stateDir);
    // The record names a hierarchy the mount table no longer shows (unmounted by hand): no umount is run.
    await writeFile(paths.mountinfo, HYBRID_HOST_MOUNTINFO);
    const record = `${JSON.stringify({ mounted: [{ controllers: ["perf_event"], mountPoint: recorded }] })}\n`;
    await writeFile(join(paths.stateDir, "podman-host-cgroups.json"), record);
    const options = { signal: new AbortController().signal, logFile: join(dir, "log"), paths };
    expect(await releaseHostCgroups({ ...options, stillNeeded: () => Promise.resolve(true) })).to.deep.equal(
      [],
    );
    expect(await readFile(join(paths.stateDir, "podman-host-cgroups.json"), "utf8")).to.equal(record);
    const released = await releaseHostCgroups({ ...options, stillNeeded: () => Promise.resolve(false) });
    expect(released.map((hierarchy) => hierarchy.mountPoint)).to.deep.equal([recorded]);
    expect(await pathExists(recorded)).to.equal(false);
    expect(await pathExists(join(paths.stateDir, "podman-host-cgroups.json"))).to.equal(false);
    expect(await pathExists(join(dir, "log"))).to.equal(false);
  });
});
