// The lab's join token: made on first use, registered by kubeadm init, replaced on the control plane near expiry.
import { mkdir } from "node:fs/promises";
import { join } from "node:path";

import { FileMode, readTextIfExists, writeFileAtomic } from "../files.ts";
import { BOOTSTRAP_TOKEN_TTL_MS } from "../provision/kubeadm.ts";
import { BOOTSTRAP_TOKEN_PATTERN, tokenId } from "../provision/token.ts";
import { renderTokenFile, writeRenderedFiles } from "./render.ts";
import { providerContext, STEP_TIMEOUTS, type RunContext } from "./step.ts";

/** A join token this close to its expiry is replaced before a join. */
const TOKEN_MARGIN_MS = 15 * 60_000;

/**
 * The lab's bootstrap token (secrets/bootstrap-token, mode 0600), made on first use. It is what init.sh
 * registers; later joins use it while it is valid.
 */
export async function ensureToken(run: Pick<RunContext, "workDir" | "tokenSource">): Promise<string> {
  const existing = (await readTextIfExists(run.workDir.bootstrapTokenFile))?.trim();
  if (existing !== undefined && BOOTSTRAP_TOKEN_PATTERN.test(existing)) return existing;
  const token = run.tokenSource();
  await mkdir(run.workDir.secretsDir, { recursive: true, mode: FileMode.secretDirectory });
  await writeFileAtomic(run.workDir.bootstrapTokenFile, `${token}\n`, FileMode.secret);
  return token;
}

/**
 * A token good for joining now: the current one while it has time left, else a fresh one registered on
 * the control plane with `kubeadm token create` (token.sh), so workers added later still join securely.
 */
export async function usableJoinToken(run: RunContext): Promise<string> {
  const current = await ensureToken(run);
  const expires = Date.parse(run.state.cluster.joinTokenExpiresAt ?? "");
  if (Number.isFinite(expires) && expires - run.now().getTime() > TOKEN_MARGIN_MS) return current;
  const token = run.tokenSource();
  const file = renderTokenFile(run.lab, token);
  await writeRenderedFiles(run.workDir.root, [file]);
  await run.provider.runScript(
    run.lab.controlPlane,
    join(run.workDir.root, file.path),
    { step: "join-workers", timeoutMs: STEP_TIMEOUTS.token },
    providerContext(run),
  );
  await writeFileAtomic(run.workDir.bootstrapTokenFile, `${token}\n`, FileMode.secret);
  await run.state.setCluster({
    joinTokenExpiresAt: new Date(run.now().getTime() + BOOTSTRAP_TOKEN_TTL_MS).toISOString(),
  });
  run.logger.info(`minted a fresh join token ${tokenId(token)}.**** on ${run.lab.controlPlane.name}`);
  return token;
}
