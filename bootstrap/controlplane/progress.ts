// Progress lines of long steps (a cold binary build) for a terminal or a CI log.

/**
 * A progress sink for a terminal or a CI log: on a TTY one line rewritten in place; elsewhere a line when
 * the message changes in kind, or every 15 s for a counter, so CI logs show life without flooding.
 */
export function progressPrinter(stream: NodeJS.WriteStream = process.stderr): (line: string) => void {
  let lastKind = "";
  let lastPrinted = 0;
  return (line) => {
    if (stream.isTTY) {
      stream.write(`\r\x1b[2K${line.slice(0, (stream.columns ?? 120) - 1)}`);
      if (!/\d+ packages compiled/.test(line)) stream.write("\n");
      return;
    }
    const kind = line.replace(/\d+/g, "#");
    if (kind !== lastKind || Date.now() - lastPrinted > 15_000) {
      stream.write(`${line}\n`);
      lastKind = kind;
      lastPrinted = Date.now();
    }
  };
}
