// restore-etcd.sh run for real on a stand-in kubeadm node: private /etc and /var/lib, the real etcdutl, fake ctr/crictl/kubectl.
import { chmod, mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { expect } from "chai";
import { execa } from "execa";

import { renderRestoreScript } from "../../bootstrap/etcd/restore-script.ts";
import { controlPlane, etcdctlSnapshot } from "../envtest/index.ts";
import { labOf, tempDir } from "../unit/helpers.ts";

const STAMP = "20261126T233005Z";
const NEW_DATA_DIR = `/var/lib/etcd-restore-${STAMP}`;
const SNAPSHOT = "/var/lib/kubelab/etcd-backups/etcd-20261126-230000-ab12.db";

/** etcd.yaml as kubeadm writes it (the parts the script reads and edits, and some it must leave alone). */
const ETCD_MANIFEST = `apiVersion: v1
kind: Pod
metadata:
  annotations:
    kubeadm.kubernetes.io/etcd.advertise-client-urls: https://192.168.56.10:2379
  labels:
    component: etcd
    tier: control-plane
  name: etcd
  namespace: kube-system
spec:
  containers:
  - command:
    - etcd
    - --advertise-client-urls=https://192.168.56.10:2379
    - --cert-file=/etc/kubernetes/pki/etcd/server.crt
    - --client-cert-auth=true
    - --data-dir=/var/lib/etcd
    - --initial-advertise-peer-urls=https://192.168.56.10:2380
    - --initial-cluster=m-k8s=https://192.168.56.10:2380
    - --key-file=/etc/kubernetes/pki/etcd/server.key
    - --listen-client-urls=https://127.0.0.1:2379,https://192.168.56.10:2379
    - --name=m-k8s
    image: registry.k8s.io/etcd:3.6.8-0
    imagePullPolicy: IfNotPresent
    name: etcd
    volumeMounts:
    - mountPath: /var/lib/etcd
      name: etcd-data
    - mountPath: /etc/kubernetes/pki/etcd
      name: etcd-certs
  hostNetwork: true
  volumes:
  - hostPath:
      path: /etc/kubernetes/pki/etcd
      type: DirectoryOrCreate
    name: etcd-certs
  - hostPath:
      path: /var/lib/etcd
      type: DirectoryOrCreate
    name: etcd-data
`;

/** Stand-ins for the node's tools; each appends its argv to $FAKE_LOG. */
const FAKES: Record<string, string> = {
  // containerd's ctr: the etcd image is present; `run` maps the bind mounts and runs the real etcdutl.
  ctr: `#!/usr/bin/env bash
set -euo pipefail
echo "ctr $*" >>"$FAKE_LOG"
[[ $1 == --namespace && $2 == k8s.io ]] || exit 3
shift 2
case $1 in
  images) echo "registry.k8s.io/etcd:3.6.8-0"; exit 0 ;;
  run) shift ;;
  *) exit 3 ;;
esac
srcs=() dsts=()
while [[ $1 == --* ]]; do
  if [[ $1 == --mount ]]; then
    spec=$2
    src=\${spec#*src=}; src=\${src%%,*}
    dst=\${spec#*dst=}; dst=\${dst%%,*}
    srcs+=("$src") dsts+=("$dst")
    shift 2
  else
    shift
  fi
done
[[ $1 == registry.k8s.io/etcd:3.6.8-0 && $3 == etcdutl ]] || exit 4
shift 3
mapped=()
for arg in "$@"; do
  for i in "\${!dsts[@]}"; do arg=\${arg//"\${dsts[$i]}"/"\${srcs[$i]}"}; done
  mapped+=("$arg")
done
exec "$FAKE_ETCDUTL" "\${mapped[@]}"
`,
  // crictl ps --quiet --name ^POD$: a static pod's container runs while its manifest is in
  // /etc/kubernetes/manifests and, like under a real kubelet, for one more poll after it is moved out; the pod
  // named by $FAKE_STUCK_POD never stops (a kubelet that does not act).
  crictl: `#!/usr/bin/env bash
echo "crictl $*" >>"$FAKE_LOG"
[[ $1 == ps ]] || exit 0
name=
while (($#)); do
  if [[ $1 == --name ]]; then name=$2; shift; fi
  shift
done
pod=\${name#^}; pod=\${pod%$}
[[ -n $pod ]] || { echo "fake crictl: ps without --name" >&2; exit 3; }
if [[ -f /etc/kubernetes/manifests/$pod.yaml || $pod == "\${FAKE_STUCK_POD:-}" ]]; then echo "container-of-$pod"; exit 0; fi
seen="$FAKE_STATE/stopping-$pod"
if [[ ! -f $seen ]]; then touch "$seen"; echo "container-of-$pod"; fi
exit 0
`,
  // kubectl: /readyz answers once etcd.yaml and kube-apiserver.yaml are back and etcd's data dir holds a db.
  kubectl: `#!/usr/bin/env bash
echo "kubectl $*" >>"$FAKE_LOG"
manifests=/etc/kubernetes/manifests
[[ -f $manifests/etcd.yaml && -f $manifests/kube-apiserver.yaml ]] || exit 1
data_dir=$(sed -n 's|^ *- --data-dir=||p' $manifests/etcd.yaml)
[[ -f $data_dir/member/snap/db ]]
`,
  systemctl: `#!/usr/bin/env bash
echo "systemctl $*" >>"$FAKE_LOG"
exit 0
`,
};

/** Runs inside the private mount namespace: builds the node, runs the scripts, copies what they left out. */
const DRIVER = `#!/usr/bin/env bash
set -uo pipefail
sandbox=$1
shift
mount -t tmpfs none /etc
mount -t tmpfs none /var/lib
mkdir -p /etc/kubernetes/manifests /var/lib/etcd/member /var/lib/kubelab/etcd-backups
cp "$sandbox/etcd.yaml" /etc/kubernetes/manifests/etcd.yaml
for pod in kube-apiserver kube-controller-manager kube-scheduler; do
  printf 'kind: Pod\\nmetadata:\\n  name: %s\\n' "$pod" >"/etc/kubernetes/manifests/$pod.yaml"
done
echo "the data before the restore" >/var/lib/etcd/member/old-marker
cp "$sandbox/snapshot.db" ${SNAPSHOT}
export PATH="$sandbox/bin:$PATH" FAKE_LOG="$sandbox/out/tools.log" FAKE_ETCDUTL="$sandbox/etcdutl"
export FAKE_STATE=$(mktemp -d)
snapshot_out() {
  mkdir -p "$sandbox/out/$1"
  cp -a /etc/kubernetes/manifests "$sandbox/out/$1/manifests"
  find /var/lib /etc/kubernetes | sort >"$sandbox/out/$1/files"
  if [[ -f ${NEW_DATA_DIR}/member/snap/db ]]; then "$FAKE_ETCDUTL" snapshot status ${NEW_DATA_DIR}/member/snap/db --write-out=json >"$sandbox/out/$1/status" 2>&1; fi
}
for run in "$@"; do
  bash "$sandbox/$run.sh" >"$sandbox/out/$run.log" 2>&1
  echo $? >"$sandbox/out/$run.rc"
  snapshot_out "$run"
done
exit 0
`;

describe("restore-etcd.sh on a stand-in kubeadm node (real etcdutl)", function () {
  this.timeout(120_000);
  let out: string;
  const read = (path: string) => readFile(join(out, path), "utf8");

  before(async function () {
    const unshare = await execa("unshare", ["--user", "--map-root-user", "--mount", "true"], {
      reject: false,
    });
    expect(unshare.exitCode, `unshare (private mount namespace) must work here: ${unshare.stderr}`).to.equal(
      0,
    );

    const plane = controlPlane();
    const sandbox = await tempDir("kubelab-restore-script-");
    out = join(sandbox, "out");
    await mkdir(join(sandbox, "bin"), { recursive: true });
    await mkdir(out);
    for (const [name, content] of Object.entries(FAKES)) {
      await writeFile(join(sandbox, "bin", name), content);
      await chmod(join(sandbox, "bin", name), 0o755);
    }
    await execa("ln", ["-s", plane.binaries.path("etcdutl"), join(sandbox, "etcdutl")]);
    await etcdctlSnapshot(plane, join(sandbox, "snapshot.db"));
    const sha256 = (await execa("sha256sum", [join(sandbox, "snapshot.db")])).stdout.split(" ")[0]!;
    const lab = labOf({ workers: { count: 0 } });
    const options = { snapshotPath: SNAPSHOT, sha256, stamp: STAMP, waitSeconds: 10 };
    await writeFile(join(sandbox, "first.sh"), renderRestoreScript(lab, options));
    await writeFile(join(sandbox, "second.sh"), renderRestoreScript(lab, options));
    await writeFile(
      join(sandbox, "bad-sha.sh"),
      renderRestoreScript(lab, { ...options, sha256: "0".repeat(64), stamp: "20261126T000000Z" }),
    );
    await writeFile(
      join(sandbox, "stuck.sh"),
      renderRestoreScript(lab, { ...options, waitSeconds: 4, stamp: "20261126T010000Z" }),
    );
    await writeFile(join(sandbox, "etcd.yaml"), ETCD_MANIFEST);
    await writeFile(join(sandbox, "driver.sh"), DRIVER);
    // Each driver is a fresh node (its own /etc and /var/lib): the stuck run leaves its manifests stashed.
    for (const [runs, env] of [
      [["bad-sha", "first", "second"], {}],
      [["stuck"], { FAKE_STUCK_POD: "kube-scheduler" }],
    ] as const) {
      const driver = await execa(
        "unshare",
        ["--user", "--map-root-user", "--mount", "bash", join(sandbox, "driver.sh"), sandbox, ...runs],
        { timeout: 100_000, reject: false, all: true, env },
      );
      expect(driver.exitCode, driver.all).to.equal(0);
    }
  });

  it("a snapshot whose sha256 differs from the record changes nothing (exit 1, before any static pod stops)", async () => {
    expect((await read("bad-sha.rc")).trim()).to.equal("1");
    expect(await read("bad-sha.log")).to.contain("refusing to restore it");
    expect(await read("bad-sha/manifests/etcd.yaml")).to.equal(ETCD_MANIFEST);
    expect(await read("bad-sha/files")).not.to.contain("etcd-restore-");
  });

  it("restores into a new data dir, points etcd.yaml at it (flag, mount, hostPath only), and keeps the old dir", async () => {
    const log = await read("first.log");
    expect((await read("first.rc")).trim(), log).to.equal("0");
    expect(log).to.contain(
      `kubelab-restore-result: data-dir=${NEW_DATA_DIR} previous-data-dir=/var/lib/etcd\n`,
    );
    const manifest = await read("first/manifests/etcd.yaml");
    expect(manifest).to.equal(
      ETCD_MANIFEST.replace("--data-dir=/var/lib/etcd\n", `--data-dir=${NEW_DATA_DIR}\n`)
        .replace("- mountPath: /var/lib/etcd\n", `- mountPath: ${NEW_DATA_DIR}\n`)
        .replace("path: /var/lib/etcd\n", `path: ${NEW_DATA_DIR}\n`),
    );
    const files = (await read("first/files")).split("\n");
    expect(files).to.include("/var/lib/etcd/member/old-marker");
    expect(files).to.include(`${NEW_DATA_DIR}/member/snap/db`);
    expect(files.filter((file) => file.endsWith(".partial"))).to.deep.equal([]);
    for (const pod of ["kube-apiserver", "kube-controller-manager", "kube-scheduler"]) {
      expect(files).to.include(`/etc/kubernetes/manifests/${pod}.yaml`);
    }
  });

  it("etcdutl restored the member from etcd.yaml with the revision bumped past 1e9", async () => {
    const output = await read("first/status");
    expect(output, output).to.match(/^\{/);
    const status = JSON.parse(output) as { revision: number; totalKey: number };
    expect(status.revision).to.be.greaterThan(1_000_000_000);
    expect(status.totalKey).to.be.greaterThan(10);
    const tools = await read("tools.log");
    expect(tools).to.match(/etcdutl snapshot restore \/snapshots\/etcd-20261126-230000-ab12\.db/);
    expect(tools).to.contain("--name=m-k8s");
    expect(tools).to.contain("--initial-advertise-peer-urls=https://192.168.56.10:2380");
    expect(tools).to.contain("--initial-cluster=m-k8s=https://192.168.56.10:2380");
  });

  it("waits until each static pod's container is gone: polls crictl again while one still runs", async () => {
    const polls = (await read("tools.log"))
      .split("\n")
      .filter((line) => line === "crictl ps --quiet --name ^etcd$");
    // bad-sha and second stop nothing; first and stuck each see etcd still running once after its manifest
    // moved out, then gone.
    expect(polls).to.have.length(4);
    expect(await read("first.log")).to.contain("stopping the control plane's static pods");
  });

  it("a static pod that never stops ends the restore at the timeout, naming it and where its manifests are", async () => {
    expect((await read("stuck.rc")).trim()).to.equal("1");
    const log = await read("stuck.log");
    expect(log).to.contain("the kube-scheduler container still runs after 4s; manifests are in ");
    expect(log).not.to.contain("etcdutl snapshot restore into");
    const files = (await read("stuck/files")).split("\n");
    expect(files).not.to.include("/var/lib/etcd-restore-20261126T010000Z");
    expect(files).to.include("/etc/kubernetes/kubelab-restore-20261126T010000Z/kube-scheduler.yaml");
  });

  it("runs again without restoring twice: only waits for the API server", async () => {
    const log = await read("second.log");
    expect((await read("second.rc")).trim(), log).to.equal("0");
    expect(log).to.contain(`etcd already runs on ${NEW_DATA_DIR}`);
    expect(log).to.contain(`previous-data-dir=/var/lib/etcd`);
    const restores = (await read("tools.log"))
      .split("\n")
      .filter((line) => line.includes("snapshot restore"));
    expect(restores).to.have.length(1);
  });
});
