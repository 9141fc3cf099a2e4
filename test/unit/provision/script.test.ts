// The shared script pieces: quoting survives bash, put_file only writes on change, the header is strict.
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { expect } from "chai";
import { execa } from "execa";

import { pathExists } from "../../../bootstrap/files.ts";
import { scriptHeader, shellQuote } from "../../../bootstrap/provision/script.ts";
import { labOf, tempDir } from "../helpers.ts";

describe("provision/script", () => {
  it("shellQuote gives bash back exactly the value, quotes and spaces included", async () => {
    for (const value of ["plain", "with space", "it's", "$(rm -rf /)", "a'b'c", "", "*"]) {
      const { stdout } = await execa("bash", ["-c", `printf '%s' ${shellQuote(value)}`]);
      expect(stdout).to.equal(value);
    }
  });

  it("the header is strict mode and never traces commands (scripts can hold a token)", () => {
    const lab = labOf();
    const header = scriptHeader("init", lab, lab.controlPlane, ["purpose"]);
    expect(header.startsWith("#!/usr/bin/env bash\n")).to.equal(true);
    expect(header).to.contain("set -euo pipefail");
    expect(header).not.to.match(/set -[a-z]*x/);
  });

  it("put_file writes a file once, reports the change, and leaves an identical file alone", async () => {
    const lab = labOf();
    const dir = await tempDir();
    const target = join(dir, "sub", "conf");
    const script = `${scriptHeader("test", lab, lab.controlPlane, ["test"], ["put_file"])}
put_file "$1" 0640 <<'EOF'
hello
EOF
echo "changed=$FILE_CHANGED"
`;
    await writeFile(join(dir, "t.sh"), script);
    const first = await execa("bash", [join(dir, "t.sh"), target]);
    expect(first.stdout).to.contain("changed=true");
    expect(await readFile(target, "utf8")).to.equal("hello\n");
    const second = await execa("bash", [join(dir, "t.sh"), target]);
    expect(second.stdout).to.contain("changed=false");
    await writeFile(target, "edited by hand\n");
    const third = await execa("bash", [join(dir, "t.sh"), target]);
    expect(third.stdout).to.contain("changed=true");
    expect(await readFile(target, "utf8")).to.equal("hello\n");
  });

  it("kubeadm_host_facts opts the kubelet into cgroup v1 and skips SystemVerification only on a v1 host", async () => {
    const lab = labOf();
    const dir = await tempDir();
    const patches = join(dir, "patches");
    const header = scriptHeader("test", lab, lab.controlPlane, ["test"], ["kubeadm_host_facts"]);
    const facts = async (filesystem: string) => {
      const script = `${header.replaceAll("/etc/kubernetes/kubelab/patches", patches)}
stat() { echo ${filesystem}; }
kubeadm_host_facts
printf 'flags=%s\\n' "\${KUBEADM_FLAGS[*]}"
`;
      await writeFile(join(dir, "t.sh"), script);
      return (await execa("bash", [join(dir, "t.sh")])).stdout;
    };
    const patch = join(patches, "kubeletconfiguration.yaml");
    // A hybrid v1 host: /sys/fs/cgroup is a tmpfs holding the v1 hierarchies.
    expect(await facts("tmpfs")).to.contain("flags=--ignore-preflight-errors=SystemVerification");
    expect(await readFile(patch, "utf8")).to.equal("failCgroupV1: false\n");
    // cgroup v2 (the lab's VM boxes): no flag, and no patch left from an earlier run.
    expect(await facts("cgroup2fs")).to.equal("flags=");
    expect(await pathExists(patch)).to.equal(false);
    expect(await pathExists(patches)).to.equal(true);
  });

  it("a failing command stops the script (set -e) with its status", async () => {
    const lab = labOf();
    const dir = await tempDir();
    await writeFile(
      join(dir, "t.sh"),
      `${scriptHeader("test", lab, lab.controlPlane, ["test"])}\nfalse\necho unreachable\n`,
    );
    const result = await execa("bash", [join(dir, "t.sh")], { reject: false });
    expect(result.exitCode).to.equal(1);
    expect(result.stdout).not.to.contain("unreachable");
  });
});
