// The snapshot agent against a real etcd with mutual TLS: save, verify, record, prune, and every way it fails.
import { createHash } from "node:crypto";
import { watch } from "node:fs";
import { chmod, copyFile, mkdtemp, readdir, readFile, rm, stat, truncate, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect } from "chai";
import { execa } from "execa";

import { takeSnapshot, verifyStoredSnapshot } from "../../operator/snapshot/agent.ts";
import {
  EtcdCertificateFileError,
  EtcdTlsError,
  EtcdUnavailableError,
  SnapshotInterruptedError,
  SnapshotVerificationError,
} from "../../operator/snapshot/errors.ts";
import { Etcdutl } from "../../operator/snapshot/etcdutl.ts";
import { silentOperatorLogger } from "../../operator/runtime/log.ts";
import { SnapshotStore } from "../../operator/snapshot/store.ts";
import { verifySnapshotFile } from "../../operator/snapshot/verify.ts";
import { controlPlane } from "../envtest/index.ts";
import { loadData, startTestEtcd, type TestEtcd } from "./snapshot-etcd.ts";

const log = silentOperatorLogger();

/** The reason a promise rejected with, or undefined when it resolved. */
async function rejection(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => undefined,
    (reason: unknown) => reason,
  );
}

describe("snapshot agent (real etcd, mTLS)", function () {
  this.timeout(120_000);
  let etcd: TestEtcd;
  let scratch: string;

  before(async function () {
    this.timeout(300_000);
    etcd = await startTestEtcd({ unsafeNoFsync: true });
    scratch = await mkdtemp(join(tmpdir(), "kubelab-snapshot-test-"));
    // Enough data that a save takes long enough to be interrupted in the middle.
    await loadData(etcd.client, 96 * 1024 * 1024, { prefix: "bulk" });
    for (let index = 0; index < 50; index++) await etcd.client.put(`/small/${index}`, `value-${index}`);
  });

  after(async () => {
    await etcd?.stop();
    if (scratch !== undefined) await rm(scratch, { recursive: true, force: true });
  });

  let counter = 0;
  async function freshDir(): Promise<string> {
    return mkdtemp(join(scratch, `dir${counter++}-`));
  }

  function options(dir: string, extra: Partial<Parameters<typeof takeSnapshot>[0]> = {}) {
    return {
      dir,
      etcd: etcd.connection,
      etcdutl: etcd.etcdutl,
      workDir: scratch,
      node: "m-k8s",
      labCluster: "lab",
      verify: true,
      log,
      ...extra,
    };
  }

  /** Every file under dir except logs/, relative. */
  async function listing(dir: string): Promise<string[]> {
    const entries = await readdir(dir, { recursive: true });
    return entries.filter((entry) => !entry.startsWith("logs")).sort();
  }

  it("saves a snapshot whose record matches the file and the live etcd, and that etcdctl's tools accept", async () => {
    const dir = await freshDir();
    const live = await etcd.client.countKeys();
    const result = await takeSnapshot(options(dir));
    const { record } = result.snapshot;

    const bytes = await readFile(result.snapshot.dbPath);
    expect(record.sizeBytes).to.equal(bytes.length);
    expect(record.sha256).to.equal(createHash("sha256").update(bytes).digest("hex"));
    // The file ends with etcd's sha256 of the database: the trailer a restore checks.
    const database = bytes.subarray(0, bytes.length - 32);
    expect(bytes.subarray(bytes.length - 32).equals(createHash("sha256").update(database).digest())).to.equal(
      true,
    );
    expect(record.etcd.revision).to.equal(live.revision);
    expect(record.etcd.keys).to.equal(live.count);
    expect(record.etcd.version).to.equal("3.6.8");
    expect(record.verification).to.include({ verified: true, method: "TrialRestore" });
    expect(record).to.include({ node: "m-k8s", labCluster: "lab", fileName: `${record.name}.db` });
    expect((await stat(result.snapshot.dbPath)).mode & 0o777).to.equal(0o600);
    expect(await listing(dir)).to.deep.equal([`${record.name}.db`, `${record.name}.json`]);

    const status = await execa(etcd.etcdutl, ["snapshot", "status", result.snapshot.dbPath, "-w", "json"]);
    expect(JSON.parse(status.stdout)).to.include({ revision: live.revision, totalKey: live.count });
  });

  it("verifies a stored snapshot again against its record and refreshes the verification time", async () => {
    const dir = await freshDir();
    const taken = await takeSnapshot(options(dir));
    await new Promise((resolve) => setTimeout(resolve, 5));
    const again = await verifyStoredSnapshot({
      dir,
      name: "latest",
      etcdutl: etcd.etcdutl,
      workDir: scratch,
      log,
    });
    expect(again.snapshot.name).to.equal(taken.snapshot.name);
    expect(Date.parse(again.snapshot.record.verification.time)).to.be.greaterThan(
      Date.parse(taken.snapshot.record.verification.time),
    );
    const stored = await new SnapshotStore(dir).get(taken.snapshot.name);
    expect(stored?.record.verification.time).to.equal(again.snapshot.record.verification.time);
  });

  describe("a damaged snapshot is never recorded as good", () => {
    let good: string;
    let goodSize: number;

    before(async () => {
      const dir = await freshDir();
      const taken = await takeSnapshot(options(dir));
      good = join(scratch, "good.db");
      await copyFile(taken.snapshot.dbPath, good);
      goodSize = taken.snapshot.record.sizeBytes;
    });

    async function damaged(name: string, damage: (path: string) => Promise<void>): Promise<string> {
      const path = join(scratch, name);
      await copyFile(good, path);
      await damage(path);
      return path;
    }

    const verifier = () => ({
      etcdutl: new Etcdutl({ command: etcd.etcdutl, logFile: join(scratch, "verify.log") }),
      workDir: scratch,
      trialRestore: true,
    });

    it("fails a file with flipped bytes even without a record (the trial restore checks etcd's sha256)", async () => {
      const path = await damaged("flipped.db", async (file) => {
        const bytes = await readFile(file);
        // Inside a value page in the middle of the file: bolt's structure stays intact.
        const offset = Math.floor(bytes.length / 2);
        for (let index = 0; index < 16; index++) bytes[offset + index] = bytes[offset + index]! ^ 0xff;
        await writeFile(file, bytes);
      });
      const report = await verifySnapshotFile(path, {}, verifier());
      expect(report.ok).to.equal(false);
      expect(report.problems.join(" ")).to.match(/trial restore failed: expected sha256|status refused/);
    });

    it("fails a truncated file, also when it is cut at a page boundary", async () => {
      const cut = await damaged("cut.db", (file) => truncate(file, goodSize - 1000));
      const report = await verifySnapshotFile(cut, {}, verifier());
      expect(report.ok).to.equal(false);
      expect(report.problems.join(" ")).to.match(/not whole pages plus/);

      const pageCut = await damaged("page-cut.db", (file) => truncate(file, goodSize - 8 * 4096));
      const pageReport = await verifySnapshotFile(pageCut, {}, verifier());
      expect(pageReport.ok).to.equal(false);
      expect(pageReport.problems.join(" ")).to.match(/status refused|trial restore failed/);
    });

    it("quarantines a stored snapshot whose bytes changed, removes its record, and lists it no more", async () => {
      const dir = await freshDir();
      const taken = await takeSnapshot(options(dir));
      const bytes = await readFile(taken.snapshot.dbPath);
      bytes[1000] = bytes[1000]! ^ 0x01;
      await writeFile(taken.snapshot.dbPath, bytes);

      const error = await rejection(
        verifyStoredSnapshot({
          dir,
          name: taken.snapshot.name,
          etcdutl: etcd.etcdutl,
          workDir: scratch,
          log,
        }),
      );
      expect(error).to.be.instanceOf(SnapshotVerificationError);
      expect((error as SnapshotVerificationError).problems.join(" ")).to.match(
        /sha256 is .* the record says/,
      );
      expect(await listing(dir)).to.deep.equal([
        "quarantine",
        `quarantine/${taken.snapshot.name}.db`,
        `quarantine/${taken.snapshot.name}.json`,
      ]);
      const note = JSON.parse(
        await readFile(join(dir, "quarantine", `${taken.snapshot.name}.json`), "utf8"),
      ) as { problems: string[] };
      expect(note.problems[0]).to.match(/sha256/);
      expect((await new SnapshotStore(dir).scan()).snapshots).to.have.length(0);
    });

    it("a save whose file is damaged before verification ends in quarantine, with no record and no .db", async () => {
      // An etcdutl wrapper that flips a byte of the file it is asked about first: damage between the save
      // and the verification, the window a faulty disk or a concurrent writer would hit.
      const wrapper = join(scratch, "etcdutl-damaging");
      await writeFile(
        wrapper,
        [
          "#!/bin/sh",
          'if [ "$1 $2" = "snapshot status" ] && [ ! -e "$0.done" ]; then',
          '  printf "\\377\\377\\377\\377" | dd of="$3" bs=1 seek=200000 conv=notrunc 2>/dev/null',
          '  touch "$0.done"',
          "fi",
          `exec "${etcd.etcdutl}" "$@"`,
          "",
        ].join("\n"),
      );
      await chmod(wrapper, 0o755);
      const dir = await freshDir();
      const error = await rejection(takeSnapshot(options(dir, { etcdutl: wrapper })));
      expect(error).to.be.instanceOf(SnapshotVerificationError);
      const files = await listing(dir);
      expect(files.filter((file) => !file.startsWith("quarantine"))).to.deep.equal([]);
      expect(files.some((file) => /^quarantine\/etcd-.*\.db$/.test(file))).to.equal(true);
    });
  });

  describe("retention", () => {
    it("keeps the newest `retain` snapshots and removes older ones with their records and logs", async () => {
      const dir = await freshDir();
      const names: string[] = [];
      for (let index = 0; index < 3; index++) {
        const result = await takeSnapshot(options(dir, { retain: 2 }));
        names.push(result.snapshot.name);
        if (index === 2) expect(result.pruned).to.deep.equal([names[0]]);
      }
      expect(await listing(dir)).to.deep.equal(
        [names[1], names[2]].flatMap((name) => [`${name}.db`, `${name}.json`]).sort(),
      );
      expect(await readdir(join(dir, "logs"))).to.not.include(`${names[0]}.log`);
    });

    it("never prunes the newest verified snapshot, even when newer unverified ones fill `retain`", async () => {
      const dir = await freshDir();
      const verified = await takeSnapshot(options(dir, { retain: 1 }));
      const unverified1 = await takeSnapshot(options(dir, { retain: 1, verify: false }));
      expect(unverified1.snapshot.record.verification).to.include({ verified: false, method: "StatusOnly" });
      const unverified2 = await takeSnapshot(options(dir, { retain: 1, verify: false }));
      expect(unverified2.pruned).to.deep.equal([unverified1.snapshot.name]);
      const kept = (await new SnapshotStore(dir).scan()).snapshots.map((snapshot) => snapshot.name);
      expect(kept).to.deep.equal([unverified2.snapshot.name, verified.snapshot.name]);
    });

    it("leaves files it did not write alone", async () => {
      const dir = await freshDir();
      await writeFile(join(dir, "manual-backup.db"), "not ours");
      await writeFile(join(dir, "etcd-20200101-000000-abcd.db"), "no record: not ours to judge");
      await takeSnapshot(options(dir, { retain: 1 }));
      await takeSnapshot(options(dir, { retain: 1 }));
      const files = await listing(dir);
      expect(files).to.include("manual-backup.db");
      expect(files).to.include("etcd-20200101-000000-abcd.db");
      expect(files.filter((file) => file.endsWith(".json"))).to.have.length(1);
    });
  });

  describe("wrong credentials and endpoints", () => {
    it("names --cacert when etcd's certificate is not signed by it, and leaves no file", async () => {
      const dir = await freshDir();
      const error = await rejection(
        takeSnapshot(options(dir, { etcd: { ...etcd.connection, caCertPath: etcd.untrusted.caCertPath } })),
      );
      expect(error).to.be.instanceOf(EtcdTlsError);
      expect((error as EtcdTlsError).side).to.equal("server");
      expect((error as Error).message).to.include(`--cacert ${etcd.untrusted.caCertPath}`);
      expect((error as Error).message).to.include(etcd.endpoint);
      expect(await listing(dir)).to.deep.equal([]);
    });

    it("names --cert when etcd rejects the client certificate", async () => {
      const dir = await freshDir();
      const error = await rejection(
        takeSnapshot(
          options(dir, {
            etcd: { ...etcd.connection, certPath: etcd.untrusted.certPath, keyPath: etcd.untrusted.keyPath },
          }),
        ),
      );
      expect(error).to.be.instanceOf(EtcdTlsError);
      expect((error as EtcdTlsError).side).to.equal("client");
      expect((error as Error).message).to.include(`--cert ${etcd.untrusted.certPath}`);
      expect((error as Error).message).to.include(etcd.endpoint);
    });

    it("names the flag of a missing or non-PEM certificate file, or of a key that is not the certificate's", async () => {
      const dir = await freshDir();
      const missing = await rejection(
        takeSnapshot(options(dir, { etcd: { ...etcd.connection, keyPath: join(scratch, "absent.key") } })),
      );
      expect(missing).to.be.instanceOf(EtcdCertificateFileError);
      expect((missing as Error).message).to.match(/^--key .*absent\.key: no such file$/);

      const notPem = await rejection(
        takeSnapshot(options(dir, { etcd: { ...etcd.connection, caCertPath: etcd.connection.keyPath } })),
      );
      expect(notPem).to.be.instanceOf(EtcdCertificateFileError);
      expect((notPem as Error).message).to.match(/^--cacert .*: not a PEM certificate$/);

      const otherKey = await rejection(
        takeSnapshot(options(dir, { etcd: { ...etcd.connection, keyPath: etcd.untrusted.keyPath } })),
      );
      expect(otherKey).to.be.instanceOf(EtcdCertificateFileError);
      expect((otherKey as Error).message).to.equal(
        `--key ${etcd.untrusted.keyPath}: is not the key of --cert ${etcd.connection.certPath}`,
      );
    });

    it("says etcd is unavailable when nothing listens at the endpoint", async () => {
      const dir = await freshDir();
      const error = await rejection(
        takeSnapshot(options(dir, { etcd: { ...etcd.connection, endpoint: "https://127.0.0.1:1" } })),
      );
      expect(error).to.be.instanceOf(EtcdUnavailableError);
      expect((error as Error).message).to.include("https://127.0.0.1:1");
    });
  });

  describe("interrupted saves", () => {
    it("an aborted save removes its partial file", async () => {
      const dir = await freshDir();
      const controller = new AbortController();
      // Aborted as the partial file appears (a filesystem event, not a poll that may miss a quick save).
      const watcher = watch(dir, (_event, name) => {
        if (String(name).endsWith(".partial")) controller.abort(new SnapshotInterruptedError("test abort"));
      });
      try {
        const error = await rejection(takeSnapshot(options(dir, { signal: controller.signal })));
        expect(error).to.be.instanceOf(SnapshotInterruptedError);
      } finally {
        watcher.close();
      }
      expect(await listing(dir)).to.deep.equal([]);
    });

    it("a killed save leaves only a hidden .partial, which nothing lists and the next run removes", async () => {
      const dir = await freshDir();
      const script = [
        `import { takeSnapshot } from ${JSON.stringify(new URL("../../operator/snapshot/agent.ts", import.meta.url).href)};`,
        `import { silentOperatorLogger } from ${JSON.stringify(new URL("../../operator/runtime/log.ts", import.meta.url).href)};`,
        `await takeSnapshot({ ...${JSON.stringify({ ...options(dir), log: undefined })}, log: silentOperatorLogger() });`,
      ].join("\n");
      const child = execa(process.execPath, ["--input-type=module", "-e", script], { reject: false });
      // Killed once the partial file has data: woken by each write to the directory, not by polling.
      const partial = await new Promise<string | undefined>((resolve) => {
        const check = () => {
          void readdir(dir).then(async (entries) => {
            const found = entries.find((entry) => entry.endsWith(".db.partial"));
            if (found !== undefined && (await stat(join(dir, found)).catch(() => undefined))?.size)
              finish(found);
          });
        };
        const watcher = watch(dir, check);
        const timer = setTimeout(() => finish(undefined), 60_000);
        const finish = (found: string | undefined) => {
          watcher.close();
          clearTimeout(timer);
          resolve(found);
        };
        void child.then(() => finish(undefined));
        check();
      });
      child.kill("SIGKILL");
      const outcome = await child;
      expect(partial, `no partial file appeared; child said: ${outcome.stderr}`).to.be.a("string");
      expect(outcome.signal).to.equal("SIGKILL");

      expect(await listing(dir)).to.deep.equal([partial]);
      expect(partial).to.match(/^\.etcd-.*\.db\.partial$/);
      const scan = await new SnapshotStore(dir).scan();
      expect(scan.snapshots).to.have.length(0);
      expect(scan.unrecorded).to.have.length(0);

      const next = await takeSnapshot(options(dir, { staleAfterMs: 1 }));
      expect(next.cleaned).to.deep.equal([join(dir, partial!)]);
      expect(await listing(dir)).to.deep.equal([`${next.snapshot.name}.db`, `${next.snapshot.name}.json`]);
    });
  });

  it("the snapshot CLI prints one JSON result, lists what it saved, and exits 2 on a bad flag", async () => {
    const dir = await freshDir();
    const cli = new URL("../../operator/snapshot/cli.ts", import.meta.url).href;
    const run = (args: string[]) =>
      execa(
        process.execPath,
        [
          "--input-type=module",
          "-e",
          `import { main } from ${JSON.stringify(cli)}; process.exitCode = await main(process.argv.slice(1));`,
          "--",
          ...args,
        ],
        { reject: false },
      );
    const save = await run([
      "save",
      `--dir=${dir}`,
      `--endpoint=${etcd.endpoint}`,
      `--cacert=${etcd.connection.caCertPath}`,
      `--cert=${etcd.connection.certPath}`,
      `--key=${etcd.connection.keyPath}`,
      `--etcdutl=${etcd.etcdutl}`,
      `--work-dir=${scratch}`,
      "--node=m-k8s",
      "--retain=3",
    ]);
    expect(save.exitCode, save.stderr).to.equal(0);
    const result = JSON.parse(save.stdout) as { snapshot: string; verified: boolean; path: string };
    expect(result.verified).to.equal(true);
    expect(result.path).to.equal(join(dir, `${result.snapshot}.db`));
    const list = await run(["list", `--dir=${dir}`, "-o", "json"]);
    const listed = JSON.parse(list.stdout) as { snapshots: { name: string }[] };
    expect(listed.snapshots.map((snapshot) => snapshot.name)).to.deep.equal([result.snapshot]);
    const bad = await run(["prune", `--dir=${dir}`, "--retain=0"]);
    expect(bad.exitCode).to.equal(2);
    expect(bad.stderr).to.include("--retain");
  });

  it("snapshots the envtest control plane's etcd (kubeadm's PKI layout) with the healthcheck client", async () => {
    const plane = controlPlane();
    const dir = await freshDir();
    const result = await takeSnapshot(
      options(dir, {
        etcd: {
          endpoint: plane.etcd.endpoint,
          caCertPath: plane.etcd.caCertPath,
          certPath: plane.etcd.certPath,
          keyPath: plane.etcd.keyPath,
        },
      }),
    );
    expect(result.snapshot.record.verification.verified).to.equal(true);
    expect(result.snapshot.record.etcd.keys).to.be.greaterThan(50);
  });
});
