// The apt repository's indexes have the shape apt reads, and its signatures verify with the exported Release.key only.
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gunzipSync } from "node:zlib";
import { expect } from "chai";
import { execa } from "execa";

import {
  digests,
  ensureSigningKey,
  type IndexedDeb,
  packagesIndex,
  releaseFile,
  repositoryPath,
  writeRepository,
} from "../../../bootstrap/kit/repo.ts";
import { requireSystemTool } from "../../../scripts/system-tools.ts";

const deb = (name: string, filename: string): IndexedDeb => ({
  control: `Package: ${name}\nVersion: 1.36.5-1.1\nArchitecture: amd64\nDescription: ${name}\n more text\n`,
  filename,
  ...digests(Buffer.from(name)),
});

describe("kit/repo", () => {
  before(async () => {
    await requireSystemTool("gpg");
    await requireSystemTool("gpgv");
  });

  it("lays the repository out under pkgs.k8s.io's path for the minor", () => {
    expect(repositoryPath("1.36")).to.equal("core:/stable:/v1.36/deb/");
  });

  it("writes one Packages stanza per deb, sorted by name, with Filename, Size and digests before the Description", () => {
    const index = packagesIndex([deb("kubelet", "amd64/kubelet.deb"), deb("kubeadm", "amd64/kubeadm.deb")]);
    const stanzas = index.split("\n\n");
    expect(stanzas).to.have.length(2);
    expect(stanzas[0]).to.match(/^Package: kubeadm\n/);
    const kubeadm = digests(Buffer.from("kubeadm"));
    expect(stanzas[0]).to.contain(
      `Filename: amd64/kubeadm.deb\nSize: 7\nMD5sum: ${kubeadm.md5}\nSHA1: ${kubeadm.sha1}\nSHA256: ${kubeadm.sha256}\nDescription: kubeadm\n more text`,
    );
  });

  it("lists every index in Release with the size and each digest apt checks", () => {
    const packages = Buffer.from("Package: x\n");
    const release = releaseFile(
      {
        origin: "o",
        label: "l",
        architectures: ["amd64"],
        date: new Date(Date.UTC(2026, 0, 2, 3, 4, 5)),
        description: "d",
      },
      { Packages: packages },
    );
    expect(release).to.contain("Date: Fri, 02 Jan 2026 03:04:05 UTC\n");
    expect(release).to.contain("Architectures: amd64\n");
    const { md5, sha256, size } = digests(packages);
    expect(release).to.match(new RegExp(`MD5Sum:\\n ${md5} +${size} Packages\\n`));
    expect(release).to.match(new RegExp(`SHA256:\\n ${sha256} +${size} Packages\\n$`));
  });

  it("signs with a per-kit key whose exported Release.key alone verifies Release.gpg and InRelease", async function () {
    this.timeout(60_000);
    const dir = await mkdtemp(join(tmpdir(), "kubelab-repo-test-"));
    try {
      const options = { logPath: join(dir, "gpg.log"), signal: new AbortController().signal };
      const key = await ensureSigningKey(join(dir, "gnupg"), options);
      expect(key.fingerprint).to.match(/^[0-9A-F]{40}$/);
      expect((await ensureSigningKey(join(dir, "gnupg"), options)).fingerprint).to.equal(key.fingerprint);
      const other = await ensureSigningKey(join(dir, "other-gnupg"), options);
      expect(other.fingerprint).not.to.equal(key.fingerprint);

      const repo = join(dir, "repo");
      await execa("mkdir", ["-p", repo]);
      await writeRepository({
        ...options,
        dir: repo,
        debs: [deb("kubeadm", "amd64/kubeadm.deb")],
        architectures: ["amd64"],
        key,
        date: new Date(),
      });
      const packages = await readFile(join(repo, "Packages"));
      expect(gunzipSync(await readFile(join(repo, "Packages.gz")))).to.deep.equal(packages);
      const armored = await readFile(join(repo, "Release.key"), "utf8");
      expect(armored).to.match(/^-----BEGIN PGP PUBLIC KEY BLOCK-----/);
      expect(armored).not.to.contain("PRIVATE");

      // As install.sh does: dearmor the key into a keyring, then verify as apt does (gpgv, nothing else trusted).
      const keyring = join(dir, "keyring.gpg");
      await execa("gpg", ["--batch", "--yes", "--dearmor", "-o", keyring, join(repo, "Release.key")]);
      await execa("gpgv", ["--keyring", keyring, join(repo, "Release.gpg"), join(repo, "Release")]);
      await execa("gpgv", ["--keyring", keyring, join(repo, "InRelease")]);

      await writeFile(
        join(repo, "Release"),
        `${await readFile(join(repo, "Release"), "utf8")}Tampered: yes\n`,
      );
      const tampered = await execa(
        "gpgv",
        ["--keyring", keyring, join(repo, "Release.gpg"), join(repo, "Release")],
        { reject: false },
      );
      expect(tampered.exitCode).not.to.equal(0);
      const otherKeyring = join(dir, "other.gpg");
      const exported = await execa("gpg", ["--batch", "--export", other.fingerprint], {
        env: { GNUPGHOME: other.gnupgHome },
        encoding: "buffer",
      });
      await writeFile(otherKeyring, exported.stdout);
      const wrongKey = await execa("gpgv", ["--keyring", otherKeyring, join(repo, "InRelease")], {
        reject: false,
      });
      expect(wrongKey.exitCode).not.to.equal(0);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
